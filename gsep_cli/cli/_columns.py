"""The texts of the live display's columns (size, speed, time, status) and their fixed
widths, each the widest text its formatter gives for the values it is meant for, so that
no column moves as the numbers change (``import _columns``)."""

from __future__ import annotations

#: The largest transfer (bytes) and speed (bytes per second) the widths are made for.
LARGEST = 10 * 1000**4
#: Times from this many seconds on read ``>10h`` (an eta that far off says "very long").
LONGEST = 10 * 3600
#: The job statuses of GSEP_API.md (a status the API adds later may be wider: the row
#: then gives it the cells it needs).
STATUSES = ("waiting", "running", "success", "failed")
_UNITS = ((1024**4, "TiB"), (1024**3, "GiB"), (1024**2, "MiB"), (1024, "KiB"))
#: A unit is used from this much of the one below it on: never more than three digits
#: before the point (``999.9 KiB``, then ``1.0 MiB``, not ``1023.9 KiB``).
_NEXT_AT = 999.95


def clock_text(seconds: float) -> str:
    """``m:ss``, ``h:mm:ss`` from an hour on, ``>10h`` from :data:`LONGEST` on."""
    whole = max(0, int(seconds))
    if whole >= LONGEST:
        return ">10h"
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _unit(size: float) -> tuple[float, str]:
    for scale, name in _UNITS:
        if size >= scale // 1024 * _NEXT_AT:
            return scale, name
    return 1, "B"


def size_text(done: int, total: int | None) -> str:
    """``1.2/3.4 MiB`` (one unit, the total's), or ``1.2 MiB`` when the total is unknown."""
    scale, name = _unit(max(done, total or 0))
    if scale == 1:
        return f"{done}/{total} B" if total is not None else f"{done} B"
    if total is None:
        return f"{done / scale:.1f} {name}"
    return f"{done / scale:.1f}/{total / scale:.1f} {name}"


def speed_text(rate: float) -> str:
    """``2.1 MiB/s``."""
    scale, name = _unit(rate)
    return f"{rate:.0f} B/s" if scale == 1 else f"{rate / scale:.1f} {name}/s"


def time_text(seconds: float, *, eta: bool) -> str:
    """The time column: ``eta 0:02`` while a transfer runs, ``0:12`` once done."""
    return f"eta {clock_text(seconds)}" if eta else clock_text(seconds)


def _widest_values() -> list[int]:
    """The values that format widest in each unit (the largest before the next unit),
    and :data:`LARGEST`."""
    return [int(scale // 1024 * _NEXT_AT) for scale, _ in _UNITS] + [LARGEST]


def _widths() -> dict[str, int]:
    values = _widest_values()
    return {
        "size": max(len(size_text(v, t)) for v in values for t in (v, None)),
        "speed": max(len(speed_text(v)) for v in values),
        "time": max(len(time_text(s, eta=True)) for s in (LONGEST - 1, LONGEST)),
        "status": max(len(status) for status in STATUSES),
    }


#: Fixed widths of the columns (cells), derived from the formatters above.
WIDTHS = _widths()
