"""Tab completion: the shipped scripts are current, and completion answers for real."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gsep_cli.cli import _choices, run
from gsep_cli.cli._options import complete_stems
from gsep_cli.config import Settings
from gsep_cli.errors import UsageError
from gsep_cli.models import MODELS

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
    # 'others' alone would send no stem: it is offered after one, 'all' only alone
    assert _complete("gsep separate --model gsep_music_shq_v1 --stems ", 5) == ["vocal", "all"]
    assert _complete("gsep separate --model gsep_music_shq_v1 --stems vocal,", 5) == [
        "vocal,others"
    ]
    assert _complete("gsep separate --stems vocal,a", 3) == ["vocal,acoustic_piano"]
    assert _complete("gsep separate --stems all,", 3) == []


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


# ---- --stems completion: what is offered is what is accepted -----------------------------
SETTINGS = Settings("default", "http://127.0.0.1:9/api", None, {"stems": "vocal"})


class _Ctx:
    """The part of a click context completion reads: the options parsed so far."""

    def __init__(self, model: str) -> None:
        self.params = {"model": model}


def _valid(model: str, value: str) -> bool:
    try:
        _choices.stems(SETTINGS, model, [value])
    except UsageError:
        return False
    return True


@st.composite
def typed_stems(draw: st.DrawFn) -> tuple[str, str]:
    """A model and what a user may have typed so far after --stems: some whole names
    (the model's, 'all', others' or junk), then the start of one more."""
    model = draw(st.sampled_from(sorted(MODELS)))
    names = [*MODELS[model].output_names, "all", "speech", "vocals", ""]
    done = draw(st.lists(st.sampled_from(names), max_size=4))
    last = draw(st.sampled_from(names))
    cut = draw(st.integers(0, len(last)))
    return model, ",".join([*done, last[:cut]])


@given(typed_stems())
def test_every_offered_stems_value_is_accepted(case: tuple[str, str]) -> None:
    model, typed = case
    offered = complete_stems(_Ctx(model), typed)  # type: ignore[arg-type]
    for value in offered:
        assert value.startswith(typed.rpartition(",")[0])
        assert _valid(model, value), (model, typed, value)
        parts = [p for p in value.split(",") if p]
        assert "all" not in parts or parts == ["all"], value


@pytest.mark.parametrize("model", sorted(MODELS))
def test_every_valid_single_stem_is_offered(model: str) -> None:
    """Completion leaves out nothing valid: each name accepted alone is offered from
    nothing typed."""
    offered = complete_stems(_Ctx(model), "")  # type: ignore[arg-type]
    for name in [*MODELS[model].output_names, "all"]:
        assert (name in offered) == _valid(model, name), (model, name, offered)


def test_all_beside_other_stems_is_refused() -> None:
    for value in ("vocal,all", "all,vocal", "all,others"):
        assert not _valid("gsep_music_hq_v1", value)
    assert _valid("gsep_music_hq_v1", "all")
