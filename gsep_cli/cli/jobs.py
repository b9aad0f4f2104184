"""``gsep ledger`` (also ``gsep jobs``, its old name, hidden): the local record of uploads
and jobs that makes re-runs free."""

# no postponed annotations here: typer reads them on every run (see gsep_cli.cli)
from typing import TYPE_CHECKING, Annotated

import typer

from . import _output
from ._context import State, state_of
from ._globals import GsepTyper
from ._options import JobId, amount, between

if TYPE_CHECKING:
    from ..ledger import Ledger

app = GsepTyper(
    help="The record of uploads and jobs, so re-runs pay once.",
    no_args_is_help=True,
)


def _open_ledger(state: State) -> "Ledger":
    """The configured ledger (--ledger, GSEP_LEDGER_URL, else this machine's file); with
    --sandbox, the sandbox's own (what --sandbox runs did, kept apart from the real
    record). Closed with the run."""
    return state.ledger()


@app.command("list")
def list_jobs(
    ctx: typer.Context,
    limit: Annotated[
        int,
        typer.Option(
            "--limit", "-n", metavar="N", callback=between(1), help="How many, newest first."
        ),
    ] = 50,
) -> None:
    """List recent jobs on record: status, stems, expiry, files.

    One row per job, newest first: the job id, its status, model and stems, when its
    results expire, and the input with the folder its files went to.

    \b
    Examples:
      gsep ledger list
      gsep --json ledger list --limit 5
    """
    state = state_of(ctx)
    ledger = _open_ledger(state)
    records = ledger.list_jobs(limit=limit)
    document = {"jobs": [_output.record_json(r) for r in records]}
    _output.show(state, document, _output.record_lines(records))


@app.command("show")
def show(
    ctx: typer.Context,
    job_id: JobId,
) -> None:
    """Show everything on record about one job, as JSON.

    \b
    Example:
      gsep ledger show 2c5f3a9e-8f1b-11ef-b864-0242ac120002
    """
    from ..errors import NotOnRecord

    state = state_of(ctx)
    ledger = _open_ledger(state)
    record = ledger.get_job(job_id.strip())
    if record is None:
        raise NotOnRecord(
            f"job {job_id} is not on record", "See the jobs on record: gsep ledger list"
        )
    state.console.result_json(_output.record_json(record))


@app.command("forget")
def forget(
    ctx: typer.Context,
    job_ids: Annotated[list[str], typer.Argument(metavar="JOB_ID...", help="Job ids to remove.")],
) -> None:
    """Remove jobs from the record (the API keeps them).

    Only gsep forgets: a re-run of a forgotten job's input pays for a new job.

    \b
    Example:
      gsep ledger forget 2c5f3a9e-8f1b-11ef-b864-0242ac120002
    """
    state = state_of(ctx)
    wanted = list(dict.fromkeys(j.strip() for j in job_ids))
    ledger = _open_ledger(state)
    unknown = [j for j in wanted if ledger.get_job(j) is None]
    removed = ledger.forget_jobs([j for j in wanted if j not in unknown])
    if removed:
        jobs = "job" if removed == 1 else "jobs"
        state.console.info(f"gsep: forgot {removed} {jobs}; a re-run of their inputs pays again")
    if unknown:
        state.console.info(f"gsep: not on record, nothing to forget: {', '.join(unknown)}")
    if state.json:
        state.console.result_json({"removed": removed, "notOnRecord": unknown})


@app.command("prune")
def prune(
    ctx: typer.Context,
    older_than: Annotated[
        float | None,
        typer.Option(
            "--older-than",
            metavar="DAYS",
            parser=amount("--older-than", "days"),
            help="Also forget jobs not touched for DAYS days (unless their files are on disk); "
            "a re-run pays again for a forgotten job.",
        ),
    ] = None,
) -> None:
    """Remove uploads past 72 h; with --older-than, old jobs too.

    Jobs stay by default, even with expired results: a job on record is what keeps a
    re-run from paying for the same work again by itself.

    \b
    Example:
      gsep ledger prune --older-than 30
    """
    state = state_of(ctx)
    ledger = _open_ledger(state)
    removed = ledger.prune(older_than=older_than * 86400 if older_than is not None else None)
    state.console.info(f"gsep: removed {removed} entries")
    if state.json:
        state.console.result_json({"removed": removed})
