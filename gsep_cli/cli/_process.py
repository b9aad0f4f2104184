"""The process around one run: termination signals, a standard output that is closed or
cannot encode what gsep writes."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable
from typing import Any

_ERRORS = "gsep-escape"
_stdout_closed = False  # gsep was started with no standard output at all


def stdout_closed() -> bool:
    """True when gsep was started with standard output closed (``>&-``)."""
    return _stdout_closed


def stand_in_for_closed_stdout() -> None:
    """Started with stdout closed: results go to /dev/null, for the life of the process."""
    global _stdout_closed
    if sys.stdout is None:
        _stdout_closed = True
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - for the life of the process


def interrupt_on_termination() -> Callable[[], None]:
    """Handle SIGTERM and SIGHUP (``kill``, a CI runner's cancel, a closed terminal) like
    Ctrl-C, and all three through :func:`gsep_cli.shield.on_signal`: the same clean exit
    130, a job creation in flight still recorded, partial files removed, and a second
    interrupt quitting at once. Returns a function that puts the previous handlers back."""
    import signal
    import threading

    from ..shield import on_signal, start_counting

    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    start_counting()

    previous = {}
    for name in ("SIGINT", "SIGTERM", "SIGHUP"):
        number = getattr(signal, name, None)
        if number is None:
            continue
        if name == "SIGINT" and signal.getsignal(number) is not signal.default_int_handler:
            continue  # started with Ctrl-C ignored (a background job): leave it so
        previous[number] = signal.signal(number, on_signal)

    # An interrupt that lands in a finalizer run by the garbage collector (urllib3 closing
    # a pool) cannot propagate: Python prints "Exception ignored in ..." with a traceback.
    # The run still stops (the batch checks shield.stopping() as it waits), so say nothing.
    previous_hook = sys.unraisablehook

    def unraisable(info: Any) -> None:
        if not isinstance(info.exc_value, KeyboardInterrupt):
            previous_hook(info)

    sys.unraisablehook = unraisable

    def restore() -> None:
        for number, handler in previous.items():
            signal.signal(number, handler)
        sys.unraisablehook = previous_hook

    return restore


def never_fail_on_encoding() -> None:
    """Writing a result must never fail because of the console's encoding (a Cyrillic path
    on a cp1252 console, a file name that is not valid UTF-8): characters the stream cannot
    encode are written as backslash escapes, undecodable file-name bytes as themselves."""
    import codecs

    codecs.register_error(_ERRORS, _escape_unencodable)
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            with contextlib.suppress(ValueError, OSError, TypeError):
                reconfigure(errors=_ERRORS)


def _escape_unencodable(exc: UnicodeError) -> tuple[str | bytes, int]:
    if not isinstance(exc, UnicodeEncodeError):
        raise exc
    text = exc.object[exc.start : exc.end]
    if all(0xDC80 <= ord(ch) <= 0xDCFF for ch in text):  # os.fsdecode's surrogateescape
        return bytes(ord(ch) - 0xDC00 for ch in text), exc.end
    return text.encode("ascii", "backslashreplace").decode("ascii"), exc.end
