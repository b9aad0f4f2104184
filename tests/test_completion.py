"""Tab completion: the shipped scripts are current, and completion answers for real."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gsep_cli.cli import run

ROOT = Path(__file__).resolve().parent.parent
FILES = {"bash": "gsep.bash", "zsh": "_gsep", "fish": "gsep.fish", "powershell": "gsep.ps1"}
GSEP = shutil.which("gsep", path=os.path.dirname(sys.executable))


@pytest.mark.parametrize("shell", sorted(FILES))
def test_shipped_script_is_current(shell: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["completion", shell]) == 0
    generated = capsys.readouterr().out
    shipped = (ROOT / "completions" / FILES[shell]).read_text(encoding="utf-8")
    assert shipped == generated, f"completions/{FILES[shell]} is stale: regenerate it"


def test_unknown_shell_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["completion", "tcsh"]) == 2
    assert "bash, zsh, fish, powershell" in capsys.readouterr().err


def _complete(words: str, cword: int) -> list[str]:
    assert GSEP, "the gsep entry point is not installed next to this Python"
    env = {
        **os.environ,
        "_GSEP_COMPLETE": "complete_bash",
        "COMP_WORDS": words,
        "COMP_CWORD": str(cword),
    }
    done = subprocess.run([GSEP], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


@pytest.mark.slow
def test_values_complete() -> None:
    assert _complete("gsep sep", 1) == ["separate"]
    assert _complete("gsep le", 1) == ["ledger"]
    assert _complete("gsep ledger list --js", 3) == ["--json"]  # a global option, after
    assert _complete("gsep --json separate --stems vocal,d", 4) == ["vocal,drum"]
    assert _complete("gsep separate --model gsep_speech", 3) == ["gsep_speech_hq_v1"]
    assert _complete("gsep separate --stems vocal,d", 3) == ["vocal,drum"]
    assert _complete("gsep separate --format ", 3) == ["wav", "mp3", "both"]
    assert _complete("gsep separate --language z", 3) == ["zh-cn"]
    assert _complete("gsep job create x --language ", 5) == ["en", "ko", "ja", "zh-cn"]
    assert _complete("gsep separate --model gsep_music_shq_v1 --stems ", 5) == [
        "vocal",
        "others",
        "all",
    ]


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_bash_script_completes_in_bash() -> None:
    script = ROOT / "completions" / "gsep.bash"
    line = (
        f'source "{script}"; COMP_WORDS=(gsep jo); COMP_CWORD=1; '
        '_gsep_completion gsep; printf "%s\\n" "${COMPREPLY[@]}"'
    )
    env = {**os.environ, "PATH": f"{os.path.dirname(GSEP or '')}:{os.environ['PATH']}"}
    done = subprocess.run(["bash", "-c", line], env=env, capture_output=True, text=True, timeout=60)
    assert done.stdout.split() == ["job"], done.stderr  # not the hidden alias "jobs"
