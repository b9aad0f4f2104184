"""What the commands (and the library's :meth:`~gsep_cli.session.Session.separate`) make
of their shared choices before any request: the model, the stems, the lyrics language,
the output folder, the delivery options and the overwrite flags.

Each refuses with :class:`~gsep_cli.errors.UsageError` (exit 2) what cannot work, so no
credit is spent on it. The messages name the command-line options; the library's keyword
arguments carry the same names (``stems``, ``out_dir`` for ``-o``, ...)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import UsageError

if TYPE_CHECKING:
    from .audio.plan import Delivery
    from .config import Settings
    from .models import ModelSpec

_OUT_HINT = "Choose another folder with -o DIR"


def model_name(settings: Settings, model: str | None) -> str:
    """``--model``, else the setting; UsageError for a model gsep does not know."""
    from .choices import get_model

    return get_model(model or settings.get("model")).name


def stems(
    settings: Settings, model: str, values: list[str] | None, *, mixes: bool = False
) -> list[str]:
    """The checked ``--stems`` (else the setting) for ``model``; every output for a model
    that takes no type. Refuses a choice of only ``others`` (nothing to send). With
    ``mixes`` and no ``--stems``: none (the mixes name the stems the job needs)."""
    from .choices import get_model, resolve_stems

    spec = get_model(model)
    if values:
        chosen = resolve_stems(spec, values)
    elif not spec.needs_type:
        return list(spec.outputs)
    elif mixes:
        return []
    else:
        chosen = resolve_stems(spec, [settings.get("stems")])
    return chosen if mixes else job_stems(spec, chosen)


def job_stems(spec: ModelSpec, chosen: list[str]) -> list[str]:
    """``chosen`` as the stems of a job: refused when it names none besides ``others``
    (nothing to send in ``type``)."""
    from .choices import type_value

    if spec.needs_type and not type_value(chosen):  # refuse before anything is uploaded
        raise UsageError(
            "choose at least one stem besides 'others'",
            f"Choose from: {', '.join(spec.stems)}",
        )
    return chosen


def lyrics_language(
    model: str,
    language: str | None,
    *,
    lyrics_given: bool,
    formats: Sequence[str] | None,
    warn: Callable[[str], None],
) -> str | None:
    """The lyrics model's checked ``--language``; refuses lyrics options on other models.
    ``formats``: the checked formats the user chose (None: none chosen), of which ``warn``
    is told those the lyrics model does not write."""
    from .choices import check_language, get_model

    spec = get_model(model)
    if not spec.needs_lyrics:
        if lyrics_given or language is not None:
            raise UsageError(
                f"--lyrics and --language are for gts_lyrics_line_v1, not {model}",
                "Add --model gts_lyrics_line_v1, or drop them",
            )
        return None
    if formats:
        from .audio.formats import LYRICS_FORMATS

        audio = [f for f in formats if f not in LYRICS_FORMATS]
        if audio:
            warn(
                f"--format {','.join(audio)} does not apply to {model}: it writes the lyrics "
                "(csv, lrc or srt) and a JSON report"
            )
    return check_language(language)


def check_overwrite_flags(force: bool, skip_existing: bool) -> None:
    if force and skip_existing:
        raise UsageError(
            "--force and --skip-existing cannot be used together", "Choose one of them"
        )


def format_list(settings: Settings, formats: str | Sequence[str] | None) -> list[str]:
    """The checked ``--format`` (``"wav,flac"``, or a list of names), else the setting's;
    UsageError (exit 2) for a format gsep does not know."""
    from .choices import resolve_formats

    given = formats if formats is None or isinstance(formats, str) else ",".join(formats)
    return resolve_formats(given or settings.get("format"))


def delivery(
    formats: list[str],
    *,
    bit_depth: str | None = None,
    sample_rate: int | None = None,
    bitrate: int | None = None,
    mixes: list[str] | None = None,
    mix_only: bool = False,
    no_tags: bool = False,
) -> Delivery:
    """The checked-syntax delivery options (what fits the model is checked by
    :meth:`Delivery.check`, once the stems are known)."""
    from .audio.formats import Rendering, parse_mix
    from .audio.plan import Delivery

    rendering = Rendering(
        bit_depth=None if bit_depth is None else bit_depth.strip().lower(),
        sample_rate=sample_rate,
        bitrate=bitrate,
        tags=not no_tags,
    )
    return Delivery(tuple(formats), tuple(parse_mix(m) for m in mixes or ()), mix_only, rendering)


def out_dir(settings: Settings, output: Path | None) -> Path:
    """The output folder (``-o``, else the setting), refused at once when it cannot be
    one: a file, an unwritable place, a name with a NUL character or over the file
    system's bytes per name. Permission errors from the OS (a folder that cannot even be
    looked into) are one line too."""
    source = "-o" if output is not None else settings.sources.get("output_dir", "output_dir")
    raw = str(output) if output is not None else settings.get("output_dir")
    if "\x00" in raw:
        raise UsageError(f"the output folder from {source} holds a NUL character", _OUT_HINT)
    try:
        folder = output if output is not None else Path(raw).expanduser()
    except RuntimeError:  # "~someone" with no such user
        raise UsageError(f"the output folder from {source} cannot be expanded", _OUT_HINT) from None
    from .folders import prove_writable
    from .naming import name_bytes, name_max

    for part in folder.parts:  # checked here: the OS's own error would come after paying
        if name_bytes(part) > name_max(folder):
            raise UsageError(
                f"the output folder name {part[:40]!r}... is {name_bytes(part)} bytes; the "
                f"file system allows {name_max(folder)} per name",
                _OUT_HINT,
            )
    # proven with a temporary file, removed at once: os.access says yes to root for /proc
    # and to anyone on a read-only mount, and the upload would go before the refusal
    prove_writable(folder.absolute(), probe=True)
    return folder
