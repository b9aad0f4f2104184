"""Issue 18, CI: the composite GitHub Action (``action.yml`` and ``action/``).

The steps run here as a runner runs them: ``bash -eo pipefail`` with the environment
GitHub gives a composite step (GITHUB_ACTIONS, GITHUB_OUTPUT, GITHUB_STEP_SUMMARY,
GITHUB_ACTION_PATH, RUNNER_TEMP, GITHUB_WORKSPACE) and each step's ``env:`` as action.yml
maps it, evaluated from the inputs given and the earlier steps' outputs, against a sandbox
over loopback. The install step takes the gsep already installed
(``GSEP_ACTION_SKIP_INSTALL=1``): these tests install nothing from the network.

PyYAML is not a dependency; action.yml keeps to a plain subset (block mappings, one
``key: value`` per line) that :func:`parse_action` reads.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from clitools import SECRET, clean_env, gsep_exe, make_wav

from gsep_cli.sandbox import Sandbox

ROOT = Path(__file__).resolve().parent.parent
ACTION = ROOT / "action.yml"
EXPRESSION = re.compile(r"\$\{\{\s*([^}]*?)\s*\}\}")


# ---- action.yml, read without YAML ---------------------------------------------------------
@dataclass
class Step:
    id: str
    run: str
    env: dict[str, str] = field(default_factory=dict)


@dataclass
class Action:
    inputs: dict[str, str]  # name -> default
    outputs: dict[str, str]  # name -> value expression
    steps: list[Step]
    using: str


def _value(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return text[1:-1]
    return text


def parse_action(text: str) -> Action:
    """The parts of action.yml a runner uses: inputs and their defaults, outputs, steps."""
    inputs: dict[str, str] = {}
    outputs: dict[str, str] = {}
    steps: list[Step] = []
    using = ""
    section = ""
    name = ""
    in_env = False
    for raw in text.splitlines():
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        indent = len(raw) - len(raw.lstrip())
        line = raw.strip()
        if indent == 0:
            section = line.rstrip(":")
            continue
        key, _, value = line.removeprefix("- ").partition(":")
        if section in ("inputs", "outputs") and indent == 2:
            name = key
            if section == "inputs":
                inputs[name] = ""
        elif section == "inputs" and indent == 4 and key == "default":
            inputs[name] = _value(value)
        elif section == "outputs" and indent == 4 and key == "value":
            outputs[name] = _value(value)
        elif section == "runs" and indent == 2 and key == "using":
            using = _value(value)
        elif section == "runs" and line.startswith("- id:"):
            steps.append(Step(id=_value(value), run=""))
            in_env = False
        elif section == "runs" and indent == 6:
            in_env = key == "env"
            if key == "run":
                steps[-1].run = _value(value)
            elif key == "shell":
                assert _value(value) == "bash", raw
        elif section == "runs" and indent == 8 and in_env:
            steps[-1].env[key] = _value(value)
    return Action(inputs, outputs, steps, using)


def read_outputs(path: Path) -> dict[str, str]:
    """A GITHUB_OUTPUT file as GitHub reads it: ``name=value`` and ``name<<DELIM`` blocks."""
    found: dict[str, str] = {}
    lines = path.read_text(encoding="utf-8").split("\n") if path.exists() else []
    index = 0
    while index < len(lines):
        line = lines[index]
        index += 1
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            end = lines.index(delimiter, index)
            found[name] = "\n".join(lines[index:end])
            index = end + 1
        elif "=" in line:
            name, value = line.split("=", 1)
            found[name] = value
    return found


def evaluate(text: str, inputs: dict[str, str], steps: dict[str, dict[str, str]]) -> str:
    """``${{ inputs.X }}`` and ``${{ steps.ID.outputs.Y }}`` as the runner evaluates them."""

    def one(match: re.Match[str]) -> str:
        expression = match.group(1)
        if expression.startswith("inputs."):
            return inputs[expression.removeprefix("inputs.")]
        found = re.fullmatch(r"steps\.([\w-]+)\.outputs\.([\w-]+)", expression)
        assert found, f"an expression this runner does not know: {expression}"
        return steps.get(found[1], {}).get(found[2], "")

    return EXPRESSION.sub(one, text)


# ---- running it ----------------------------------------------------------------------------
@dataclass
class ActionRun:
    code: int
    stderr: str
    outputs: dict[str, str]
    summary: str

    def paths(self) -> list[str]:
        return [p for p in self.outputs.get("paths", "").split("\n") if p]

    def job_ids(self) -> list[str]:
        return [j for j in self.outputs.get("job-ids", "").split("\n") if j]


def run_action(
    tmp: Path, workspace: Path, given: dict[str, str], **extra_env: str | None
) -> ActionRun:
    """Run action.yml's steps in order, as a runner would, stopping at a failing step;
    ``given``: the ``with:`` of the workflow step; ``extra_env``: the workflow's ``env:``."""
    action = parse_action(ACTION.read_text(encoding="utf-8"))
    unknown = set(given) - set(action.inputs)
    assert not unknown, f"not inputs of action.yml: {unknown}"
    inputs = {**action.inputs, **given}
    runner_temp = tmp / "runner-temp"
    runner_temp.mkdir(parents=True, exist_ok=True)
    summary = tmp / "step-summary.md"
    env = clean_env(
        tmp / "home",
        GITHUB_ACTIONS="true",
        GITHUB_ACTION_PATH=str(ROOT),
        GITHUB_STEP_SUMMARY=str(summary),
        GITHUB_WORKSPACE=str(workspace),
        RUNNER_TEMP=str(runner_temp),
        GSEP_ACTION_SKIP_INSTALL="1",
        PATH=os.path.dirname(gsep_exe()) + os.pathsep + os.environ.get("PATH", ""),
        GSEP_STATE_DIR=None,  # the action sets it: the ledger folder
        **extra_env,
    )
    done: dict[str, dict[str, str]] = {}
    errors = []
    code = 0
    for step in action.steps:
        output_file = runner_temp / f"output-{step.id}"
        output_file.write_text("", encoding="utf-8")
        step_env = {name: evaluate(value, inputs, done) for name, value in step.env.items()}
        proc = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step.run],
            env={**env, **step_env, "GITHUB_OUTPUT": str(output_file)},
            cwd=workspace,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        errors.append(proc.stderr)
        done[step.id] = read_outputs(output_file)
        code = proc.returncode
        if code:
            break
    outputs = {name: evaluate(value, inputs, done) for name, value in action.outputs.items()}
    text = summary.read_text(encoding="utf-8") if summary.exists() else ""
    return ActionRun(code, "".join(errors), outputs, text)


@pytest.fixture
def box(sandbox: Callable[..., Sandbox]) -> Sandbox:
    """A sandbox of this test's own: its job count is this test's alone."""
    return sandbox()


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A checkout: songs/a.wav, songs/b.wav and 'my song.wav' (a name with a space)."""
    root = tmp_path / "workspace"
    (root / "songs").mkdir(parents=True)
    for name, seconds in (("songs/a.wav", 0.2), ("songs/b.wav", 0.3), ("my song.wav", 0.25)):
        make_wav(root / name, seconds=seconds)
    return root


def key_env(box: Sandbox) -> dict[str, str]:
    """The workflow's env: the key from a secret, and the sandbox as the API."""
    return {"GSEP_API_KEY": SECRET, "GSEP_BASE_URL": box.base_url}


# ---- the tests -----------------------------------------------------------------------------
def test_action_yml_wires_every_input_through_env_and_never_into_script_text() -> None:
    text = ACTION.read_text(encoding="utf-8")
    action = parse_action(text)
    assert action.using == "composite"
    assert [s.id for s in action.steps] == ["install", "separate"]
    assert set(action.outputs) == {"paths", "job-ids"}
    assert "api-key" not in action.inputs and "key" not in action.inputs
    used_inputs = set()
    for step in action.steps:
        assert "${{" not in step.run, f"an expression in run: of {step.id}: script injection"
        assert re.fullmatch(r'bash "\$GITHUB_ACTION_PATH/action/[\w-]+\.sh"', step.run)
        script = (ROOT / "action" / step.run.split("/action/")[1].rstrip('"')).read_text()
        assert "set -euo pipefail" in script
        assert "${{" not in script
        read = set(re.findall(r"\bGSEP_ACTION_[A-Z_]+", script)) - {"GSEP_ACTION_SKIP_INSTALL"}
        assert read <= set(step.env), f"{step.id} reads {read - set(step.env)} unmapped"
        for value in step.env.values():
            for expression in EXPRESSION.findall(value):
                if expression.startswith("inputs."):
                    used_inputs.add(expression.removeprefix("inputs."))
    assert used_inputs == set(action.inputs)  # every input declared is used, and only those
    # the only expressions of the file: env values and output values
    for line in text.splitlines():
        if "${{" in line and not line.lstrip().startswith("#"):
            assert re.match(r"\s+(GSEP_ACTION_[A-Z_]+|value): \$\{\{", line), line
    for output, value in action.outputs.items():
        assert value == f"${{{{ steps.separate.outputs.{output} }}}}"


@pytest.mark.slow
def test_the_action_separates_sets_its_outputs_and_a_rerun_never_pays_again(
    tmp_path: Path, workspace: Path, box: Sandbox
) -> None:
    given = {
        "files": "songs/*.wav\nmy song.wav\n",
        "stems": "vocal,drum",
        "output": "stems",
        "args": "--jobs 2 --name-template '{track}/{stem}.{ext}'",
        "ledger-dir": str(tmp_path / "cached" / "gsep-state"),
    }
    first = run_action(tmp_path / "run1", workspace, given, **key_env(box))
    assert first.code == 0, first.stderr
    assert box.store.job_count() == 3
    expected = sorted(
        f"stems/{track}/{stem}.wav" for track in ("a", "b", "my song") for stem in ("vocal", "drum")
    )
    assert sorted(first.paths()) == expected
    assert all((workspace / p).is_file() for p in first.paths())
    assert len(set(first.job_ids())) == 3
    assert all(re.fullmatch(r"[0-9a-f-]{36}", j) for j in first.job_ids())
    assert "### gsep separate: 3 inputs, all done" in first.summary
    assert "::error" not in first.stderr
    assert SECRET not in first.stderr + first.summary
    # the next workflow run: a fresh checkout (no stems) and a fresh runner, the ledger
    # folder restored from the cache: the same jobs, nothing paid again
    shutil.rmtree(workspace / "stems")
    again = run_action(tmp_path / "run2", workspace, given, **key_env(box))
    assert again.code == 0, again.stderr
    assert box.store.job_count() == 3
    assert sorted(again.job_ids()) == sorted(first.job_ids())
    assert sorted(again.paths()) == expected
    assert all((workspace / p).is_file() for p in again.paths())


@pytest.mark.slow
def test_a_failed_input_fails_the_step_after_the_outputs_are_written(
    tmp_path: Path, workspace: Path, box: Sandbox
) -> None:
    (workspace / "songs" / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00not audio")
    run = run_action(
        tmp_path, workspace, {"files": "songs/a.wav\nsongs/broken.wav"}, **key_env(box)
    )
    assert run.code == 9, run.stderr  # gsep's exit code (some inputs failed) is the step's
    assert run.paths() == ["a/vocal.wav"]  # the default output: the workspace
    assert len(run.job_ids()) == 1
    assert (tmp_path / "runner-temp" / "gsep-state").is_dir()  # the default ledger folder
    assert "::error file=songs/broken.wav,title=gsep separate::" in run.stderr
    assert "| songs/broken.wav | - | failed |" in run.summary


@pytest.mark.slow
def test_unbalanced_quotes_in_args_or_no_files_stop_before_any_request(
    tmp_path: Path, workspace: Path, box: Sandbox
) -> None:
    quoted = run_action(tmp_path / "q", workspace, {"files": "songs/a.wav", "args": "--jobs '2"})
    assert quoted.code == 2 and "::error title=gsep action::args:" in quoted.stderr
    empty = run_action(tmp_path / "e", workspace, {"files": "\n  \n"})
    assert empty.code == 2 and "no input" in empty.stderr
    assert box.requests == [] and box.store.job_count() == 0
    assert quoted.outputs == {"paths": "", "job-ids": ""} == empty.outputs


@pytest.mark.slow
def test_a_glob_that_matches_nothing_is_given_to_gsep_as_it_is(
    tmp_path: Path, workspace: Path, box: Sandbox
) -> None:
    run = run_action(tmp_path, workspace, {"files": "nothing/*.wav"}, **key_env(box))
    assert run.code == 2, run.stderr
    assert "nothing/*.wav" in run.stderr and "gsep: error:" in run.stderr
    assert box.store.job_count() == 0


def test_the_install_step_names_the_gsep_it_takes(tmp_path: Path) -> None:
    output = tmp_path / "out"
    env = clean_env(
        tmp_path,
        GSEP_ACTION_SKIP_INSTALL="1",
        GITHUB_OUTPUT=str(output),
        PATH=os.path.dirname(gsep_exe()) + os.pathsep + os.environ.get("PATH", ""),
    )
    proc = subprocess.run(
        ["bash", str(ROOT / "action" / "install.sh")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    found = read_outputs(output)
    assert os.path.samefile(found["gsep"], gsep_exe())
    assert subprocess.run([found["python"], "-c", "import json"], check=False).returncode == 0
    assert proc.stdout == ""


@pytest.mark.slow
def test_args_sandbox_tries_the_action_without_a_key(tmp_path: Path, workspace: Path) -> None:
    """What the README offers for a first try: no secret, the built-in emulator."""
    run = run_action(tmp_path, workspace, {"files": "my song.wav", "args": "--sandbox"})
    assert run.code == 0, run.stderr
    assert run.paths() == ["my song/vocal.wav"]
    assert (workspace / "my song" / "vocal.wav").is_file()
    assert len(run.job_ids()) == 1
    assert "### gsep separate: 1 input, all done" in run.summary
