"""Build only the command a line runs: typer turns every command of the app it runs into
a click command first (reading each signature: about 6 ms for gsep's 23 commands, on
every run). When the line plainly names one command or group of the root
(``gsep job status JOB``, ``gsep --json download JOB``), :func:`app_for` hands typer a
copy of the root holding just that one; the root's own callback (``--version``) and
settings stay. Any other line (``--help``, ``--version``, a mistyped or missing command,
an option the root does not know, tab completion) runs the whole app, so its help,
suggestions and errors are what they always were.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import typer

from ._globals import GLOBAL_OPTIONS


def _global_options() -> tuple[frozenset[str], frozenset[str]]:
    """The global options' names: (flags, options taking a value)."""
    flags: set[str] = set()
    valued: set[str] = set()
    for option in GLOBAL_OPTIONS:
        names = [*option.opts, *getattr(option, "secondary_opts", ())]
        (flags if getattr(option, "is_flag", False) else valued).update(names)
    return frozenset(flags), frozenset(valued)


FLAGS, VALUED = _global_options()


def command_named(args: Sequence[str]) -> str | None:
    """The root command ``args`` names, past the global options before it; None when
    that is not plain (an option the root does not know, ``--``, no command)."""
    rest = iter(args)
    for arg in rest:
        if arg in FLAGS:
            continue
        if arg in VALUED:
            next(rest, None)  # its value
            continue
        if arg.startswith("-"):  # --help, --version, --profile=x, -qv, --: the whole app
            return None
        return arg
    return None


def _name(info: typer.models.CommandInfo) -> str:
    if info.name:
        return info.name
    return typer.main.get_command_name(info.callback.__name__)  # type: ignore[union-attr]


def app_for(app: typer.Typer, args: Sequence[str]) -> typer.Typer:
    """``app`` with only the command or group ``args`` names (a shallow copy: ``app``
    itself is left whole), or ``app`` when the name is not plain or not one of its own."""
    name = command_named(args)
    if name is None:
        return app
    commands = [c for c in app.registered_commands if _name(c) == name]
    groups = [g for g in app.registered_groups if g.name == name]
    if len(commands) + len(groups) != 1 or app.registered_callback is None:
        return app  # not one of its own; without a callback typer would not make a group
    trimmed = copy.copy(app)
    trimmed.registered_commands = commands
    trimmed.registered_groups = groups
    return trimmed
