"""GsepClient.stop_requests (Ctrl-C in a batch, a cancelled MCP call) ends every wait of
that client at once: the sleep before a job's next poll — a lone job's backoff or a batch
job's paced one — and the backoff before an API retry. Each ends with Interrupted within
one request instead of at its next poll (up to the poll cap, 30 s by default), so a Python
program that caught the interrupt exits promptly. Sandbox over loopback HTTP."""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from clitools import SECRET, make_wav
from hypothesis import given, settings
from hypothesis import strategies as st
from stoptools import in_thread, result_gets

from gsep_cli.client import GsepClient
from gsep_cli.errors import Interrupted
from gsep_cli.http import ApiTransport
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
    """Start ``client.wait`` in a thread (:func:`_in_thread`)."""
    pace = JobTimes().pace(None) if paced else None
    return in_thread(lambda: client.wait(job_id, model="gsep_music_hq_v1", pace=pace, fresh=fresh))


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


def test_the_wait_before_a_download_retry_ends_at_cancel(tmp_path: Path) -> None:
    """A result host's ``503`` with ``Retry-After: 60``: cancel_downloads (Ctrl-C in a
    batch, a cancelled MCP call) ends the wait at once and no further GET is sent (a
    breaker saw the downloader sit out the whole wait and then ask again)."""
    faults = ["download-retry-after:1:60"]
    with Sandbox(job_seconds=0, chunk_size=4096, faults=faults) as sb:
        job_id = _job(sb, tmp_path)
        client = GsepClient(sb.base_url, SECRET, policy=RetryPolicy(attempts=3, base=1, cap=LONG))
        job = client.wait(job_id, model="gsep_music_hq_v1")
        outcome = in_thread(
            lambda: client.download(
                job, tmp_path / "out", stems=["vocal"], model="gsep_music_hq_v1"
            )
        )
        deadline = time.monotonic() + BOUND
        while not any(r["status"] == 503 for r in result_gets(sb)):  # now waiting 60 s
            assert time.monotonic() < deadline, "the 503 never came"
            time.sleep(0.01)
        time.sleep(0.2)
        stopped = time.monotonic()
        client.cancel_downloads()
        _ended_interrupted(outcome, stopped)
        time.sleep(0.3)  # a GET sent after the stop would be logged by now
        assert len(result_gets(sb)) == 1, result_gets(sb)
        assert not list((tmp_path / "out").rglob("*")) or all(
            p.is_dir() for p in (tmp_path / "out").rglob("*")
        )


def test_an_upload_in_a_worker_thread_ends_at_the_stop(tmp_path: Path) -> None:
    """An upload running in a thread Ctrl-C never reaches (a batch input's, an MCP
    call's): stop_requests sends no further part and ends it with Interrupted; it is never
    completed (a breaker saw a program that caught Ctrl-C send every remaining part, and
    exit 15 s later)."""
    faults = ["part-delay:100:1"]  # each part waits 1 s before its body is read
    with Sandbox(job_seconds=600, chunk_size=4096, faults=faults) as sb:
        song = make_wav(tmp_path / "song.wav", seconds=1.0)  # some 40 parts of 4 KiB
        client = GsepClient(sb.base_url, SECRET, parallel=1)
        outcome = in_thread(lambda: client.upload_file(song))
        deadline = time.monotonic() + BOUND
        while not any(r["kind"] == "s3" for r in sb.requests):  # the first part is on the wire
            assert time.monotonic() < deadline, "no part was sent"
            time.sleep(0.01)
        stopped = time.monotonic()
        client.stop_requests()
        _ended_interrupted(outcome, stopped)
        time.sleep(0.5)  # a part sent after the stop would be logged by now
        parts = [r for r in sb.requests if r["kind"] == "s3" and r["method"] == "PUT"]
        assert len(parts) <= 1, parts
        completes = [r for r in sb.requests if r["path"].endswith("/complete")]
        assert completes == []


def test_a_job_creation_on_the_wire_is_answered_despite_the_stop(tmp_path: Path) -> None:
    """The one request the stop never breaks off: a job creation already sent may have
    cost credits, so it is answered (its id returned, to be recorded) — the money rule
    the batch's clean-up relies on when it waits for a creation in flight."""
    with Sandbox(job_seconds=600, chunk_size=4096, faults=["api-delay@job-create:1:1.5"]) as sb:
        client = GsepClient(sb.base_url, SECRET)
        upload_id = client.upload_file(make_wav(tmp_path / "song.wav", seconds=0.2))
        got: dict[str, str] = {}
        outcome = in_thread(
            lambda: got.setdefault(
                "job", client.create_job(upload_id, model="gsep_music_hq_v1", stems=["vocal"])
            )
        )
        deadline = time.monotonic() + BOUND
        while not any(r["method"] == "POST" and r["path"].endswith("/jobs") for r in sb.requests):
            assert time.monotonic() < deadline, "the creation was never sent"
            time.sleep(0.01)
        time.sleep(0.3)
        client.stop_requests()
        thread = outcome["thread"]
        assert isinstance(thread, threading.Thread)
        thread.join(BOUND)
        assert "error" not in outcome, outcome
        assert got.get("job") and sb.store.job_count() == 1


# Every step of the main job that can wait on a peer, with the fault that makes it wait
# for an answer that does not come (or comes a byte at a time): the stop (stop_requests and
# cancel_downloads, as a batch's Ctrl-C and a cancelled MCP call do) ends each one.
_HUNG_STEPS = {
    "upload-create": ("api-hang@upload-create:1", "upload"),
    "part-hang": ("part-hang:*", "upload"),
    "part-read-late": ("part-delay:*:30", "upload"),
    "part-answer-drip": ("part-answer-drip:*:1", "upload"),
    "upload-complete": ("api-hang@upload-complete:1", "upload"),
    "poll": ("api-hang@job-get:1", "poll"),
    "download-hang": ("download-hang:*", "download"),
    "download-drip": ("download-drip:*:20", "download"),
}


@settings(max_examples=10, deadline=None)
@given(step=st.sampled_from(sorted(_HUNG_STEPS)), after=st.floats(0.0, 0.6))
def test_the_stop_ends_any_step_waiting_on_a_peer(step: str, after: float) -> None:
    """Property: whichever step waits on a silent or dripping peer, and however long after
    its request went out the stop comes, the step ends with Interrupted within a few
    seconds (not at the read timeout, 30 s here), nothing is sent after it, and no
    upload is completed nor job created by it."""
    fault, operation = _HUNG_STEPS[step]
    with (
        tempfile.TemporaryDirectory() as folder,
        Sandbox(job_seconds=0, chunk_size=4096, faults=[fault]) as sb,
    ):
        song = make_wav(Path(folder) / "song.wav", seconds=0.2)
        client = GsepClient(sb.base_url, SECRET, timeout=(5, 30), parallel=2)
        work: Callable[[], object]
        if operation == "upload":
            work = lambda: client.upload_file(song)  # noqa: E731
        else:
            setup = GsepClient(sb.base_url, SECRET)
            job_id = setup.create_job(
                setup.upload_file(song), model="gsep_music_hq_v1", stems=["vocal"]
            )
            if operation == "poll":
                work = lambda: client.wait(job_id, model="gsep_music_hq_v1")  # noqa: E731
            else:
                job = setup.wait(job_id, model="gsep_music_hq_v1")
                out = Path(folder) / "out"
                work = lambda: client.download(job, out, stems=["vocal"])  # noqa: E731
        jobs, before = sb.store.job_count(), len(sb.requests)
        outcome = in_thread(work)
        deadline = time.monotonic() + BOUND
        while not any(r["fault"] for r in sb.requests[before:]):  # the waiting request is out
            assert time.monotonic() < deadline, f"{fault} never met"
            time.sleep(0.01)
        time.sleep(after)
        stopped = time.monotonic()
        client.stop_requests()
        client.cancel_downloads()
        _ended_interrupted(outcome, stopped)
        time.sleep(0.3)
        seen = len(sb.requests)
        time.sleep(0.5)
        assert len(sb.requests) == seen, sb.requests[seen:]
        assert sb.store.job_count() == jobs
        completes = [r for r in sb.requests[before:] if r["path"].endswith("/complete")]
        assert all(r["fault"] for r in completes), completes  # only the hung one, if any
        client.close()


def test_a_request_whose_connection_ends_after_the_stop_is_not_retried() -> None:
    """Once stopped, a request whose connection ends before the watchdog's next look
    (here: reset at once by the server; after Ctrl-C, the emulator stopping with its
    command) is neither retried nor announced as a retry: Interrupted (a new user saw
    "network error (connection lost); retrying (1 s)" after the interrupt, 2 runs in 6)."""
    notices: list[str] = []
    stopped = threading.Event()
    stopped.set()
    with Sandbox(faults=["api-reset@key-info:*"]) as sb:
        api = ApiTransport(
            sb.base_url,
            SECRET,
            policy=RetryPolicy(attempts=3, base=0.01),
            notify=lambda reason, seconds: notices.append(reason),
            stopped=stopped,
        )
        with pytest.raises(Interrupted):
            api.call("GET", "/v1/key/info")
        resets = [r for r in sb.requests if r["fault"]]
    assert notices == [] and len(resets) == 1, (notices, resets)
