"""Interrupts (Ctrl-C, SIGTERM, SIGHUP): how gsep stops, and a paying request that an
interrupt does not cut off half-way.

:func:`on_signal` is the handler the command line installs for all three: it counts the
signals (:func:`stopping`) and raises KeyboardInterrupt in the main thread. Python may
deliver that exception anywhere — even inside a lock's ``__exit__``, where it turns into a
RuntimeError — so once :func:`stopping` is true, whatever the main thread raises means
"interrupted" (exit 130), never an internal error. From the second signal on, a last
resort ends the process :data:`LAST_RESORT_SECONDS` later if its own clean-up is stuck.

An interrupt that lands while a job creation is on the wire would throw away the answer
— the job id of a job already paid for. :func:`finish_despite_interrupt` runs the call in
a worker thread; an interrupt while it runs only shortens the wait to ``bound`` seconds
(the answer's own timeout, so it ends), and a second interrupt gives up at once.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Generic, TypeVar

LAST_RESORT_SECONDS = 3.0
"""After a second interrupt, the process ends at the latest this many seconds later."""

_signals = 0  # interrupts received by this process
_held = 0  # > 0 while the main thread runs clean-up that must not be cut off


def stopping() -> bool:
    """True once an interrupt (Ctrl-C, SIGTERM, SIGHUP) reached this process."""
    return _signals > 0


def start_counting() -> None:
    """A new run: no interrupt received yet (the command line calls it as it installs
    :func:`on_signal`)."""
    global _signals
    _signals = 0


def on_signal(signum: int, frame: FrameType | None) -> None:
    """The signal handler for SIGINT, SIGTERM and SIGHUP (main thread only): count it, and
    raise KeyboardInterrupt unless :func:`held` clean-up is running (it ends the run
    anyway). Raises: KeyboardInterrupt."""
    global _signals
    _signals += 1
    if _signals == 2:
        threading.Thread(target=_last_resort, name="gsep-quit", daemon=True).start()
    if not _held:
        raise KeyboardInterrupt


@contextlib.contextmanager
def held() -> Iterator[None]:
    """Short clean-up after an interrupt (partial files removed, jobs put on record) that
    a further interrupt must not cut off half-way; it is counted, not raised."""
    global _held
    _held += 1
    try:
        yield
    finally:
        _held -= 1


def _last_resort() -> None:
    """Interrupted twice and still running after LAST_RESORT_SECONDS: end the process."""
    time.sleep(LAST_RESORT_SECONDS)
    with contextlib.suppress(OSError):
        os.write(2, b"gsep: interrupted (quit without finishing the clean-up)\n")
    os._exit(130)


_T = TypeVar("_T")


class _Outcome(Generic[_T]):
    def __init__(self) -> None:
        self.done = threading.Event()
        self.value: _T | None = None
        self.error: BaseException | None = None


def finish_despite_interrupt(
    call: Callable[[], _T], *, bound: float, on_interrupt: Callable[[], None]
) -> tuple[_T, bool]:
    """Run ``call``; return its value and whether an interrupt came meanwhile.

    After a first KeyboardInterrupt, ``on_interrupt`` is told and the call is awaited at
    most ``bound`` more seconds; a second KeyboardInterrupt, or the bound, re-raises
    KeyboardInterrupt (the call may still be answered: the caller says so). The call's
    own exception is raised as is."""
    outcome: _Outcome[_T] = _Outcome()

    def work() -> None:
        try:
            outcome.value = call()
        except BaseException as exc:  # handed to the caller's thread
            outcome.error = exc
        finally:
            outcome.done.set()

    threading.Thread(target=work, name="gsep-paying", daemon=True).start()
    interrupted_at: float | None = None
    while not outcome.done.is_set():
        if interrupted_at is not None and time.monotonic() - interrupted_at > bound:
            raise KeyboardInterrupt
        try:
            outcome.done.wait(0.1)
        except KeyboardInterrupt:
            if interrupted_at is not None:
                raise
            interrupted_at = time.monotonic()
            on_interrupt()
    if outcome.error is not None:
        raise outcome.error
    return outcome.value, interrupted_at is not None  # type: ignore[return-value]
