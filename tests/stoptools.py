"""Helpers of the tests of the stop (Ctrl-C, a cancelled MCP call, stop_requests and
cancel_downloads): work in a thread that reports how and when it ended, and the
sandbox's request log by kind."""

from __future__ import annotations

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
