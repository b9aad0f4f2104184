"""Results: a finished job's files written into place, or one result into a pipe."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from ..choices import (
    get_model,
    output_ext,
    select_outputs,
)
from ..errors import (
    RequestRejected,
)
from ..models import (
    DEFAULT_MODEL,
    Job,
    JobStatus,
    Output,
)
from .base import ClientBase

if TYPE_CHECKING:
    from ..naming import InputFields


@dataclass(frozen=True)
class WrittenFile:
    """One downloaded result file."""

    stem: str
    format: str
    path: Path
    bytes: int
    skipped: bool = False
    sha256: str | None = None  # hex SHA-256 of what was downloaded (None when skipped)


class Results(ClientBase):
    """The client's download steps."""

    def download(
        self,
        job: Job,
        out_dir: Path,
        *,
        stems: Sequence[str] | None = None,
        formats: Sequence[str] = ("wav",),
        track: str | None = None,
        model: str = DEFAULT_MODEL,
        template: str | None = None,
        force: bool = False,
        skip_existing: bool = False,
        keep: Collection[Path] = (),
        on_file: Callable[[WrittenFile], None] | None = None,
        source: InputFields | None = None,
    ) -> list[WrittenFile]:
        """Download the chosen outputs of a finished job; return what was written.

        Output names come from the stem and format, never from the URL. ``source`` gives
        the input's ``{track}``, ``{trackext}`` and ``{dir}``; without it ``{track}`` is
        ``track`` (default: the job id) and the other two are empty. ``keep``: paths
        already known to hold this job's output (the caller checked them): reported as
        skipped, not fetched. ``on_file`` is called with each file (its size and SHA-256
        included) once it is complete and checked, just before it is moved into place.
        Raises :class:`~gsep_cli.errors.UsageError` when an output exists and neither
        ``force`` (overwrite) nor ``skip_existing`` (keep it) is given. ``template``:
        the output path inside ``out_dir`` (None: :data:`gsep_cli.naming.DEFAULT_TEMPLATE`).
        """
        from ..naming import DEFAULT_TEMPLATE, InputFields, check_planned_outputs, output_paths

        if template is None:
            template = DEFAULT_TEMPLATE
        if job.status != JobStatus.SUCCESS:
            raise RequestRejected(
                f"job {job.job_id} has no results yet (status {job.status})",
                f"Wait for it: gsep job status {job.job_id} --wait",
            )
        spec = get_model(model)
        chosen = select_outputs(job.outputs, stems, formats)
        subject = _input_name(source)
        source = source or InputFields(track or job.job_id)
        names = [(output.name, output_ext(spec, output)) for output in chosen]
        paths = output_paths(out_dir, template, source, names, model=model, job=job.job_id)
        planned = list(zip(chosen, paths, strict=True))
        kept = {Path(p).resolve() for p in keep}
        check_planned_outputs(
            [p for _, p in planned if p.resolve() not in kept],
            out_dir,
            refuse_existing=not (force or skip_existing),
        )
        written: list[WrittenFile] = []
        for output, path in planned:
            if path.resolve() in kept or (skip_existing and path.exists()):
                if path.resolve() not in kept:
                    self.listener.notice(f"skipped existing {path}")
                written.append(
                    WrittenFile(output.name, output.format, path, path.stat().st_size, skipped=True)
                )
                continue
            self.downloader.fetch(
                output.url,
                path,
                key=f"download:{path}",
                label=f"{output.name}.{path.suffix.lstrip('.')}",
                subject=subject,
                force=force,
                on_ready=_collector(output, path, written, on_file),
            )
        return written

    def stream(
        self,
        job: Job,
        out: BinaryIO,
        *,
        stem: str,
        fmt: str,
        model: str = DEFAULT_MODEL,
        subject: str = "",
    ) -> WrittenFile:
        """Write one result of a finished job into ``out`` (e.g. standard output).

        The result's path in the returned record is ``-``; ``subject`` names the input
        in progress reports (:class:`~gsep_cli.progress.Listener`).
        """
        if job.status != JobStatus.SUCCESS:
            raise RequestRejected(
                f"job {job.job_id} has no results yet (status {job.status})",
                f"Wait for it: gsep job status {job.job_id} --wait",
            )
        output = select_outputs(job.outputs, [stem], [fmt])[0]
        ext = output_ext(get_model(model), output)
        size = self.downloader.stream(
            output.url,
            out,
            key=f"stream:{job.job_id}",
            label=f"{output.name}.{ext}",
            subject=subject,
        )
        return WrittenFile(output.name, output.format, Path("-"), size)


def _collector(
    output: Output,
    path: Path,
    written: list[WrittenFile],
    on_file: Callable[[WrittenFile], None] | None,
) -> Callable[[int, str], None]:
    """The ``on_ready`` of one download: report the file, then count it as written."""

    def ready(size: int, sha256: str) -> None:
        item = WrittenFile(output.name, output.format, path, size, sha256=sha256)
        if on_file is not None:
            on_file(item)
        written.append(item)

    return ready


def _input_name(source: InputFields | None) -> str:
    """The input's file name, as progress reports name it ("" without an input)."""
    if source is None:
        return ""
    return f"{source.track}.{source.trackext}" if source.trackext else source.track
