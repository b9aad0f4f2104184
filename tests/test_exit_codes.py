"""Exit codes mean what the README says: local state is exit 2, never 3 (the key) or 4
(the API); the help text is built from ExitCode."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from clitools import run_cli

from gsep_cli.errors import EXIT_CODE_MEANINGS, ExitCode, exit_codes_help
from gsep_cli.ledger.sqlitefile import SqliteEngine


def test_every_exit_code_has_its_meaning_in_the_help() -> None:
    assert set(EXIT_CODE_MEANINGS) == set(ExitCode)
    text = exit_codes_help()
    for code, meaning in EXIT_CODE_MEANINGS.items():
        assert f"{int(code)} {meaning}" in text


def test_readme_lists_every_exit_code() -> None:
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    table = readme.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    listed = {
        int(line.split("|")[1]) for line in table.splitlines() if line[:3].strip("| ").isdigit()
    }
    assert listed == {int(code) for code in ExitCode}


def test_a_job_not_on_record_is_local_not_an_api_rejection(
    capsys: pytest.CaptureFixture[str],
) -> None:
    run = run_cli(capsys, ["ledger", "show", "no-such-job"])
    assert run.code == ExitCode.USAGE
    assert "not on record" in run.err and run.out == ""


def test_a_locked_ledger_is_local_state_not_a_key_problem(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from gsep_cli.ledger import LEDGER_FILE

    state = tmp_path / "state"
    monkeypatch.setenv("GSEP_STATE_DIR", str(state))
    monkeypatch.setattr(SqliteEngine, "lock_timeout", 0.2)
    assert run_cli(capsys, ["ledger", "list"]).code == 0  # creates the ledger
    holder = sqlite3.connect(state / LEDGER_FILE, timeout=0)
    holder.execute("BEGIN EXCLUSIVE")  # another process holding the file, for ever
    try:
        run = run_cli(capsys, ["ledger", "prune"])
    finally:
        holder.rollback()
        holder.close()
    assert run.code == ExitCode.USAGE, run.err
    assert "locked by another gsep" in run.err and len(run.err.strip().splitlines()) == 1
