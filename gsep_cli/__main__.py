"""Entry point: run the typer app; turn expected failures into one line and an exit code."""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> int:
    """Run gsep; never show a traceback for an expected failure."""
    from .cli import run

    code = run(argv)
    if code == 130:
        # Interrupted: cleanup already ran (temp files, sandbox); do not wait for worker
        # threads still blocked in a network call.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


if __name__ == "__main__":
    sys.exit(main())
