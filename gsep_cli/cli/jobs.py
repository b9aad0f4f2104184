"""``gsep jobs``: the local record of uploads and jobs that makes re-runs free."""

# no postponed annotations here: typer reads them on every run (see gsep_cli.cli)
from typing import TYPE_CHECKING, Annotated

import typer

from . import _output
from ._context import State, state_of

if TYPE_CHECKING:
    from ..ledger import Ledger

app = typer.Typer(
    help="The local record of uploads and jobs that makes re-runs free.", no_args_is_help=True
)


def _open_ledger(state: State) -> "Ledger":
    """The ledger on this machine; with --sandbox, the sandbox's own (what --sandbox runs
    did, kept apart from the real record)."""
    from ..ledger import Ledger, sandbox_ledger_path

    ledger = Ledger(sandbox_ledger_path() if state.sandbox else None)
    for warning in ledger.warnings:
        state.console.warn(warning)
    return ledger


@app.command("list")
def list_jobs(
    ctx: typer.Context,
    limit: Annotated[
        int, typer.Option("--limit", "-n", min=1, help="How many (newest first).")
    ] = 50,
) -> None:
    """List recent jobs on record: status, stems, expiry, where the files went.

    Example: gsep jobs list --json
    """
    state = state_of(ctx)
    with _open_ledger(state) as ledger:
        records = ledger.list_jobs(limit=limit)
    document = {"jobs": [_output.record_json(r) for r in records]}
    _output.show(state, document, (_output.record_line(r) for r in records))


@app.command("show")
def show(
    ctx: typer.Context,
    job_id: Annotated[str, typer.Argument(help="Job id.", show_default=False)],
) -> None:
    """Show everything on record about one job (stdout: JSON).

    Example: gsep jobs show 5f1c...9a
    """
    from ..errors import NotOnRecord

    state = state_of(ctx)
    with _open_ledger(state) as ledger:
        record = ledger.get_job(job_id.strip())
    if record is None:
        raise NotOnRecord(
            f"job {job_id} is not on record", "See the jobs on record: gsep jobs list"
        )
    state.console.result_json(_output.record_json(record))


@app.command("forget")
def forget(
    ctx: typer.Context,
    job_ids: Annotated[list[str], typer.Argument(help="Job ids to remove.", show_default=False)],
) -> None:
    """Remove jobs from the record (the API keeps them; only gsep forgets). A re-run of a
    forgotten job's input pays for a new job.

    Example: gsep jobs forget 5f1c...9a
    """
    state = state_of(ctx)
    with _open_ledger(state) as ledger:
        removed = ledger.forget_jobs([j.strip() for j in job_ids])
    state.console.info(
        f"gsep: forgot {removed} of {len(job_ids)} jobs; a re-run of their inputs pays again"
    )
    if state.json:
        state.console.result_json({"removed": removed})


@app.command("prune")
def prune(
    ctx: typer.Context,
    older_than: Annotated[
        float | None,
        typer.Option(
            "--older-than",
            min=0,
            help="Also forget jobs not touched for DAYS days (unless their files are on disk); "
            "a re-run pays again for a forgotten job.",
        ),
    ] = None,
) -> None:
    """Remove uploads past 72 h; with --older-than, also jobs untouched that long.

    Jobs stay by default, even with expired results: a job on record is what keeps a
    re-run from paying for the same work again by itself.

    Example: gsep jobs prune --older-than 30
    """
    state = state_of(ctx)
    with _open_ledger(state) as ledger:
        removed = ledger.prune(older_than=older_than * 86400 if older_than is not None else None)
    state.console.info(f"gsep: removed {removed} entries")
    if state.json:
        state.console.result_json({"removed": removed})
