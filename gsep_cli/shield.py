"""A paying request that Ctrl-C, SIGTERM or SIGHUP does not cut off half-way.

An interrupt that lands while a job creation is on the wire would throw away the answer
— the job id of a job already paid for. :func:`finish_despite_interrupt` runs the call in
a worker thread; an interrupt while it runs only shortens the wait to ``bound`` seconds
(the answer's own timeout, so it ends), and a second interrupt gives up at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

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
