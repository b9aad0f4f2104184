"""``gsep separate --dry-run``: every input checked as a real run would check it before
its first request, and what would be sent, printed; nothing is sent, nothing recorded."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import GsepError
from . import _output

if TYPE_CHECKING:
    from ..batch import BatchOptions, InputResult
    from ..models import ModelSpec
    from ..preflight import Preflight
    from ._context import State


def dry_run_separate(
    state: State,
    options: BatchOptions,
    paths: list[Path],
    planned: list[list[Path]] | None,
    *,
    to_stdout: bool = False,
) -> int:
    """Check every input locally and print what would be sent; the batch's exit code.

    ``planned``: every input's output paths from :func:`planned_paths`."""
    from ..batch import InputResult, batch_exit_code
    from ..choices import get_model, type_value

    spec = get_model(options.model)
    type_ = type_value(options.stems) if spec.needs_type else None
    results: list[InputResult] = []
    for index, path in enumerate(paths):
        result = InputResult(path)
        results.append(result)
        would_write = planned[index] if planned is not None else [Path("-")] if to_stdout else []
        try:
            checked, text = _check_one(state, options, spec, path, would_write, planned)
        except GsepError as exc:
            result.status, result.error = "failed", exc
            if len(paths) == 1:
                raise
            if state.json:
                state.console.result_json(_output.dry_run_failure(path, options.model, type_, exc))
            state.console.error(exc, prefix=f"{path}: ")
            continue
        result.status, result.bytes = "checked", checked.bytes
        args = (checked, options.model, type_, would_write, text, options.language)
        _output.show(state, _output.dry_run_json(*args), [_output.dry_run_line(*args)])
    return batch_exit_code(results)


def _check_one(
    state: State,
    options: BatchOptions,
    spec: ModelSpec,
    path: Path,
    would_write: list[Path],
    planned: list[list[Path]] | None,
) -> tuple[Preflight, tuple[Path, int] | None]:
    """One input's checks: the file, its lyrics, and (``planned``) its outputs."""
    from ..choices import check_lyrics_file
    from ..folders import prepare_folders
    from ..manifest import Manifest
    from ..naming import check_planned_outputs
    from ..preflight import preflight

    checked = preflight(path, spec)
    for warning in checked.warnings:
        state.console.warn(warning)
    lyrics = options.lyrics_for(path)
    text = None if lyrics is None else (lyrics, check_lyrics_file(lyrics))
    if planned is not None:
        check_planned_outputs(
            would_write,
            options.out_dir,
            refuse_existing=not (options.force or options.skip_existing)
            and "{job}" not in options.template,
        )
        prepare_folders(would_write, create=False)
        if options.manifest is not None:
            # proven with a temporary file, removed at once: os.access says yes to root
            # for /proc and read-only mounts
            Manifest(options.manifest).check(would_write)
    return checked, text
