"""--version and --help stay light: no requests, rich.progress, sandbox or ledger import."""

from __future__ import annotations

import subprocess
import sys

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
