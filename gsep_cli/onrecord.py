"""Paying on record: every upload and job gsep creates goes in the ledger, whichever
command created it (``gsep separate``, ``gsep upload``, ``gsep job create``), and a job
creation is recorded *before* it is sent (:func:`create_on_record`, the one sequence all
of them use). So a later run of the same input reuses the upload and re-attaches to the
job instead of paying again, and a creation whose answer was lost is not paid for twice.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from . import answers
from .claims import Claim, this_process
from .errors import (
    CreationUnconfirmed,
    GsepError,
    InputChanged,
    LedgerError,
    LocalFailure,
    UsageError,
)
from .ledger import Ledger

if TYPE_CHECKING:
    from .client import GsepClient
    from .fileid import FileIdentity
from .models import RESIDUAL
from .records import SUBMITTED, UNCONFIRMED, JobRecord, UploadRecord, job_key, work_key


def record_upload(
    ledger: Ledger, upload_id: str, sha256: str, path: Path, api_host: str, key_fp: str
) -> None:
    """Remember an upload of ``path`` (content ``sha256``) as ``gsep separate`` does."""
    size = path.stat().st_size
    record = UploadRecord(upload_id, sha256, size, path.name, api_host, key_fp, time.time())
    ledger.record_upload(record)


def upload_on_record(
    client: GsepClient,
    ledger: Ledger,
    path: Path,
    api_host: str,
    key_fp: str,
    warn: Callable[[str], None],
) -> str:
    """Upload ``path`` as ``gsep separate`` does (hashed first, the content checked again
    before the upload is completed) and record it. An upload is free, so it is done
    whatever the ledger says: when the ledger cannot hash or record it, ``warn`` is told
    and the id returned."""
    try:
        sha, version = ledger.file_digest(path)
    except LedgerError as exc:
        warn(f"the upload will not be on record: {exc.message}")
        return client.upload_file(path)
    upload_id = upload_as_hashed(client, ledger, path, sha, version)
    try:
        record_upload(ledger, upload_id, sha, path, api_host, key_fp)
    except GsepError as exc:
        warn(f"upload {upload_id} is not on record: {exc.message}")
    return upload_id


def upload_as_hashed(
    client: GsepClient, ledger: Ledger, path: Path, sha256: str, version: FileIdentity
) -> str:
    """Upload ``path``, checked before completing against the content the ledger hashed
    as ``sha256`` (of the file's ``version``), through the block map taken with that hash
    when there is one; returns the upload id. When the check refuses the upload
    (:class:`~gsep_cli.errors.InputChanged`), the file's cached hash is forgotten before
    the error goes on: its metadata may be unchanged (an edit through ``mmap``), and the
    next run must hash the file again rather than be refused the same way for good."""
    block_map = ledger.block_map(path, version)
    try:
        return client.upload_file(path, identity=version, sha256=sha256, block_map=block_map)
    except InputChanged:
        ledger.forget_hash(path)
        raise


def job_to_record(
    ledger: Ledger,
    *,
    upload_id: str,
    lyrics_id: str | None,
    language: str | None,
    model: str,
    stems: Sequence[str],
    api_host: str,
    key_fp: str,
) -> JobRecord:
    """The record of a job about to be created on ``upload_id``: matched on its content
    (:func:`~gsep_cli.records.job_key`) when the uploads are on record, else on the upload
    ids themselves (then only this upload's re-use would match it)."""
    audio = ledger.get_upload(upload_id, api_host, key_fp)
    text = ledger.get_upload(lyrics_id, api_host, key_fp) if lyrics_id else None
    if audio is not None and (lyrics_id is None or text is not None):
        content = job_key(audio.sha256, text.sha256 if text else None, language)
    else:
        content = ":".join(["upload", upload_id, *([lyrics_id] if lyrics_id else [])])
    now = time.time()
    job_stems = tuple(s for s in stems if s != RESIDUAL)  # what the job is sent
    name = audio.name if audio is not None else ""  # unknown: download uses the job id
    return JobRecord(
        "", upload_id, content, name, model, job_stems, api_host, key_fp,
        UNCONFIRMED, None, None, now, now, (), this_process().host,
    )  # fmt: skip


def create_on_record(
    ledger: Ledger,
    record: JobRecord,
    create: Callable[[], str],
    *,
    claim: Claim | None = None,
    on_unrecorded: Callable[[str, GsepError, bool], None] | None = None,
) -> str:
    """Create a job with ``create()``, recorded as unconfirmed before it is sent and
    confirmed with its id when the answer comes.

    The record made first is what keeps a re-run from paying again when no answer comes
    (a timeout or reset after sending, a gateway error, SIGTERM or kill -9 while
    waiting): a lost answer (CreationUnconfirmed) or an interrupt leaves it unconfirmed,
    and only a certain refusal (any other GsepError) removes it.

    ``claim``: the work's claim the caller holds (checked in the same transaction as the
    record). Without one, the work is claimed for the time of the creation when its
    uploads are on record, so a ``gsep separate`` of the same input waits for the answer
    instead of reading the creation as lost; if another gsep holds it, UsageError and
    nothing is paid.

    When the ledger cannot take the confirmation, the id is kept beside it
    (:mod:`gsep_cli.answers`; ``kept`` says whether that worked, and the next run records
    it) and ``on_unrecorded(job_id, error, kept)`` decides what to do; without it,
    :class:`~gsep_cli.errors.LocalFailure` names the id."""
    taken = _claim(ledger, record) if claim is None else None
    try:
        placeholder = ledger.record_unconfirmed(claim or taken, record)
        try:
            job_id = create()
        except CreationUnconfirmed:
            raise
        except GsepError:
            ledger.drop_unconfirmed(placeholder)
            raise
        try:
            ledger.confirm_job(placeholder, job_id, SUBMITTED)
        except GsepError as exc:
            kept = answers.save(ledger.local_dir, placeholder, job_id)
            if on_unrecorded is None:
                raise LocalFailure(
                    f"job {job_id} was created (and paid for), but the ledger could not record "
                    f"it: {exc.message}",
                    f"Keep the id: gsep job status {job_id} --model {record.model} --wait",
                ) from None
            on_unrecorded(job_id, exc, kept)
        return job_id
    finally:
        if taken is not None:
            with contextlib.suppress(GsepError):
                ledger.release(taken)


def _claim(ledger: Ledger, record: JobRecord) -> Claim | None:
    """The work's claim when it is known (its uploads on record), else None. An explicit
    ``job create`` never waits for another gsep; it never pays beside one either: a work
    another gsep holds (a ``gsep separate`` uploading it, on this machine or another
    sharing the ledger) is refused. Raises UsageError (exit 2) then."""
    if record.content.startswith("upload:"):
        return None
    key = work_key(*record.work)
    got = ledger.try_claim(key, record.input_path)
    if isinstance(got, Claim):
        return got
    raise UsageError(
        f"{got.describe()} is working on the same input with this model and these stems "
        "(it pays for that job); nothing was paid here",
        "Run the same command again once it is done: it prints that job instead of paying",
    )


def answered_meanwhile(
    ledger: Ledger, known: JobRecord, notice: Callable[[str], None]
) -> JobRecord:
    """An unconfirmed creation whose answer came but could not be recorded then
    (:mod:`gsep_cli.answers`): record it now and go on with the job it names; any other
    record as it is."""
    if not known.unconfirmed:
        return known
    state_dir = ledger.local_dir
    job_id = answers.find(state_dir, known.job_id)
    if job_id is None:
        return known
    ledger.confirm_job(known.job_id, job_id, SUBMITTED)
    answers.forget(state_dir, known.job_id)
    notice(f"job {job_id}, created by an earlier run, is now on record")
    return ledger.get_job(job_id) or known


def job_on_record(
    ledger: Ledger,
    work: tuple[str, str, Sequence[str], str, str],
    notice: Callable[[str], None],
) -> JobRecord | None:
    """The job on record for ``work`` (``(content, model, stems, api_host, key_fp)``, as
    :attr:`JobRecord.work`; not failed or abandoned), with an answer that came meanwhile
    recorded (:func:`answered_meanwhile`), or None."""
    known = ledger.find_job(*work)
    return None if known is None else answered_meanwhile(ledger, known, notice)


def peek_job_on_record(
    ledger: Ledger, work: tuple[str, str, Sequence[str], str, str]
) -> JobRecord | None:
    """What :func:`job_on_record` would return for ``work``, without writing anything: an
    unconfirmed creation whose answer was kept beside the ledger reads as the job it
    names (status ``submitted``), as :func:`answered_meanwhile` would record it."""
    known = ledger.find_job(*work)
    if known is None or not known.unconfirmed:
        return known
    job_id = answers.find(ledger.local_dir, known.job_id)
    return known if job_id is None else replace(known, job_id=job_id, status=SUBMITTED)
