"""A finished job's results to files, on record as ``gsep download`` does them, for any
:class:`~gsep_cli.session.Session` (the command and ``gsep mcp``'s ``download`` tool).

:func:`plan` checks every choice before any request (:class:`FetchPlan`);
:func:`fetch` asks for the job and writes its files atomically (a partial file never
takes a result's name), updating the ledger's record of a job gsep created.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import GsepError, UsageError

if TYPE_CHECKING:
    from .audio.plan import Delivery
    from .client import GsepClient, WrittenFile
    from .models import Job, ModelSpec
    from .naming import InputFields
    from .records import JobRecord
    from .session import Session


@dataclass(frozen=True)
class FetchPlan:
    """The checked choices of one download: ``names`` None means the stems the job was
    created with (``all_outputs``: every output, the residual too)."""

    job_id: str
    record: JobRecord | None
    model: str
    spec: ModelSpec
    formats: list[str]
    template: str
    names: list[str] | None
    all_outputs: bool
    delivery: Delivery


def plan(
    session: Session,
    job_id: str,
    *,
    stems: list[str] | None = None,
    formats: str | list[str] | None = None,
    model: str | None = None,
    name_template: str | None = None,
    bit_depth: str | None = None,
    sample_rate: int | None = None,
    bitrate: int | None = None,
    mixes: list[str] | None = None,
    mix_only: bool = False,
    no_tags: bool = False,
) -> FetchPlan:
    """Every choice of a download checked, before any request (each as its ``gsep
    download`` option; None: the job's record, else the setting). ``stems``: names, or
    ``["all"]`` for every output; ``formats``: ``"wav,flac"`` or a list. Raises
    UsageError (exit 2) or ConfigError (exit 3)."""
    from . import resolve
    from .choices import check_job_id, get_model
    from .naming import DEFAULT_TEMPLATE, check_template

    settings = session.settings()
    job_id = check_job_id(job_id)
    record = session.ledger().get_job(job_id)  # from gsep separate
    chosen_model = resolve.model_name(settings, model or (record.model if record else None))
    spec = get_model(chosen_model)
    chosen_formats = resolve.format_list(settings, formats)
    template = check_template(name_template or DEFAULT_TEMPLATE)
    names = _chosen_stems(stems, spec)
    chosen = resolve.delivery(
        chosen_formats,
        bit_depth=bit_depth,
        sample_rate=sample_rate,
        bitrate=bitrate,
        mixes=mixes,
        mix_only=mix_only,
        no_tags=no_tags,
    )
    chosen.check(spec, names or [])
    every = bool(stems) and names is None
    return FetchPlan(
        job_id, record, chosen_model, spec, chosen_formats, template, names, every, chosen
    )


def stems_of(chosen: FetchPlan, job: Job) -> list[str] | None:
    """The stems to fetch: the ones chosen, else those the job was created with (not the
    residual); None: every output."""
    from .models import RESIDUAL

    if chosen.names is not None or chosen.all_outputs:
        return chosen.names
    return list(dict.fromkeys(o.name for o in job.outputs if o.name != RESIDUAL)) or None


def fetch(
    session: Session,
    client: GsepClient,
    chosen: FetchPlan,
    out_dir: Path,
    *,
    job: Job | None = None,
    track: str | None = None,
    force: bool = False,
    skip_existing: bool = False,
) -> tuple[Job, list[WrittenFile]]:
    """Write the job's files under ``out_dir`` (``job``: already asked for, else it is
    now) and return the job and what was written (or kept). A job on record gets its
    status, expiry and files recorded. Raises the client's errors (JobFailed for a job
    that failed, ExpiredUrl, ...), UsageError for a file in the way (unless ``force``
    or ``skip_existing``)."""
    from .batch import file_recorder

    job = job or client.get_job(chosen.job_id, model=chosen.model)
    on_record = session.ledger() if chosen.record is not None else None
    if on_record is not None:
        on_record.update_job(chosen.job_id, status="success", expire_at=job.expire_at)
    no_tags = not chosen.delivery.rendering.tags
    written = client.download(
        job,
        out_dir,
        stems=stems_of(chosen, job),
        formats=chosen.formats,
        model=chosen.model,
        template=chosen.template,
        force=force,
        skip_existing=skip_existing,
        on_file=file_recorder(on_record, chosen.job_id),
        source=_source(chosen.record, chosen.job_id, track),
        delivery=chosen.delivery,
        tags_from=None if no_tags or chosen.spec.needs_lyrics else _tags_source(session, chosen),
    )
    return job, written


def _chosen_stems(stems: list[str] | None, spec: ModelSpec) -> list[str] | None:
    """``--stems`` as names (None: decided by the job); documented names are checked
    before any request."""
    from .choices import check_all_alone, resolve_stems

    if not stems:
        return None
    flat = [s.strip() for v in stems for s in v.split(",") if s.strip()]
    if len(set(flat)) != len(flat):
        raise UsageError(
            "a stem is given twice in --stems", "Give each stem once, e.g. --stems vocal,drum"
        )
    if "all" in flat:
        check_all_alone(flat)
        return None
    return resolve_stems(spec, flat) if spec.needs_type else flat


def _tags_source(session: Session, chosen: FetchPlan) -> Path | None:
    """The input whose tags the files get: the one on record, while it is still there
    with the content the job was made of (else a warning: no tags rather than another
    song's)."""
    record = chosen.record
    if record is None or not record.input_path:
        return None
    path = Path(record.input_path)
    try:
        same = path.is_file() and session.ledger().file_sha256(path) == record.content
    except (OSError, GsepError):
        same = False
    if not same:
        session.warn(
            f"the input on record ({path.name}) is gone or has changed since the job: "
            "its tags are not copied"
        )
        return None
    return path


def _source(record: JobRecord | None, job_id: str, track: str | None) -> InputFields:
    """{track}, {trackext} and {dir} of a job's input: from the ledger's record of it,
    else the job id with no extension or folder; --track replaces {track}."""
    from .naming import InputFields

    if record is not None and record.input_path:
        source = InputFields.of(Path(record.input_path))
    else:  # not on record, or a job on an upload gsep did not make
        source = InputFields(job_id)
    return replace(source, track=track) if track else source
