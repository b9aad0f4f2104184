"""GsepClient.stop_requests (Ctrl-C in a batch, a cancelled MCP call) ends every wait of
that client at once: the sleep before a job's next poll — a lone job's backoff or a batch
job's paced one — and the backoff before an API retry. Each ends with Interrupted within
one request instead of at its next poll (up to the poll cap, 30 s by default), so a Python
program that caught the interrupt exits promptly. Sandbox over loopback HTTP."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from clitools import SECRET, make_wav

from gsep_cli.client import GsepClient
from gsep_cli.errors import Interrupted
from gsep_cli.jobtimes import JobTimes
from gsep_cli.polling import PollPolicy
from gsep_cli.retry import RetryPolicy
from gsep_cli.sandbox import Sandbox

LONG = 60.0  # every sleep under test is this long: ending within BOUND proves the stop
BOUND = 10.0


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(job_seconds=600, chunk_size=4096) as sb:
        yield sb


def _job(sb: Sandbox, tmp_path: Path) -> str:
    setup = GsepClient(sb.base_url, SECRET)
    song = make_wav(tmp_path / "song.wav", seconds=0.2)
    return setup.create_job(setup.upload_file(song), model="gsep_music_hq_v1", stems=["vocal"])


def _polls(sb: Sandbox, job_id: str) -> int:
    return sum(r["method"] == "GET" and r["path"].endswith(job_id) for r in sb.requests)


def _waiting(client: GsepClient, job_id: str, *, paced: bool, fresh: bool) -> dict[str, object]:
    """Start ``client.wait`` in a thread; the dict gets ``error`` and ``ended`` (monotonic)."""
    outcome: dict[str, object] = {}
    pace = JobTimes().pace(None) if paced else None

    def wait() -> None:
        try:
            client.wait(job_id, model="gsep_music_hq_v1", pace=pace, fresh=fresh)
        except BaseException as exc:
            outcome["error"] = exc
        outcome["ended"] = time.monotonic()

    thread = threading.Thread(target=wait, daemon=True)
    thread.start()
    outcome["thread"] = thread
    return outcome


def _ended_interrupted(outcome: dict[str, object], stopped: float) -> None:
    thread = outcome["thread"]
    assert isinstance(thread, threading.Thread)
    thread.join(timeout=LONG + 30)
    assert not thread.is_alive(), "the wait outlived its sleep"
    assert isinstance(outcome.get("error"), Interrupted), outcome
    ended = outcome["ended"]
    assert isinstance(ended, float)
    assert ended - stopped < BOUND, f"the wait went on {ended - stopped:.1f} s after the stop"


@pytest.mark.parametrize("paced", [False, True], ids=["lone", "batch"])
@pytest.mark.parametrize("fresh", [False, True], ids=["reattached", "fresh"])
def test_a_sleep_between_polls_ends_at_the_stop(
    sandbox: Sandbox, tmp_path: Path, paced: bool, fresh: bool
) -> None:
    job_id = _job(sandbox, tmp_path)
    client = GsepClient(
        sandbox.base_url, SECRET, poll=PollPolicy(initial=LONG, cap=LONG, jitter=0.0)
    )
    polls = _polls(sandbox, job_id)
    outcome = _waiting(client, job_id, paced=paced, fresh=fresh)
    if fresh:  # a job created just now: its wait sleeps before any poll
        time.sleep(0.3)
    else:  # a re-attached one polls at once, then sleeps
        deadline = time.monotonic() + BOUND
        while _polls(sandbox, job_id) == polls:
            assert time.monotonic() < deadline, "the first poll never came"
            time.sleep(0.01)
    assert _polls(sandbox, job_id) == polls + (0 if fresh else 1)
    stopped = time.monotonic()
    client.stop_requests()
    _ended_interrupted(outcome, stopped)


@pytest.mark.parametrize("paced", [False, True], ids=["lone", "batch"])
def test_a_wait_begun_after_the_stop_ends_at_once(
    sandbox: Sandbox, tmp_path: Path, paced: bool
) -> None:
    job_id = _job(sandbox, tmp_path)
    client = GsepClient(
        sandbox.base_url, SECRET, poll=PollPolicy(initial=LONG, cap=LONG, jitter=0.0)
    )
    client.stop_requests()
    stopped = time.monotonic()
    _ended_interrupted(_waiting(client, job_id, paced=paced, fresh=True), stopped)


def test_the_backoff_before_an_api_retry_ends_at_the_stop(tmp_path: Path) -> None:
    with Sandbox(job_seconds=600, chunk_size=4096, faults=["api-503@job-get:1"]) as sb:
        job_id = _job(sb, tmp_path)
        client = GsepClient(
            sb.base_url, SECRET, policy=RetryPolicy(attempts=3, base=LONG, cap=LONG)
        )
        outcome = _waiting(client, job_id, paced=False, fresh=False)
        deadline = time.monotonic() + BOUND
        while not any(r["status"] == 503 for r in sb.requests):  # the 503 came: backing off
            assert time.monotonic() < deadline, "the 503 never came"
            time.sleep(0.01)
        stopped = time.monotonic()
        client.stop_requests()
        _ended_interrupted(outcome, stopped)
