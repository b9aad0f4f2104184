"""``gsep download``: a finished job's results, to files or to a pipe."""

# no postponed annotations here: typer reads them on every run (see gsep_cli.cli)
import sys
from pathlib import Path
from typing import Annotated

import typer

from .. import resolve
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
    from .. import fetching

    state = state_of(ctx)
    chosen = fetching.plan(
        state,
        job_id,
        stems=stems,
        formats=fmt,
        model=model,
        name_template=name_template,
        bit_depth=bit_depth,
        sample_rate=sample_rate,
        bitrate=bitrate,
        mixes=mix,
        mix_only=mix_only,
        no_tags=no_tags,
    )
    to_stdout = _choices.to_stdout(output)
    settings = state.settings()
    out_dir = Path(".") if to_stdout else resolve.out_dir(settings, output)
    resolve.check_overwrite_flags(force, skip_existing)
    spec, formats = chosen.spec, chosen.formats
    if to_stdout and chosen.names is not None:
        _choices.check_stdout_target(state, chosen.names, formats, spec, chosen=chosen.delivery)
    client = state.client(settings)
    job = client.get_job(chosen.job_id, model=chosen.model)
    if to_stdout:
        names = fetching.stems_of(chosen, job)
        wanted = names if names is not None else list(dict.fromkeys(o.name for o in job.outputs))
        _choices.check_stdout_target(state, wanted, formats, spec, chosen=chosen.delivery)
        client.stream(job, sys.stdout.buffer, stem=wanted[0], fmt=formats[0], model=chosen.model)
        return
    job, written = fetching.fetch(
        state,
        client,
        chosen,
        out_dir,
        job=job,
        track=track,
        force=force,
        skip_existing=skip_existing,
    )
    header = {"jobId": chosen.job_id, "model": chosen.model, "status": "success"}
    _output.files(state, written, {**header, "expireAt": job.expire_at})
