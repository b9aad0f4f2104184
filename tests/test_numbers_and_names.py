"""Smaller findings of issue 15's breaker (item 9), through the installed entry point:
one check for number options (``--timeout`` seconds, ``--older-than`` days: finite, 0
or more, in the house wording); ``ledger forget`` says which ids were not on record; a
"did you mean" for setting names, languages and shells; tab completion of ``gsep
completion SHELL`` and ``gsep config get/set NAME``."""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from clitools import assert_clean_error, clean_env, make_wav, run_gsep
from hypothesis import given
from hypothesis import strategies as st
from test_listings import _record

from gsep_cli.cli._options import amount
from gsep_cli.errors import UsageError
from gsep_cli.ledger import Ledger

JOB = "2c5f3a9e-8f1b-11ef-b864-0242ac120002"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    make_wav(tmp_path / "song.wav", seconds=0.2)
    return clean_env(tmp_path)


# ---- number options -----------------------------------------------------------------------
@pytest.mark.parametrize(
    "argv,what",
    [
        (
            ["ledger", "prune", "--older-than", "nan"],
            "--older-than must be a finite number of days",
        ),
        (
            ["ledger", "prune", "--older-than", "inf"],
            "--older-than must be a finite number of days",
        ),
        (
            ["ledger", "prune", "--older-than", "x"],
            "--older-than must be a number of days, not 'x'",
        ),
        (["ledger", "prune", "--older-than", "-1"], "--older-than: -1 is not 0 or more"),
        (["separate", "song.wav", "--timeout", "nan"], "--timeout must be a finite number of sec"),
        (["separate", "song.wav", "--timeout", "x"], "--timeout must be a number of seconds"),
        (["job", "status", JOB, "--timeout", "-inf"], "--timeout must be a finite number of sec"),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else "",
)
def test_a_number_option_is_checked_once_in_the_house_words(
    argv: list[str], what: str, env: dict[str, str], tmp_path: Path
) -> None:
    run = run_gsep(argv, env, cwd=tmp_path)
    line = assert_clean_error(run, 2, what, " — Give a number of ")
    assert "valid float" not in line


@given(st.one_of(st.text(max_size=8), st.floats(allow_nan=True).map(str)))
def test_amount_accepts_exactly_the_finite_numbers_from_zero(text: str) -> None:
    try:
        expected: float | None = float(text)
    except ValueError:
        expected = None
    parse = amount("--older-than", "days")
    if expected is not None and math.isfinite(expected) and expected >= 0:
        assert parse(text) == expected
    else:
        with pytest.raises(UsageError) as info:
            parse(text)
        assert info.value.message.startswith("--older-than"), info.value.message
        assert info.value.hint


# ---- ledger forget ----------------------------------------------------------------------
def test_forget_names_the_ids_not_on_record(env: dict[str, str], tmp_path: Path) -> None:
    with Ledger(Path(env["GSEP_STATE_DIR"]) / "ledger.sqlite3") as ledger:
        ledger.record_job(_record(JOB, "gsep_music_hq_v1", "song.wav", ("vocal",), "out"))
    run = run_gsep(["ledger", "forget", "UNKNOWN-1", JOB, "--json"], env)
    assert run.code == 0, run
    assert run.json() == {"removed": 1, "notOnRecord": ["UNKNOWN-1"]}
    assert "forgot 1 job; a re-run of their inputs pays again" in run.err, run
    assert "not on record, nothing to forget: UNKNOWN-1" in run.err, run


def test_forgetting_only_unknown_ids_claims_nothing_about_paying(
    env: dict[str, str], tmp_path: Path
) -> None:
    run = run_gsep(["ledger", "forget", "UNKNOWN-1", "UNKNOWN-2"], env)
    assert run.code == 0, run
    assert "pays again" not in run.err and "forgot" not in run.err, run
    assert "not on record, nothing to forget: UNKNOWN-1, UNKNOWN-2" in run.err, run


# ---- did you mean -------------------------------------------------------------------------
@pytest.mark.parametrize(
    "argv,what,guess",
    [
        (["config", "set", "stem", "vocal"], "unknown setting 'stem'", "Did you mean 'stems'?"),
        (["config", "get", "modle"], "unknown setting 'modle'", "Did you mean 'model'?"),
        (["completion", "bsh"], "unknown shell 'bsh'", "Did you mean 'bash'"),
        (
            ["separate", "song.wav", "-m", "gts_lyrics_line_v1", "--language", "eng"],
            "unsupported language 'eng'",
            "Did you mean 'en'?",
        ),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else "",
)
def test_a_mistyped_name_gets_a_did_you_mean(
    argv: list[str], what: str, guess: str, env: dict[str, str], tmp_path: Path
) -> None:
    (tmp_path / "song.txt").write_text("one\ntwo\n", encoding="utf-8")
    if "--language" in argv:
        argv = [*argv, "--lyrics", "song.txt"]
    run = run_gsep(argv, env, cwd=tmp_path)
    assert_clean_error(run, 2, what, guess)


# ---- completion ---------------------------------------------------------------------------
GSEP = shutil.which("gsep", path=os.path.dirname(sys.executable))


def _complete(words: str, cword: int) -> list[str]:
    assert GSEP
    env = {**os.environ, "_GSEP_COMPLETE": "complete_bash", "COMP_WORDS": words}
    env["COMP_CWORD"] = str(cword)
    done = subprocess.run([GSEP], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


@pytest.mark.slow
def test_shells_and_setting_names_complete() -> None:
    assert _complete("gsep completion ", 2) == ["bash", "zsh", "fish", "powershell"]
    assert _complete("gsep completion p", 2) == ["powershell"]
    assert _complete("gsep config get ", 3) == [
        "base_url",
        "format",
        "stems",
        "output_dir",
        "model",
        "ledger_url",
    ]
    assert _complete("gsep config set f", 3) == ["format"]
    assert _complete("gsep config get --json m", 4) == ["model"]
