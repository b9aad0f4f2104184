"""The API's steps one at a time, on record as the command line does them: an upload
(``gsep upload``) and a job creation (``gsep job create``), for any :class:`Session`.

``gsep upload``/``gsep job create`` and the MCP server (``gsep mcp``'s ``upload`` and
``create_job`` tools) both go through these, so a job created either way is recorded
before its request is sent, and a job on record for the same work is the answer instead
of a second payment. Nothing here prints: ``warn``/``info`` receive what a human should
know (``info`` defaults to ``session.warn``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import CreationUnconfirmed, Interrupted, LedgerError, UsageError

if TYPE_CHECKING:
    from .client import GsepClient
    from .config import Settings
    from .ledger import Ledger
    from .models import ModelSpec
    from .preflight import Preflight
    from .records import JobRecord
    from .session import Session


def preflight_upload(session: Session, file: Path, spec: ModelSpec) -> Preflight:
    """Every local check of an audio file before an upload (no duration is refused: the
    job decides); its warnings go to ``session.warn``. Raises UsageError (exit 2) or
    LocalFailure for a file that cannot be sent."""
    from .preflight import preflight

    checked = preflight(file, spec, for_upload=True)
    for warning in checked.warnings:
        session.warn(warning)
    return checked


def upload_on_record(session: Session, settings: Settings, client: GsepClient, file: Path) -> str:
    """Upload ``file`` and record it as ``separate`` would (hashed, checked before
    completing); returns the upload id. An upload is free: without a usable ledger it
    goes unrecorded, with a warning, and its id is the result either way."""
    from .onrecord import upload_on_record as upload

    try:
        ledger = session.ledger()
    except LedgerError as exc:
        session.warn(f"the upload will not be on record: {exc.message}")
        return client.upload_file(file)
    return upload(client, ledger, file, session.api_host(settings), session.key_fp, session.warn)


def create_job(
    session: Session,
    client: GsepClient,
    host: str,
    upload_id: str,
    model: str,
    stems: list[str],
    extra: dict[str, Any] | None,
    *,
    pay_again: bool = False,
    info: Callable[[str], None] | None = None,
) -> tuple[str, bool]:
    """Create the job (this costs credits) and return ``(job_id, interrupted)``.

    The job is on record before its request is sent (:mod:`gsep_cli.onrecord`); an
    interrupt while the request is on the wire waits for the answer (bounded), so the id
    of a job already paid for is never thrown away (``interrupted`` says one came). A job
    of the same work (upload, model, stems, API host, key) on record is the answer, and
    nothing is paid, unless ``pay_again``.

    Raises UsageError (exit 2) when a creation of the same work was sent and never
    answered (it may exist and have cost credits; ``pay_again`` puts it aside),
    CreationUnconfirmed when the answer is lost now, Interrupted on a second interrupt,
    and the client's errors."""
    from .onrecord import create_on_record, job_to_record
    from .shield import finish_despite_interrupt

    tell = info or session.warn
    ledger = session.ledger()
    record = job_to_record(
        ledger,
        upload_id=upload_id,
        lyrics_id=(extra or {}).get("textUploadId"),
        language=(extra or {}).get("language"),
        model=model,
        stems=stems,
        api_host=host,
        key_fp=session.key_fp,
    )
    known = _already(ledger, record, pay_again=pay_again, info=tell)
    if known is not None:
        return known, False

    def interrupted() -> None:
        tell("gsep: waiting for the answer to the job creation (Ctrl-C again to quit)")

    try:
        return finish_despite_interrupt(
            lambda: create_on_record(
                ledger,
                record,
                lambda: client.create_job(upload_id, model=model, stems=stems, extra=extra),
                on_unrecorded=lambda job_id, exc, kept: session.warn(
                    f"job {job_id} is not on record yet ({exc.message}); "
                    + ("the next gsep run records it" if kept else "keep its id")
                ),
            ),
            bound=client.read_timeout + 5,
            on_interrupt=interrupted,
        )
    except KeyboardInterrupt:  # a second interrupt: quit now, but never silently
        raise Interrupted(
            "interrupted before the answer to the job creation came: the job may exist and "
            "have cost credits",
            "Check your credits (gsep key info) before creating it again",
        ) from None
    except CreationUnconfirmed as exc:  # no id to check with: the hint must not offer one
        raise CreationUnconfirmed(
            exc.message,
            "The request may have reached the server: the job may exist and have cost "
            "credits; check your credits (gsep key info) before creating it again",
        ) from None


def _already(
    ledger: Ledger, record: JobRecord, *, pay_again: bool, info: Callable[[str], None]
) -> str | None:
    """The id of the job on record for this work, to give instead of paying again; a
    creation whose answer was lost is refused (it may exist and have cost credits). With
    ``pay_again`` None: the lost creation is put aside and a new job is paid for."""
    from .onrecord import job_on_record
    from .records import utc_text

    known = job_on_record(ledger, record.work, info)
    if known is None:
        return None
    if known.unconfirmed:
        if not pay_again:
            raise UsageError(
                f"a job for this upload, model and stems was requested at "
                f"{utc_text(known.created_at)} and no answer came; it may exist and have "
                "cost credits",
                "gsep does not pay again by itself: check your credits (gsep key info), "
                "then add --pay-again to create a new job",
            )
        ledger.abandon_unconfirmed(*record.work)
        return None
    if pay_again:
        info(f"gsep: paying for a new job although job {known.job_id} is on record")
        return None
    info(
        f"gsep: job {known.job_id} ({known.status}) was already created for this upload, "
        "model and stems; nothing paid (--pay-again creates a new one)"
    )
    return known.job_id
