"""The JSON documents gsep gives for its results (``--json`` on the command line, the
MCP server's tool results): one shape for each kind of result, whoever shows it. Plain
dicts of JSON values; nothing here prints or decides anything."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .batch import InputResult
    from .client import WrittenFile
    from .errors import GsepError
    from .models import Job, ModelSpec
    from .records import JobRecord


def error_json(error: GsepError) -> dict[str, Any]:
    """An error: its one-line ``message``, the ``hint`` (what to do) and ``exitCode``."""
    return {"message": error.message, "hint": error.what_to_do, "exitCode": int(error.exit_code)}


def file_json(written: WrittenFile) -> dict[str, Any]:
    """A written (or kept: ``skipped``) file: ``stem``, ``format``, ``path``, ``bytes``."""
    return {
        "stem": written.stem,
        "format": written.format,
        "path": str(written.path),
        "bytes": written.bytes,
        "skipped": written.skipped,
    }


def input_result_json(result: InputResult, model: str, stems: Sequence[str]) -> dict[str, Any]:
    """One input of ``gsep separate``: its ``--json`` line (see README)."""
    document: dict[str, Any] = {
        "input": str(result.input),
        "bytes": result.bytes,
        "uploadId": result.upload_id,
        "jobId": result.job_id,
        "model": model,
        "stems": list(stems),
        "status": result.status,
        "expireAt": result.expire_at,
        "reused": result.reused,
    }
    if result.status == "success":
        document["files"] = [file_json(f) for f in result.files]
    if result.error is not None:
        document["error"] = error_json(result.error)
    return document


def record_json(record: JobRecord) -> dict[str, Any]:
    """A job on record (``gsep ledger show`` and ``ledger list --json``)."""
    return {
        "jobId": record.job_id,
        "uploadId": record.upload_id,
        "input": record.input_path,
        "inputSha256": record.content,
        "model": record.model,
        "stems": list(record.stems),
        "apiHost": record.api_host,
        "runner": record.runner or None,
        "status": record.status,
        "expireAt": record.expire_at,
        "error": record.error,
        "createdAt": record.created_at,
        "updatedAt": record.updated_at,
        "files": [
            {"stem": f.stem, "format": f.format, "path": f.path, "bytes": f.bytes}
            for f in record.files
        ],
    }


def model_json(spec: ModelSpec) -> dict[str, Any]:
    """A model as ``gsep models --json`` shows it."""
    return {
        "name": spec.name,
        "category": spec.category,
        "stems": list(spec.stems),
        "outputs": list(spec.output_names),
        "inputFormats": list(spec.input_kinds),
        "maxBytes": spec.max_bytes,
        "maxSeconds": spec.max_seconds,
        "description": spec.description,
    }


def job_json(job: Job, model: str) -> dict[str, Any]:
    """A job as the API described it (``gsep job status --json``): ``jobId``, ``model``,
    ``status`` (waiting, running, success, failed), ``errorMessage``, ``expireAt`` and the
    ``outputs`` (stem and format each)."""
    return {
        "jobId": job.job_id,
        "model": model,
        "status": getattr(job.status, "value", str(job.status)),
        "errorMessage": job.error_message,
        "expireAt": job.expire_at,
        "outputs": [{"stem": o.name, "format": o.format} for o in job.outputs],
    }
