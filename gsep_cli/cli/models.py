"""``gsep models``: the models gsep knows, their stems, inputs and limits."""

# no postponed annotations here: typer reads them on every run (see gsep_cli.cli)
import typer

from . import _output
from ._context import state_of


def models(ctx: typer.Context) -> None:
    """List the models: what each gives, its inputs and limits.

    \b
    Examples:
      gsep models
      gsep --json models
    """
    from ..models import MODELS

    state = state_of(ctx)
    rows = [_output.model_json(spec) for spec in MODELS.values()]
    _output.show(state, {"models": rows}, _output.model_lines(MODELS.values()))
