"""``gsep completion SHELL``: the tab-completion script for a shell."""

# no postponed annotations here: typer reads them on every run (see gsep_cli.cli)
import sys
from typing import Annotated

import typer

from ..errors import UsageError
from ._context import state_of

COMPLETE_VAR = "_GSEP_COMPLETE"
SHELLS = ("bash", "zsh", "fish", "powershell")


def complete_shell(incomplete: str) -> list[str]:
    """Tab completion of ``gsep completion SHELL``."""
    return [shell for shell in SHELLS if shell.startswith(incomplete)]


def completion(
    ctx: typer.Context,
    shell: Annotated[
        str,
        typer.Argument(
            metavar="SHELL", help="bash, zsh, fish or powershell.", autocompletion=complete_shell
        ),
    ],
) -> None:
    """Print the tab-completion script for SHELL.

    Ready-made copies with install notes are in the completions/ folder.

    \b
    Examples:
      gsep completion bash > ~/.local/share/bash-completion/completions/gsep
      gsep completion fish > ~/.config/fish/completions/gsep.fish
    """
    from typer._completion_shared import get_completion_script

    if shell not in SHELLS:
        from ..suggest import with_suggestion

        hint = with_suggestion(shell, SHELLS, f"Choose one of: {', '.join(SHELLS)}")
        raise UsageError(f"unknown shell {shell!r}", hint)
    script = get_completion_script(prog_name="gsep", complete_var=COMPLETE_VAR, shell=shell)
    state = state_of(ctx)
    if state.json:
        state.console.result_json({"shell": shell, "script": script.rstrip("\n") + "\n"})
    else:
        sys.stdout.write(script.rstrip("\n") + "\n")
