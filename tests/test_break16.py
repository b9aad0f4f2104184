"""Issue 16's pacing and rate limit, against inputs their authors did not write: a ledger
whose job_times rows were edited by hand or by another program, and a stop (SIGTERM)
while a job creation still waits for the client-side rate limit."""

from __future__ import annotations

import math
import os
import signal
import sqlite3
import time
from pathlib import Path

import pytest
from clitools import SECRET, clean_env, make_wav, run_gsep, start_gsep, wait_for
from hypothesis import given, settings
from hypothesis import strategies as st

from gsep_cli.jobtimes import JobTimes
from gsep_cli.ledger import Ledger
from gsep_cli.sandbox import Sandbox

HQ = "gsep_music_hq_v1"

# what a column of a hand-edited or foreign row can hold: SQLite keeps any type anywhere
CELL = st.one_of(
    st.none(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.text(max_size=8),
    st.binary(max_size=8),
)


def _storable(value: object) -> bool:
    """What SQLite keeps in a NOT NULL column (it stores NaN as NULL)."""
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def _ledger_with(path: Path, rows: list[tuple[object, object, object]]) -> Ledger:
    ledger = Ledger(path)
    ledger.add_job_time("api.example", HQ, (4.0, 5.0, 3.0))  # creates the file, schema 3
    with sqlite3.connect(path) as conn:
        conn.executemany(
            "INSERT INTO job_times (api_host, model, audio_seconds, took, waited, seen_at) "
            "VALUES ('api.example', ?, ?, ?, ?, 1e12)",
            [(HQ, *row) for row in rows],
        )
    return ledger


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(st.tuples(CELL, CELL.filter(_storable), CELL), max_size=6))
def test_any_job_times_row_reads_as_a_pace_the_planner_takes(
    tmp_path_factory: pytest.TempPathFactory, rows: list[tuple[object, object, object]]
) -> None:
    path = tmp_path_factory.mktemp("ledger") / "ledger.sqlite3"
    seen = _ledger_with(path, rows).job_times("api.example", HQ, 64)
    assert seen[0] == (4.0, 5.0, 3.0)  # the good row stays
    for audio, took, waited in seen:
        assert isinstance(took, float) and math.isfinite(took)
        for value in (audio, waited):
            assert value is None or (isinstance(value, float) and math.isfinite(value))
    times = JobTimes(seen=seen)  # raised TypeError on a text cell before
    for audio in (None, 1.0, 4.0, 100.0):
        expected = times.expect(audio)
        assert expected is None or math.isfinite(expected)


def test_a_text_cell_in_job_times_does_not_fail_separate(tmp_path: Path) -> None:
    """Was: `gsep: internal error: TypeError: '>' not supported between instances of 'str'
    and 'int'` (exit 1) on every `separate` of that host and model, for good (a failing
    run never adds the rows that would push the bad one out)."""
    song = make_wav(tmp_path / "song.wav", seconds=0.5)
    with Sandbox(job_seconds=0, rate_limit=0) as sb:
        env = clean_env(tmp_path, GSEP_BASE_URL=sb.base_url, GSEP_API_KEY=SECRET)
        first = run_gsep(["separate", str(song), "-o", str(tmp_path / "a")], env)
        assert first.code == 0, first
        (ledger,) = (tmp_path / "state").rglob("*.sqlite3")
        with sqlite3.connect(ledger) as conn:
            conn.execute("UPDATE job_times SET took = 'abc', audio_seconds = 'x'")
        song.write_bytes(song.read_bytes()[:-4] + b"\x01\x00\x01\x00")  # new content
        again = run_gsep(["separate", str(song), "-o", str(tmp_path / "b")], env)
    assert again.code == 0, again
    assert "internal error" not in again.err


@pytest.mark.slow
@pytest.mark.skipif(os.name != "posix", reason="signals")
def test_sigterm_while_a_job_creation_waits_for_the_rate_limit_creates_no_job(
    tmp_path: Path,
) -> None:
    song = make_wav(tmp_path / "song.wav", seconds=0.5)
    with Sandbox(job_seconds=60, rate_limit=0) as sb:
        # two requests per 20 s: the upload's create and complete go, the job creation waits
        env = clean_env(
            tmp_path, GSEP_BASE_URL=sb.base_url, GSEP_API_KEY=SECRET, GSEP_RATE_LIMIT="2/20"
        )
        proc = start_gsep(["separate", str(song), "-o", str(tmp_path / "out")], env)
        try:
            wait_for(lambda: any(e["path"].endswith("/complete") for e in sb.requests))
            time.sleep(1.0)  # the job creation is now at the limiter
            stopped = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=90)
            took = time.monotonic() - stopped
        finally:
            proc.kill()
        jobs = sb.store.job_count()
    assert proc.returncode == 130, err
    assert jobs == 0, f"a job was created {took:.1f} s after SIGTERM"
    assert took < 5, f"exit came {took:.1f} s after SIGTERM"


def _status_polls(sb: Sandbox) -> int:
    return sum(1 for e in sb.requests if e["method"] == "GET" and "/jobs/" in e["path"])


@pytest.mark.slow
@pytest.mark.parametrize("stale", [False, True])
def test_a_stale_fast_job_time_on_record_does_not_multiply_the_polls(
    tmp_path: Path, stale: bool
) -> None:
    """An earlier run on the same host and model saw a 0.5 s job (a test clip, a quicker
    service that day); this batch's jobs take 6 s. A fresh ledger spends about 2 status
    polls per job; a stale record may cost a poll or two more, not a ramp per job."""
    from gsep_cli.ledger import api_host

    songs = [make_wav(tmp_path / f"in/s{i}.wav", seconds=1.0, seed=i) for i in range(6)]
    with Sandbox(job_seconds=6, rate_limit=0) as sb:
        env = clean_env(
            tmp_path,
            GSEP_BASE_URL=sb.base_url,
            GSEP_API_KEY=SECRET,
            GSEP_POLL_INTERVAL=None,  # gsep's own polling, as users run it
            GSEP_POLL_CAP=None,
        )
        if stale:
            with Ledger(tmp_path / "state" / "ledger.sqlite3") as ledger:
                ledger.add_job_time(api_host(sb.base_url), HQ, (1.0, 0.5, None))
        run = run_gsep(["separate", *map(str, songs), "-j", "6", "-o", str(tmp_path / "out")], env)
        polls = _status_polls(sb)
    assert run.code == 0, run
    assert polls <= 4 * len(songs), f"{polls} status polls for {len(songs)} jobs"
