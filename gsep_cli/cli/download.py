"""``gsep download``: a finished job's results, to files or to a pipe."""

# no postponed annotations here: typer reads them on every run (see gsep_cli.cli)
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from .. import resolve
from ..errors import GsepError, UsageError
from . import _choices, _output
from ._context import state_of
from ._options import (
    BitDepth,
    Bitrate,
    Force,
    Format,
    JobId,
    Mixes,
    MixOnly,
    Model,
    NameTemplate,
    NoTags,
    Output,
    SampleRate,
    SkipExisting,
)

if TYPE_CHECKING:
    from ..models import ModelSpec
    from ..naming import InputFields
    from ..records import JobRecord
    from ._context import State

STEMS_HELP = (
    "Stems to fetch (comma-separated or repeated); 'all' = every output of the "
    "job, others included. Default: every stem the job was created with."
)


def download(
    ctx: typer.Context,
    job_id: JobId,
    stems: Annotated[
        list[str] | None, typer.Option("--stems", "-s", metavar="LIST", help=STEMS_HELP)
    ] = None,
    fmt: Format = None,
    output: Output = None,
    model: Model = None,
    track: Annotated[
        str | None,
        typer.Option(
            "--track",
            metavar="NAME",
            help="Value of {track} in the output path (default: the input's name for a job "
            "on record, else the job id).",
        ),
    ] = None,
    name_template: NameTemplate = None,
    force: Force = False,
    skip_existing: SkipExisting = False,
    bit_depth: BitDepth = None,
    sample_rate: SampleRate = None,
    bitrate: Bitrate = None,
    mix: Mixes = None,
    mix_only: MixOnly = False,
    no_tags: NoTags = False,
) -> None:
    """Download a finished job's stems; print the written paths.

    One path per line. With -o - the one chosen stem (one format) goes to stdout
    instead, for a pipe.

    \b
    Examples:
      gsep download 2c5f3a9e-8f1b-11ef-b864-0242ac120002 -o stems/
      gsep download 2c5f3a9e-8f1b-11ef-b864-0242ac120002 -s vocal -f both
      gsep download 2c5f3a9e-8f1b-11ef-b864-0242ac120002 -f flac,mp3 --no-tags
      gsep download 2c5f3a9e-8f1b-11ef-b864-0242ac120002 -s vocal -o - \\
          | sox -t wav - vocal.flac
    """
    from ..choices import check_job_id, get_model, resolve_formats
    from ..models import RESIDUAL
    from ..naming import DEFAULT_TEMPLATE, check_template

    state = state_of(ctx)
    settings = state.settings()
    job_id = check_job_id(job_id)
    ledger = state.ledger()
    record = ledger.get_job(job_id)  # from gsep separate
    chosen_model = resolve.model_name(settings, model or (record.model if record else None))
    spec = get_model(chosen_model)
    formats = resolve_formats(fmt or settings.get("format"))
    template = check_template(name_template or DEFAULT_TEMPLATE)
    to_stdout = _choices.to_stdout(output)
    out_dir = Path(".") if to_stdout else resolve.out_dir(settings, output)
    resolve.check_overwrite_flags(force, skip_existing)
    names = _chosen_stems(stems, spec)
    chosen = resolve.delivery(
        formats,
        bit_depth=bit_depth,
        sample_rate=sample_rate,
        bitrate=bitrate,
        mixes=mix,
        mix_only=mix_only,
        no_tags=no_tags,
    )
    chosen.check(spec, names or [])
    if to_stdout and names is not None:
        _choices.check_stdout_target(state, names, formats, spec, chosen=chosen)
    client = state.client(settings)
    job = client.get_job(job_id, model=chosen_model)
    if names is None and not stems:  # the stems the job was created with, not the residual
        names = list(dict.fromkeys(o.name for o in job.outputs if o.name != RESIDUAL)) or None
    if to_stdout:
        wanted = names if names is not None else list(dict.fromkeys(o.name for o in job.outputs))
        _choices.check_stdout_target(state, wanted, formats, spec, chosen=chosen)
        client.stream(job, sys.stdout.buffer, stem=wanted[0], fmt=formats[0], model=chosen_model)
        return
    from ..batch import file_recorder

    on_record = ledger if record is not None else None
    if on_record is not None:
        on_record.update_job(job_id, status="success", expire_at=job.expire_at)
    written = client.download(
        job,
        out_dir,
        stems=names,
        formats=formats,
        model=chosen_model,
        template=template,
        force=force,
        skip_existing=skip_existing,
        on_file=file_recorder(on_record, job_id),
        source=_source(record, job_id, track),
        delivery=chosen,
        tags_from=None if no_tags or spec.needs_lyrics else _tags_source(state, record),
    )
    header = {"jobId": job_id, "model": chosen_model, "status": "success"}
    _output.files(state, written, {**header, "expireAt": job.expire_at})


def _chosen_stems(stems: list[str] | None, spec: "ModelSpec") -> list[str] | None:
    """``--stems`` as names (None: decided by the job); documented names are checked
    before any request."""
    from ..choices import check_all_alone, resolve_stems

    if not stems:
        return None
    flat = [s.strip() for v in stems for s in v.split(",") if s.strip()]
    if len(set(flat)) != len(flat):
        raise UsageError(
            "a stem is given twice in --stems", "Give each stem once, e.g. --stems vocal,drum"
        )
    if "all" in flat:
        check_all_alone(flat)
        return None
    return resolve_stems(spec, flat) if spec.needs_type else flat


def _tags_source(state: "State", record: "JobRecord | None") -> Path | None:
    """The input whose tags the files get: the one on record, while it is still there
    with the content the job was made of (else a warning: no tags rather than another
    song's)."""
    if record is None or not record.input_path:
        return None
    path = Path(record.input_path)
    try:
        same = path.is_file() and state.ledger().file_sha256(path) == record.content
    except (OSError, GsepError):
        same = False
    if not same:
        state.console.warn(
            f"the input on record ({path.name}) is gone or has changed since the job: "
            "its tags are not copied"
        )
        return None
    return path


def _source(record: "JobRecord | None", job_id: str, track: str | None) -> "InputFields":
    """{track}, {trackext} and {dir} of a job's input: from the ledger's record of it,
    else the job id with no extension or folder; --track replaces {track}."""
    from dataclasses import replace

    from ..naming import InputFields

    if record is not None and record.input_path:
        source = InputFields.of(Path(record.input_path))
    else:  # not on record, or a job on an upload gsep did not make
        source = InputFields(job_id)
    return replace(source, track=track) if track else source
