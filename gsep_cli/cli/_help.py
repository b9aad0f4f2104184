"""How gsep's help reads: the command and group classes every command uses.

* The usage line names arguments by their metavar (``gsep download [OPTIONS] JOB_ID``),
  as the README writes them, on every typer version (typer 0.2x writes a required
  argument as ``{JOB_ID}``, a lower-case ``{job_id}`` without a metavar).
* ``gsep --help`` lists the main command first, then the step-by-step ones in the order
  they are used, then the rest; a group lists its commands in the order registered
  (older click sorts them by name), each with its whole summary (click cuts it to fit
  beside the name, shorter the narrower the terminal: ``Upload, create the job...``).
* Help text wraps between words only, never at a hyphen (click's wrapper would split
  ``--dry-run`` into ``--dry-`` and ``run``): :class:`HelpContext`'s formatter.

What each option shows (``LIST``, ``DIR``, ``SECONDS``; ranges in words, once) is set on
the options themselves (:mod:`._options`); ``tests/test_help.py`` walks every command
and holds them to it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from typer.core import TyperCommand, TyperGroup

try:  # typer >= 0.2x vendors click as typer._click; older typer depends on click
    from typer._click import Context, HelpFormatter, _textwrap
except ImportError:  # pragma: no cover - depends on the installed typer
    from click import Context, HelpFormatter, _textwrap  # type: ignore

#: The order of ``gsep --help``: separate (the main job), the steps it takes one at a
#: time, then the local record, settings, the key, the sandbox and completion. A
#: command not named here comes last, in the order registered.
ORDER = (
    "separate",
    "upload",
    "job",
    "download",
    "models",
    "ledger",
    "jobs",
    "config",
    "key",
    "sandbox",
    "mcp",
    "completion",
)


@contextmanager
def _breaks_between_words_only() -> Iterator[None]:
    """click's ``wrap_text`` makes a ``_textwrap.TextWrapper`` on every call: meanwhile
    that name is one that never breaks at a hyphen."""
    wrapper = _textwrap.TextWrapper

    class WholeWords(wrapper):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **{**kwargs, "break_on_hyphens": False})

    _textwrap.TextWrapper = WholeWords  # type: ignore[misc]
    try:
        yield
    finally:
        _textwrap.TextWrapper = wrapper  # type: ignore[misc]


#: typer's type label after a metavar: `` <str>``, `` <path>``, `` <list[str]>``
_TYPE_LABEL = re.compile(r" <[a-z][^<>]*>$")


class WholeWordFormatter(HelpFormatter):
    """click's help formatter, wrapping between words only (``--dry-run`` stays whole)."""

    def write_usage(self, prog: str, args: str = "", prefix: str | None = None) -> None:
        with _breaks_between_words_only():
            super().write_usage(prog, args, prefix)

    def write_text(self, text: str) -> None:
        with _breaks_between_words_only():
            super().write_text(text)

    def write_dl(self, rows: Sequence[tuple[str, str]], *args: Any, **kwargs: Any) -> None:
        # typer before 0.24 escapes "[default: 3]" for rich markup even with
        # rich_markup_mode=None, so the help would read "\[default: 3]"
        # typer 0.29 writes an argument's type after its metavar ("JOB_ID <str>"); the
        # metavar says what to give, and the type label is what issue 15 asked to remove
        rows = [(_TYPE_LABEL.sub("", term), text.replace("\\[", "[")) for term, text in rows]
        with _breaks_between_words_only():
            super().write_dl(rows, *args, **kwargs)


class HelpContext(Context):
    """The context of every gsep command: its help uses :class:`WholeWordFormatter`."""

    formatter_class = WholeWordFormatter


class HelpCommand(TyperCommand):
    """A command whose usage line shows its arguments' metavars as they are."""

    context_class = HelpContext

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        """``[OPTIONS]`` then each parameter's piece; an argument with a metavar is
        written as that metavar (in brackets when optional)."""
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if param.param_type_name == "argument" and param.metavar:
                pieces.append(param.metavar if param.required else f"[{param.metavar}]")
            else:
                pieces.extend(param.get_usage_pieces(ctx))
        return pieces


class HelpGroup(TyperGroup):
    """A command group listing its commands in :data:`ORDER`, else as registered, each
    with its whole summary."""

    context_class = HelpContext

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        """The "Commands" section: every visible command and its summary, whole (the
        definition list wraps it under itself when the terminal is narrow)."""
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit=10_000)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def list_commands(self, ctx: Any) -> list[str]:
        rank = {name: index for index, name in enumerate(ORDER)}
        return sorted(self.commands, key=lambda name: rank.get(name, len(ORDER)))
