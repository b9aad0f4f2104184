"""How gsep's help reads: the command and group classes every command uses.

* The usage line names arguments by their metavar (``gsep download [OPTIONS] JOB_ID``),
  as the README writes them, on every typer version (typer 0.2x writes a required
  argument as ``{JOB_ID}``, a lower-case ``{job_id}`` without a metavar).
* ``gsep --help`` lists the main command first, then the step-by-step ones in the order
  they are used, then the rest; a group lists its commands in the order registered
  (older click sorts them by name).

What each option shows (``LIST``, ``DIR``, ``SECONDS``; ranges in words, once) is set on
the options themselves (:mod:`._options`); ``tests/test_help.py`` walks every command
and holds them to it.
"""

from __future__ import annotations

from typing import Any

from typer.core import TyperCommand, TyperGroup

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
    "completion",
)


class HelpCommand(TyperCommand):
    """A command whose usage line shows its arguments' metavars as they are."""

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
    """A command group listing its commands in :data:`ORDER`, else as registered."""

    def list_commands(self, ctx: Any) -> list[str]:
        rank = {name: index for index, name in enumerate(ORDER)}
        return sorted(self.commands, key=lambda name: rank.get(name, len(ORDER)))
