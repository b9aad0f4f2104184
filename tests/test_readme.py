"""The README is executable documentation (issue 6).

* Every shell, console and Python example in README.md runs against a sandbox on
  loopback, each in a fresh folder holding the files the examples name; ``$``-lines of
  ``console`` blocks must print exactly what the README shows after them.
* The command reference table names every command and every option that ``--help``
  lists, and no option that does not exist; every command's ``--help`` has an example.

A block preceded by ``<!-- readme-test: skip (why) -->`` is not run (package installs, the
test suite itself), one marked ``<!-- readme-test: needs the audio extra -->`` runs where
soundfile imports (CI installs the extra); ``<!-- readme-test: skip the install; run the
rest -->`` runs the block without its virtualenv line and its ``pip install ... &&``.

A ``console`` transcript shows what a new user sees: it runs with no key and no base URL,
unless it is marked ``<!-- readme-test: with a key -->`` (the text around it says so).
No example changes the reader's default settings: after each block, the config file's
default profile holds nothing but the key (``config set-key`` is the one that stores).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from clitools import clean_env, make_wav

from gsep_cli.cli import app
from gsep_cli.sandbox import Sandbox
from gsep_cli.sandbox.example import EXAMPLE_CLIP

README = Path(__file__).resolve().parent.parent / "README.md"
TEXT = README.read_text(encoding="utf-8")
BLOCK = re.compile(
    r"(?:<!-- readme-test: (?P<mark>[^>]*?) -->\n)?^```(?P<lang>\w*)\n(?P<body>.*?)^```$",
    re.S | re.M,
)
KEY = "readme-example-key"


def _blocks(lang: tuple[str, ...]) -> list[Any]:
    found = []
    for match in BLOCK.finditer(TEXT):
        if match["lang"] not in lang:
            continue
        line = TEXT.count("\n", 0, match.start("body")) + 1
        found.append(pytest.param(match["body"], match["mark"] or "", id=f"README.md:{line}"))
    return found


# ---- the folder and programs the examples expect -------------------------------------------
SHIM = """#!/bin/sh
# Stand-in for {name} (not installed here): checks that an audio stream arrived on stdin
# and writes it to the output file named last.
for last; do :; done
cat > "$last"
head -c 4 "$last" | grep -q -e RIFF -e ID3 -e "$(printf '\\377')" ||
    {{ echo "{name}: no audio" >&2; exit 1; }}
"""


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """The current folder of every example: song.wav (the bundled clip), its lyrics,
    an album with a subfolder, and inputs for the other models."""
    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(EXAMPLE_CLIP, work / "song.wav")
    (work / "song.txt").write_text("first line\nsecond line\nthird line\n", encoding="utf-8")
    for name, seconds in (("a", 0.3), ("b", 0.4), ("demo-take", 0.2), ("live/c", 0.5)):
        make_wav(work / "album" / f"{name}.wav", seconds=seconds)
    make_wav(work / "interview.wav", seconds=0.3, channels=1)
    make_wav(work / "episode.wav", seconds=0.3)
    return work


@pytest.fixture
def shell_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    """A key, fast waits, temp config/state/home, sox/ffmpeg stand-ins where missing,
    and GSEP_BASE_URL pointing at a sandbox (examples with --sandbox start their own)."""
    shims = tmp_path / "shims"
    shims.mkdir()
    for name in ("sox", "ffmpeg"):
        if shutil.which(name) is None:
            (shims / name).write_text(SHIM.format(name=name), encoding="utf-8")
            (shims / name).chmod(0o755)
    with Sandbox(job_seconds=0.2, chunk_size=64 * 1024, rate_limit=0) as sandbox:
        env = clean_env(tmp_path, GSEP_API_KEY=KEY, MY_KEY=KEY, GSEP_BASE_URL=sandbox.base_url)
        env["HOME"] = str(tmp_path / "home")
        bindir = os.path.dirname(sys.executable)
        env["PATH"] = os.pathsep.join([bindir, str(shims), env.get("PATH", "")])
        yield env


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run_shell(script: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run a block with bash, stopping at the first failing command; background jobs it
    started (``gsep sandbox serve &``) are killed with its process group. Output goes
    through files: a background job holding a pipe open must not keep the test waiting."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(
            ["bash", "-euo", "pipefail", "-c", script],
            env=env,
            cwd=cwd,
            stdout=out,
            stderr=err,
            text=True,
            start_new_session=True,
        )
        try:
            proc.wait(timeout=120)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        out.seek(0)
        err.seek(0)
        return subprocess.CompletedProcess(proc.args, proc.returncode, out.read(), err.read())


def _prepare(body: str, mark: str) -> str:
    if mark.startswith("skip the install"):
        body = re.sub(r"^python3? -m venv [^\n]*\n", "", body, flags=re.M)
        body = re.sub(r"pip install [^&\n]*&&\s*", "", body)
    if "sandbox serve --port 8080" in body:  # a free port, and wait until it listens
        port = str(_free_port())
        body = body.replace("8080", port)
        body = body.replace(
            "&           # prints",
            f"& for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/{port}) 2>/dev/null"
            " && break; sleep 0.1; done  # prints",
            1,
        )
    return body


# ---- the examples ------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize(("body", "mark"), _blocks(("sh",)))
def test_shell_example_runs(body: str, mark: str, workdir: Path, shell_env: dict[str, str]) -> None:
    if mark.startswith("skip ("):
        pytest.skip(mark)
    if mark.startswith("needs the audio extra"):
        pytest.importorskip("soundfile", reason="the audio extra is not installed")
    done = _run_shell(_prepare(body, mark), shell_env, workdir)
    assert done.returncode == 0, f"{body}\n--- stdout\n{done.stdout}--- stderr\n{done.stderr}"
    assert "Traceback" not in done.stderr
    assert "gsep: error" not in done.stderr, done.stderr
    assert _default_settings(shell_env) == {}, f"{body} changed the reader's settings"


def _default_settings(env: dict[str, str]) -> dict[str, Any]:
    """What the config file's default profile holds besides the key."""
    config = Path(env["GSEP_CONFIG_DIR"]) / "config.json"
    if not config.exists():
        return {}
    profiles = json.loads(config.read_text(encoding="utf-8")).get("profiles", {})
    return {k: v for k, v in profiles.get("default", {}).items() if k != "api_key"}


def test_the_settings_check_sees_a_changed_default(
    tmp_path: Path, shell_env: dict[str, str]
) -> None:
    """The check above can fail: an unscoped ``config set`` is what it catches."""
    done = _run_shell("gsep config set format mp3", shell_env, tmp_path)
    assert done.returncode == 0, done.stderr
    assert _default_settings(shell_env) == {"format": "mp3"}


@pytest.mark.slow
@pytest.mark.parametrize(("body", "mark"), _blocks(("console",)))
def test_console_example_prints_what_the_readme_shows(
    body: str, mark: str, workdir: Path, shell_env: dict[str, str]
) -> None:
    commands: list[tuple[str, list[str]]] = []
    for line in body.splitlines():
        if line.startswith("$ "):
            commands.append((line[2:], []))
        else:
            assert commands, f"output before any command in {body!r}"
            commands[-1][1].append(line)
    assert commands
    env = dict(shell_env)
    if not mark.startswith("with a key"):  # what a new user sees: no key, no base URL
        for name in ("GSEP_API_KEY", "MY_KEY", "GSEP_BASE_URL"):
            env.pop(name)
    for command, expected in commands:
        done = _run_shell(command, env, workdir)
        assert done.returncode == 0, f"{command}\n{done.stderr}"
        assert done.stdout.splitlines() == expected, f"{command}\n{done.stderr}"


@pytest.mark.parametrize(("body", "mark"), _blocks(("python",)))
def test_python_example_runs(body: str, mark: str, tmp_path: Path, monkeypatch: Any) -> None:
    """Each Python example, in a folder holding ``song.wav``, with ``run_my_pipeline``
    being a real upload and job; ``Session(sandbox=True)`` jobs end at once and are
    polled soon (the examples' assertions are what they check)."""
    from gsep_cli.client import GsepClient

    if mark.startswith("skip ("):
        pytest.skip(mark)
    monkeypatch.chdir(tmp_path)
    for name, value in {"GSEP_SANDBOX_JOB_SECONDS": "0", "GSEP_POLL_INTERVAL": "0.05"}.items():
        monkeypatch.setenv(name, value)
    song = make_wav(tmp_path / "song.wav", seconds=0.2)

    def run_my_pipeline(*, base_url: str, api_key: str) -> None:
        with GsepClient(base_url, api_key) as client:
            upload_id = client.upload_file(song)
            client.wait(client.create_job(upload_id, stems=["vocal"]), timeout=30)

    namespace = {"run_my_pipeline": run_my_pipeline, "print": lambda *a, **k: None}
    exec(compile(textwrap.dedent(body), str(README), "exec"), namespace)


# ---- the command reference ---------------------------------------------------------------------
def _commands() -> dict[str, Any]:
    """Every leaf command, by its path (``job create``)."""
    found: dict[str, Any] = {}

    def walk(command: Any, path: list[str]) -> None:
        subcommands = getattr(command, "commands", None)
        if subcommands:
            for name, sub in subcommands.items():
                if not sub.hidden:  # a hidden alias (gsep jobs) is documented by its name
                    walk(sub, [*path, name])
        else:
            found[" ".join(path)] = command

    walk(typer.main.get_command(app), [])
    return found


def _reference_rows() -> dict[str, str]:
    """Command path → the usage text given for it in the README's command table."""
    section = TEXT.split("## Commands", 1)[1].split("\n### ", 1)[0]
    commands = _commands()
    rows: dict[str, str] = {}
    for line in section.splitlines():
        if not line.startswith("| `gsep "):
            continue
        first = line.split(" | ", 1)[0]
        for usage in re.findall(r"`(gsep [^`]*)`", first):
            words = usage.split()[1:]
            path = next(" ".join(words[:n]) for n in (2, 1) if " ".join(words[:n]) in commands)
            rows[path] = usage
    return rows


def _options(command: Any) -> set[str]:
    return {
        opt
        for param in command.params
        for opt in param.opts
        if opt.startswith("--") and opt != "--help"
    }


def test_every_command_is_in_the_reference_table() -> None:
    assert sorted(_reference_rows()) == sorted(_commands())


@pytest.mark.parametrize("path", sorted(_commands()))
def test_reference_row_matches_help(path: str) -> None:
    command = _commands()[path]
    usage = _reference_rows()[path]
    named = set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", usage))
    named |= {"--output"} if re.search(r"\[-o ", usage) else set()
    named |= {"--recursive"} if re.search(r"\[-r\]", usage) else set()
    assert named <= _options(command), f"README names options {path} does not have"
    missing = _options(command) - named
    if "[options]" in usage:  # listed in the section the row points to
        section = TEXT.split("## The sandbox", 1)[1].split("\n## ", 1)[0]
        missing = {opt for opt in missing if f"`{opt}" not in section}
    assert not missing, f"README's row for gsep {path} lacks {sorted(missing)}"


@pytest.mark.parametrize("path", sorted(_commands()))
def test_reference_row_uses_the_help_placeholders(path: str) -> None:
    """``--stems LIST`` in the README is ``--stems LIST`` in --help (a lower-case word
    lists the values instead: ``--format wav|mp3|both``)."""
    metavars = {opt: param.metavar for param in _commands()[path].params for opt in param.opts}
    usage = _reference_rows()[path].replace("\\|", "|")
    for opt, word in re.findall(r"(?<![\w-])(--[a-z][a-z-]*) ([A-Za-z][\w.]*)", usage):
        if word[0].isupper():
            assert word == metavars.get(opt), f"README: {opt} {word}; --help: {metavars.get(opt)}"


def test_reference_table_lists_commands_in_help_order() -> None:
    """The README's table and ``gsep --help`` list the commands in the same order."""
    root = typer.main.get_command(app)
    shown = [n for n in root.list_commands(None) if not root.commands[n].hidden]
    in_table = list(dict.fromkeys(path.split()[0] for path in _reference_rows()))
    assert in_table == shown


def test_global_options_are_in_the_reference() -> None:
    root = typer.main.get_command(app)
    section = TEXT.split("## Commands", 1)[1]
    for opt in _options(root):
        assert opt in section, opt


@pytest.mark.parametrize("path", sorted(_commands()))
def test_every_help_has_an_example(path: str) -> None:
    help_text = _commands()[path].help or ""
    # an example block, kept as written by click's \b marker (see tests/test_help.py)
    assert re.search(r"^\x08\nExamples?:\n +.*\bgsep ", help_text, re.M), (
        f"gsep {path} --help has no example"
    )
