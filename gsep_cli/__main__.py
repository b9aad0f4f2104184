"""Entry point: run the typer app; turn expected failures into one line and an exit code."""

from __future__ import annotations

import contextlib
import gc
import os
import sys


def main(argv: list[str] | None = None) -> int:
    """Run gsep; never show a traceback for an expected failure. The process's entry
    point: it ends once this returns (see the end)."""
    from .cli import run
    from .shield import stopping

    try:
        code = run(argv)
    except KeyboardInterrupt:  # a further interrupt landed while the outcome was reported
        code = 130
        with contextlib.suppress(Exception, KeyboardInterrupt):
            print("gsep: interrupted", file=sys.stderr)
    if code == 130 or stopping():
        # Interrupted: cleanup already ran (temp files, sandbox); do not wait for worker
        # threads still blocked in a network call or a job's wait.
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception, KeyboardInterrupt):
                stream.flush()
        os._exit(code)
    # The run is over and the process ends next: the garbage collector's final passes
    # would walk every object typer, requests and gsep made (about 20 ms of a 170 ms
    # `gsep job status`). Frozen, they are left to the exit; files and the ledger are
    # closed already, and atexit handlers and the flush of stdout/stderr still run.
    gc.freeze()
    return code


if __name__ == "__main__":
    sys.exit(main())
