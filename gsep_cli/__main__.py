"""Entry point: run the typer app; turn expected failures into one line and an exit code."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    """Run gsep; never show a traceback for an expected failure."""
    from .cli import run

    return run(argv)


if __name__ == "__main__":
    sys.exit(main())
