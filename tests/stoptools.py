"""Helpers of the tests of the stop (Ctrl-C, a cancelled MCP call, stop_requests and
cancel_downloads): work in a thread that reports how and when it ended, and the
sandbox's request log by kind."""

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

from gsep_cli.sandbox import Sandbox


def in_thread(work: Callable[[], object], name: str = "stop-test-work") -> dict[str, Any]:
    """Run ``work`` in a daemon thread; the dict gets ``thread``, then ``value`` or
    ``error``, and ``ended`` (``time.monotonic()``)."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = work()
        except BaseException as exc:
            outcome["error"] = exc
        outcome["ended"] = time.monotonic()

    thread = threading.Thread(target=run, daemon=True, name=name)
    outcome["thread"] = thread
    thread.start()
    return outcome


def part_puts(sb: Sandbox) -> list[dict[str, Any]]:
    """The part uploads the sandbox saw."""
    return [r for r in sb.requests if r["kind"] == "s3" and r["method"] == "PUT"]


def result_gets(sb: Sandbox) -> list[dict[str, Any]]:
    """The result downloads the sandbox saw."""
    return [r for r in sb.requests if r["kind"] == "cdn" and r["method"] == "GET"]


def completes(sb: Sandbox) -> list[dict[str, Any]]:
    """The upload completions the sandbox saw."""
    return [r for r in sb.requests if r["path"].endswith("/upload-multipart/complete")]


def creations(sb: Sandbox) -> list[dict[str, Any]]:
    """The job creations the sandbox saw."""
    return [r for r in sb.requests if r["method"] == "POST" and r["path"].endswith("/jobs")]


#: A Python program that runs Session.separate and catches Ctrl-C; it prints
#: ``caught <class> <time.monotonic()>`` and ends.
SESSION_PROGRAM = """
import sys, time
from gsep_cli import Session
from gsep_cli.errors import Interrupted

try:
    with Session(base_url=sys.argv[1]) as session:
        session.separate(sys.argv[2], out_dir=sys.argv[3], stems="vocal", parallel=1)
except (Interrupted, KeyboardInterrupt) as exc:
    print("caught", type(exc).__name__, time.monotonic(), flush=True)
"""


def start_session_program(
    base_url: str, song: Path, out: Path, env: dict[str, str]
) -> subprocess.Popen[str]:
    """:data:`SESSION_PROGRAM` in a process of its own, stdout and stderr piped as text."""
    return subprocess.Popen(
        [sys.executable, "-c", SESSION_PROGRAM, base_url, str(song), str(out)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def interrupt_session_program(
    base_url: str,
    song: Path,
    out: Path,
    env: dict[str, str],
    *,
    ready: Callable[[], bool],
    settle: float,
    timeout: float,
) -> tuple[str, str, float, float]:
    """Run :data:`SESSION_PROGRAM`; once ``ready()`` (30 s at most) and ``settle`` seconds
    more, Ctrl-C; wait ``timeout`` seconds at most for its end. Returns (stdout, stderr,
    seconds from Ctrl-C until it caught the interrupt (NaN if it never said), seconds
    from Ctrl-C until it exited)."""
    proc = start_session_program(base_url, song, out, env)
    try:
        deadline = time.monotonic() + 30
        while not ready() and proc.poll() is None:
            assert time.monotonic() < deadline, "waited 30 s for the moment to stop"
            time.sleep(0.02)
        assert proc.poll() is None, proc.communicate()
        time.sleep(settle)
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=timeout)
        exited = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    match = re.search(r"caught \w+ ([\d.]+)", stdout)
    caught = float(match.group(1)) - sent if match else float("nan")
    return stdout, stderr, caught, exited
