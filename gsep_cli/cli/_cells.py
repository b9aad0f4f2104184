"""How many terminal cells a text takes, measured so that it never comes out short.

Terminals disagree about some characters: emoji skin-tone modifiers (U+1F3FB–U+1F3FF)
join the emoji before them on some terminals and are drawn as a second two-cell emoji on
others (tmux, xterm, VTE); regional indicators (flags) are one or two cells; a variation
selector 16 turns the character before it into a two-cell emoji on some. rich's
``cell_len`` takes the narrow reading, so a row it fits can still be wider than the
terminal, wrap, and leave copies of itself behind. :func:`cells` takes the wide reading
of each such character. A row fitted with it is at worst a few cells shorter than it
could have been; names keep their characters (escaping them would make the common case,
a terminal that draws them as one emoji, unreadable).
"""

from __future__ import annotations

from functools import lru_cache

from rich.cells import get_character_cell_size

#: (first, last, cells): characters whose width terminals disagree on, at their widest.
_WIDEST = (
    (0x1F3FB, 0x1F3FF, 2),  # emoji skin-tone modifiers: rich counts 0
    (0x1F1E6, 0x1F1FF, 2),  # regional indicators (flags): rich counts 1
    (0xFE0F, 0xFE0F, 1),  # variation selector 16 (emoji presentation): rich counts 0
)


@lru_cache(maxsize=4096)
def char_cells(char: str) -> int:
    """Cells one character takes on the terminal that draws it widest (0, 1 or 2)."""
    code = ord(char)
    for first, last, size in _WIDEST:
        if first <= code <= last:
            return size
    return int(get_character_cell_size(char))


def cells(text: str) -> int:
    """Cells ``text`` takes, at least what rich's ``cell_len`` says (see the module)."""
    return sum(char_cells(char) for char in text)


def take(text: str, width: int) -> str:
    """The longest start of ``text`` that fits in ``width`` cells."""
    used = 0
    for index, char in enumerate(text):
        used += char_cells(char)
        if used > width:
            return text[:index]
    return text


def shorten(text: str, width: int, ellipsis: str = "…") -> str:
    """``text`` if it fits in ``width`` terminal cells, else its start and its end around
    ``ellipsis`` (the start gets the odd cell); never wider than ``width`` cells."""
    if cells(text) <= width:
        return text
    room = width - cells(ellipsis)
    if room < 1:
        return take(ellipsis, width)
    # the start gets half the room, but at least its first character (two cells if wide)
    head = take(text, max((room + 1) // 2, char_cells(text[0])))
    if cells(head) > room:
        head = ""
    tail = take(text[::-1], room - cells(head))[::-1]
    return head + ellipsis + tail
