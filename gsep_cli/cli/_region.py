"""The part of the terminal the live display redraws, erased from its top even after the
terminal got narrower (``import _region``).

rich's live region moves the cursor up one line per line it drew and erases those lines.
A terminal that reflows its text when it gets narrower (tmux, VTE, kitty, iTerm2, Windows
Terminal) has by then folded each drawn line that no longer fits into several, and the
lines above the region's new top stay on the screen: stale rows. :class:`Frame` keeps the
width of each line drawn; :class:`Region` moves up by the number of lines they take at the
terminal's width now and erases from there to the end of the screen.

The trade-off: on a terminal that cuts lines instead of folding them (xterm), the region
erases as many lines too many above it as the rows would have been folded into, once,
right after the terminal got narrower: lines of messages, never rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rich.control import Control
from rich.live_render import LiveRender
from rich.segment import ControlType, Segment


@dataclass
class Frame:
    """What the display drew last: the cells of each line (the empty line where the
    cursor waits not included) at a terminal ``width`` cells wide."""

    width: int = 0
    lines: list[int] = field(default_factory=list)

    def height_at(self, width: int) -> int:
        """Lines the frame takes on a terminal now ``width`` cells wide: one a line, or
        as many as a reflowing terminal folded each into, when it got narrower."""
        if width <= 0 or width >= self.width:
            return len(self.lines)
        return sum(max(1, -(-cells // width)) for cells in self.lines)


def _erase_up(lines: int) -> Control:
    """To the start of the line ``lines`` up (none: this one), then erase to the end of
    the screen."""
    control = Control()
    text = "\r" + (f"\x1b[{lines}A" if lines > 0 else "") + "\x1b[J"
    control.segment = Segment(text, None, [(ControlType.CURSOR_UP, lines)])
    return control


#: whether ``Live.stop`` writes its line break only when the last frame had lines (rich
#: 15, which added ``LiveRender.last_render_height`` with it) rather than always
_BREAK_ONLY_AFTER_LINES = hasattr(LiveRender, "last_render_height")


class Region(LiveRender):
    """rich's live region (``rich.live.Live._live_render``) that erases by :class:`Frame`."""

    def __init__(self, renderable: Any, frame: Frame, console: Any) -> None:
        super().__init__(renderable)
        self.frame = frame
        self.console = console

    def position_cursor(self) -> Control:
        """Before a redraw: to the top of what was drawn, all of it erased."""
        if self._shape is None:
            return Control()
        return _erase_up(self.frame.height_at(self.console.width))

    def restore_cursor(self) -> Control:
        """When the display stops: the same, from one line further down when rich's
        ``Live.stop`` wrote a line break first (it does when the last frame had lines)."""
        drawn = self._shape is not None and self._shape[1] > 0
        # rich 15 writes that line break only after a frame with lines; older rich
        # always does (rich.live.Live.stop)
        below = 1 if drawn or not _BREAK_ONLY_AFTER_LINES else 0
        if self._shape is None and not below:
            return Control()
        height = self.frame.height_at(self.console.width) if self._shape is not None else 0
        return _erase_up(height + below)


def install(live: Any, frame: Frame) -> None:
    """Make ``live`` (a ``rich.live.Live`` not yet started) draw through a :class:`Region`
    (left as it is on a rich whose Live keeps its region elsewhere)."""
    current = getattr(live, "_live_render", None)
    if isinstance(current, LiveRender):
        live._live_render = Region(current.renderable, frame, live.console)
