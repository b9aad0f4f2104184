"""The API's nouns: the model registry, job statuses and the parsed response objects.

Shared by the client and the sandbox so both speak the contract's names
(``../shared/api/GSEP_API.md`` sections 2 and 4). Parsing ignores unknown fields.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

GB = 1000**3
DEFAULT_MODEL = "gsep_music_hq_v1"
RESIDUAL = "others"
#: ``language`` values of the lyrics model (GSEP_API.md section 4).
LYRICS_LANGUAGES = ("en", "ko", "ja", "zh-cn")
#: The most parts one upload may have: uploads are S3 multipart uploads (GSEP_API.md
#: section 2.2), and S3 numbers parts 1 to 10,000.
MAX_PARTS = 10_000
#: The largest ``chunkSize`` (bytes) a plan can sensibly name: 5 TiB, S3's largest object
#: (GSEP_API.md section 2.1 leaves the chunk size to the server).
MAX_CHUNK = 5 * 1024**4
#: How long the API keeps an upload, in seconds: 72 h (GSEP_API.md section 2.1); its
#: ``uploadId`` serves any number of jobs until then.
UPLOAD_LIFE = 72 * 3600.0


class JobStatus(str, Enum):
    """A job's status as the API reports it: ``waiting``, ``running``, then ``success`` or
    ``failed`` (a ``str``: compares equal to its text)."""

    WAITING = "waiting"
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"

    def __str__(self) -> str:  # in messages: "waiting", not "JobStatus.WAITING"
        return str(self.value)

    @property
    def is_terminal(self) -> bool:
        """True once the job will not change any more."""
        return self in (JobStatus.SUCCESS, JobStatus.FAILED)


@dataclass(frozen=True)
class ModelSpec:
    """What one model accepts and produces (GSEP_API.md section 4)."""

    name: str
    category: str  # "stem" | "dme" | "text_sync"
    description: str
    stems: tuple[str, ...] = ()  # values allowed in ``type``; empty: the body has no type
    outputs: tuple[str, ...] = ()  # fixed output names for models without ``type``
    max_bytes: int = 1 * GB
    max_seconds: int = 20 * 60
    input_kinds: tuple[str, ...] = ("wav", "flac", "mp3", "mp4")
    residual: bool = True  # whether results include the ``others`` residual
    # outputs that are documents, not audio, with their extension (``downloadUrl.X.file``)
    file_outputs: tuple[tuple[str, str], ...] = ()

    @property
    def needs_type(self) -> bool:
        """Whether the job body must carry ``type``."""
        return bool(self.stems)

    @property
    def needs_lyrics(self) -> bool:
        """Whether a job needs a lyrics text upload and a ``language`` (the lyrics model)."""
        return self.category == "text_sync"

    @property
    def output_names(self) -> tuple[str, ...]:
        """Every output a job of this model can give: its stems (or fixed outputs) and,
        where the model has one, the residual ``others`` (GSEP_API.md section 4)."""
        return (self.stems or self.outputs) + ((RESIDUAL,) if self.residual else ())

    def file_ext(self, output: str) -> str | None:
        """The extension of a document output (``lyrics`` → ``csv``), None for audio."""
        return dict(self.file_outputs).get(output)


_MUSIC_STEMS = ("vocal", "drum", "bass", "electric_guitar", "acoustic_piano")
_DME_KINDS = ("wav", "flac", "mp3", "mp4", "mov")


def _dme(name: str, description: str, output: str) -> ModelSpec:
    return ModelSpec(
        name,
        "dme",
        description,
        outputs=(output,),
        max_bytes=10 * GB,
        max_seconds=200 * 60,
        input_kinds=_DME_KINDS,
        residual=False,
    )


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            "gsep_music_hq_v1",
            "stem",
            "High-quality separation of vocals, drums, bass, electric guitar, piano.",
            stems=_MUSIC_STEMS,
        ),
        ModelSpec(
            "gsep_music_shq_v1", "stem", "Super-high-quality vocal/accompaniment.", stems=("vocal",)
        ),
        ModelSpec(
            "gsep_speech_hq_v1", "stem", "Speech separation / noise removal.", stems=("speech",)
        ),
        _dme("gsep_dme_dtrack_v1", "Dialogue track from audio/video.", "dialogue"),
        _dme("gsep_dme_d2track_v1", "Dialogue + vocals track from audio/video.", "dialogue"),
        _dme("gsep_dme_metrack_v1", "Music + effects track (pairs with dtrack).", "me"),
        _dme("gsep_dme_me2track_v1", "Music + effects track v1 (pairs with d2track).", "me"),
        _dme("gsep_dme_me2track_v2", "Music + effects track v2 (pairs with d2track).", "me"),
        _dme("gsep_dme_mtrack_v1", "Music-only track from audio/video.", "music"),
        _dme("gsep_dme_etrack_v1", "Effects-only track from audio/video.", "effect"),
        ModelSpec(
            "gts_lyrics_line_v1",
            "text_sync",
            "Lyrics line sync (CSV + JSON report).",
            outputs=("lyrics", "reports"),
            max_seconds=10 * 60,
            residual=False,
            file_outputs=(("lyrics", "csv"), ("reports", "json")),
        ),
    )
}


@dataclass(frozen=True)
class UploadPlan:
    """The server's answer to *create upload*: where each chunk goes."""

    upload_id: str
    chunk_size: int
    urls: tuple[str, ...]


@dataclass(frozen=True)
class Output:
    """One downloadable result file: output name (stem), format and URL."""

    name: str
    format: str
    url: str


@dataclass(frozen=True)
class Job:
    """A job as returned by *get job* (:meth:`GsepClient.get_job`, :meth:`GsepClient.wait`).

    ``job_id``; ``status``: a :class:`JobStatus`, or the API's text when gsep does not
    know it; ``error_message``: the API's reason for ``failed`` (None otherwise);
    ``expire_at``: when the results expire (ISO-8601 UTC text as sent, e.g.
    ``2025-01-02T03:04:05Z``; None until finished); ``outputs``: the downloadable results
    (:class:`Output`: stem name, format, presigned URL), empty until ``success``; ``raw``:
    the API's ``resultData`` as received. Plain data: nothing here makes a request.
    """

    job_id: str
    status: JobStatus | str
    error_message: str | None = None
    expire_at: str | None = None
    outputs: tuple[Output, ...] = ()
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def is_terminal(self) -> bool:
        """True when the job is ``success`` or ``failed``."""
        return isinstance(self.status, JobStatus) and self.status.is_terminal


def parse_download_urls(value: Any) -> tuple[Output, ...]:
    """Flatten ``downloadUrl`` (object, or the same object as a JSON string) into outputs.

    Any output names and any formats are accepted; values that are not strings are
    skipped, never trusted.
    """
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except (ValueError, RecursionError):  # not JSON, or nested deeper than json goes
            return ()
    if not isinstance(value, Mapping):
        return ()
    outputs: list[Output] = []
    for name, formats in value.items():
        if isinstance(formats, str):
            if formats:
                outputs.append(Output(str(name), "file", formats))
            continue
        if not isinstance(formats, Mapping):
            continue
        for fmt, url in formats.items():
            if isinstance(url, str) and url:
                outputs.append(Output(str(name), str(fmt), url))
    return tuple(outputs)


def parse_status(value: Any) -> JobStatus | str:
    """Map the API's status text to :class:`JobStatus`, keeping unknown values as text."""
    try:
        return JobStatus(str(value).lower())
    except ValueError:
        return str(value)
