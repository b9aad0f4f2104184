"""The polls a batch spends (issue 16): none straight after a job's creation, one scout
per kind of input while nothing is known, the learnt times kept in the ledger for the
next run, and no 429 under a tight budget with jittered latency."""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import Any

import clitools
import pytest
from clitools import SECRET, make_wav
from hypothesis import given, settings
from hypothesis import strategies as st

from gsep_cli.batch import BatchOptions, BatchRunner
from gsep_cli.client import GsepClient
from gsep_cli.jobtimes import JobTimes
from gsep_cli.ledger import Ledger, key_fingerprint
from gsep_cli.polling import PollPolicy
from gsep_cli.ratelimit import RateLimiter
from gsep_cli.retry import RetryPolicy
from gsep_cli.sandbox import Sandbox

FAST_POLICY = RetryPolicy(attempts=3, base=0.01, cap=0.05, rate_limit_wait=0.1)


# ---- the scout (pure) ------------------------------------------------------------------------
def test_three_scouts_per_kind_of_input_until_they_hand_over() -> None:
    times = JobTimes()
    paces = [times.pace(10.0 + i) for i in range(4)]
    assert [p.scout() for p in paces] == [True, True, True, False]  # three of a kind
    assert paces[0].scout()  # asking again keeps the role
    assert [p.scout_phase() for p in paces[:3]] == pytest.approx([0, 1 / 3, 2 / 3])
    assert times.pace(None).scout()  # an input of unknown length is another kind
    paces[1].release()
    assert paces[3].scout() and paces[3].scout_phase() == pytest.approx(1 / 3)
    paces[3].release()
    paces[3].release()  # releasing twice hands over once
    assert times.pace(5.0).scout()


def test_scouts_interleave_their_polls() -> None:
    """Each scout's backoff falls a third of a step after the one before: together they
    look about three times as often as one, so the first round is seen sooner."""
    policy = PollPolicy(jitter=0.0)

    def ages(phase: float) -> list[float]:
        delays, age, out = iter(policy.delays(None, 0.0, None, phase)), 0.0, []
        while age < 30:
            age += next(delays)
            out.append(age)
        return out

    merged = sorted(ages(0) + ages(1 / 3) + ages(2 / 3))
    gaps = [b - a for a, b in itertools.pairwise(merged) if a > 5]
    lone = [b - a for a, b in itertools.pairwise(ages(0)) if a > 5]
    assert max(gaps) < max(lone) / 2


def test_earlier_runs_only_tell_the_scout_when_to_look_first() -> None:
    """The service may have been faster that day: what earlier runs saw is not a bound on
    this batch (no expectation, no probe), only the scout's first look."""
    times = JobTimes(history=[(60.0, 40.0, 30.0), (None, 12.0, None)])
    assert times.expect(30.0) is None and times.first_look(30.0) == pytest.approx(20.0)
    assert times.first_look(None) == pytest.approx(12.0)
    assert times.pace(60.0).probe(0.5) is None
    delays = iter(PollPolicy(cap=30.0).delays(None, 0.0, 40.0))  # the scout's plan
    assert [next(delays), next(delays)] == pytest.approx([30.0, 10.0])  # the cap holds
    assert 0.8 * 20.0 <= next(delays) <= 1.2 * 20.0  # then the backoff of a 40 s old job


def test_a_job_of_a_later_run_starts_from_what_the_ledger_kept() -> None:
    times = JobTimes(seen=[(60.0, 40.0, 30.0), (None, 12.0, None), (60.0, 0.0, None)])
    assert times.expect(30.0) == pytest.approx(20.0)
    assert times.expect(None) == pytest.approx(12.0)
    assert times.seen() == [(60.0, 40.0, 30.0), (None, 12.0, None)]  # 0 s: nonsense, dropped


# ---- the probe (pure) ------------------------------------------------------------------------
def test_a_wide_gap_between_the_bounds_is_split_by_the_probes() -> None:
    times = JobTimes()
    times.observe(10.0, 16.25, 9.5)  # the scout: running at 9.5 s, finished at 16.25 s
    paces = [times.pace(10.0) for _ in range(5)]
    middle = (16.25 + 9.5) / 2
    assert paces[0].probe(0.75) == pytest.approx(middle)
    # jobs that start together split the gap: the middle of the widest stretch left
    assert paces[1].probe(0.75) == pytest.approx((middle + 16.25) / 2)
    assert paces[2].probe(0.75) == pytest.approx((9.5 + middle) / 2)
    assert paces[3].probe(0.75) is None  # three at a time
    paces[0].release()
    assert paces[4].probe(0.75) == pytest.approx(middle)
    narrow = JobTimes(seen=[(10.0, 15.4, 15.0)])
    assert narrow.pace(10.0).probe(0.75) is None  # close enough: no probe


def test_jobs_seen_at_their_first_poll_do_not_push_out_the_lower_bound() -> None:
    """Most jobs are seen finished at their first poll and tell no lower bound: nine of
    them after the scout must not make the batch forget the scout's (found in a
    budget-bound run: probing stopped after the first round, and every job was seen as
    late as the scout's backoff had seen its own)."""
    times = JobTimes()
    times.observe(10.0, 16.25, 9.5)
    for _ in range(9):
        times.observe(10.0, 16.3, None)  # the scout's 16.25 s falls out of the last 8
    assert times.pace(10.0).probe(0.75) == pytest.approx((16.3 + 9.5) / 2)


def test_a_job_seen_finished_counts_from_when_its_poll_was_sent() -> None:
    """The poll's turn at the rate limit is no part of the job's time (else each
    generation of jobs learns a longer time than the last, and polls later and later);
    a slow answer counts when it came."""
    prompt = JobTimes().pace(10.0)
    prompt.finished_at(15.0, 15.1, 0.375)
    assert prompt.took == 15.0
    slow = JobTimes().pace(10.0)
    slow.finished_at(15.0, 16.0, 0.375)
    assert slow.took == 16.0


def test_a_probe_is_the_first_poll_then_the_expected_end() -> None:
    delays = iter(PollPolicy().delays(expected=16.25, probe=12.875))
    assert [next(delays), next(delays)] == pytest.approx([12.875, 3.375])


@settings(max_examples=300, deadline=None)
@given(
    duration=st.floats(1.0, 3600.0),
    below=st.floats(0.05, 1.0),
    above=st.floats(0.0, 2.0),
)
def test_probes_bring_the_expected_end_close_to_the_real_one(
    duration: float, below: float, above: float
) -> None:
    """Jobs that all take ``duration`` s, the scout's bounds anywhere around it: each probe
    halves the gap, so within log2(gap / tolerance) + 1 probes the batch expects the
    real end to within the tolerance, and never before it."""
    times = JobTimes()
    upper, lower = duration * (1 + above) + 0.01, duration * below
    times.observe(60.0, upper, lower)
    tolerance = PollPolicy().fine(duration)
    for _ in range(int(math.log2(max(upper - lower, 1e-9) / tolerance)) + 2):
        pace = times.pace(60.0)
        probe = pace.probe(tolerance)
        if probe is None:
            break
        if probe >= duration:  # finished by then: the probe is the job's upper bound
            times.observe(60.0, probe, None)
        else:  # running: the job is seen at the expected end after it
            pace.running_at(probe)
            times.observe(60.0, times.expect(60.0) or upper, pace.waited)
        pace.release()
    expected = times.expect(60.0)
    assert expected is not None
    assert duration <= expected <= duration + tolerance + 1e-9


# ---- over HTTP -------------------------------------------------------------------------------
def _status_polls(sb: Sandbox) -> dict[str, list[float]]:
    """Each job's status polls (sandbox times), by job id."""
    polls: dict[str, list[float]] = {}
    for r in clitools.api_requests(sb):
        if r["method"] == "GET" and "/jobs/" in r["path"]:
            polls.setdefault(r["path"].rsplit("/", 1)[1], []).append(r["time"])
    return polls


def _creations(sb: Sandbox) -> list[float]:
    return [
        r["time"]
        for r in clitools.api_requests(sb)
        if r["method"] == "POST" and r["path"].endswith("/jobs")
    ]


def _batch(
    tmp_path: Path,
    sb: Sandbox,
    inputs: list[Path],
    *,
    jobs: int,
    poll: PollPolicy,
    ledger: Ledger | None = None,
    limiter: RateLimiter | None = None,
) -> list[Any]:
    client = GsepClient(sb.base_url, SECRET, policy=FAST_POLICY, poll=poll, limiter=limiter)
    options = BatchOptions(
        "gsep_music_hq_v1", ["vocal"], ["wav"], tmp_path / "out", "{track}/{stem}.{ext}", jobs=jobs
    )
    runner = BatchRunner(
        client, options, key_fp=key_fingerprint(SECRET), base_url=sb.base_url, ledger=ledger
    )
    with client:
        results = runner.run(inputs)
    assert [r.status for r in results] == ["success"] * len(inputs), [r.error for r in results]
    return results


@pytest.mark.slow
def test_a_job_just_created_is_not_polled_at_once(tmp_path: Path) -> None:
    """A lone job (a batch of one with nothing learnt): its first poll comes after the
    first interval, not straight after the creation, whose answer is always 'waiting'."""
    wav = make_wav(tmp_path / "a.wav")
    with Sandbox(job_seconds=0.6, chunk_size=4096, rate_limit=0) as sb:
        _batch(tmp_path, sb, [wav], jobs=1, poll=PollPolicy(initial=0.4, cap=2.0))
        (created,) = _creations(sb)
        (polls,) = _status_polls(sb).values()
    assert polls[0] - created >= 0.4 * 0.8 - 0.02  # the first interval, jitter included


@pytest.mark.slow
def test_the_first_round_sends_scouts_and_the_others_follow_their_news(tmp_path: Path) -> None:
    """Eight jobs start together and nothing is known: three poll with (interleaved)
    backoffs, the others wait (at the cap's pace, here longer than the jobs) and poll when
    a scout finds its job finished."""
    inputs = [make_wav(tmp_path / f"s{i}.wav", seed=i) for i in range(8)]
    # one part per upload: the eight creations come together even on a loaded machine
    # (with 4 KiB parts, 8 x 43 part uploads spread them over seconds there, and the jobs
    # no longer start together)
    with Sandbox(job_seconds=1.0, chunk_size=1 << 20, rate_limit=0) as sb:
        _batch(tmp_path, sb, inputs, jobs=8, poll=PollPolicy(initial=0.1, cap=5.0))
        polls = _status_polls(sb)
    counts = sorted(len(times) for times in polls.values())
    assert counts[-1] >= 3  # a scout's backoff: 0.1, 0.25, 0.47, 0.81, 1.32 s ...
    assert counts[:5] == [1] * 5, counts  # the others: one poll, on the scouts' news
    # without scouts each job makes a scout's count: about 8 x 5 = 40 polls
    assert sum(counts) <= 3 * 6 + 5


@pytest.mark.slow
def test_a_later_run_polls_first_when_the_ledger_says_jobs_end(tmp_path: Path) -> None:
    ledger_path = tmp_path / "ledger.sqlite3"
    poll = PollPolicy(initial=0.1, cap=5.0)
    with Sandbox(job_seconds=1.2, chunk_size=4096, rate_limit=0) as sb:
        with Ledger(ledger_path) as ledger:
            _batch(tmp_path, sb, [make_wav(tmp_path / "a.wav")], jobs=1, poll=poll, ledger=ledger)
        first_job = set(_status_polls(sb))
        with Ledger(ledger_path) as ledger:  # a new run: a new process would read the same
            (learnt,) = ledger.job_times(sandbox_host(sb), "gsep_music_hq_v1", 8)
            second = make_wav(tmp_path / "b.wav", seed=2)
            _batch(tmp_path, sb, [second], jobs=1, poll=poll, ledger=ledger)
        created = _creations(sb)[-1]
        (polls,) = [t for job, t in _status_polls(sb).items() if job not in first_job]
    took = learnt[1]
    assert 1.2 <= took < 3.0
    assert len(polls) <= 2  # not the backoff's 0.1, 0.25, 0.47, 0.81 ... s
    assert polls[0] - created >= took - 0.3  # the first poll when such jobs ended


def sandbox_host(sb: Sandbox) -> str:
    from gsep_cli.ledger import api_host

    return api_host(sb.base_url)


@pytest.mark.slow
def test_no_429_under_a_tight_budget_with_jittered_latency(tmp_path: Path) -> None:
    """8 requests per 1.5 s on both sides, every API request delayed by up to 0.4 s on
    the way in and again on the way out: the server never has to refuse one."""
    inputs = [make_wav(tmp_path / f"s{i}.wav", seed=i) for i in range(8)]
    with Sandbox(
        job_seconds=0.5,
        chunk_size=4096,
        rate_limit=8,
        rate_window=1.5,
        rate_block=1.5,
        faults=["api-jitter:*:0.4"],
    ) as sb:
        _batch(
            tmp_path,
            sb,
            inputs,
            jobs=4,
            poll=PollPolicy(initial=0.2, cap=1.0),
            limiter=RateLimiter(8, 1.5),
        )
        statuses = [r["status"] for r in clitools.api_requests(sb)]
    assert 429 not in statuses
    assert len(statuses) >= 8 * 4


@pytest.mark.slow
def test_a_finished_job_is_seen_soon_when_the_budget_is_spent(tmp_path: Path) -> None:
    """The budget binds (12 requests per 3 s: 3 jobs, 12 inputs on 4 workers):
    uploads and creations queue up, but a poll of a job expected to have finished goes
    first, with room kept for it, so the job is seen soon after it ends instead of
    behind the queue, and with about one poll."""
    inputs = [make_wav(tmp_path / f"s{i}.wav", seed=i) for i in range(12)]
    with Sandbox(job_seconds=0.8, chunk_size=4096, rate_limit=0) as sb:
        client = GsepClient(
            sb.base_url,
            SECRET,
            policy=FAST_POLICY,
            poll=PollPolicy(initial=0.2, cap=2.0),
            limiter=RateLimiter(12, 3.0),
        )
        options = BatchOptions(
            "gsep_music_hq_v1", ["vocal"], ["wav"], tmp_path / "out", "{track}/{stem}.{ext}", jobs=4
        )
        runner = BatchRunner(client, options, key_fp=key_fingerprint(SECRET), base_url=sb.base_url)
        runner.job_times = JobTimes(seen=[(0.25, 0.85, None)])  # as the ledger of an earlier run
        with client:
            results = runner.run(inputs)
        polls = _status_polls(sb)
        late = []
        for job_id, times in polls.items():
            job = sb.store.find_job(job_id)
            assert job is not None
            late.append(times[-1] - (job.created_at + job.duration))
    assert [r.status for r in results] == ["success"] * 12
    assert sum(len(times) for times in polls.values()) <= 12 + 4  # about one poll a job
    late.sort()
    assert late[len(late) // 2] < 0.5, late  # the median: not behind the queue
