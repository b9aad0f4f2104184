"""``gsep job create`` and ``gsep job status``: the API's jobs, one step at a time."""

# no postponed annotations here: typer reads them on every run (see gsep_cli.cli)
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from .. import resolve
from ..errors import GsepError, Interrupted, UsageError
from . import _output
from ._context import State, state_of
from ._globals import GsepTyper
from ._options import LYRICS_HELP, JobId, Language, Model, Stems, Timeout

if TYPE_CHECKING:
    from ..client import GsepClient
    from ..config import Settings

app = GsepTyper(help="Create jobs and check their status.", no_args_is_help=True)


@app.command("create")
def create(
    ctx: typer.Context,
    upload_id: Annotated[
        str, typer.Argument(metavar="UPLOAD_ID", help="Upload id from gsep upload.")
    ],
    stems: Stems = None,
    model: Model = None,
    lyrics: Annotated[
        Path | None, typer.Option("--lyrics", metavar="FILE", help=LYRICS_HELP)
    ] = None,
    lyrics_id: Annotated[
        str | None,
        typer.Option(
            "--lyrics-id",
            metavar="ID",
            help="gts_lyrics_line_v1: upload id of lyrics sent with gsep upload.",
        ),
    ] = None,
    language: Language = None,
    pay_again: Annotated[
        bool,
        typer.Option(
            "--pay-again",
            help="Create a new job even when one for the same upload, model and stems is "
            "on record (costs credits again).",
        ),
    ] = False,
) -> None:
    """Create a job on an upload and print its id (costs credits).

    When a job for the same upload, model and stems is already on record, its id is
    printed instead, and nothing is paid; a creation whose answer was lost is refused
    until --pay-again.

    \b
    Examples:
      gsep job create 9d1e0c6a4b7f4e2a8c3d5f60718293a4 --stems vocal,drum
      gsep job create 9d1e0c6a4b7f4e2a8c3d5f60718293a4 -m gts_lyrics_line_v1 \\
          --lyrics song.txt --language en
    """
    from ..choices import check_lyrics_file, lyrics_body
    from ..steps import create_job

    state = state_of(ctx)
    settings = state.settings()
    chosen_model = resolve.model_name(settings, model)
    chosen = resolve.stems(settings, chosen_model, stems)
    lang = resolve.lyrics_language(
        chosen_model,
        language,
        lyrics_given=lyrics is not None or lyrics_id is not None,
        formats=None,
        warn=state.warn,
    )
    upload_id = upload_id.strip()
    if not upload_id:
        raise UsageError("the upload id is empty", "Use the id printed by gsep upload")
    if lang is not None and (lyrics is None) == (lyrics_id is None):
        raise UsageError(
            f"{chosen_model} needs the lyrics: give --lyrics FILE.txt or --lyrics-id ID",
            "Give one of the two, not both",
        )
    if lyrics is not None:
        check_lyrics_file(lyrics)
    client = state.client(settings)
    extra = None
    if lang is not None:
        text_id = _lyrics_upload(state, settings, client, lyrics) if lyrics else lyrics_id
        extra = lyrics_body((text_id or "").strip(), lang)
    job_id, interrupted = create_job(
        state,
        client,
        state.api_host(settings),
        upload_id,
        chosen_model,
        chosen,
        extra,
        pay_again=pay_again,
        info=state.console.info,
    )
    document = {"jobId": job_id, "uploadId": upload_id, "model": chosen_model, "stems": chosen}
    _output.show(state, {**document, **(extra or {})}, [job_id])
    if interrupted:
        raise Interrupted("interrupted after the job was created (its id is on stdout)")


def _lyrics_upload(state: State, settings: "Settings", client: "GsepClient", path: Path) -> str:
    """Upload the lyrics text, on record like any upload."""
    from ..onrecord import upload_on_record

    host = state.api_host(settings)
    return upload_on_record(client, state.ledger(), path, host, state.key_fp, state.console.warn)


@app.command("status")
def status(
    ctx: typer.Context,
    job_id: JobId,
    model: Model = None,
    wait: Annotated[
        bool, typer.Option("--wait", "-w", help="Show a live status until the job ends.")
    ] = False,
    timeout: Timeout = None,
) -> None:
    """Print a job's status: waiting, running, success or failed.

    Without --wait the exit code is 0 whatever the status; with --wait it is 7 when the
    job failed and 8 when --timeout passed first.

    \b
    Examples:
      gsep job status 2c5f3a9e-8f1b-11ef-b864-0242ac120002
      gsep job status 2c5f3a9e-8f1b-11ef-b864-0242ac120002 --wait --timeout 600
    """
    from ..choices import check_job_id
    from ..errors import JobFailed

    state = state_of(ctx)
    settings = state.settings()
    job_id = check_job_id(job_id)
    chosen_model = resolve.model_name(settings, model or _recorded_model(state, job_id))
    client = state.client(settings)
    failure: GsepError | None = None
    if wait:
        try:
            job = client.wait(job_id, model=chosen_model, timeout=timeout)
        except JobFailed as exc:
            failure = exc
            job = client.get_job(job_id, model=chosen_model)
    else:
        job = client.get_job(job_id, model=chosen_model)
    _output.job_status(state, job, chosen_model)
    if failure is not None:
        raise failure


def _recorded_model(state: State, job_id: str) -> str | None:
    """The model the ledger recorded for ``job_id`` (None when it is not on record): a
    job id names a job of one model, and ``--model`` is needed only for jobs gsep did not
    create."""
    try:
        record = state.ledger().get_job(job_id)
    except GsepError as exc:  # a status query must not need the record: fall back
        state.console.warn(f"cannot read the job ledger ({exc.message}); using the model setting")
        return None
    return record.model if record is not None else None
