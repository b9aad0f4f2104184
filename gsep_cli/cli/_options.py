"""Options several commands share, as reusable ``Annotated`` types, and the tab completion
of their values (cheap: no network, no heavy imports)."""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer

Number = TypeVar("Number", int, float)

STEMS_HELP = (
    "Stems: vocal,drum,bass,electric_guitar,acoustic_piano (model-dependent), "
    "comma-separated or repeated; 'all' = every stem of the model; 'others' = "
    "the residual (downloaded, never sent). Default: vocal (config 'stems')."
)
MODEL_HELP = "Model (default gsep_music_hq_v1, or config 'model')."
FORMAT_HELP = (
    "wav, mp3, both, or a list: flac, ogg, opus, aiff made from the WAV stem (audio extra); "
    "csv, lrc, srt for lyrics (default wav, or config 'format')."
)
DRY_RUN_HELP = (
    "Check everything local (file, format, size, duration, stems, outputs, key) and print "
    "what would be sent, without any request."
)
LYRICS_HELP = (
    "gts_lyrics_line_v1: the lyrics, a UTF-8 .txt file with one line per lyric line (uploaded too)."
)
LANGUAGE_HELP = "gts_lyrics_line_v1: the lyrics' language: en, ko, ja or zh-cn."
TEMPLATE_HELP = (
    "Output path inside DIR; fields {track} {trackext} {dir} {stem} {ext} {model} {job}. "
    "Default: {track}/{stem}.{ext}"
)
OUTPUT_HELP = "Output folder (default: current folder); - writes the one chosen stem to stdout."


def between(low: float, high: float | None = None) -> Callable[[Number], Number]:
    """A typer callback refusing a number outside ``low..high`` (``high`` None: no upper
    bound). Used instead of typer's ``min``/``max``, whose help adds ``[1<=x<=16]`` beside
    the range the help text already gives in words."""
    where = f"between {low:g} and {high:g}" if high is not None else f"{low:g} or more"

    def check(value: Number) -> Number:
        if value is not None and (value < low or (high is not None and value > high)):
            raise typer.BadParameter(f"{value:g} is not {where}")
        return value

    return check


def complete_model(incomplete: str) -> list[str]:
    from ..models import MODELS

    return [name for name in MODELS if name.startswith(incomplete)]


def amount(option: str, unit: str, low: float = 0) -> Callable[[str], float]:
    """The one check of a number option given in ``unit`` (``--timeout`` seconds,
    ``--older-than`` days): a typer ``parser`` returning a finite float of ``low`` or
    more; anything else is a :class:`~gsep_cli.errors.UsageError` in the house wording
    (``nan`` or ``inf`` would mean no bound)."""
    from ..errors import UsageError

    def parse(text: str) -> float:
        hint = f"Give a number of {unit}, e.g. {option} 30"
        try:
            value = float(text)
        except ValueError:
            raise UsageError(f"{option} must be a number of {unit}, not {text!r}", hint) from None
        if not math.isfinite(value):
            raise UsageError(f"{option} must be a finite number of {unit}, not {text!r}", hint)
        if value < low:
            raise UsageError(f"{option}: {value:g} is not {low:g} or more", hint)
        return value

    return parse


def model_in_effect(ctx: typer.Context) -> str:
    """The model a command being completed would use: ``-m`` on the line, else
    GSEP_MODEL, else the profile's (``--profile``/GSEP_PROFILE) config ``model``, else
    the default. Never raises: a config that cannot be read counts as absent."""
    from ..errors import GsepError
    from ..models import DEFAULT_MODEL

    given = ctx.params.get("model")
    if given:
        return str(given)
    state = ctx.find_root().obj
    try:
        from ..config import load_settings

        return load_settings(profile=getattr(state, "profile", None), keyless=True).get("model")
    except GsepError:
        return os.environ.get("GSEP_MODEL") or DEFAULT_MODEL


def complete_stems(ctx: typer.Context, incomplete: str) -> list[str]:
    """Values of ``--stems`` that are valid as they stand once accepted, for the model in
    effect (:func:`model_in_effect`): ``all`` only alone, each stem once (stems given by
    earlier ``--stems`` options count), and ``others`` (the residual, never sent) only
    where the choice stays valid, after a stem for models that take a ``type``."""
    from ..models import DEFAULT_MODEL, MODELS, RESIDUAL

    spec = MODELS.get(model_in_effect(ctx), MODELS[DEFAULT_MODEL])
    done, _, last = incomplete.rpartition(",")
    earlier = [t.strip() for v in ctx.params.get("stems") or () for t in str(v).split(",")]
    typed = [t.strip() for t in done.split(",")] if done else []
    taken = [t for t in [*earlier, *typed] if t]
    if len(set(taken)) != len(taken) or any(t not in spec.output_names for t in taken):
        return []  # 'all', a repeated or an unknown stem already: nothing valid follows
    if taken:
        names = [n for n in spec.output_names if n not in taken]
    else:  # the first stem: 'others' alone sends nothing when the model takes a type
        names = [n for n in spec.output_names if n != RESIDUAL or not spec.needs_type]
        names.append("all")
    prefix = f"{done}," if done else ""
    return [prefix + n for n in names if n.startswith(last)]


def complete_format(incomplete: str) -> list[str]:
    """The formats, after any already given (``flac,`` → ``flac,mp3``...). Written out,
    not imported: completion loads nothing it does not need (tests/test_startup.py)."""
    head, comma, last = incomplete.rpartition(",")
    audio = ("wav", "flac", "aiff", "mp3", "ogg", "opus")
    names = audio if comma else ("both", *audio, "csv", "lrc", "srt")
    return [head + comma + f for f in names if f.startswith(last)]


def complete_language(incomplete: str) -> list[str]:
    from ..models import LYRICS_LANGUAGES

    return [lang for lang in LYRICS_LANGUAGES if lang.startswith(incomplete.lower())]


Model = Annotated[
    str | None,
    typer.Option("--model", "-m", metavar="MODEL", help=MODEL_HELP, autocompletion=complete_model),
]
Stems = Annotated[
    list[str] | None,
    typer.Option("--stems", "-s", metavar="LIST", help=STEMS_HELP, autocompletion=complete_stems),
]
Format = Annotated[
    str | None,
    typer.Option(
        "--format", "-f", metavar="FORMAT", help=FORMAT_HELP, autocompletion=complete_format
    ),
]
Output = Annotated[Path | None, typer.Option("--output", "-o", metavar="DIR", help=OUTPUT_HELP)]
NameTemplate = Annotated[
    str | None, typer.Option("--name-template", metavar="TEMPLATE", help=TEMPLATE_HELP)
]
Force = Annotated[bool, typer.Option("--force", help="Overwrite existing files.")]
SkipExisting = Annotated[
    bool, typer.Option("--skip-existing", help="Keep existing files, download the rest.")
]
DryRun = Annotated[bool, typer.Option("--dry-run", help=DRY_RUN_HELP)]
Language = Annotated[
    str | None,
    typer.Option(
        "--language", metavar="LANG", help=LANGUAGE_HELP, autocompletion=complete_language
    ),
]
JobId = Annotated[
    str, typer.Argument(metavar="JOB_ID", help="Job id (from job create or separate).")
]
Parallel = Annotated[
    int,
    typer.Option(
        "--parallel", metavar="N", callback=between(1, 16), help="Upload parts sent at once, 1-16."
    ),
]
Timeout = Annotated[
    float | None,
    typer.Option(
        "--timeout",
        metavar="SECONDS",
        parser=amount("--timeout", "seconds"),
        help="Give up waiting after SECONDS (exit 8). Default: no limit.",
    ),
]
BitDepth = Annotated[
    str | None,
    typer.Option(
        "--bit-depth",
        metavar="BITS",
        help="16, 24 or 32f for wav, flac and aiff made from the stems (default: the stem's).",
    ),
]
SampleRate = Annotated[
    int | None,
    typer.Option(
        "--sample-rate",
        metavar="HZ",
        help="Resample the stems (soxr, very high quality), e.g. 44100 (default: the stem's).",
    ),
]
Bitrate = Annotated[
    int | None,
    typer.Option(
        "--bitrate",
        metavar="KBPS",
        help="kbps for mp3 (CBR), ogg and opus (default: mp3 320, ogg ~128, opus auto).",
    ),
]
Mixes = Annotated[
    list[str] | None,
    typer.Option(
        "--mix",
        metavar="MIX",
        help="NAME=STEM+STEM: also write the sum of stems as NAME, e.g. "
        "backing=drum+bass+others (repeatable).",
    ),
]
MixOnly = Annotated[
    bool, typer.Option("--mix-only", help="Keep only the mixes, not the stems they sum.")
]
NoTags = Annotated[
    bool, typer.Option("--no-tags", help="Do not copy the input's tags onto the stems.")
]
