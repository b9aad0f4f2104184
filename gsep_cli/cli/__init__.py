"""The typer layer: the app, its command groups, and :func:`run`, which turns every
exception into one line and an exit code.

Each command lives in the module of its group (``upload.py``, ``job.py``, ...): it parses
its arguments, calls the library and hands the result to :mod:`._output`. Heavy modules
(requests, rich.progress, the sandbox) are imported inside the commands so ``--help``,
``--version`` and tab completion stay fast. The command modules do not postpone their
annotations (no ``from __future__ import annotations``): typer reads every command's
signature on every run, and evaluating ``Annotated[...]`` strings each time cost more
than building them once at import.
"""

from __future__ import annotations

import os
import sys
from types import ModuleType

import typer

from .. import __version__
from ..errors import ExitCode, GsepError, exit_codes_help
from ..shield import stopping
from . import _process, completion, config, download, job, jobs, key, mcp, models, sandbox, separate
from . import upload as upload_command
from ._context import State
from ._globals import GsepTyper
from ._trim import app_for

COMPLETE_VAR = completion.COMPLETE_VAR

ROOT_HELP = f"""\
gsep separates music into stems with Gaudio Lab's GSEP API.

Results (paths, ids, JSON) go to stdout; progress and messages go to stderr.

\b
Example (no key needed, runs on the built-in sandbox):
  gsep --sandbox separate "$(gsep sandbox example)" --stems vocal,drum

{exit_codes_help()}
"""

app = GsepTyper(
    name="gsep",
    help=ROOT_HELP,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    pretty_exceptions_show_locals=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)
# `gsep --help` lists them in _help.ORDER: separate, then the steps one at a time, ...
app.command()(separate.separate)
app.command()(upload_command.upload)
app.command()(download.download)
app.command()(models.models)
app.command()(completion.completion)
app.command()(mcp.mcp)
app.add_typer(job.app, name="job")
app.add_typer(config.app, name="config")
app.add_typer(sandbox.app, name="sandbox")
app.add_typer(jobs.app, name="ledger")
app.add_typer(jobs.app, name="jobs", hidden=True)  # its old name, kept working
app.add_typer(key.app, name="key")


def _version(value: bool) -> None:
    if value:
        print(f"gsep {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """gsep: stem separation with Gaudio Lab's GSEP API (the global options are taken by
    every command: see ._globals)."""


def run(argv: list[str] | None = None) -> int:
    """Run the app and return the process exit code (never a traceback for GsepError)."""
    try:  # typer >= 0.2x vendors click as typer._click; older typer depends on click
        from typer._click import exceptions as click_exceptions
    except ImportError:  # pragma: no cover - depends on the installed typer
        from click import exceptions as click_exceptions  # type: ignore[no-redef]

    whole = bool(os.environ.get(COMPLETE_VAR))
    if whole:  # a shell asking for completions: register them
        from typer._completion_classes import completion_init

        completion_init()
    _process.stand_in_for_closed_stdout()
    _process.never_fail_on_encoding()
    restore = _process.interrupt_on_termination()
    try:
        args = sys.argv[1:] if argv is None else argv
        return _run(app if whole else app_for(app, args), argv, click_exceptions)
    finally:
        if not stopping():  # once stopping, a further signal must still end the run cleanly
            restore()


def _run(runs: typer.Typer, argv: list[str] | None, click_exceptions: ModuleType) -> int:
    """One run of ``runs`` (the app, or only the command the line names: ._trim): each
    kind of exception to its one line and exit code."""
    try:
        result = runs(args=argv, prog_name="gsep", standalone_mode=False)
        code = int(result) if isinstance(result, int) else 0
        if code == ExitCode.INTERRUPTED:
            print("gsep: interrupted", file=sys.stderr)
        return code
    except GsepError as exc:
        from ..errors import OutputClosed
        from ._console import Console, silence_stdout

        if isinstance(exc, OutputClosed):  # nothing more can go to stdout, not even a flush
            silence_stdout()
        Console().error(exc)
        return int(ExitCode.INTERRUPTED) if stopping() else int(exc.exit_code)
    except click_exceptions.ClickException as exc:
        return _click_failure(exc, click_exceptions)
    except typer.Abort as exc:  # typer.Abort is click's Abort on typer versions built on click
        if isinstance(exc.__context__, KeyboardInterrupt):  # click turns Ctrl-C into Abort
            print("gsep: interrupted", file=sys.stderr)
            return int(ExitCode.INTERRUPTED)
        print("gsep: aborted (no input)", file=sys.stderr)
        return int(ExitCode.USAGE)
    except KeyboardInterrupt:
        print("gsep: interrupted", file=sys.stderr)
        return int(ExitCode.INTERRUPTED)
    except BrokenPipeError:  # the reader of our results went away: not a failure of ours
        from ._console import silence_stdout

        silence_stdout()
        return int(ExitCode.OK)
    except Exception as exc:
        if stopping():  # an interrupt that landed inside a lock's exit, a wait, a clean-up
            print("gsep: interrupted", file=sys.stderr)
            return int(ExitCode.INTERRUPTED)
        # an unexpected bug: one line, no locals, no key
        if os.environ.get("GSEP_DEBUG"):
            raise
        from ..redact import printable, redact

        print(
            printable(
                redact(
                    f"gsep: internal error: {type(exc).__name__}: {exc} — please report it "
                    "(set GSEP_DEBUG=1 for a traceback)"
                )
            ),
            file=sys.stderr,
        )
        return int(ExitCode.INTERNAL)


def _click_failure(exc: typer.Exit | Exception, click_exceptions: ModuleType) -> int:
    """A click error: a bare command group prints its help; a usage error is one line,
    like every other error."""
    if type(exc).__name__ == "NoArgsIsHelpError" or not isinstance(
        exc, click_exceptions.UsageError
    ):
        exc.show()  # type: ignore[union-attr]
        return int(exc.exit_code)  # type: ignore[union-attr]
    command = exc.ctx.command_path if exc.ctx is not None else "gsep"
    message = exc.format_message().strip().rstrip(".")
    from ..redact import printable

    print(f"gsep: error: {printable(message)} — see {command} --help", file=sys.stderr)
    return int(exc.exit_code)


__all__ = ["COMPLETE_VAR", "State", "app", "run"]
