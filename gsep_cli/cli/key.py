"""``gsep key info``: what the API says about the key."""

# no postponed annotations here: typer reads them on every run (see gsep_cli.cli)
import typer

from . import _output
from ._context import state_of
from ._globals import GsepTyper

app = GsepTyper(help="What the API says about your key.", no_args_is_help=True)


@app.command("info")
def info(ctx: typer.Context) -> None:
    """Show the key's project, status, models and credits.

    The API does not document these field names, so gsep shows whatever it sends:
    one "name: value" line per field (nested fields dotted), or the object with --json.

    \b
    Examples:
      gsep key info
      gsep --json key info
    """
    state = state_of(ctx)
    document = state.client().key_info()
    lines = (f"{name}: {value}" for name, value in _output.flatten(document))
    _output.show(state, document, lines)
