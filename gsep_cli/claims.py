"""Who is working on a work right now: the holder of a claim, and whether it still lives.

Before gsep uploads anything for a work (see :func:`gsep_cli.records.work_key`) it claims
it in the ledger; any other gsep — another process, or another input of the same batch —
that wants the same work waits for the claim to be released and then re-attaches to
whatever the holder recorded, instead of paying again.

A claim names its holder: host name, process id, and the process's start (the kernel's
boot id and the process start time on Linux), so a reused process id is never mistaken
for the holder. The holder refreshes a heartbeat every few seconds. A claim is *stale*
when its holder died (kill -9, an OOM kill, a power cut) or stopped (Ctrl-Z): on the same
host, its process is gone or is another process; anywhere, its heartbeat is older than
the lease. A stale claim is taken over, and the taker says so.

Taking over is safe even when the old holder is only suspended: before it pays, a holder
checks, in the same ledger transaction that records the job creation, that the claim is
still its own (:meth:`gsep_cli.ledger.Ledger.record_unconfirmed`).
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path

__all__ = ["Claim", "ClaimHolder", "Heartbeat", "ProcessId", "holder_is_live", "this_process"]

#: A holder whose heartbeat is older than this (seconds) is taken for dead or stopped.
DEFAULT_LEASE = 60.0


@dataclass(frozen=True)
class ProcessId:
    """One process on one host: host name, pid, and its start ("" when unknowable)."""

    host: str
    pid: int
    started: str


@lru_cache(maxsize=1)
def _boot_id() -> str:
    with contextlib.suppress(OSError):
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    return ""


def process_started(pid: int) -> str:
    """``<boot id>:<start time in clock ticks>`` of a process (Linux ``/proc/PID/stat``,
    field 22), or "" where that cannot be read (another OS, no such process)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    # the command name (field 2) is in parentheses and may hold spaces or parentheses
    fields = text[text.rfind(")") + 2 :].split()
    if len(fields) < 20:
        return ""
    return f"{_boot_id()}:{fields[19]}"


@lru_cache(maxsize=1)
def _pid_namespace() -> str:
    """This process's PID namespace (``pid:[4026531836]``), or "" where there are none.
    Two containers with one host name and one state folder see each other's pids as
    other processes (or none): a pid is only checked inside its own namespace."""
    with contextlib.suppress(OSError):
        return os.readlink("/proc/self/ns/pid")
    return ""


def this_process() -> ProcessId:
    """The identity of the running process: ``started`` is ``<pid namespace>|<boot id>:
    <start time>`` (parts empty where unknown)."""
    started = process_started(os.getpid())
    namespace = _pid_namespace()
    return ProcessId(socket.gethostname(), os.getpid(), f"{namespace}|{started}" if started else "")


def pid_alive(pid: int) -> bool:
    """True when a process with this id exists on this host (signal 0 probes it)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    except OSError:
        return False
    return True


@dataclass(frozen=True)
class ClaimHolder:
    """Whoever holds a claim: their process, what they work on, since when (epoch s)."""

    host: str
    pid: int
    started: str
    input_path: str
    claimed_at: float
    heartbeat_at: float

    def describe(self) -> str:
        """``gsep pid 4242 on studio-1 (since 12:00:03 UTC)``."""
        since = datetime.fromtimestamp(self.claimed_at, tz=timezone.utc).strftime("%H:%M:%S")
        return f"gsep pid {self.pid} on {self.host} (since {since} UTC)"


@dataclass(frozen=True)
class Claim:
    """A claim this process holds on one work; ``took_over`` is the stale holder it
    replaced, if any (so the caller can say what happened)."""

    work_key: str
    token: str
    took_over: ClaimHolder | None = None


def holder_is_live(holder: ClaimHolder, me: ProcessId, now: float, lease: float) -> bool:
    """Whether a claim's holder still counts: its heartbeat is younger than ``lease``
    seconds and, on this host (same host name, PID namespace and boot), its process is
    still the one that claimed."""
    if now - holder.heartbeat_at > lease:
        return False
    if holder.host != me.host:
        return True
    namespace, _, started = holder.started.rpartition("|")
    ours, _, our_start = me.started.rpartition("|")
    if namespace and ours and namespace != ours:  # its pid means nothing here: the
        return True  # heartbeat alone tells (a container beside this one)
    boot, our_boot = started.partition(":")[0], our_start.partition(":")[0]
    if boot and our_boot and boot != our_boot:  # another machine of the same name (cloned
        return True  # images, "localhost"), or before a reboot: the heartbeat alone tells
    if not pid_alive(holder.pid):
        return False
    if started and me.started:  # both readable: a reused pid shows a new start
        return process_started(holder.pid) == started
    return True


class Heartbeat:
    """A daemon thread that calls ``beat`` every ``interval`` seconds until stopped.

    ``beat`` must not raise for expected failures (a busy database): a missed beat only
    shortens the time others wait before taking over.
    """

    def __init__(self, beat: Callable[[], None], interval: float) -> None:
        self._beat = beat
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="gsep-heartbeat", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self._beat()

    def stop(self) -> None:
        """Stop beating (does not wait for a beat in progress)."""
        self._stop.set()
