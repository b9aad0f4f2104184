"""``gsep config``: show and change settings and the API key."""

# no postponed annotations here: typer reads them on every run (see gsep_cli.cli)
import sys
from typing import Annotated, Any

import typer

from .. import resolve
from ..errors import UsageError
from . import _output
from ._context import state_of
from ._globals import GsepTyper

app = GsepTyper(help="Show and change settings and the API key.", no_args_is_help=True)

NAME_HELP = "base_url, format, stems, output_dir, model or ledger_url."


def complete_setting(incomplete: str) -> list[str]:
    """Tab completion of a setting's name (``config get``/``set``)."""
    from ..config import SETTABLE

    return [name for name in SETTABLE if name.startswith(incomplete)]


@app.command(
    "set-key",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
def set_key(ctx: typer.Context) -> None:
    """Store the API key in the config file (mode 0600).

    Reads it from stdin when piped, else asks with a hidden prompt; never from an
    argument.

    \b
    Examples:
      printf %s "$KEY" | gsep config set-key
      gsep config set-key            # asks, without showing what you type
    """
    from ..apikey import key_problem
    from ..config import set_profile_value

    state = state_of(ctx)
    if ctx.args:  # caught here so that click does not echo the key back in its error
        raise UsageError(
            "the key is not accepted as an argument (it would stay in your shell history)",
            'Pipe it: printf %s "$KEY" | gsep config set-key, or run gsep config set-key '
            "and type it at the hidden prompt",
        )
    if sys.stdin is not None and not sys.stdin.isatty():
        key = sys.stdin.read().strip()
    else:
        import getpass

        key = getpass.getpass("GSEP API key (input hidden): ").strip()
    if not key:
        raise UsageError("no key given", "Pipe the key on stdin or type it at the prompt")
    problem = key_problem(key)
    if problem is not None:  # never echoed: it may be a real key with a stray character
        raise UsageError(f"that does not look like an API key: {problem} (not shown)")
    profile = state.profile_name
    path = set_profile_value(profile, "api_key", key)
    state.console.info(f"gsep: key saved for profile {profile!r} in {path}")
    if state.json:  # what was stored where: never the key, not even masked
        state.console.result_json({"profile": profile, "name": "api_key", "configFile": str(path)})


@app.command("show")
def show(ctx: typer.Context) -> None:
    """Show the settings in effect and where each came from.

    One line per setting: its value (the key masked to its last 4 characters) and its
    source: flag, env VARIABLE, profile NAME (the config file) or default.

    \b
    Examples:
      gsep config show
      gsep --profile work --json config show
    """
    from ..apikey import mask_key
    from ..config import config_path
    from ._table import aligned

    state = state_of(ctx)
    settings = state.settings()
    values: dict[str, Any] = _shown(state, settings.values)
    values["api_key"] = mask_key(settings.api_key) if settings.api_key else None
    if settings.api_key and settings.key_problem:  # masking could still show a stray byte
        values["api_key"] = f"(cannot be used: {settings.key_problem})"
    document = {
        "profile": settings.profile,
        "configFile": str(config_path()),
        "values": values,
        "sources": settings.sources,
    }
    rows = [["profile", settings.profile], ["config file", str(config_path())]]
    for name in ("api_key", "base_url", "model", "stems", "format", "output_dir", "ledger_url"):
        value = values.get(name)  # a value, then where it came from; or only "not set"
        rows.append([name, value, settings.sources.get(name, "")] if value else [name, "not set"])
    _output.show(state, document, aligned(rows))


@app.command("path")
def path(ctx: typer.Context) -> None:
    """Print the config file's path.

    \b
    Example:
      gsep config path
    """
    from ..config import config_path

    state = state_of(ctx)
    _output.show(state, {"configFile": str(config_path())}, [str(config_path())])


@app.command("set")
def set_value(
    ctx: typer.Context,
    name: Annotated[
        str, typer.Argument(metavar="NAME", help=NAME_HELP, autocompletion=complete_setting)
    ],
    value: Annotated[str, typer.Argument(metavar="VALUE", help="The new value.")],
) -> None:
    """Set a setting in the current profile.

    The key has its own command: set-key.

    \b
    Examples:
      gsep config set stems vocal,drum
      gsep --profile work config set output_dir ~/stems
    """
    from ..choices import get_model, resolve_formats
    from ..config import SETTABLE, check_base_url, set_profile_value
    from ..models import DEFAULT_MODEL

    state = state_of(ctx)
    if name not in SETTABLE:
        hint = (
            "Use gsep config set-key for the key"
            if name in ("api_key", "key")
            else _settable_hint(name)
        )
        raise UsageError(f"unknown setting {name!r}", hint)
    shown = value
    if name == "base_url":
        value = check_base_url(value, "the value")
    elif name == "ledger_url":
        from ..ledger import parse_address

        shown = parse_address(value, "the value").shown  # never the password
        value = value.strip()
    elif name == "format":
        resolve_formats(value)
    elif name == "model":
        get_model(value)
    elif name == "stems":
        resolve.stems(state.settings(), DEFAULT_MODEL, [value])
    profile = state.profile_name
    written = set_profile_value(profile, name, value)
    state.console.info(f"gsep: {name} = {shown} (profile {profile!r})")
    if state.json:
        document = {"profile": profile, "name": name, "value": shown, "configFile": str(written)}
        state.console.result_json(document)


@app.command("get")
def get(
    ctx: typer.Context,
    name: Annotated[
        str, typer.Argument(metavar="NAME", help=NAME_HELP, autocompletion=complete_setting)
    ],
) -> None:
    """Print one setting's value as gsep resolves it.

    \b
    Examples:
      gsep config get base_url
      gsep --json config get stems
    """
    from ..config import SETTABLE

    state = state_of(ctx)
    if name not in SETTABLE:
        raise UsageError(f"unknown setting {name!r}", _settable_hint(name))
    settings = state.settings()
    value = _shown(state, settings.values)[name]
    document = {"name": name, "value": value, "source": settings.sources.get(name)}
    _output.show(state, document, [value])


#: What ``config show``/``get`` say the base URL is with --sandbox: each command starts
#: its own emulator on a free loopback port, so there is no one URL to show.
SANDBOX_BASE_URL = "sandbox (a free loopback port for each command)"


def _shown(state: Any, values: dict[str, str]) -> dict[str, Any]:
    """The settings' values as shown: with --sandbox, the base URL and the ledger as they
    are used; a ledger URL without its password; the default ledger as its file."""
    from ..ledger import LEDGER_FILE, masked, sandbox_ledger_path, state_dir

    shown: dict[str, Any] = dict(values)
    if state.sandbox:
        shown["base_url"] = SANDBOX_BASE_URL
        shown["ledger_url"] = f"sqlite://{sandbox_ledger_path()} (--sandbox keeps its own)"
    elif shown.get("ledger_url"):
        shown["ledger_url"] = masked(shown["ledger_url"])
    else:
        shown["ledger_url"] = f"sqlite://{state_dir() / LEDGER_FILE}"
    return shown


def _settable_hint(name: str) -> str:
    """What to say for an unknown setting: a "did you mean", then the settable names."""
    from ..config import SETTABLE
    from ..suggest import with_suggestion

    return with_suggestion(name, SETTABLE, f"Settable: {', '.join(SETTABLE)}")
