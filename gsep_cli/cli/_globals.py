"""The global options, on every command: ``--json``, ``-q``, ``-v``, ``--no-progress``,
``--sandbox``, ``--profile NAME``, ``--base-url URL`` and ``--ledger URL`` are accepted
before the command, after it and anywhere among its options and arguments (as with gh and
hf), and every ``--help`` lists them under "Global options".

One mechanism: every typer app of gsep is a :class:`GsepTyper`, whose groups and commands
(:class:`GsepGroup`, :class:`GsepCommand`) add the global parameters to their own when
click parses the command line. Each level (``gsep``, ``gsep job``, ``gsep job status``)
parses its own part of the line, so ``--`` (after it nothing is an option) and option
values that look like options (``--name-template --json``) keep click's meaning. What a
level parsed is taken out of its parameters and merged into the run's
:class:`~gsep_cli.cli._context.State`, left to right: a valued option given twice keeps
the later value, a flag given anywhere is on.

The classes also keep parser errors in the house format (see ``_click_failure``): an
error names the command whose part of the line was wrong, an unknown command gets a "did
you mean" from :mod:`gsep_cli.suggest` (hidden aliases never offered), and a bare group
(``gsep job``, also ``gsep job --json`` or ``gsep -q``: only global options) is one error
line listing its commands.
"""

from __future__ import annotations

import sys
from typing import Any

import typer

try:  # typer >= 0.2x vendors click as typer._click; older typer depends on click
    from typer._click import Command, Context, HelpFormatter, Parameter
    from typer._click.exceptions import UsageError
except ImportError:  # pragma: no cover - depends on the installed typer
    from click import Command, Context, HelpFormatter, Parameter, UsageError  # type: ignore

from ._coerce import light_coercion
from ._context import State
from ._help import HelpCommand, HelpGroup

#: The section of ``--help`` that lists the global options.
SECTION = "Global options (before or after the command)"


def _declare(
    global_base_url: str | None = typer.Option(
        None,
        "--base-url",
        metavar="URL",
        help="API base URL (env GSEP_BASE_URL). Default: "
        "https://restapi.gaudiolab.io/developers/api",
    ),
    global_profile: str | None = typer.Option(
        None,
        "--profile",
        metavar="NAME",
        help="Config profile to use (env GSEP_PROFILE). Default: default.",
    ),
    global_ledger: str | None = typer.Option(
        None,
        "--ledger",
        metavar="URL",
        help="Where the job ledger lives (env GSEP_LEDGER_URL): postgresql://... shares one "
        "among many machines. Default: the state folder's SQLite file.",
    ),
    global_json: bool = typer.Option(False, "--json", help="Print one JSON document on stdout."),
    global_quiet: bool = typer.Option(False, "-q", "--quiet", help="Only results and errors."),
    global_verbose: bool = typer.Option(
        False, "-v", "--verbose", help="Log HTTP requests on stderr (secrets redacted)."
    ),
    global_no_progress: bool = typer.Option(False, "--no-progress", help="No progress bars."),
    global_sandbox: bool = typer.Option(
        False,
        "--sandbox",
        help="Run against a built-in emulator on a free loopback port (no key, no "
        "credits, no real separation).",
    ),
) -> None:
    """The global options, declared as any typer command's (never run)."""


def _parameters() -> tuple[Parameter, ...]:
    """The click parameters typer makes of :func:`_declare`'s signature: typer's public
    way of declaring options, whatever its parameter classes take (typer 0.29 changed
    TyperOption's arguments; typer 0.28's vendored click has no plain Option)."""
    app = typer.Typer(add_completion=False)
    app.command()(_declare)
    return tuple(typer.main.get_command(app).params)


GLOBAL_OPTIONS = _parameters()
_NAMES = tuple(str(option.name) for option in GLOBAL_OPTIONS)
_HIDE = "gsep.hide_global_options"  # set in ctx.meta while --help lists the own options


def root_state(ctx: Context) -> State:
    """The run's State, made on first use at the root context (closed with it)."""
    root = ctx.find_root()
    if not isinstance(root.obj, State):
        root.obj = State()
        root.call_on_close(root.obj.close)
    return root.obj


def take_globals(ctx: Context) -> None:
    """Move the global options this level parsed from ``ctx.params`` into the State."""
    given = {name[len("global_") :]: ctx.params.pop(name, None) for name in _NAMES}
    root_state(ctx).merge(**given)


class _GlobalOptions(Command):
    """What :class:`GsepCommand` and :class:`GsepGroup` add to typer's classes."""

    def get_params(self, ctx: Context) -> list[Parameter]:
        params = super().get_params(ctx)
        return params if ctx.meta.get(_HIDE) else [*params, *GLOBAL_OPTIONS]

    def parse_args(self, ctx: Context, args: list[str]) -> list[str]:
        light_coercion(self.get_params(ctx))  # no pydantic for plain values (._coerce)
        try:
            rest = super().parse_args(ctx, args)
        except UsageError as exc:
            if exc.ctx is None:  # click's parser raises without one: name this command
                exc.ctx, exc.cmd = ctx, self
            raise
        if not ctx.resilient_parsing:  # completion parses half a line: never refuse there
            from ..config import check_given

            check_given("--base-url", ctx.params.get("global_base_url"))
            check_given("--profile", ctx.params.get("global_profile"))
            check_given("--ledger", ctx.params.get("global_ledger"))
        take_globals(ctx)
        return rest

    def format_options(self, ctx: Context, formatter: HelpFormatter) -> None:
        ctx.meta[_HIDE] = True
        try:
            super().format_options(ctx, formatter)  # type: ignore[safe-super]  # typer's
        finally:
            del ctx.meta[_HIDE]
        rows = [record for o in GLOBAL_OPTIONS if (record := o.get_help_record(ctx))]
        with formatter.section(SECTION):
            formatter.write_dl(rows)


class GsepCommand(_GlobalOptions, HelpCommand):
    """A typer command that takes the global options too (its help as :mod:`._help`
    words it)."""


class GsepGroup(_GlobalOptions, HelpGroup):
    """A typer group that takes the global options too, lists its commands in
    :data:`._help.ORDER` and words its usage errors."""

    def visible_commands(self, ctx: Context) -> list[str]:
        """Its commands as ``--help`` lists them (hidden aliases left out)."""
        names = self.list_commands(ctx)
        return [n for n in names if not getattr(self.get_command(ctx, n), "hidden", False)]

    def missing_command(self, ctx: Context) -> UsageError:
        """The one line for a group given no command: it names the commands."""
        commands = ", ".join(self.visible_commands(ctx))
        return UsageError(f"Missing command (one of: {commands})", ctx)

    def parse_args(self, ctx: Context, args: list[str]) -> list[str]:
        bare = not args and self.no_args_is_help and not ctx.resilient_parsing
        if bare and ctx.parent is not None:  # one line (a bare `gsep` still shows its help)
            raise self.missing_command(ctx)
        if bare:  # its help on stderr, exit 2, on every click (8.0 printed it on stdout, 0)
            print(ctx.get_help(), file=sys.stderr)
            ctx.exit(2)
        return super().parse_args(ctx, args)

    def invoke(self, ctx: Context) -> Any:
        """Run the chosen command; with only global options given (``gsep -q``, ``gsep
        job --json``) click's "Missing command" becomes :meth:`missing_command`'s line."""
        try:
            return super().invoke(ctx)
        except UsageError as exc:
            if exc.ctx is ctx and exc.message.rstrip(".") == "Missing command":
                raise self.missing_command(ctx) from None
            raise

    def resolve_command(
        self, ctx: Context, args: list[str]
    ) -> tuple[str | None, Command | None, list[str]]:
        try:
            return super().resolve_command(ctx, args)
        except UsageError:
            name = args[0] if args else ""
            if not name.startswith("-") and self.get_command(ctx, name) is None:
                from ..suggest import did_you_mean

                guess = did_you_mean(name, self.visible_commands(ctx))
                message = f"No such command {name!r}" + (f". {guess}" if guess else "")
                # a plain UsageError: click >= 8.4's NoSuchCommand would add its own guess
                raise UsageError(message, ctx) from None
            raise


class GsepTyper(typer.Typer):
    """A typer app whose groups and commands take the global options."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(cls=GsepGroup, **kwargs)

    def command(self, name: str | None = None, **kwargs: Any) -> Any:
        kwargs.setdefault("cls", GsepCommand)
        return super().command(name, **kwargs)
