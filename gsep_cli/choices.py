"""The user's choices checked against the contract before any request: the model, the
stems (``type``), the formats, a job id, the lyrics and their language, and the files a
job will give. Every refusal is a :class:`~gsep_cli.errors.UsageError` (exit 2).

Sources: GSEP_API.md section 4 (models, stems, formats, lyrics), sections 2.4 and 2.5
(the job body and the job's results).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .audio.formats import API_FORMATS
from .errors import RequestRejected, UsageError
from .models import LYRICS_LANGUAGES, MODELS, RESIDUAL, ModelSpec, Output
from .suggest import with_suggestion

if TYPE_CHECKING:
    from .audio.plan import Delivery

FORMATS = API_FORMATS


def get_model(name: str) -> ModelSpec:
    """The registry entry for ``name``, or a UsageError listing the known models."""
    try:
        return MODELS[name]
    except KeyError:
        raise UsageError(
            f"unknown model {name!r}",
            with_suggestion(name, MODELS, "Known models: " + ", ".join(MODELS)),
        ) from None


def resolve_stems(spec: ModelSpec, values: Sequence[str]) -> list[str]:
    """Validate ``--stems`` values (``vocal,drum``, repeated, or ``all``) for a model.

    Returns the stems in the order given, without duplicates. ``others`` (the residual)
    is allowed for downloading but never sent in ``type``: see :func:`type_value`.
    """
    names: list[str] = []
    for value in values:
        names.extend(part.strip() for part in value.split(",") if part.strip())
    if not names:
        raise UsageError("no stems given", f"Choose from: {', '.join(spec.output_names)}")
    if "all" in names:
        check_all_alone(names)
        return list(spec.output_names)
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise UsageError(
                f"stem {name!r} is given twice", "Give each stem once, e.g. --stems vocal,drum"
            )
        seen.add(name)
        if name not in spec.output_names:
            raise UsageError(
                f"unknown stem {name!r} for model {spec.name}",
                with_suggestion(
                    name,
                    [*spec.output_names, "all"],
                    f"Choose from: {', '.join(spec.output_names)}, or all",
                ),
            )
    return names


def check_all_alone(names: Sequence[str]) -> None:
    """``all`` means every stem: with other stems beside it, the choice is ambiguous
    (UsageError)."""
    if "all" in names and len(names) > 1:
        raise UsageError(
            "'all' means every stem and is given alone",
            "Use --stems all, or name the stems you want, e.g. --stems vocal,drum",
        )


def type_value(stems: Sequence[str]) -> str:
    """The job body's ``type``: the stems minus the residual, comma-separated."""
    return ",".join(s for s in stems if s != RESIDUAL)


def resolve_formats(value: str) -> list[str]:
    """``--format``: ``wav``, ``mp3``, ``both``, or a list (``flac,mp3``) of the audio
    formats and the lyrics model's ``csv``, ``lrc``, ``srt`` → list of formats, in the
    order given (:func:`gsep_cli.audio.formats.resolve_formats`)."""
    from .audio.formats import resolve_formats as resolve

    return resolve(value)


def check_job_id(job_id: str) -> str:
    """Refuse ids that cannot be a job id (ids are opaque, so this stays lenient)."""
    text = job_id.strip()
    bad = not text or text in (".", "..") or len(text) > 200
    if bad or any(ch in text for ch in "/\\?#% \t\r\n") or not text.isprintable():
        raise UsageError(
            f"malformed job id {job_id!r}", "Use the id printed by gsep job create or gsep separate"
        )
    return text


def job_path_segment(job_id: str) -> str:
    """A job id as one URL path segment: percent-encoded (RFC 3986 section 2.1), since ids
    are opaque (GSEP_API.md 2.4) and one the server gave may hold ``/`` or ``%``. Only an id
    that cannot name a job at all (empty, ``.``/``..``, control characters) is refused."""
    from urllib.parse import quote

    if not job_id.strip() or job_id in (".", "..") or not job_id.isprintable():
        raise UsageError(
            f"malformed job id {job_id!r}", "Use the id printed by gsep job create or gsep separate"
        )
    return quote(job_id, safe="")


def check_lyrics_file(path: Path) -> int:
    """Check a lyrics text before any request and return its size: a readable ``.txt``
    file in UTF-8 with at least two non-empty lines (else the API answers 1112 or 1008)."""
    hint = "Give a UTF-8 .txt file with one lyric line per line"
    if path.suffix.lower() != ".txt":
        raise UsageError(f"the lyrics file must be a .txt file: {path}", hint)
    if not path.is_file():
        raise UsageError(
            f"lyrics file not found: {path}" if not path.exists() else f"{path} is not a file",
            hint,
        )
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise UsageError(
            f"cannot read {path}: {exc.strerror}", "Check the file's permissions"
        ) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UsageError(f"{path} is not UTF-8 text", hint) from None
    if len([line for line in text.splitlines() if line.strip()]) < 2:
        raise UsageError(f"{path} has fewer than 2 lines of lyrics", hint)
    return len(raw)


def check_language(value: str | None) -> str:
    """A lyrics ``language`` (en, ko, ja, zh-cn; case-insensitive), or a UsageError."""
    choices = ", ".join(LYRICS_LANGUAGES)
    if value is None or not value.strip():
        raise UsageError("the lyrics model needs --language", f"Choose from: {choices}")
    language = value.strip().lower()
    if language not in LYRICS_LANGUAGES:
        raise UsageError(
            f"unsupported language {value!r}",
            with_suggestion(language, LYRICS_LANGUAGES, f"Choose from: {choices}"),
        )
    return language


def lyrics_body(text_upload_id: str, language: str) -> dict[str, Any]:
    """The lyrics model's job-body fields besides ``audioUploadId``."""
    return {"textUploadId": text_upload_id, "language": check_language(language)}


def output_ext(spec: ModelSpec, output: Output) -> str:
    """The file extension of a result: its audio format, the model's extension for a
    document output (``lyrics`` → ``csv``), else one read off the URL."""
    if output.format in FORMATS:
        return output.format
    return spec.file_ext(output.name) or url_ext(output)


def planned_outputs(
    spec: ModelSpec,
    stems: Sequence[str],
    formats: Sequence[str],
    delivery: Delivery | None = None,
) -> list[tuple[str, str]]:
    """(output name, extension) of every file a job will give: one per format for audio
    (and per mix), one for a document output (the lyrics: one per lyrics format).
    ``delivery`` (default: ``formats`` as they are) says the mixes and formats."""
    from .audio.plan import Delivery

    delivery = delivery or Delivery(tuple(formats))
    return [(item.name, item.ext) for item in delivery.deliverables(spec, stems)]


def url_ext(output: Output) -> str:
    """Extension for an output whose format is not an audio format (e.g. lyrics 'file')."""
    path = output.url.split("?", 1)[0].rsplit("/", 1)[-1]
    ext = path.rsplit(".", 1)[-1].lower() if "." in path else "bin"
    return ext if ext.isalnum() and len(ext) <= 5 else "bin"


def check_available(outputs: Sequence[Output], stems: Sequence[str]) -> None:
    """RequestRejected naming the ``stems`` a job's ``outputs`` lack, and what it has."""
    available = {o.name for o in outputs}
    missing = [s for s in stems if s not in available]
    if missing:
        raise RequestRejected(
            f"the job has no result for {', '.join(missing)}",
            f"It has: {', '.join(sorted(available)) or 'nothing'}; a job only returns "
            "the stems it was created with (plus others)",
        )


def select_outputs(
    outputs: Sequence[Output], stems: Sequence[str] | None, formats: Sequence[str]
) -> list[Output]:
    """The outputs matching the chosen stems (None: all) and formats, in stem order."""
    if stems is not None:
        check_available(outputs, stems)
    order = list(stems) if stems is not None else list(dict.fromkeys(o.name for o in outputs))
    chosen: list[Output] = []
    for name in order:
        mine = [o for o in outputs if o.name == name]
        for fmt in formats:  # in the order the user asked for
            chosen.extend(o for o in mine if o.format == fmt)
        chosen.extend(o for o in mine if o.format not in FORMATS)  # e.g. lyrics "file"
    if not chosen:
        raise RequestRejected(
            "the job has no result in the chosen format(s): " + ", ".join(formats)
        )
    return chosen
