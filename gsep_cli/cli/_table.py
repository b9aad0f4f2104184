"""Rows of plain text in aligned columns, for stdout listings (``gsep models``, the
local record's list): each line still one item, so scripts can read it line by line.

Widths are measured as the live display measures them (:func:`._cells.cells`: wide
characters two cells, combining marks none, characters terminals disagree on at their
widest); control characters are escaped first (as every plain line is), so what is
measured is what is printed.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..redact import printable
from ._cells import cells

#: Space between two columns.
GAP = "  "


def aligned(rows: Sequence[Sequence[str]]) -> list[str]:
    """``rows`` as lines whose columns start at the same cell, whatever the widths:
    each column as wide as its widest cell, :data:`GAP` between columns, the last
    cell not padded. Cells have their control characters escaped."""
    shown = [[printable(cell) for cell in row] for row in rows]
    if not shown:
        return []
    columns = max(len(row) for row in shown)
    widths = [
        max((cells(row[i]) for row in shown if i < len(row)), default=0) for i in range(columns)
    ]
    lines = []
    for row in shown:
        padded = [cell + " " * (widths[i] - cells(cell)) for i, cell in enumerate(row[:-1])]
        lines.append(GAP.join([*padded, *row[-1:]]))
    return lines
