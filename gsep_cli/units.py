"""Parsing and formatting of byte sizes and durations given on the command line."""

from __future__ import annotations

import re

#: The plain ASCII numbers every GSEP_* variable takes (whole, and decimal): Python's own
#: parsers would also take ``5_0``, ``inf`` and other scripts' digits.
INTEGER = re.compile(r"[0-9]+", re.ASCII)
DECIMAL = re.compile(r"[0-9]+(\.[0-9]*)?([eE][+-]?[0-9]+)?|\.[0-9]+([eE][+-]?[0-9]+)?", re.ASCII)

_UNITS = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1000,
    "m": 1000**2,
    "mb": 1000**2,
    "g": 1000**3,
    "gb": 1000**3,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
}


def parse_size(text: str) -> int:
    """Parse ``"5MiB"``, ``"64 KiB"``, ``"1GB"`` or ``"1048576"`` into bytes."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", text)
    if match is None or match[2].lower() not in _UNITS:
        raise ValueError(f"not a size: {text!r} (examples: 1048576, 64KiB, 5MiB, 1GiB)")
    return int(float(match[1]) * _UNITS[match[2].lower()])


def format_size(size: float) -> str:
    """Human-readable binary size, e.g. ``"5.0 MiB"``."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(value) < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"  # pragma: no cover - unreachable
