"""What the ledger remembers: uploads, jobs, the files written, and the identity of a work.

Plain frozen dataclasses and their JSON/SQL row forms; no I/O. :mod:`gsep_cli.ledger` stores
them, :mod:`gsep_cli.batch` decides with them.

A *work* is what a job is paid for: the same content (for the lyrics model: audio, text
and language), the same model and the same set of stems, on the same API host with the
same key. :func:`work_key` names it; the ledger never lets two gsep processes pay for one
work at once, and never pays for it twice unless asked (``--pay-again``).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

__all__ = [
    "ABANDONED",
    "FAILED",
    "SUBMITTED",
    "SUCCESS",
    "UNCONFIRMED",
    "FileRecord",
    "JobRecord",
    "UploadRecord",
    "job_key",
    "stem_set",
    "work_key",
]

#: Job statuses the ledger writes besides the API's own (waiting, running, success, failed).
SUBMITTED = "submitted"  # created, not polled yet
SUCCESS = "success"
FAILED = "failed"
#: A job creation was sent and no answer came: the job may exist and may have cost credits.
UNCONFIRMED = "unconfirmed"
#: An unconfirmed creation the user chose to pay again for (``--pay-again``): kept for the
#: record, never matched again.
ABANDONED = "abandoned"
#: Prefix of the placeholder id an unconfirmed creation is recorded under (no job id came).
UNCONFIRMED_PREFIX = "unconfirmed-"


def stem_set(stems: Iterable[str]) -> str:
    """Stems as the ledger matches them: sorted, de-duplicated, comma-joined."""
    return ",".join(sorted(set(stems)))


def job_key(audio_sha: str, lyrics_sha: str | None, language: str | None) -> str:
    """What the ledger matches jobs on: the audio's SHA-256, or for the lyrics model a
    SHA-256 over audio, lyrics text and language (new lyrics or language: a new job)."""
    if lyrics_sha is None:
        return audio_sha
    return hashlib.sha256(f"lyrics:{audio_sha}:{lyrics_sha}:{language}".encode()).hexdigest()


def work_key(content: str, model: str, stems: Sequence[str], api_host: str, key_fp: str) -> str:
    """The identity of one paid work (hex SHA-256): content key, model, stem set, API host
    and key fingerprint. Two requests with the same work key buy the same results."""
    text = "\n".join(("gsep-work-v1", content, model, stem_set(stems), api_host, key_fp))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class UploadRecord:
    """One upload the API accepted (usable for 72 h on the same host and key)."""

    upload_id: str
    sha256: str
    size: int
    name: str
    api_host: str
    key_fp: str
    created_at: float


@dataclass(frozen=True)
class FileRecord:
    """One result file gsep wrote: which output, where, its size in bytes and (since
    schema 2) the hex SHA-256 of its content, so a re-run can tell its own files from
    anyone else's. ``sha256`` is None for files recorded by older versions."""

    stem: str
    format: str
    path: str
    bytes: int
    sha256: str | None = None
    #: what the file was made of and how (:meth:`gsep_cli.audio.plan.Deliverable.recipe`;
    #: None for files recorded before gsep made any: downloaded as the API gave them)
    recipe: str | None = None


_ISO = re.compile(
    r"""
    (?P<y>\d{4})-?(?P<mo>\d{2})-?(?P<d>\d{2})
    (?:[T\s]
        (?P<h>\d{2})
        (?::?(?P<mi>\d{2})
            (?::?(?P<s>\d{2})(?:[.,](?P<f>\d+))?)?
        )?
    )?
    \s*(?P<tz>Z|[+-]\d{2}(?::?\d{2})?)?
    """,
    re.VERBOSE | re.IGNORECASE,
)


def utc_text(epoch: float) -> str:
    """``epoch`` (seconds) as ``YYYY-MM-DD HH:MM:SS UTC``, for messages."""
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def parse_iso(text: str) -> float | None:
    """Epoch seconds of an ISO-8601 date/time (no zone = UTC), or None."""
    m = _ISO.fullmatch(text.strip())
    if m is None:
        return None
    hour, minute, second = int(m["h"] or 0), int(m["mi"] or 0), int(m["s"] or 0)
    extra = 0.0
    if hour == 24 and minute == second == 0 and not (m["f"] and int(m["f"])):
        hour, extra = 0, 86400.0  # 24:00 is the end of the day
    if second == 60:  # a leap second
        second, extra = 59, 1.0
    tz = timezone.utc
    zone = (m["tz"] or "Z").upper()
    if zone != "Z":
        digits = zone[1:].replace(":", "")
        offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:] or 0))
        tz = timezone(-offset if zone[0] == "-" else offset)
    stamp = datetime(int(m["y"]), int(m["mo"]), int(m["d"]), hour, minute, second, tzinfo=tz)
    fraction = int(m["f"]) / 10 ** len(m["f"]) if m["f"] else 0.0
    return stamp.timestamp() + extra + fraction


def expire_epoch(value: object) -> float | None:
    """Epoch seconds of an ``expireAt`` value in any ISO-8601 form; None when absent or
    not parsable (GSEP_API.md 2.5: the format is undocumented). Never raises."""
    if not isinstance(value, str):
        return None
    try:
        return parse_iso(value)
    except (ValueError, OverflowError, OSError):
        return None


@dataclass(frozen=True)
class JobRecord:
    """One job gsep created, with what became of it."""

    job_id: str
    upload_id: str
    #: What jobs are matched on (:func:`job_key`): the input's SHA-256, or
    #: for the lyrics model a SHA-256 over audio, lyrics text and language. Stored in the
    #: ``sha256`` column; shown as ``inputSha256``.
    content: str
    input_path: str
    model: str
    stems: tuple[str, ...]
    api_host: str
    key_fp: str
    status: str
    expire_at: str | None
    error: str | None
    created_at: float
    updated_at: float
    files: tuple[FileRecord, ...]
    #: The host name of the gsep that created it ("" until recorded; with a ledger many
    #: machines share, who paid for it).
    runner: str = ""

    def __post_init__(self) -> None:
        # accept lists from callers; keep the record hashable and immutable
        object.__setattr__(self, "stems", tuple(self.stems))
        object.__setattr__(self, "files", tuple(self.files))

    def expire_epoch(self) -> float | None:
        """When the results expire (epoch seconds), from any ISO-8601 ``expire_at``.

        A time without a zone is UTC. None when absent or not parsable; never raises.
        """
        return expire_epoch(self.expire_at)

    @property
    def work(self) -> tuple[str, str, tuple[str, ...], str, str]:
        """What the job does, as jobs are matched and claimed: ``(content, model, stems,
        api_host, key_fp)`` (:func:`work_key`, :meth:`~gsep_cli.ledger.Ledger.find_job`)."""
        return (self.content, self.model, self.stems, self.api_host, self.key_fp)

    @property
    def unconfirmed(self) -> bool:
        """True for a creation that was sent and never answered (no job id known)."""
        return self.status == UNCONFIRMED


#: The ``jobs`` columns a :class:`JobRecord` is read from and written to, in order.
JOB_COLUMN_NAMES = (
    "job_id",
    "upload_id",
    "sha256",
    "input_path",
    "model",
    "stems",
    "api_host",
    "key_fp",
    "status",
    "expire_at",
    "error",
    "created_at",
    "updated_at",
    "files",
    "runner",
)
JOB_COLUMNS = ", ".join(JOB_COLUMN_NAMES)


def files_json(files: Iterable[FileRecord]) -> str:
    """The ``files`` column: a JSON list of file objects."""
    items = []
    for f in files:
        item: dict[str, Any] = {"stem": f.stem, "format": f.format, "path": f.path}
        item["bytes"] = f.bytes
        if f.sha256 is not None:
            item["sha256"] = f.sha256
        if f.recipe is not None:
            item["recipe"] = f.recipe
        items.append(item)
    return json.dumps(items, separators=(",", ":"))


def files_from_json(text: str | None) -> tuple[FileRecord, ...]:
    """The inverse of :func:`files_json`; a broken column reads as no files."""
    try:
        items = json.loads(text or "[]")
        return tuple(
            FileRecord(
                str(i["stem"]),
                str(i["format"]),
                str(i["path"]),
                int(i["bytes"]),
                str(i["sha256"]) if isinstance(i.get("sha256"), str) else None,
                str(i["recipe"]) if isinstance(i.get("recipe"), str) else None,
            )
            for i in items
        )
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError):
        return ()


def stems_from_json(text: str) -> tuple[str, ...]:
    """The ``stems`` column (a JSON list; older rows: comma-joined)."""
    try:
        items = json.loads(text)
    except (ValueError, RecursionError):
        items = None
    if isinstance(items, list):
        return tuple(str(s) for s in items)
    return tuple(s for s in str(text).split(",") if s)


def job_from_row(row: Sequence[Any]) -> JobRecord:
    """A :class:`JobRecord` from a row selected with :data:`JOB_COLUMNS`."""
    return JobRecord(
        job_id=row[0],
        upload_id=row[1],
        content=row[2],
        input_path=row[3],
        model=row[4],
        stems=stems_from_json(row[5]),
        api_host=row[6],
        key_fp=row[7],
        status=row[8],
        expire_at=row[9],
        error=row[10],
        created_at=float(row[11]),
        updated_at=float(row[12]),
        files=files_from_json(row[13]),
        runner=str(row[14] or ""),
    )


def shown_path(text: str) -> str:
    """A path for a text column: as it is when it is UTF-8; else (a file name whose bytes
    are not UTF-8, kept by Python as lone surrogates that SQLite cannot store) with those
    bytes shown as U+FFFD. For display only; never use it to find a file again."""
    return os.fsencode(text).decode("utf-8", "replace") if _has_surrogates(text) else text


def path_key(text: str) -> str:
    """A path as a lookup key, lossless: itself when it is UTF-8, else the hex of its
    bytes behind a prefix no absolute path starts with."""
    return "fsbytes:" + os.fsencode(text).hex() if _has_surrogates(text) else text


def _has_surrogates(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def job_row(rec: JobRecord) -> tuple[Any, ...]:
    """The values of :data:`JOB_COLUMNS` plus ``stem_set`` for an INSERT."""
    return (
        rec.job_id,
        rec.upload_id,
        rec.content,
        shown_path(rec.input_path),
        rec.model,
        json.dumps(list(rec.stems)),
        rec.api_host,
        rec.key_fp,
        rec.status,
        rec.expire_at,
        rec.error,
        float(rec.created_at),
        float(rec.updated_at),
        files_json(rec.files),
        rec.runner,
        stem_set(rec.stems),
    )
