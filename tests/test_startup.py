"""--version and --help stay light: no requests, rich.progress, sandbox or ledger import;
and tab completion and commands do not pay for pydantic."""

from __future__ import annotations

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


def test_tab_completion_and_commands_do_not_import_pydantic(tmp_path: Path) -> None:
    """Every TAB runs gsep again. typer 0.29 imports pydantic (about 80 ms, twice the rest
    of a completion) to coerce parameters; pyproject keeps typer below it. This fails if
    a dependency change brings that back."""
    code = (
        "import sys\n"
        "from gsep_cli.__main__ import main\n"
        "try:\n"
        "    main(sys.argv[1:])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('pydantic' in sys.modules, file=sys.stderr)\n"
    )
    env = {
        **os.environ,
        "GSEP_CONFIG_DIR": str(tmp_path / "config"),
        "GSEP_STATE_DIR": str(tmp_path / "state"),
    }
    completion = {
        "_GSEP_COMPLETE": "complete_bash",
        "COMP_WORDS": "gsep download abc --format ",
        "COMP_CWORD": "4",
    }
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**env, **completion},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.stdout.split() == ["wav", "mp3", "both"], done.stderr
    assert done.stderr.strip().splitlines()[-1] == "False"
    # a command with options parsed and a usage error (no request is made)
    done = subprocess.run(
        [sys.executable, "-c", code, "download", "not a job id", "--format", "flac"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.stderr.strip().splitlines()[-1] == "False", done.stderr
