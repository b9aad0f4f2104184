"""Every stdout document and line gsep prints: files, jobs, inputs, dry runs, models,
the key, the settings. With ``--json`` one JSON document (or, for a batch, one JSON line
per input); otherwise plain lines. The shapes are stable and documented in the README.

Nothing here decides anything; commands hand their results over to be shown.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..documents import error_json, file_json, job_json
from ..documents import input_result_json as input_result_json  # shown by separate
from ..documents import model_json as model_json  # by models
from ..documents import record_json as record_json  # by ledger

if TYPE_CHECKING:
    from ..batch import InputResult
    from ..batch.guard import InputPlan
    from ..client import WrittenFile
    from ..errors import GsepError
    from ..models import Job, ModelSpec
    from ..preflight import Preflight
    from ..records import JobRecord
    from ._context import State


def show(state: State, document: dict[str, Any], lines: Iterable[str]) -> None:
    """``document`` with ``--json``, else ``lines``, one per line."""
    if state.json:
        state.console.result_json(document)
    else:
        for line in lines:
            state.console.result(line)


# ---- files and jobs -----------------------------------------------------------------------
def files(state: State, written: Sequence[WrittenFile], header: dict[str, Any]) -> None:
    """The files a download wrote: ``header`` plus ``files`` with ``--json``, else one
    path per line."""
    show(
        state, {**header, "files": [file_json(w) for w in written]}, (str(w.path) for w in written)
    )


def job_status(state: State, job: Job, model: str) -> None:
    """``gsep job status``: the status word, or the job as the API described it."""
    document = job_json(job, model)
    show(state, document, [document["status"]])


def summary_row(result: InputResult) -> tuple[str, str, str, str]:
    """One row of a batch's summary table (stderr): input, job, status, detail."""
    if result.error is not None:
        detail = result.error.message
        if result.job_id:  # the id has a column of its own: not again, folded, in this one
            detail = detail.replace(f"job {result.job_id}", "the job")
            detail = detail.replace(result.job_id, "the job")
    elif result.status == "submitted":
        detail = "submitted"
    else:
        count = len(result.files)
        detail = f"{count} file{'' if count == 1 else 's'}" + (
            f" ({result.reused} reused)" if result.reused else ""
        )
    return (str(result.input), result.job_id or "-", result.status, detail)


# ---- dry runs ---------------------------------------------------------------------------
def dry_run_json(
    checked: Preflight,
    model: str,
    type_: str | None,
    would_write: Sequence[Path],
    lyrics: tuple[Path, int] | None = None,
    language: str | None = None,
    *,
    plan: InputPlan | None = None,
) -> dict[str, Any]:
    """The stable ``--dry-run --json`` object for one input (see README).

    For the lyrics model it also has ``lyrics`` (``{"path", "bytes"}``) and ``language``;
    for ``separate`` (``plan``) ``newJob`` (bool), ``reuseJob`` (the job on record it
    would re-attach to, or null) and ``sameAs`` (an earlier input of the batch whose job
    it shares, or null).
    """
    document: dict[str, Any] = {
        "input": str(checked.input),
        "bytes": checked.bytes,
        "format": checked.format,
        "duration": checked.duration,
        "durationExact": checked.duration_exact,
        "model": model,
        "type": type_,
        "wouldWrite": [str(p) for p in would_write],
        "ok": True,
    }
    if lyrics is not None:
        document["lyrics"] = {"path": str(lyrics[0]), "bytes": lyrics[1]}
        document["language"] = language
    if plan is not None:
        document.update(plan_json(plan))
    return document


def plan_json(plan: InputPlan | None) -> dict[str, Any]:
    """What a dry run says about paying for one input (None: an input that failed)."""
    if plan is None:
        return {"newJob": False, "reuseJob": None, "sameAs": None}
    same = str(plan.same_as) if plan.same_as is not None else None
    return {"newJob": plan.new, "reuseJob": plan.job_id, "sameAs": same}


def dry_run_line(
    checked: Preflight,
    model: str | None,
    type_: str | None,
    would_write: Sequence[Path],
    lyrics: tuple[Path, int] | None = None,
    language: str | None = None,
    *,
    plan: InputPlan | None = None,
) -> str:
    """The human line for one input.

    ``would upload IN (N bytes, KIND, D s)`` — for ``separate`` followed by
    `` then create MODEL job type=A,B`` (``(no type)`` for models without one;
    ``language=L`` for the lyrics model, whose text is uploaded too), why when it pays
    again (`` (paying again over job J)``) and, unless ``--no-wait``, ``; would write
    P1, P2``. An input that would be no new job (``plan``): ``would reuse job J for IN
    (...), no new job`` or ``would share the job of FIRST for IN (...), no new job``.
    """
    if plan is not None and not plan.new:
        if plan.same_as is not None:
            line = f"would share the job of {plan.same_as} for {checked.describe()}, no new job"
        else:
            line = f"would reuse job {plan.job_id} for {checked.describe()}, no new job"
        if would_write:
            line += "; would write " + ", ".join(str(p) for p in would_write)
        return line
    line = f"would upload {checked.describe()}"
    if lyrics is not None:
        line += f" and {lyrics[0]} ({lyrics[1]} bytes, lyrics text)"
    if model is not None:
        line += f" then create {model} job "
        if lyrics is not None:
            line += f"language={language}"
        else:
            line += f"type={type_}" if type_ else "(no type)"
    if plan is not None and plan.note:
        line += f" ({plan.note})"
    if would_write:
        line += "; would write " + ", ".join(str(p) for p in would_write)
    return line


def dry_run_failure(path: Path, model: str, type_: str | None, exc: GsepError) -> dict[str, Any]:
    """The ``--dry-run --json`` object for an input that failed its checks."""
    return {
        "input": str(path),
        "bytes": None,
        "format": None,
        "duration": None,
        "durationExact": False,
        "model": model,
        "type": type_,
        "wouldWrite": [],
        "ok": False,
        "error": error_json(exc),
        **plan_json(None),
    }


# ---- the local record ------------------------------------------------------------------
def record_lines(records: Sequence[JobRecord]) -> list[str]:
    """The jobs on record, for ``gsep ledger list``: one line per job, in aligned columns
    (job id, status, model, stems, expiry, which runner made it and when, input and the
    folder its files went to)."""
    from ..records import utc_text
    from ._table import aligned

    rows = []
    for record in records:
        where = str(Path(record.files[0].path).parent) if record.files else "-"
        rows.append(
            (
                record.job_id,
                record.status,
                record.model,
                ",".join(record.stems) or "-",
                f"expires {record.expire_at or '-'}",
                f"by {record.runner or '?'} at {utc_text(record.created_at)}",
                f"{Path(record.input_path).name} -> {where}",
            )
        )
    return aligned(rows)


# ---- models and the key -----------------------------------------------------------------
def model_lines(specs: Iterable[ModelSpec]) -> list[str]:
    """The models, for ``gsep models``: one line per model, in aligned columns: its
    name, what a job gives (the stems to choose with ``--stems``, or the one track or
    files it always gives), its input formats, its limits and what it does."""
    from ..models import DEFAULT_MODEL, GB
    from ._table import aligned

    rows = []
    for spec in specs:
        if spec.stems:  # what --stems chooses from ('others': the rest of the mix)
            gives = "stems: " + ",".join(spec.output_names)
        elif spec.file_outputs:
            files = ", ".join(f"{name}.{ext}" for name, ext in spec.file_outputs)
            gives = f"files: {files} (--lyrics, --language)"
        else:
            # the job takes no type: --stems (the track's name or 'all') is optional
            gives = f"track: {', '.join(spec.outputs)} (always; --stems optional)"
        name = spec.name + (" (default)" if spec.name == DEFAULT_MODEL else "")
        limits = f"{spec.max_bytes // GB} GB, {spec.max_seconds // 60} min"
        rows.append((name, gives, ",".join(spec.input_kinds), limits, spec.description))
    return aligned(rows)


def flatten(value: object, prefix: str = "") -> list[tuple[str, str]]:
    """Nested objects as dotted names; lists of plain values comma-joined (``key info``,
    whose field names the API does not document)."""
    if isinstance(value, dict):
        rows: list[tuple[str, str]] = []
        for key, item in value.items():
            rows.extend(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return rows
    if isinstance(value, list) and all(not isinstance(v, (dict, list)) for v in value):
        return [(prefix, ", ".join(str(v) for v in value))]
    if isinstance(value, list):
        rows = []
        for index, item in enumerate(value):
            rows.extend(flatten(item, f"{prefix}[{index}]"))
        return rows
    return [(prefix, "null" if value is None else str(value))]
