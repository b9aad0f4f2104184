"""Tab completion: the shipped scripts are current, and completion answers for real."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gsep_cli import resolve
from gsep_cli.cli import run
from gsep_cli.cli._context import State
from gsep_cli.cli._options import complete_stems
from gsep_cli.config import Settings, write_config
from gsep_cli.errors import UsageError
from gsep_cli.models import DEFAULT_MODEL, MODELS

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
    assert _complete("gsep separate --format ", 3) == [
        "both",
        "wav",
        "flac",
        "aiff",
        "mp3",
        "ogg",
        "opus",
        "csv",
        "lrc",
        "srt",
    ]
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
    """The part of a click context completion reads: the options parsed so far, and the
    run's State (the global options, e.g. --profile) at the root."""

    def __init__(
        self, model: str | None, stems: list[str] | None = None, profile: str | None = None
    ) -> None:
        self.params = {"model": model, "stems": stems}
        self.obj = State(profile=profile)

    def find_root(self) -> _Ctx:
        return self


def _valid(model: str, value: str, earlier: list[str] | None = None) -> bool:
    try:
        resolve.stems(SETTINGS, model, [*(earlier or []), value])
    except UsageError:
        return False
    return True


#: Where the model in effect comes from: -m, GSEP_MODEL, the default or a named
#: profile's config, or nothing (the default model).
SOURCES = ["flag", "env", "config", "profile", "none"]


@contextlib.contextmanager
def _model_from(source: str, model: str) -> Iterator[_Ctx]:
    """The model chosen through ``source``; yields a context without the stems."""
    env = {"GSEP_MODEL": model} if source == "env" else {}
    profile = "work" if source == "profile" else None
    sections = {"default": {"model": model}} if source == "config" else {}
    if source == "profile":  # the default profile says something else: --profile wins
        sections = {"default": {"model": "gsep_dme_etrack_v1"}, "work": {"model": model}}
    write_config({"profiles": sections})
    with mock.patch.dict(os.environ, env):
        if "GSEP_MODEL" not in env:
            os.environ.pop("GSEP_MODEL", None)
        yield _Ctx(model if source == "flag" else None, profile=profile)


@st.composite
def typed_stems(draw: st.DrawFn) -> tuple[str, str, str, list[str]]:
    """A model, where it comes from, earlier ``--stems`` options, and what a user may
    have typed so far after one more --stems: some whole names (the model's, 'all',
    others' or junk), then the start of one more."""
    source = draw(st.sampled_from(SOURCES))
    model = DEFAULT_MODEL if source == "none" else draw(st.sampled_from(sorted(MODELS)))
    names = [*MODELS[model].output_names, "all", "speech", "vocals", ""]
    earlier = draw(st.lists(st.sampled_from(names), max_size=2))
    done = draw(st.lists(st.sampled_from(names), max_size=4))
    last = draw(st.sampled_from(names))
    cut = draw(st.integers(0, len(last)))
    return source, model, ",".join([*done, last[:cut]]), earlier


@given(typed_stems())
def test_every_offered_stems_value_is_accepted(case: tuple[str, str, str, list[str]]) -> None:
    """For the model in effect wherever it comes from, and with earlier --stems
    options, every value offered is accepted by the command's own check."""
    source, model, typed, earlier = case
    with _model_from(source, model) as ctx:
        ctx.params["stems"] = earlier or None
        offered = complete_stems(ctx, typed)  # type: ignore[arg-type]
    for value in offered:
        assert value.startswith(typed.rpartition(",")[0])
        assert _valid(model, value, earlier), (source, model, earlier, typed, value)
        parts = [p for p in value.split(",") if p]
        assert "all" not in parts or parts == ["all"], value
        assert not set(parts) & {e for v in earlier for e in v.split(",")}, (earlier, value)


@pytest.mark.parametrize("source", SOURCES[:-1])
def test_stems_of_the_model_in_effect_are_offered(source: str) -> None:
    with _model_from(source, "gsep_speech_hq_v1") as ctx:
        assert complete_stems(ctx, "") == ["speech", "all"]  # type: ignore[arg-type]


def test_stems_given_earlier_are_not_offered_again() -> None:
    ctx = _Ctx("gsep_music_hq_v1", stems=["vocal,drum", "bass"])
    offered = complete_stems(ctx, "")  # type: ignore[arg-type]
    assert offered == ["electric_guitar", "acoustic_piano", "others"]
    assert complete_stems(_Ctx(None, stems=["all"]), "") == []  # type: ignore[arg-type]


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


@pytest.mark.slow
def test_stems_complete_for_the_model_in_effect_as_typed(tmp_path: Path) -> None:
    """What users type: GSEP_MODEL, a profile's model, an earlier --stems."""
    config = tmp_path / "config"
    write_config({"profiles": {"work": {"model": "gsep_music_shq_v1"}}}, config / "config.json")
    with mock.patch.dict(os.environ, {"GSEP_MODEL": "gsep_speech_hq_v1"}):
        assert _complete("gsep separate --stems ", 3) == ["speech", "all"]
        assert _complete("gsep separate -m gsep_music_shq_v1 --stems ", 5) == ["vocal", "all"]
    with mock.patch.dict(os.environ, {"GSEP_CONFIG_DIR": str(config)}):
        assert _complete("gsep separate --profile work --stems ", 5) == ["vocal", "all"]
        assert _complete("gsep separate --stems vocal --stems ", 5) == [
            "drum",
            "bass",
            "electric_guitar",
            "acoustic_piano",
            "others",
        ]
