"""Results: a finished job's files written into place, or one result into a pipe."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from ..audio.plan import Deliverable, Delivery
from ..choices import (
    check_available,
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
    ModelSpec,
    Output,
)
from .base import ClientBase
from .making import fetched_sources, maker, tag_writer

if TYPE_CHECKING:
    from ..audio.tags import Tags
    from ..naming import InputFields


@dataclass(frozen=True)
class WrittenFile:
    """One result file in place: ``stem`` (the output's or mix's name, e.g. ``vocal``),
    ``format`` (``wav``, ``mp3``, ``flac``...), ``path`` (where it is; ``-`` for standard
    output), ``bytes`` (its size in bytes), ``skipped`` (True: it was already there and
    was kept, not written again), ``sha256`` (hex SHA-256 of what was written; None when
    skipped), ``recipe`` (how it was made, e.g. ``api;tags=1`` for the API's file with the input's
    tags; None when skipped). Plain data."""

    stem: str
    format: str
    path: Path
    bytes: int
    skipped: bool = False
    sha256: str | None = None  # hex SHA-256 of what was downloaded (None when skipped)
    #: what it was made of and how (:meth:`~gsep_cli.audio.plan.Deliverable.recipe`)
    recipe: str | None = None


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
        delivery: Delivery | None = None,
        tags_from: Path | None = None,
    ) -> list[WrittenFile]:
        """Download the chosen outputs of a finished job, and make the files the API does
        not give; return what was written (:class:`WrittenFile` each), in the user's stem
        and format order.

        ``delivery`` (default: ``formats`` as they are) says which formats, mixes and
        rendering (:class:`~gsep_cli.audio.plan.Delivery`); client-made files need the
        audio extra (:meth:`Delivery.check` refuses before any request). ``stems``: the
        stems to keep (None: all the job's outputs). ``tags_from``: the input whose tags
        every audio file gets (none when it has none). Output names come from the stem
        (or mix) and format, never from the URL. ``source`` gives the input's
        ``{track}``, ``{trackext}`` and ``{dir}``; without it ``{track}`` is ``track``
        (default: the job id) and the other two are empty. ``keep``: paths already known
        to hold this job's output (the caller checked them): reported as skipped, not
        made again. ``on_file`` is called with each file (its size and SHA-256 included)
        once it is complete and checked, just before it is moved into place. Raises
        :class:`~gsep_cli.errors.UsageError` when an output exists and neither ``force``
        (overwrite) nor ``skip_existing`` (keep it) is given, and
        :class:`~gsep_cli.errors.RequestRejected` when the job lacks a wanted output.
        ``template``: the output path inside ``out_dir`` (None:
        :data:`gsep_cli.naming.DEFAULT_TEMPLATE`).

        Side effects: writes files under ``out_dir`` (each one whole or not at all:
        downloaded beside it, checked, then moved into place; interrupted downloads
        resume), spends no credits, records nothing. Also raises
        :class:`~gsep_cli.errors.RequestRejected` for a job not finished yet or whose URLs
        expired, :class:`~gsep_cli.errors.ServiceUnavailable` (exit 6) once retries are
        spent, and ``OSError`` for a folder it cannot write.
        """
        from ..naming import DEFAULT_TEMPLATE, InputFields, check_planned_outputs, output_paths

        if template is None:
            template = DEFAULT_TEMPLATE
        _check_finished(job)
        delivery = delivery or Delivery(tuple(formats))
        spec = get_model(model)
        plan, available = _plan(job, spec, stems, delivery)
        subject = _input_name(source)
        source = source or InputFields(track or job.job_id)
        paths = output_paths(
            out_dir,
            template,
            source,
            [(item.name, item.ext) for item in plan],
            model=model,
            job=job.job_id,
        )
        kept = {Path(p).resolve() for p in keep}
        check_planned_outputs(
            [p for p in paths if p.resolve() not in kept],
            out_dir,
            refuse_existing=not (force or skip_existing),
        )
        tagger = None
        if tags_from is not None and delivery.rendering.tags:
            tagger = tag_writer(_read_tags(tags_from), source.track)
        done: dict[Path, WrittenFile] = {}
        made: list[tuple[Deliverable, Path]] = []
        whole: dict[tuple[str, str], Path] = {}  # API files here as gsep wrote them
        for item, path in zip(plan, paths, strict=True):
            if not item.made and item.audio:
                whole[(item.name, item.fetch)] = path
            if path.resolve() in kept or (skip_existing and path.exists()):
                if path.resolve() not in kept:
                    self.listener.notice(f"skipped existing {path}")
                    whole.pop((item.name, item.fetch), None)  # the user's: not a source
                size = path.stat().st_size
                done[path] = WrittenFile(item.name, item.fmt, path, size, skipped=True)
            elif item.made:
                made.append((item, path))
            else:
                finish = _finisher(tagger, item) if item.audio else None
                self.downloader.fetch(
                    available[(item.name, item.fetch)].url,
                    path,
                    key=f"download:{path}",
                    label=f"{item.name}.{item.ext}",
                    subject=subject,
                    force=force,
                    on_ready=_collector(item, path, done, on_file, item.recipe(delivery.rendering)),
                    finish=finish,
                )
        if made:
            self._make(
                job,
                made,
                available,
                whole,
                out_dir,
                delivery,
                tagger,
                subject,
                force,
                done,
                on_file,
            )
        return [done[p] for p in paths if p in done]

    def _make(
        self,
        job: Job,
        made: Sequence[tuple[Deliverable, Path]],
        available: Mapping[tuple[str, str], Output],
        whole: Mapping[tuple[str, str], Path],
        out_dir: Path,
        delivery: Delivery,
        tagger: Callable[[Path, Deliverable], None] | None,
        subject: str,
        force: bool,
        done: dict[Path, WrittenFile],
        on_file: Callable[[WrittenFile], None] | None,
    ) -> None:
        """Fetch the sources of the client-made files once (none that is already here as
        a result: ``whole``), then make each."""
        needed = {
            (n, i.fetch): available[(n, i.fetch)]
            for i, _ in made
            for n in i.sources
            if (n, i.fetch) not in whole
        }
        with fetched_sources(
            self.downloader, needed, out_dir, job_id=job.job_id, subject=subject
        ) as fetched:
            sources = {**whole, **fetched}
            for item, path in made:
                self.downloader.produce(
                    path,
                    maker(
                        item,
                        sources,
                        delivery.rendering,
                        tagger=tagger,
                        listener=self.listener,
                        downloader=self.downloader,
                        shown=path.name,
                    ),
                    key=f"make:{path}",
                    label=f"{item.name}.{item.ext}",
                    subject=subject,
                    force=force,
                    on_ready=_collector(item, path, done, on_file, item.recipe(delivery.rendering)),
                )

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
        _check_finished(job)
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
    item: Deliverable,
    path: Path,
    done: dict[Path, WrittenFile],
    on_file: Callable[[WrittenFile], None] | None,
    recipe: str,
) -> Callable[[int, str], None]:
    """The ``on_ready`` of one file: report it, then count it as written."""

    def ready(size: int, sha256: str) -> None:
        written = WrittenFile(item.name, item.fmt, path, size, sha256=sha256, recipe=recipe)
        if on_file is not None:
            on_file(written)
        done[path] = written

    return ready


def _finisher(
    tagger: Callable[[Path, Deliverable], None] | None, item: Deliverable
) -> Callable[[Path], None] | None:
    """The ``finish`` of a downloaded audio file: its tags (None: nothing to do)."""
    if tagger is None:
        return None
    return lambda tmp: tagger(tmp, item)


def _read_tags(path: Path) -> Tags:
    from ..audio.tags import read_tags

    return read_tags(path)


def _check_finished(job: Job) -> None:
    if job.status != JobStatus.SUCCESS:
        raise RequestRejected(
            f"job {job.job_id} has no results yet (status {job.status})",
            f"Wait for it: gsep job status {job.job_id} --wait",
        )


def _plan(
    job: Job, spec: ModelSpec, stems: Sequence[str] | None, delivery: Delivery
) -> tuple[list[Deliverable], dict[tuple[str, str], Output]]:
    """The files to deliver that the job's outputs allow, and those outputs by (name,
    API format). RequestRejected when a named stem (or a mix's) is missing, or nothing
    is left to deliver."""
    available = {(o.name, o.format): o for o in job.outputs}
    names = list(dict.fromkeys(o.name for o in job.outputs))
    wanted = list(stems) if stems is not None else names
    check_available(job.outputs, delivery.sources(wanted))
    plan = [
        item
        for item in delivery.deliverables(spec, wanted)
        if all((name, item.fetch) in available for name in item.sources)
    ]
    if not plan:
        raise RequestRejected(
            "the job has no result in the chosen format(s): " + ", ".join(delivery.formats)
        )
    return plan, available


def _input_name(source: InputFields | None) -> str:
    """The input's file name, as progress reports name it ("" without an input)."""
    if source is None:
        return ""
    return f"{source.track}.{source.trackext}" if source.trackext else source.track
