"""GsepClient.stop_requests (Ctrl-C in a batch, a cancelled MCP call) ends every wait of
that client at once: the sleep before a job's next poll — a lone job's backoff or a batch
job's paced one — and the backoff before an API retry. Each ends with Interrupted within
one request instead of at its next poll (up to the poll cap, 30 s by default), so a Python
program that caught the interrupt exits promptly. Sandbox over loopback HTTP."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from clitools import SECRET, clean_env, make_wav

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


def _in_thread(work: Callable[[], object]) -> dict[str, object]:
    """Start ``work`` in a thread; the dict gets ``thread``, ``error`` and ``ended``
    (monotonic)."""
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            work()
        except BaseException as exc:
            outcome["error"] = exc
        outcome["ended"] = time.monotonic()

    thread = threading.Thread(target=run, daemon=True)
    outcome["thread"] = thread
    thread.start()
    return outcome


def _waiting(client: GsepClient, job_id: str, *, paced: bool, fresh: bool) -> dict[str, object]:
    """Start ``client.wait`` in a thread (:func:`_in_thread`)."""
    pace = JobTimes().pace(None) if paced else None
    return _in_thread(lambda: client.wait(job_id, model="gsep_music_hq_v1", pace=pace, fresh=fresh))


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


def _cdn_gets(sb: Sandbox) -> list[dict[str, object]]:
    return [r for r in sb.requests if r["kind"] == "cdn" and r["method"] == "GET"]


def test_the_wait_before_a_download_retry_ends_at_cancel(tmp_path: Path) -> None:
    """A result host's ``503`` with ``Retry-After: 60``: cancel_downloads (Ctrl-C in a
    batch, a cancelled MCP call) ends the wait at once and no further GET is sent (a
    breaker saw the downloader sit out the whole wait and then ask again)."""
    faults = ["download-retry-after:1:60"]
    with Sandbox(job_seconds=0, chunk_size=4096, faults=faults) as sb:
        job_id = _job(sb, tmp_path)
        client = GsepClient(sb.base_url, SECRET, policy=RetryPolicy(attempts=3, base=1, cap=LONG))
        job = client.wait(job_id, model="gsep_music_hq_v1")
        outcome = _in_thread(
            lambda: client.download(
                job, tmp_path / "out", stems=["vocal"], model="gsep_music_hq_v1"
            )
        )
        deadline = time.monotonic() + BOUND
        while not any(r["status"] == 503 for r in _cdn_gets(sb)):  # now waiting 60 s
            assert time.monotonic() < deadline, "the 503 never came"
            time.sleep(0.01)
        time.sleep(0.2)
        stopped = time.monotonic()
        client.cancel_downloads()
        _ended_interrupted(outcome, stopped)
        time.sleep(0.3)  # a GET sent after the stop would be logged by now
        assert len(_cdn_gets(sb)) == 1, _cdn_gets(sb)
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
        outcome = _in_thread(lambda: client.upload_file(song))
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


_PROGRAM = """
import sys
from gsep_cli import Session
from gsep_cli.errors import Interrupted

try:
    with Session(base_url=sys.argv[1]) as session:
        session.separate(sys.argv[2], out_dir=sys.argv[3], stems="vocal", parallel=1)
except (Interrupted, KeyboardInterrupt) as exc:
    print("caught", type(exc).__name__, flush=True)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT delivery")
def test_a_program_that_caught_ctrl_c_during_an_upload_exits_promptly(tmp_path: Path) -> None:
    """A Python program runs Session.separate, catches Ctrl-C during the upload and ends:
    the upload, in a worker thread the interrupt never reaches, stops too, so the program
    exits at once instead of sending every remaining part first."""
    song = make_wav(tmp_path / "song.wav", seconds=1.0)
    env = clean_env(tmp_path, GSEP_API_KEY=SECRET)
    with Sandbox(job_seconds=600, chunk_size=4096, faults=["part-delay:100:1"]) as sb:
        proc = subprocess.Popen(
            [sys.executable, "-c", _PROGRAM, sb.base_url, str(song), str(tmp_path / "out")],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.monotonic() + 30
            while not any(r["kind"] == "s3" for r in sb.requests):
                assert proc.poll() is None, proc.communicate()
                assert time.monotonic() < deadline, "no part was sent"
                time.sleep(0.01)
            stopped = time.monotonic()
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=LONG)
            took = time.monotonic() - stopped
        finally:
            if proc.poll() is None:
                proc.kill()
        assert out.strip() == "caught Interrupted", (out, err)
        assert took < BOUND, f"the program went on {took:.1f} s after Ctrl-C"
        parts = [r for r in sb.requests if r["kind"] == "s3" and r["method"] == "PUT"]
        assert len(parts) <= 2, len(parts)  # at most one more on the wire as the stop came
