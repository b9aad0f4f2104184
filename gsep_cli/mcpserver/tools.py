"""What each tool of ``gsep mcp`` does, as blocking calls on a
:class:`~gsep_cli.session.Session` (run in a worker thread by :mod:`.server`).

Each is the command line's own flow — :meth:`Session.separate`, :mod:`gsep_cli.steps`,
:mod:`gsep_cli.fetching`, the client — and returns the JSON document ``gsep --json``
gives for the same result (:mod:`gsep_cli.documents`). Errors are raised as
:class:`~gsep_cli.errors.GsepError` (one-line message and hint), never printed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..session import Session
from .arguments import local_path, names, paths


def separate(
    session: Session,
    inputs: list[str] | str,
    *,
    stems: list[str] | str | None,
    formats: list[str] | str | None,
    out_dir: str | None,
    model: str | None,
    lyrics: str | None = None,
    language: str | None = None,
    timeout: float | None,
    pay_again: bool,
) -> dict[str, Any]:
    """``gsep separate``: every input's result (files, job id, expiry, reused)."""
    from ..documents import input_result_json

    chosen_stems = names(stems)
    results = session.separate(
        [local_path(p, "input path") for p in paths(inputs)],
        stems=chosen_stems,
        formats=names(formats),
        out_dir=None if out_dir is None else local_path(out_dir, "output folder"),
        model=model,
        lyrics=None if lyrics is None else local_path(lyrics, "lyrics file"),
        language=language,
        timeout=timeout,
        pay_again=pay_again,
    )
    documents = []
    for result in results:
        chosen = session.ledger().get_job(result.job_id) if result.job_id else None
        job_stems = list(chosen.stems) if chosen else list(chosen_stems or [])
        document = input_result_json(result, chosen.model if chosen else "", job_stems)
        documents.append(_absolute(document))
    failed = [d for d in documents if d["status"] == "failed"]
    return {"results": documents, "failed": len(failed)}


def _absolute(document: dict[str, Any]) -> dict[str, Any]:
    """``document`` with its paths (``input``, ``path``, each file's) absolute: the
    client may not share the server's working folder."""
    found: dict[str, Any] = {
        k: str(Path(v).absolute()) for k, v in document.items() if k in ("input", "path")
    }
    if "files" in document:
        found["files"] = [_absolute(f) for f in document["files"]]
    return {**document, **found}


def upload(session: Session, path: str, *, model: str | None) -> dict[str, Any]:
    """``gsep upload``: the upload id of an audio file (on record)."""
    from .. import resolve
    from ..choices import get_model
    from ..steps import preflight_upload, upload_on_record

    file = local_path(path, "path")
    settings = session.settings()
    spec = get_model(resolve.model_name(settings, model))
    size = preflight_upload(session, file, spec).bytes
    client = session.client(settings)
    upload_id = upload_on_record(session, settings, client, file)
    return {"uploadId": upload_id, "file": str(file), "bytes": size}


def create_job(
    session: Session,
    upload_id: str,
    *,
    stems: list[str] | str | None,
    model: str | None,
    lyrics_upload_id: str | None,
    language: str | None,
    pay_again: bool,
) -> dict[str, Any]:
    """``gsep job create``: a new job (paid), or the one on record for the same work."""
    from .. import resolve
    from ..choices import lyrics_body
    from ..steps import create_job as create

    settings = session.settings()
    chosen_model = resolve.model_name(settings, model)
    chosen = resolve.stems(settings, chosen_model, names(stems))
    lang = resolve.lyrics_language(
        chosen_model,
        language,
        lyrics_given=lyrics_upload_id is not None,
        formats=None,
        warn=session.warn,
    )
    upload_id = upload_id.strip()
    if not upload_id:
        raise UsageError("the upload id is empty", "Use the id the upload tool gave")
    if lang is not None and not lyrics_upload_id:
        raise UsageError(
            f"{chosen_model} needs the lyrics: give lyrics_upload_id",
            "Upload the lyrics .txt with the upload tool first",
        )
    extra = lyrics_body(lyrics_upload_id.strip(), lang) if lang and lyrics_upload_id else None
    client = session.client(settings)
    host = session.api_host(settings)
    job_id, _ = create(
        session, client, host, upload_id, chosen_model, chosen, extra, pay_again=pay_again
    )
    document = {"jobId": job_id, "uploadId": upload_id, "model": chosen_model, "stems": chosen}
    return {**document, **(extra or {})}


def job_status(
    session: Session, job_id: str, *, model: str | None, wait: bool, timeout: float | None
) -> dict[str, Any]:
    """``gsep job status``: the job as the API describes it (``wait``: until it ends)."""
    from .. import resolve
    from ..choices import check_job_id
    from ..documents import job_json

    settings = session.settings()
    job_id = check_job_id(job_id)
    record = session.ledger().get_job(job_id)
    chosen_model = resolve.model_name(settings, model or (record.model if record else None))
    client = session.client(settings)
    job = (
        client.wait(job_id, model=chosen_model, timeout=timeout)
        if wait
        else client.get_job(job_id, model=chosen_model)
    )
    return job_json(job, chosen_model)


def download(
    session: Session,
    job_id: str,
    out_dir: str,
    *,
    stems: list[str] | str | None,
    formats: list[str] | str | None,
    model: str | None,
    force: bool,
    skip_existing: bool,
) -> dict[str, Any]:
    """``gsep download``: a finished job's files, written atomically under ``out_dir``."""
    from .. import fetching, resolve
    from ..documents import file_json

    chosen = fetching.plan(session, job_id, stems=names(stems), formats=names(formats), model=model)
    settings = session.settings()
    folder = resolve.out_dir(settings, local_path(out_dir, "output folder"))
    resolve.check_overwrite_flags(force, skip_existing)
    client = session.client(settings)
    job, written = fetching.fetch(
        session, client, chosen, folder, force=force, skip_existing=skip_existing
    )
    return {
        "jobId": chosen.job_id,
        "model": chosen.model,
        "status": "success",
        "expireAt": job.expire_at,
        "files": [_absolute(file_json(w)) for w in written],
    }


def list_models(session: Session) -> dict[str, Any]:
    """``gsep models``: the models, their stems, inputs and limits."""
    from ..documents import model_json
    from ..models import MODELS

    return {"models": [model_json(spec) for spec in MODELS.values()]}


def key_info(session: Session) -> dict[str, Any]:
    """``gsep key info``: what the API says about the key (never the key itself)."""
    from ..redact import redact_values

    document = redact_values(session.client().key_info())
    return document if isinstance(document, dict) else {"info": document}


def job_record(session: Session, job_id: str | None, *, limit: int) -> dict[str, Any]:
    """``gsep ledger show``/``list``: the local record of one job, or the recent ones."""
    from ..documents import record_json
    from ..errors import NotOnRecord

    ledger = session.ledger()
    if job_id:
        record = ledger.get_job(job_id.strip())
        if record is None:
            raise NotOnRecord(
                f"job {job_id.strip()} is not on record",
                "Call job_record without job_id to list the jobs on record",
            )
        return {"jobs": [record_json(record)]}
    return {"jobs": [record_json(r) for r in ledger.list_jobs(limit=max(1, min(limit, 500)))]}
