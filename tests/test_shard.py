"""``--shard I/N``: N runners given the same list, with no shared database, take disjoint
shares chosen by content that together cover it, and copies of one work fall to one
runner, which pays for it once."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest
from clitools import assert_clean_error, clean_env, gsep_exe, make_wav, run_gsep
from hypothesis import given
from hypothesis import strategies as st
from paidtools import counts

from gsep_cli import Session, UsageError
from gsep_cli.batch.shard import Shard
from gsep_cli.errors import ExitCode
from gsep_cli.sandbox import Sandbox

KEY = "shard-key-7777"
KEYS = st.binary(min_size=1, max_size=64).map(lambda b: hashlib.sha256(b).hexdigest())


@given(keys=st.lists(KEYS, max_size=40), count=st.integers(1, 12))
def test_every_input_falls_to_exactly_one_shard(keys: list[str], count: int) -> None:
    for key in keys:
        owners = [i for i in range(1, count + 1) if Shard(i, count).takes(key)]
        assert len(owners) == 1, (key, count, owners)


@pytest.mark.parametrize("text", ["0/3", "4/3", "1/0", "a/b", "1", "1/2/3", "-1/2", ""])
def test_a_shard_that_cannot_be_is_refused(text: str) -> None:
    with pytest.raises(UsageError, match="--shard"):
        Shard.parse(text)


def test_a_shard_is_parsed_with_spaces_and_says_itself() -> None:
    assert str(Shard.parse(" 2 / 5 ")) == "2/5"


def _inputs(folder: Path) -> list[Path]:
    songs = [make_wav(folder / f"s{i}.wav", seconds=0.2 + 0.01 * i) for i in range(6)]
    shutil.copy(songs[0], folder / "copy_of_s0.wav")  # one work under two names
    return [*songs, folder / "copy_of_s0.wav"]


@pytest.mark.slow
def test_three_runners_share_a_list_with_no_shared_database(tmp_path: Path) -> None:
    """Three `gsep separate --shard I/3` processes at once, each with a ledger of its own,
    over the same 7 inputs (6 works): each input is separated by exactly one runner, the
    copies by the same one, and the sandbox sees one job per work."""
    inputs = _inputs(tmp_path)
    names = [p.name for p in inputs]
    with Sandbox(job_seconds=0, chunk_size=8192) as sb:
        runners = []
        for index in (1, 2, 3):
            env = clean_env(
                tmp_path / f"runner{index}", GSEP_API_KEY=KEY, GSEP_BASE_URL=sb.base_url
            )
            args = ["separate", *names, "-s", "vocal", "-o", f"out{index}", "--shard", f"{index}/3"]
            runners.append(
                subprocess.Popen(
                    [gsep_exe(), *args],
                    env=env,
                    cwd=tmp_path,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
            )
        outs = [runner.communicate(timeout=120) for runner in runners]
        assert [runner.returncode for runner in runners] == [0, 0, 0], outs
        assert counts(sb)[1] == 6  # one job per distinct content
    taken = {}
    for index in (1, 2, 3):
        for path in (tmp_path / f"out{index}").glob("*/vocal.wav"):
            assert path.parent.name not in taken, "two runners separated one input"
            taken[path.parent.name] = index
        assert f"gsep: shard {index}/3: " in outs[index - 1][1]
    assert sorted(taken) == sorted(p.stem for p in inputs)  # together: every input
    assert taken["s0"] == taken["copy_of_s0"]  # copies: one runner, one job


def test_a_malformed_shard_is_refused_before_any_request(tmp_path: Path) -> None:
    make_wav(tmp_path / "a.wav", seconds=0.2)
    env = clean_env(tmp_path, GSEP_API_KEY=KEY, GSEP_BASE_URL="http://127.0.0.1:9/api")
    run = run_gsep(["separate", "a.wav", "--shard", "3/2"], env, cwd=tmp_path)
    assert_clean_error(run, ExitCode.USAGE, "--shard 3/2", "shards count from 1")


def test_the_library_takes_its_share_and_an_empty_share_is_nothing_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inputs = _inputs(tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GSEP_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("GSEP_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("GSEP_SANDBOX_JOB_SECONDS", "0")
    monkeypatch.setenv("GSEP_POLL_INTERVAL", "0.05")
    seen: list[str] = []
    with Session(sandbox=True) as session:
        for index in (1, 2):
            results = session.separate(inputs, stems="vocal", out_dir="out", shard=f"{index}/2")
            assert all(r.ok for r in results), [str(r.error) for r in results]
            seen += [r.input.name for r in results]
        assert sorted(seen) == sorted(p.name for p in inputs)
        alone = [make_wav(tmp_path / "alone.wav", seconds=0.5)]
        shares = [
            session.separate(alone, stems="vocal", out_dir="out", shard=f"{i}/2") for i in (1, 2)
        ]
        assert sorted(len(s) for s in shares) == [0, 1]  # the other shard: nothing to do
