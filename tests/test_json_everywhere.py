"""Every command honours ``--json``: one JSON document on stdout (a batch: one JSON line
per input), walked from the click tree so a new command must be added here. Commands
that talk to the API run against a sandbox over loopback; the installed entry point.
``sandbox serve`` prints one JSON line once it listens (its own test)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import typer
from clitools import SECRET, assert_no_secret, clean_env, make_wav, run_gsep, start_gsep
from conftest import Api

from gsep_cli.cli import app
from gsep_cli.sandbox import Sandbox

JOB = "2c5f3a9e-8f1b-11ef-b864-0242ac120002"


def _leaves(command: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    subs = getattr(command, "commands", None)
    if subs is None:
        return [path]
    return [leaf for n, s in subs.items() if not s.hidden for leaf in _leaves(s, (*path, n))]


LEAVES = _leaves(typer.main.get_command(app))

#: Each command's arguments for a run that succeeds; {upload}/{job} are made on the
#: test's sandbox first. None: tested on its own below.
ARGS: dict[tuple[str, ...], list[str] | None] = {
    ("separate",): ["song.wav", "-o", "out"],
    ("upload",): ["song.wav"],
    ("job", "create"): ["{upload}"],
    ("job", "status"): ["{job}"],
    ("download",): ["{job}", "-o", "dl"],
    ("models",): [],
    ("ledger", "list"): [],
    ("ledger", "show"): ["{job}"],
    ("ledger", "forget"): [JOB],
    ("ledger", "prune"): [],
    ("config", "set-key"): [],  # the key on stdin
    ("config", "show"): [],
    ("config", "path"): [],
    ("config", "set"): ["format", "mp3"],
    ("config", "get"): ["stems"],
    ("key", "info"): [],
    ("sandbox", "serve"): None,
    ("sandbox", "example"): [],
    ("completion",): ["bash"],
    ("mcp",): None,  # its stdout is the protocol, JSON-RPC whatever --json says (test_mcp.py)
}


def test_every_command_is_walked() -> None:
    assert sorted(ARGS) == sorted(LEAVES)


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """One sandbox for the walk (its key: :data:`SECRET`)."""
    with Sandbox(job_seconds=0, chunk_size=4096, api_keys=[SECRET]) as box:
        yield box


@pytest.mark.slow
@pytest.mark.parametrize("path", [p for p, a in ARGS.items() if a is not None], ids=" ".join)
def test_json_on_stdout(path: tuple[str, ...], api: Sandbox, tmp_path: Path) -> None:
    make_wav(tmp_path / "song.wav", seconds=0.2)
    env = clean_env(tmp_path, GSEP_API_KEY=SECRET, GSEP_BASE_URL=api.base_url)
    client = Api(api, key=SECRET)
    made: dict[str, str] = {}
    if path == ("ledger", "show"):  # a job on record: made by separate
        first = run_gsep(["separate", "song.wav", "-o", "first", "--json"], env, cwd=tmp_path)
        assert first.code == 0, first
        made["job"] = json.loads(first.lines[0])["jobId"]
    elif any("{" in a for a in ARGS[path] or []):
        made["upload"] = client.upload((tmp_path / "song.wav").read_bytes())
        made["job"] = client.job_id(audioUploadId=made["upload"], type="vocal")
        client.wait(made["job"])
    argv = [*path, *(a.format(**made) for a in ARGS[path] or [])]
    stdin = "abcd1234abcd1234" if path == ("config", "set-key") else None
    run = run_gsep([*argv, "--json"], env, cwd=tmp_path, stdin=stdin)
    assert run.code == 0, run
    documents = [json.loads(line) for line in run.lines] if path == ("separate",) else [run.json()]
    assert documents and all(isinstance(d, dict) for d in documents), run
    assert_no_secret(run)
    assert "abcd1234abcd1234" not in run.out


@pytest.mark.slow
def test_sandbox_serve_prints_one_json_line_when_ready(tmp_path: Path) -> None:
    proc = start_gsep(["sandbox", "serve", "--port", "0", "--json"], clean_env(tmp_path))
    try:
        assert proc.stdout is not None
        ready = json.loads(proc.stdout.readline())
        assert ready["baseUrl"].startswith("http://127.0.0.1:"), ready
        assert ready["baseUrl"] == f"http://127.0.0.1:{ready['port']}/developers/api", ready
    finally:
        proc.terminate()
        proc.communicate(timeout=20)


@pytest.mark.parametrize("argv", [["config", "get", "base_url"], ["config", "show"]])
def test_config_with_sandbox_shows_what_is_used(
    argv: list[str], tmp_path: Path, sandbox: Callable[..., Sandbox]
) -> None:
    env = clean_env(tmp_path)
    for json_flag in ([], ["--json"]):
        run = run_gsep([*argv, "--sandbox", *json_flag], env)
        assert run.code == 0, run
        assert "127.0.0.1:0" not in run.out, run
        assert "sandbox (a free loopback port for each command)" in run.out, run
