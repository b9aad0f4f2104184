"""Breaker round 23: the stop reaches uploads, download retry waits and the sandbox
batch's clean-up (commits ba20392, 1f128db, 932ae27), tried from outside.

Each test that was a finding says in its docstring what was expected and (``Seen:``)
what the breaker saw before the fix (a stop while the upload plan was on its way; a part, a poll
or a result GET waiting for an answer that does not come: the watchdog now breaks those
off when the stop comes). Tests named ``test_held_*`` pin what held up under attack.
Everything runs against sandboxes on loopback, with config/state in temporary folders."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from clitools import SECRET, clean_env, gsep_exe, make_wav, start_gsep, wait_for
from stoptools import (
    completes,
    creations,
    in_thread,
    interrupt_session_program,
    part_puts,
    result_gets,
)

from gsep_cli.client import GsepClient
from gsep_cli.errors import Interrupted
from gsep_cli.ledger import Ledger
from gsep_cli.progress import NullListener
from gsep_cli.retry import RetryPolicy
from gsep_cli.sandbox import Sandbox

MODEL = "gsep_music_hq_v1"
BOUND = 5.0  # seconds a stopped transfer may take to end (the claim is "at once", 0.25 s)


# --------------------------------------------------------------------------- helpers


def _part_threads() -> list[str]:
    return [
        t.name for t in threading.enumerate() if t.name.startswith("gsep-part") and t.is_alive()
    ]


class _Progress(NullListener):
    """Records the upload's progress: the bytes reported net, and how it ended."""

    def __init__(self) -> None:
        self.net = 0
        self.ended: list[bool] = []
        self.started = threading.Event()
        self._lock = threading.Lock()

    def transfer_start(self, key: str, label: str, total: int | None, *, subject: str = "") -> None:
        self.started.set()

    def transfer_advance(self, key: str, delta: int) -> None:
        with self._lock:
            self.net += delta

    def transfer_end(self, key: str, ok: bool) -> None:
        self.ended.append(ok)


# --------------------------------------------------------------------------- uploads


def test_a_stop_while_the_upload_create_call_is_on_the_wire_sends_no_part(
    tmp_path: Path,
) -> None:
    """stop_requests() lands while ``POST .../upload-multipart/create`` is on the wire
    (here: the API takes 2 s to answer it; the stop comes 0.5 s in).

    Expected (932ae27: "no further part is sent" once stopped): the plan that arrives
    after the stop is not acted on — no part PUT at all, Interrupted.
    Seen: PartUploader.run only looks at the stop after its first 0.25 s wait, by which
    time every part of a small file (here 44 parts of 4 KiB, --parallel 1) has been sent;
    the upload then fails only at the ``complete`` call (refused by the closed limiter).
    On a real link the same gap sends 0.25 s worth of parts after the stop. Same in a
    cancelled ``gsep mcp`` call (test_an_mcp_cancel_during_upload_create_sends_no_part)."""
    song = make_wav(tmp_path / "song.wav", seconds=1.0)  # ~44 parts of 4 KiB
    with Sandbox(job_seconds=600, chunk_size=4096, faults=["api-delay@upload-create:1:2"]) as sb:
        progress = _Progress()
        client = GsepClient(sb.base_url, SECRET, parallel=1, listener=progress)
        outcome = in_thread(lambda: client.upload_file(song))
        assert progress.started.wait(10)
        time.sleep(0.5)  # the create call is on the wire now (answered at 2 s)
        client.stop_requests()
        outcome["thread"].join(BOUND + 5)
        assert isinstance(outcome.get("error"), Interrupted), outcome
        time.sleep(0.5)
        assert completes(sb) == []  # held: never completed
        assert len(part_puts(sb)) == 0, f"{len(part_puts(sb))} part PUTs were sent after the stop"


def test_held_a_reused_client_after_stop_sends_nothing_for_an_upload(tmp_path: Path) -> None:
    """A GsepClient reused after stop_requests(): upload_file ends with Interrupted at
    once and sends no request at all (held)."""
    song = make_wav(tmp_path / "song.wav", seconds=0.3)
    with Sandbox(job_seconds=600, chunk_size=4096) as sb:
        client = GsepClient(sb.base_url, SECRET)
        client.stop_requests()
        with pytest.raises(Interrupted):
            client.upload_file(song)
        assert sb.requests == []


@pytest.mark.parametrize(
    "fault",
    ["part-hang:1", "part-delay:1:30", "part-answer-drip:1:1"],
    ids=["hang", "delay-before-body-read", "answer-drip"],
)
def test_a_part_awaiting_its_answer_is_broken_off_at_the_stop(tmp_path: Path, fault: str) -> None:
    """A part whose body is sent (it fits in the socket buffers) and whose answer does not
    come — the storage host hangs, reads the body only after 30 s, or drips its answer.

    Expected (932ae27: "the parts on the wire are broken off"): after stop_requests()
    the part's worker thread ends within a few seconds.
    Seen: upload_file raises Interrupted at once (held), but the ``gsep-part`` worker
    stays blocked on the answer until the read timeout (here 30 s; 60 s by default) —
    ``_sessions.close()`` does not close a connection in use, and the FileSlice cancel
    only acts while the body is being read. A Python program that caught Ctrl-C cannot
    exit meanwhile (ThreadPoolExecutor workers are joined at interpreter exit; see
    test_a_program_that_caught_ctrl_c_during_a_hung_part_exits_promptly)."""
    song = make_wav(tmp_path / "song.wav", seconds=0.2)
    with Sandbox(job_seconds=600, chunk_size=4096, faults=[fault]) as sb:
        client = GsepClient(sb.base_url, SECRET, parallel=1, timeout=(5, 30))
        outcome = in_thread(lambda: client.upload_file(song))
        wait_for(lambda: len(part_puts(sb)) >= 1 or "ended" in outcome, 10, "the first part")
        time.sleep(0.5)
        stopped = time.monotonic()
        client.stop_requests()
        outcome["thread"].join(BOUND)
        assert isinstance(outcome.get("error"), Interrupted), outcome  # held
        assert outcome["ended"] - stopped < 1.0  # held
        assert completes(sb) == []  # held
        deadline = time.monotonic() + BOUND
        while _part_threads() and time.monotonic() < deadline:
            time.sleep(0.05)
        alive = _part_threads()
        client.close()
    assert alive == [], f"part worker still on the wire {BOUND:g} s after the stop: {alive}"


def _program_exit_after_ctrl_c(
    tmp_path: Path, sb: Sandbox, ready: Callable[[], bool], song: Path
) -> tuple[str, str, float, float]:
    """Run :data:`stoptools.SESSION_PROGRAM`, Ctrl-C once ``ready()``; (stdout, stderr,
    seconds until it caught the interrupt, seconds until it exited)."""
    env = clean_env(tmp_path, GSEP_API_KEY=SECRET, GSEP_READ_TIMEOUT="15")
    return interrupt_session_program(
        sb.base_url, song, tmp_path / "out", env, ready=ready, settle=0.3, timeout=40
    )


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT delivery")
@pytest.mark.parametrize(
    "fault", ["part-hang:1", "part-delay:100:1"], ids=["hung-part", "slow-parts"]
)
def test_a_program_that_caught_ctrl_c_during_a_hung_part_exits_promptly(
    tmp_path: Path, fault: str
) -> None:
    """A Python program runs Session.separate and catches Ctrl-C while a part's answer
    hangs (``part-hang``), or while parts go slowly (each read after 1 s);
    GSEP_READ_TIMEOUT=15. (The slow case was the first finding, of round 22: the program
    sent every remaining part before it could exit, 44 s later.)

    Expected (CHANGELOG for 932ae27: such a program "waited for the upload in its worker
    thread ... before it could exit"; now parts on the wire are broken off): it exits
    within a few seconds of Ctrl-C.
    Seen: it catches Interrupted at once (held) but exits ~15 s later — the read timeout
    — as the hung part's non-daemon worker is joined at interpreter exit."""
    song = make_wav(tmp_path / "song.wav", seconds=1.0)
    with Sandbox(job_seconds=600, chunk_size=4096, faults=[fault]) as sb:
        out, err, caught, exited = _program_exit_after_ctrl_c(
            tmp_path, sb, lambda: len(part_puts(sb)) >= 1, song
        )
        assert completes(sb) == [] and creations(sb) == []  # held
    assert out.startswith("caught Interrupted"), (out, err)
    assert caught < 2.0, caught  # held: the interrupt is caught at once
    assert exited < BOUND, (
        f"the program exited {exited:.1f} s after Ctrl-C (caught at {caught:.2f} s)"
    )


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT delivery")
def test_a_program_that_caught_ctrl_c_during_a_hung_poll_exits_promptly(
    tmp_path: Path,
) -> None:
    """The same program, Ctrl-C while a job poll's answer hangs (``api-hang@job-get``);
    GSEP_READ_TIMEOUT=15.

    Expected (ba20392: a program that caught the interrupt no longer waits for the
    worker threads at its exit): it exits within a few seconds.
    Seen: it catches Interrupted at once, then exits ~15 s later (the read timeout): an
    API request in flight is never broken off by stop_requests(). (Its docstring does
    say "within one request" — a documented limit, but it leaves the CHANGELOG's
    "exits promptly" untrue whenever a poll hangs; downloads and parts are broken off.)"""
    song = make_wav(tmp_path / "song.wav", seconds=0.3)
    with Sandbox(job_seconds=600, chunk_size=4096, faults=["api-hang@job-get:1"]) as sb:

        def polled() -> bool:
            return any(r["status"] == "hang" for r in sb.requests)

        out, err, caught, exited = _program_exit_after_ctrl_c(tmp_path, sb, polled, song)
    assert out.startswith("caught Interrupted"), (out, err)
    assert caught < 2.0, caught  # held
    assert exited < BOUND, (
        f"the program exited {exited:.1f} s after Ctrl-C (caught at {caught:.2f} s)"
    )


def test_held_a_part_retry_backoff_ends_at_the_stop_and_nothing_more_is_sent(
    tmp_path: Path,
) -> None:
    """A part answered 503 and waiting 60 s to be retried: the stop ends the wait at
    once (Interrupted), no further PUT, never completed, progress back to zero and the
    transfer ended not-ok (held)."""
    song = make_wav(tmp_path / "song.wav", seconds=0.2)
    with Sandbox(job_seconds=600, chunk_size=4096, faults=["part-503:1"]) as sb:
        progress = _Progress()
        client = GsepClient(
            sb.base_url,
            SECRET,
            parallel=1,
            listener=progress,
            policy=RetryPolicy(attempts=3, base=60, cap=60),
        )
        outcome = in_thread(lambda: client.upload_file(song))
        wait_for(lambda: any(r["status"] == 503 for r in part_puts(sb)), 10, "the 503")
        time.sleep(0.3)
        puts = len(part_puts(sb))
        stopped = time.monotonic()
        client.stop_requests()
        outcome["thread"].join(BOUND)
        assert isinstance(outcome.get("error"), Interrupted), outcome
        assert outcome["ended"] - stopped < 1.0
        time.sleep(0.5)
        assert len(part_puts(sb)) == puts
        assert completes(sb) == []
        assert progress.net == 0 and progress.ended == [False]
        assert _part_threads() == []


@pytest.mark.parametrize("parallel", [1, 8])
def test_held_a_stop_mid_upload_sends_no_further_part_and_takes_progress_back(
    tmp_path: Path, parallel: int
) -> None:
    """Parts answered after 0.4 s each; the stop comes with some sent: Interrupted within
    a second, at most the parts on the wire then (no new one), never completed, progress
    back to zero (held for --parallel 1 and 8)."""
    song = make_wav(tmp_path / "song.wav", seconds=1.0)
    with Sandbox(job_seconds=600, chunk_size=4096, faults=["part-delay:*:0.4"]) as sb:
        progress = _Progress()
        client = GsepClient(sb.base_url, SECRET, parallel=parallel, listener=progress)
        outcome = in_thread(lambda: client.upload_file(song))
        wait_for(lambda: len(part_puts(sb)) >= parallel, 10, "the first parts")
        time.sleep(0.2)
        stopped = time.monotonic()
        client.stop_requests()
        outcome["thread"].join(BOUND)
        assert isinstance(outcome.get("error"), Interrupted), outcome
        assert outcome["ended"] - stopped < 1.0
        time.sleep(1.0)
        starts = [r for r in part_puts(sb)]
        assert len(starts) <= 3 * parallel, len(starts)  # those on the wire at the stop
        assert completes(sb) == []
        assert progress.net == 0 and progress.ended == [False]


# --------------------------------------------------------------------------- downloads


def _finished_job(sb: Sandbox, tmp_path: Path, stems: list[str]) -> tuple[GsepClient, Any]:
    client = GsepClient(
        sb.base_url, SECRET, timeout=(5, 30), policy=RetryPolicy(attempts=3, base=1, cap=60)
    )
    song = make_wav(tmp_path / "song.wav", seconds=0.3)
    job_id = client.create_job(client.upload_file(song), model=MODEL, stems=stems)
    return client, client.wait(job_id, model=MODEL)


@pytest.mark.parametrize("fault", ["download-hang:1", "download-delay:1:30"], ids=["hang", "delay"])
def test_cancel_downloads_ends_a_download_awaiting_its_answer(tmp_path: Path, fault: str) -> None:
    """A result GET whose answer does not come (the CDN hangs, or answers after 30 s).

    Expected (cancel_downloads: "Stop every download in flight ... now"; README for
    ``gsep mcp``: a cancelled call "stops its API requests and downloads at once"): the
    download ends with Interrupted within a few seconds of cancel_downloads().
    Seen: it runs on until the read timeout (30 s here, 60 s by default) — the cancel is
    only looked at between blocks of the body, and no block comes. A program that caught
    Ctrl-C, or a cancelled MCP call's worker, waits that long."""
    with Sandbox(job_seconds=0, chunk_size=4096, faults=[fault]) as sb:
        client, job = _finished_job(sb, tmp_path, ["vocal"])
        out = tmp_path / "out"
        outcome = in_thread(lambda: client.download(job, out, stems=["vocal"], model=MODEL))
        wait_for(lambda: len(result_gets(sb)) >= 1, 10, "the result GET")
        time.sleep(0.3)
        stopped = time.monotonic()
        client.cancel_downloads()
        outcome["thread"].join(BOUND)
        ended = outcome.get("ended")
        gets = len(result_gets(sb))
        sb.stop()  # ends the hang, so the thread ends too
        outcome["thread"].join(10)
        client.close()
    assert gets == 1
    assert ended is not None and ended - stopped < BOUND, (
        f"download still running {BOUND:g} s after cancel_downloads()"
    )
    assert isinstance(outcome.get("error"), Interrupted), outcome


@pytest.mark.parametrize(
    "fault",
    ["download-retry-after:4:60", "download-drip:4:20"],
    ids=["retry-after-60", "drip"],
)
def test_held_cancel_during_a_retry_wait_or_a_drip_with_four_stems(
    tmp_path: Path, fault: str
) -> None:
    """Four stems; the result host answers 503 + Retry-After: 60, or drips the body:
    cancel_downloads() ends the download within a second, no GET follows it, and no
    file is left under the output folder (held)."""
    stems = ["vocal", "drum", "bass", "acoustic_piano"]
    with Sandbox(job_seconds=0, chunk_size=4096, faults=[fault]) as sb:
        client, job = _finished_job(sb, tmp_path, stems)
        out = tmp_path / "out"
        outcome = in_thread(lambda: client.download(job, out, stems=stems, model=MODEL))
        wait_for(lambda: len(result_gets(sb)) >= 1, 10, "the result GET")
        time.sleep(0.5)
        gets = len(result_gets(sb))
        stopped = time.monotonic()
        client.cancel_downloads()
        outcome["thread"].join(BOUND)
        assert isinstance(outcome.get("error"), Interrupted), outcome
        assert outcome["ended"] - stopped < 1.0
        time.sleep(0.5)
        assert len(result_gets(sb)) == gets
        assert [p for p in out.rglob("*") if p.is_file()] == []
        client.close()


# --------------------------------------------------------------------------- the CLI


def _sandbox_jobs(tmp_path: Path) -> list[str]:
    path = tmp_path / "state" / "sandbox" / "ledger.sqlite3"
    if not path.exists():
        return []
    with Ledger(path) as ledger:
        return sorted(j.status for j in ledger.list_jobs(limit=None))


def _all_jobs(tmp_path: Path) -> list[str]:
    statuses: list[str] = []
    for path in (tmp_path / "state").rglob("*.sqlite3"):
        with Ledger(path) as ledger:
            statuses += [j.status for j in ledger.list_jobs(limit=None)]
    return sorted(statuses)


def _interrupt_batch(
    tmp_path: Path,
    args: list[str],
    env: dict[str, str],
    pattern: str,
    signals: tuple[signal.Signals, ...],
    delay: float = 0.0,
) -> tuple[int, str, str, float]:
    """Run ``gsep -v ARGS``; when a stderr line matches ``pattern`` send ``signals``
    (50 ms apart). Returns (exit code, stdout, stderr, seconds from signal to exit)."""
    proc = start_gsep(["-v", *args], env, tmp_path)
    lines: list[str] = []
    fired: list[float] = []

    def read() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line)
            if not fired and re.search(pattern, line):
                time.sleep(delay)
                fired.append(time.monotonic())
                for index, sig in enumerate(signals):
                    if index:
                        time.sleep(0.05)
                    proc.send_signal(sig)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert proc.stdout is not None
        out = proc.stdout.read()
        proc.wait(timeout=40)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    reader.join(5)
    took = time.monotonic() - fired[0] if fired else float("nan")
    return proc.returncode, out, "".join(lines), took


def _inputs(tmp_path: Path) -> list[str]:
    for index, name in enumerate("abc"):
        make_wav(tmp_path / f"{name}.wav", seconds=0.3 + 0.05 * index)
    return ["a.wav", "b.wav", "c.wav"]


INT, TERM, HUP = signal.SIGINT, signal.SIGTERM, signal.SIGHUP
_MOMENTS = [
    ("uploading", r"-> PUT", (INT,), ""),
    ("creating-twice", r"-> POST \S+/jobs\n", (INT, INT), "api-delay@job-create:1:3"),
    ("creation-late-term", r"-> POST \S+/jobs\n", (TERM,), "api-late@job-create:1:3"),
    ("polling-hup", r"-> GET \S+/jobs/", (HUP,), ""),
    ("poll-hangs", r"-> GET \S+/jobs/", (INT,), "api-hang@job-get:1"),
    ("downloading", r"-> GET \S+/cdn/", (INT, INT), ""),
]


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="signals")
@pytest.mark.parametrize(
    ("pattern", "signals", "faults"),
    [m[1:] for m in _MOMENTS],
    ids=[m[0] for m in _MOMENTS],
)
def test_held_sandbox_batch_stopped_at_any_moment_then_the_rerun_finishes(
    tmp_path: Path, pattern: str, signals: tuple[signal.Signals, ...], faults: str
) -> None:
    """``gsep --sandbox separate a b c --jobs 2`` stopped (Ctrl-C, twice, SIGTERM, SIGHUP)
    while uploading, creating, polling (a poll hanging too) or downloading: exit 130 within
    a few seconds, no traceback, nothing left ``submitted``/``unconfirmed`` on the sandbox
    ledger; the re-run exits 0 with every file (held; 75 such runs by hand held too)."""
    names = _inputs(tmp_path)
    env = clean_env(tmp_path, GSEP_SANDBOX_JOB_SECONDS="1")
    if faults:
        env["GSEP_SANDBOX_FAULTS"] = faults
    args = ["--sandbox", "separate", *names, "--jobs", "2", "-o", "out"]
    code, _out, err, took = _interrupt_batch(tmp_path, args, env, pattern, signals, 0.3)
    assert code == 130, err[-2000:]
    assert took < BOUND, took
    assert "Traceback" not in err
    # Ctrl-C twice quits the wait for a creation on the wire: its placeholder stays
    # unconfirmed (nothing answered it), and the re-run runs that input again without
    # --pay-again, free, since its emulator stopped with this command
    final = ("success", "abandoned") + (("unconfirmed",) if len(signals) > 1 else ())
    left = [s for s in _sandbox_jobs(tmp_path) if s not in final]
    assert left == [], _sandbox_jobs(tmp_path)
    rerun = subprocess.run(
        [gsep_exe(), "--sandbox", "separate", *names, "--jobs", "2", "-o", "out"],
        env={k: v for k, v in env.items() if k != "GSEP_SANDBOX_FAULTS"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert "Traceback" not in rerun.stderr
    assert sorted(rerun.stdout.split()) == [f"out/{n}/vocal.wav" for n in "abc"]


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="signals")
@pytest.mark.parametrize(
    ("pattern", "signals"),
    [(r"created\n", (INT,)), (r"-> GET \S+/cdn/", (TERM,))],
    ids=["after-created", "downloading-term"],
)
def test_held_external_server_jobs_are_not_abandoned_and_the_rerun_pays_nothing_twice(
    tmp_path: Path, pattern: str, signals: tuple[signal.Signals, ...]
) -> None:
    """The same batch against an emulator that outlives the command (its host is not the
    built-in sandbox's): after the stop no job is put on record as abandoned, and the
    re-run re-attaches — three job creations in all, for three inputs (held)."""
    names = _inputs(tmp_path)
    with Sandbox(job_seconds=1, chunk_size=4096) as sb:
        env = clean_env(tmp_path, GSEP_BASE_URL=sb.base_url, GSEP_API_KEY=SECRET)
        args = ["separate", *names, "--jobs", "2", "-o", "out"]
        code, _out, err, took = _interrupt_batch(tmp_path, args, env, pattern, signals, 0.2)
        assert code == 130, err[-2000:]
        assert took < BOUND
        assert "abandoned" not in _all_jobs(tmp_path) and "stops with it" not in err
        rerun = subprocess.run(
            [gsep_exe(), *args], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
        )
        assert rerun.returncode == 0, rerun.stderr[-2000:]
        assert len(creations(sb)) == 3, len(creations(sb))


# --------------------------------------------------------------------------- gsep mcp


def test_an_mcp_cancel_during_upload_create_sends_no_part(tmp_path: Path) -> None:
    """A ``gsep mcp`` ``separate`` call cancelled while its upload's create call is on
    the wire (the API answers it after 3 s; the client gives up at 1.2 s).

    Expected (README, 932ae27: a cancelled call's upload "sends no further part, breaks
    off those on the wire and is not completed"): no part PUT after the cancellation.
    Seen: every part of the file is PUT once the plan arrives (the uploader looks at the
    stop only after its first 0.25 s wait); only the complete call is refused. Same
    cause as test_a_stop_while_the_upload_create_call_is_on_the_wire_sends_no_part."""
    pytest.importorskip("mcp.client.stdio")
    import anyio
    from mcp import Client
    from mcp.client.stdio import StdioServerParameters, stdio_client

    song = make_wav(tmp_path / "song.wav", seconds=1.0)
    with Sandbox(job_seconds=60, chunk_size=4096, faults=["api-delay@upload-create:1:3"]) as sb:
        env = clean_env(tmp_path, GSEP_BASE_URL=sb.base_url, GSEP_API_KEY=SECRET)
        params = StdioServerParameters(command=gsep_exe(), args=["mcp"], env=env, cwd=str(tmp_path))

        async def main() -> None:
            with (tmp_path / "server-stderr.txt").open("w") as errlog:
                async with Client(stdio_client(params, errlog=errlog)) as client:
                    with anyio.fail_after(30):
                        with anyio.move_on_after(1.2):
                            await client.call_tool("separate", {"inputs": [str(song)]})
                        await anyio.sleep(3.5)  # the plan arrives at ~3 s

        anyio.run(main)
        creates = [r for r in sb.requests if r["path"].endswith("/upload-multipart/create")]
        assert len(creates) == 1, "the cancellation did not land during the create call"
        assert completes(sb) == [] and creations(sb) == []  # held
        assert len(part_puts(sb)) == 0, f"{len(part_puts(sb))} part PUTs after the cancellation"
