"""--version and --help stay light: no requests, rich.progress, sandbox or ledger import;
and tab completion and commands import nothing heavy beyond what typer itself does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = (
    "requests",
    "urllib3",
    "rich.progress",
    "gsep_cli.sandbox",
    "gsep_cli.client",
    "gsep_cli.ledger",
    "sqlite3",
    "mutagen",
)


@pytest.mark.parametrize(
    "args", [["--version"], ["--help"], ["separate", "--help"], ["job", "status", "--help"]]
)
def test_help_and_version_import_nothing_heavy(args: list[str]) -> None:
    code = (
        "import sys\n"
        "from gsep_cli.__main__ import main\n"
        f"rc = main({args!r})\n"
        f"heavy = [m for m in {HEAVY!r} if m in sys.modules]\n"
        "print(rc, heavy, file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip().splitlines()[-1] == "0 []"
    assert done.stdout  # the version or the help text went to stdout


MINIMAL_APP = Path(__file__).resolve().parent / "benchmarks" / "minimal_app.py"
# Runs gsep (argv[1] == "gsep") or a script, then prints the modules it imported.
IMPORTED = (
    "import json, runpy, sys\n"
    "try:\n"
    "    if sys.argv[1] == 'gsep':\n"
    "        from gsep_cli.__main__ import main\n"
    "        main(sys.argv[2:])\n"
    "    else:\n"
    "        sys.argv = sys.argv[1:]\n"
    "        runpy.run_path(sys.argv[0], run_name='__main__')\n"
    "except SystemExit:\n"
    "    pass\n"
    "print(json.dumps(sorted(sys.modules)), file=sys.stderr)\n"
)


def _imported(args: list[str], env: dict[str, str], stdout: str | None = None) -> set[str]:
    """The modules (full names) gsep or the script imported for ``args``: a completion or
    a usage error, both done before any request."""
    done = subprocess.run(
        [sys.executable, "-c", IMPORTED, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if stdout is not None:
        assert done.stdout.split() == stdout.split(), done.stderr
    return set(json.loads(done.stderr.strip().splitlines()[-1]))


def test_tab_completion_and_commands_import_nothing_a_minimal_typer_app_does_not(
    tmp_path: Path,
) -> None:
    """Every TAB runs gsep again. What typer itself imports is the floor any typer CLI pays
    (typer 0.29 imports pydantic to coerce parameters: so does a two-command typer app on
    it); on top of that, gsep's completion and option parsing import only gsep_cli and
    light standard modules: none of HEAVY, no pydantic when typer does not bring it."""
    env = {
        **os.environ,
        "GSEP_CONFIG_DIR": str(tmp_path / "config"),
        "GSEP_STATE_DIR": str(tmp_path / "state"),
    }
    tab = {"COMP_WORDS": "gsep download abc --format ", "COMP_CWORD": "4"}
    peer_tab = {"COMP_WORDS": "minimal hello --name ", "COMP_CWORD": "3"}
    completion = _imported(
        ["gsep"], {**env, **tab, "_GSEP_COMPLETE": "complete_bash"}, "wav mp3 both"
    )
    peer_completion = _imported(
        [str(MINIMAL_APP)], {**env, **peer_tab, "_MINIMAL_COMPLETE": "complete_bash"}
    )
    # a command with options parsed and a usage error (no request is made)
    command = _imported(["gsep", "download", "not a job id", "--format", "flac"], env)
    peer_command = _imported([str(MINIMAL_APP), "hello", "--name", "x"], env)
    pairs = [(completion, peer_completion), (command, peer_command)]
    banned = (*HEAVY, "pydantic", "pydantic_core")
    for ours, peers in pairs:
        extra = ours - peers
        heavy = {m for m in extra for b in banned if m == b or m.startswith(b + ".")}
        assert not heavy, sorted(heavy)
