"""What a batch is asked to do and what it learns per input: the options, each input's
result and work, where its outputs go, what the ledger matches jobs on, the exit code."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from ..audio.plan import Deliverable, Delivery
from ..choices import get_model
from ..client import WrittenFile
from ..errors import (
    ExitCode,
    GsepError,
)
from ..fileid import FileIdentity
from ..inputfile import open_input
from ..ledger import FileRecord, Ledger
from ..naming import InputFields, output_paths
from ..records import job_key


@dataclass(frozen=True)
class BatchOptions:
    """What to do with every input (one ``gsep separate`` command)."""

    model: str
    stems: Sequence[str]
    formats: Sequence[str]
    out_dir: Path
    template: str
    force: bool = False  # overwrite files in the way (never pays again)
    skip_existing: bool = False
    pay_again: bool = False  # pay for a new job even when the ledger has one for the work
    no_wait: bool = False
    timeout: float | None = None
    jobs: int = 3
    lyrics: Path | None = None  # lyrics model: the text for a single input
    language: str | None = None  # lyrics model: en, ko, ja or zh-cn
    stdout: BinaryIO | None = None  # ``-o -``: the one stem goes here, nothing to disk
    manifest: Path | None = None  # ``--manifest FILE``: list every written file there
    #: formats, mixes and rendering (None: ``formats`` as the API gives them)
    delivery: Delivery | None = None
    #: the stems to write (None: ``stems``); ``stems`` is what the job is created with,
    #: which includes the stems the mixes sum
    keep: Sequence[str] | None = None
    #: ``--max-jobs N``: never pay for more than N new jobs in this run (None: no limit;
    #: 0: only re-attach to jobs on record); see :mod:`gsep_cli.batch.guard`
    max_jobs: int | None = None

    @property
    def chosen_delivery(self) -> Delivery:
        """How the results are delivered (:class:`~gsep_cli.audio.plan.Delivery`)."""
        return self.delivery or Delivery(tuple(self.formats))

    @property
    def kept_stems(self) -> Sequence[str]:
        """The stems written to disk (the mixes come on top)."""
        return self.stems if self.keep is None else self.keep

    def lyrics_for(self, path: Path) -> Path | None:
        """The lyrics text of an input (lyrics model only): ``--lyrics``, else the ``.txt``
        file with the input's name beside it."""
        if not get_model(self.model).needs_lyrics:
            return None
        return self.lyrics if self.lyrics is not None else path.with_suffix(".txt")


@dataclass
class InputResult:
    """The outcome for one input (also one NDJSON line with ``--json``); plain data.

    ``input`` (the file's path as found); ``status``: ``success``, ``submitted`` (job
    created, not waited for: ``no_wait``) or ``failed``; ``upload_id``, ``job_id`` (None
    when it failed before one existed); ``expire_at`` (ISO-8601 UTC, when the results
    expire); ``reused``: ``"job"`` (a job on record was used: nothing paid),
    ``"upload"`` (an upload on record was, a new job paid for) or None; ``files``
    (:class:`~gsep_cli.client.WrittenFile`, in stem and format order); ``error`` (the
    :class:`~gsep_cli.errors.GsepError` of a failed input, else None); ``bytes`` (the
    input's size in bytes, when it was read). :attr:`ok` is ``status != "failed"``.
    """

    input: Path
    status: str = "pending"  # success | submitted | failed
    upload_id: str | None = None
    job_id: str | None = None
    expire_at: str | None = None
    reused: str | None = None  # "job" | "upload" | None
    files: list[WrittenFile] = field(default_factory=list)
    error: GsepError | None = None
    bytes: int | None = None

    @property
    def ok(self) -> bool:
        """True unless the input failed."""
        return self.status != "failed"


@dataclass
class Work:
    """One input on its way through the runner, and what is learnt about it."""

    path: Path
    size: int
    seconds: float | None  # the audio's duration, when it could be read
    lyrics: Path | None
    sha: str | None = None  # hex SHA-256 of the file
    version: FileIdentity | None = None  # the version that was hashed
    content: str | None = None  # what the ledger matches jobs on (job_key)
    #: a job creation for it was sent and not certainly refused: it may be paid for
    paying: bool = False

    @property
    def source(self) -> InputFields:
        """What the input gives the name template: ``{track}``, ``{trackext}``, ``{dir}``."""
        return InputFields.of(self.path)


def planned_paths(options: BatchOptions, source: InputFields, job: str = "job") -> list[Path]:
    """Where the outputs of one input will be written (``{job}``: ``job`` until known);
    UsageError when two of them would be one file (see naming.output_paths)."""
    return [path for _, path in planned_deliverables(options, source, job)]


def planned_deliverables(
    options: BatchOptions, source: InputFields, job: str = "job"
) -> list[tuple[Deliverable, Path]]:
    """Each file one input will get, with where it goes (see :func:`planned_paths`)."""
    plan = options.chosen_delivery.deliverables(get_model(options.model), options.kept_stems)
    paths = output_paths(
        options.out_dir,
        options.template,
        source,
        [(item.name, item.ext) for item in plan],
        model=options.model,
        job=job,
    )
    return list(zip(plan, paths, strict=True))


def content_placeholders(
    options: BatchOptions, paths: Sequence[Path], ledger: Ledger | None
) -> list[str]:
    """What ``{job}`` stands for in a plan made before the jobs exist: ``job-<hex>`` from
    each input's content (its :func:`~gsep_cli.records.job_key`), so inputs with the
    same content — one job — share it. An input that cannot be hashed gets a placeholder
    of its own (its own checks will say what is wrong with it)."""
    placeholders = []
    for index, path in enumerate(paths):
        key = content_key(options, path, ledger)
        placeholders.append(f"job-{index + 1}" if key is None else "job-" + key[:12])
    return placeholders


def content_key(options: BatchOptions, path: Path, ledger: Ledger | None) -> str | None:
    """The content part of an input's work (:func:`~gsep_cli.records.job_key`: its
    audio's SHA-256, with its lyrics' and the language for the lyrics model), hashed
    through the ledger's cache when there is one; None when it cannot be read."""
    try:
        sha = ledger.file_sha256(path) if ledger is not None else _sha256_of(path)
        lyrics = options.lyrics_for(path)
        text_sha = None
        if lyrics is not None:
            text_sha = ledger.file_sha256(lyrics) if ledger is not None else _sha256_of(lyrics)
        return job_key(sha, text_sha, options.language)
    except (OSError, GsepError):
        return None


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open_input(path) as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def file_recorder(ledger: Ledger | None, job_id: str) -> Callable[[WrittenFile], None] | None:
    """The ``on_file`` of :meth:`GsepClient.download` that records each file of a job on
    record (its size and SHA-256) just before it is moved into place, so a later run
    after any crash knows it as this job's own. None without a ledger."""
    if ledger is None:
        return None

    def record(item: WrittenFile) -> None:
        path = str(item.path.resolve())
        ledger.update_job(
            job_id,
            files=[FileRecord(item.stem, item.format, path, item.bytes, item.sha256, item.recipe)],
        )

    return record


def batch_exit_code(results: Sequence[InputResult]) -> int:
    """0 if all succeeded; the failure's own code if all failed the same way; else 9."""
    failed = [r for r in results if not r.ok]
    if not failed:
        return int(ExitCode.OK)
    codes = {int(r.error.exit_code) for r in failed if r.error is not None}
    if len(failed) == len(results) and len(codes) == 1:
        return codes.pop()
    return int(ExitCode.PARTIAL)
