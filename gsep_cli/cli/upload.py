"""``gsep upload``: send a file, print its upload id."""

# no postponed annotations here: typer reads them on every run (see gsep_cli.cli)
from pathlib import Path
from typing import Annotated

import typer

from .. import resolve
from . import _output
from ._context import state_of
from ._options import DryRun, Model, Parallel


def upload(
    ctx: typer.Context,
    file: Annotated[
        Path, typer.Argument(metavar="FILE", help="Audio file (or a lyrics .txt) to upload.")
    ],
    model: Model = None,
    parallel: Parallel = 4,
    dry_run: DryRun = False,
) -> None:
    """Upload FILE and print its upload id.

    The upload is kept 72 h and serves any number of jobs. A .txt FILE is taken as
    lyrics for gts_lyrics_line_v1 (see job create --lyrics-id). With --dry-run: check
    FILE and print "would upload FILE (N bytes, FORMAT, D s)".

    \b
    Examples:
      gsep upload song.wav
      gsep upload --dry-run song.wav
      gsep upload song.txt          # lyrics for gts_lyrics_line_v1
    """
    from ..choices import check_lyrics_file, get_model
    from ..steps import preflight_upload, upload_on_record

    state = state_of(ctx)
    settings = state.settings(dry_run=dry_run)
    spec = get_model(resolve.model_name(settings, model))
    if file.suffix.lower() == ".txt":  # lyrics text: checked as text, not as audio
        size = check_lyrics_file(file)
        if dry_run:
            state.require_key(settings)
            document = {"input": str(file), "bytes": size, "format": "txt", "ok": True}
            _output.show(state, document, [f"would upload {file} ({size} bytes, lyrics text)"])
            return
    elif dry_run:
        checked = preflight_upload(state, file, spec)
        state.require_key(settings)
        _output.show(
            state,
            _output.dry_run_json(checked, spec.name, None, []),
            [_output.dry_run_line(checked, None, None, [])],
        )
        return
    else:
        size = preflight_upload(state, file, spec).bytes
    client = state.client(settings, parallel=parallel)
    upload_id = upload_on_record(state, settings, client, file)
    _output.show(state, {"uploadId": upload_id, "file": str(file), "bytes": size}, [upload_id])
