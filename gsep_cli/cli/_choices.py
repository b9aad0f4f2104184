"""What ``-o -`` (the one result on standard output) makes of the other choices, before
any request; the rest of the shared choices are the library's (:mod:`gsep_cli.resolve`)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import UsageError
from . import _process

if TYPE_CHECKING:
    from ..audio.plan import Delivery
    from ..models import ModelSpec
    from ._context import State


def to_stdout(output: Path | None) -> bool:
    """``-o -``: the one chosen stem goes to standard output."""
    return output is not None and str(output) == "-"


def check_stdout_target(
    state: State,
    stems: list[str],
    formats: list[str],
    spec: ModelSpec,
    *,
    dry_run: bool = False,
    chosen: Delivery | None = None,
) -> None:
    """``-o -``: refuse what cannot work before any request (or any credit is spent)."""
    from ..audio.plan import Delivery

    if state.json and not dry_run:
        raise UsageError("--json and -o - both want standard output", "Drop --json, or give -o DIR")
    plan = (chosen or Delivery(tuple(formats))).deliverables(spec, stems)
    files = [(item.name, item.ext) for item in plan]
    if any(item.made for item in plan):
        raise UsageError(
            "-o - streams a result as the API gives it; "
            f"{files[0][0]}.{files[0][1]} would be made on the client",
            "Give -o DIR, or a format as the API gives it (wav or mp3; csv for lyrics) "
            "without --mix, --bit-depth, --sample-rate or --bitrate",
        )
    if len(files) != 1:
        raise UsageError(
            f"-o - writes one file to standard output, but {len(files)} are asked for "
            f"({', '.join(f'{stem}.{ext}' for stem, ext in files)})",
            "Choose one stem and one format, e.g. --stems vocal --format wav",
        )
    if _process.stdout_closed() and not dry_run:
        raise UsageError(
            "standard output is closed: -o - has nowhere to write the audio",
            "Pipe it into a program, or give -o DIR",
        )
    if sys.stdout.isatty() and not dry_run:
        raise UsageError(
            "refusing to write audio to a terminal",
            "Pipe it into a program (e.g. | sox -t wav - out.flac), or give -o DIR",
        )
