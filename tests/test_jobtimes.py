"""Batches learn how long their jobs take and poll around the expected end
(gsep_cli.jobtimes, PollPolicy.delays with an expectation, GsepClient.wait with a pace)."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import clitools
import pytest
from clitools import SECRET, make_wav

from gsep_cli.batch import BatchOptions, BatchRunner
from gsep_cli.client import GsepClient
from gsep_cli.errors import WaitTimeout
from gsep_cli.jobtimes import JobTimes
from gsep_cli.ledger import key_fingerprint
from gsep_cli.polling import PollPolicy
from gsep_cli.retry import RetryPolicy
from gsep_cli.sandbox import Sandbox

FAST_POLICY = RetryPolicy(attempts=3, base=0.01, cap=0.05, rate_limit_wait=0.1)


# ---- the plan around an expected end (pure) ------------------------------------------------
def _within_jitter(values: list[float], nominal: float) -> bool:
    return all(nominal * 0.8 - 1e-9 <= v <= nominal * 1.2 + 1e-9 for v in values)


def test_an_expected_job_skips_the_ramp_then_polls_every_5_percent() -> None:
    delays = iter(PollPolicy().delays(expected=40.0))
    assert [next(delays), next(delays)] == pytest.approx([30.0, 10.0])  # first at 40 s
    assert _within_jitter([next(delays) for _ in range(6)], 2.0)  # to about 1.3 x 40 s
    late = [next(delays) for _ in range(30)]
    assert _within_jitter(late[:1], 26.0)  # half its age (52 s): a lone job's pace then
    assert all(0.05 <= d <= 30.0 for d in late) and max(late) >= 30 * 0.8


def test_a_job_already_that_old_polls_at_the_expected_end_then_finely() -> None:
    delays = iter(PollPolicy().delays(expected=40.0, age=36.0))
    assert next(delays) == pytest.approx(4.0)
    assert _within_jitter([next(delays) for _ in range(6)], 2.0)


def test_the_cap_holds_throughout_so_an_early_failure_is_seen_in_time() -> None:
    delays = iter(PollPolicy(cap=5.0).delays(expected=600.0))
    skip = [next(delays) for _ in range(120)]
    assert skip == pytest.approx([5.0] * 120)  # 600 s at the cap's pace
    assert all(0.05 <= next(delays) <= 5.0 for _ in range(40))


def test_fine_polls_come_at_most_four_per_first_interval() -> None:
    delays = iter(PollPolicy(initial=2.0).delays(expected=1.0))  # a 1 s clip
    assert next(delays) == pytest.approx(1.0)
    assert _within_jitter([next(delays) for _ in range(6)], 0.5)  # not every 0.05 s


def test_no_expectation_is_the_plain_backoff() -> None:
    first = next(iter(PollPolicy().delays(None)))
    assert 1.6 <= first <= 2.4


# ---- what the batch has learnt (pure) ------------------------------------------------------
def test_job_times_take_the_fastest_and_never_extrapolate_upward() -> None:
    times = JobTimes()
    assert times.expect(60.0) is None
    times.observe(60.0, 70.0)
    times.observe(60.0, 65.0)
    assert times.expect(60.0) == pytest.approx(65.0)
    assert times.expect(30.0) == pytest.approx(32.5)  # half the audio, half the time
    assert times.expect(600.0) == pytest.approx(65.0)  # longer: no more than observed
    assert times.expect(None) is None  # an unmeasured input compares only with its kind
    times.observe(None, 50.0)
    assert times.expect(None) == pytest.approx(50.0)
    assert times.expect(60.0) == pytest.approx(65.0)
    times.observe(60.0, 0.0)  # nonsense is ignored
    assert times.expect(60.0) == pytest.approx(65.0)


def test_job_times_forget_old_jobs() -> None:
    times = JobTimes(recent=3)
    for took in (10.0, 20.0, 20.0, 20.0):
        times.observe(1.0, took)
    assert times.expect(1.0) == pytest.approx(20.0)  # the 10 s job fell out of the window


def test_a_pace_sleep_ends_when_another_job_finishes() -> None:
    times = JobTimes()
    pace = times.pace(1.0)
    assert pace.expect() is None
    assert pace.sleep(0.01) is False  # nothing happened: a plain (short) sleep
    threading.Timer(0.05, times.observe, args=(1.0, 3.0)).start()
    assert pace.sleep(60.0) is True  # woken long before the minute
    assert pace.expect() == pytest.approx(3.0)
    assert pace.sleep(0.01) is False  # that news was read: sleeps again


# ---- the client, over HTTP ---------------------------------------------------------------------
def _poll_times(sb: Sandbox, job_id: str) -> list[float]:
    return [
        r["time"]
        for r in clitools.api_requests(sb)
        if r["method"] == "GET" and r["path"].endswith(f"/jobs/{job_id}")
    ]


@contextlib.contextmanager
def _one_job(
    tmp_path: Path, job_seconds: float, poll: PollPolicy
) -> Iterator[tuple[Sandbox, GsepClient, str]]:
    """A sandbox whose jobs take ``job_seconds``, a client, and one job just created."""
    wav = make_wav(tmp_path / "a.wav")
    with (
        Sandbox(job_seconds=job_seconds, chunk_size=4096, rate_limit=0) as sb,
        GsepClient(sb.base_url, SECRET, policy=FAST_POLICY, poll=poll) as client,
    ):
        yield sb, client, client.create_job(client.upload_file(wav), stems=["vocal"])


@pytest.mark.slow
def test_wait_with_an_expectation_skips_the_early_polls(tmp_path: Path) -> None:
    times = JobTimes()
    times.observe(None, 1.0)  # jobs of this batch have taken 1 s
    with _one_job(tmp_path, 1.0, PollPolicy(initial=0.05, cap=2.0)) as (sb, client, job_id):
        job = client.wait(job_id, pace=times.pace(None))
        polls = _poll_times(sb, job_id)
    assert job.status.value == "success"
    # one poll at once (not fresh), then nothing until 1 s (the plain backoff polls at 0.05,
    # 0.13, ...)
    assert polls[1] - polls[0] >= 0.9
    assert len(polls) <= 2 + 6 + 3


@pytest.mark.slow
def test_a_waiting_job_polls_at_once_when_a_job_as_old_finishes(tmp_path: Path) -> None:
    times = JobTimes()
    outcome: dict[str, object] = {}
    with _one_job(tmp_path, 2.0, PollPolicy(initial=60, cap=60)) as (sb, client, job_id):
        created = time.monotonic()
        pace = times.pace(None)
        waiter = threading.Thread(
            target=lambda: outcome.setdefault("job", client.wait(job_id, pace=pace))
        )
        waiter.start()
        for _ in range(200):  # its first poll (job running), then it sleeps for a minute
            if _poll_times(sb, job_id):
                break
            time.sleep(0.05)
        time.sleep(max(0.0, created + 2.2 - time.monotonic()))  # the job has ended
        times.observe(None, 2.1)  # a sibling started together was seen finished
        waiter.join(timeout=20)
        assert not waiter.is_alive(), "the waiter slept on instead of polling"
        assert len(_poll_times(sb, job_id)) == 2
    assert outcome["job"].status.value == "success"  # type: ignore[attr-defined]


@pytest.mark.slow
def test_an_overdue_job_is_not_polled_again_each_time_another_finishes(tmp_path: Path) -> None:
    """Jobs finishing around a long one must not restart its dense polls: once past them it
    backs off like a lone job (found in review: 159 polls against 10 without this)."""
    times = JobTimes()
    times.observe(None, 0.2)  # the others took 0.2 s; this one will take a minute
    stop = threading.Event()

    def siblings() -> None:  # another job finishes every 50 ms
        while not stop.wait(0.05):
            times.observe(None, 0.2)

    feeder = threading.Thread(target=siblings)
    with _one_job(tmp_path, 60.0, PollPolicy(initial=0.05, cap=0.2)) as (sb, client, job_id):
        feeder.start()
        try:
            with pytest.raises(WaitTimeout):
                client.wait(job_id, timeout=3.0, pace=times.pace(None))
        finally:
            stop.set()
            feeder.join()
        polls = _poll_times(sb, job_id)
    # the plain backoff makes about 20 polls in 3 s (ramp, then every 0.2 s); one restart
    # per finished job would make about 60
    assert len(polls) <= 30


# ---- a batch, end to end -----------------------------------------------------------------------
@pytest.mark.slow
def test_later_rounds_of_a_batch_poll_around_the_learnt_end(tmp_path: Path) -> None:
    inputs = [make_wav(tmp_path / f"s{i}.wav") for i in range(4)]
    with Sandbox(job_seconds=1.0, chunk_size=4096, rate_limit=0) as sb:
        client = GsepClient(
            sb.base_url, SECRET, policy=FAST_POLICY, poll=PollPolicy(initial=0.05, cap=0.5)
        )
        options = BatchOptions(
            "gsep_music_hq_v1",
            ["vocal"],
            ["wav"],
            tmp_path / "out",
            "{track}/{stem}.{ext}",
            jobs=2,
        )
        runner = BatchRunner(client, options, key_fp=key_fingerprint(SECRET), base_url=sb.base_url)
        results = runner.run(inputs)
        polls: dict[str, list[float]] = {}
        for r in clitools.api_requests(sb):
            if r["method"] == "GET" and "/jobs/" in r["path"]:
                polls.setdefault(r["path"].rsplit("/", 1)[1], []).append(r["time"])
        created = {job: _created_at(sb, job) for job in polls}
    assert [r.status for r in results] == ["success"] * 4
    rounds = sorted(polls, key=lambda job: created[job])
    for job in rounds[2:]:  # created after the first round's jobs were seen finished
        # the plain backoff polls at about 0.05, 0.13, 0.24, 0.41 and 0.66 s; a job that
        # knows jobs take 1 s polls at the cap's pace (0.5 s) until then (and one job at a
        # time may probe half-way between the first scout's last two polls)
        early = [round(t - created[job], 2) for t in polls[job] if t - created[job] < 0.8]
        assert len(early) <= 2, f"polled at {early} s into a job the batch knew takes 1 s"
        assert len(polls[job]) <= 2 + 6 + 3


def _created_at(sb: Sandbox, job_id: str) -> float:
    job = sb.store.find_job(job_id)
    assert job is not None
    return job.created_at
