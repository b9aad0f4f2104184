"""``separate``'s choices as a library call: checked (types and ranges as the command
line's parsers check them) and made into :class:`~gsep_cli.batch.BatchOptions`, and the
outputs planned (refusing collisions before paying). The batch then runs through a
session's ledger, so a second identical call re-attaches to the job on record instead of
paying again.

The command line (``gsep separate``) and :meth:`gsep_cli.session.Session.separate` (the
library's, the MCP server's) both go through :func:`batch_options` and
:meth:`~gsep_cli.session.Session.run_batch`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

if TYPE_CHECKING:
    from .batch import BatchOptions
    from .config import Settings
    from .ledger import Ledger


def batch_options(
    settings: Settings,
    *,
    warn: Callable[[str], None],
    model: str | None = None,
    stems: str | Sequence[str] | None = None,
    formats: str | Sequence[str] | None = None,
    out_dir: str | Path | None = None,
    to_stdout: bool = False,
    name_template: str | None = None,
    force: bool = False,
    skip_existing: bool = False,
    pay_again: bool = False,
    no_wait: bool = False,
    timeout: float | None = None,
    jobs: int = 3,
    lyrics: str | Path | None = None,
    language: str | None = None,
    manifest: str | Path | None = None,
    bit_depth: str | None = None,
    sample_rate: int | None = None,
    bitrate: int | None = None,
    mixes: str | Sequence[str] | None = None,
    mix_only: bool = False,
    no_tags: bool = False,
    stdout: BinaryIO | None = None,
    max_jobs: int | None = None,
) -> BatchOptions:
    """The checked options of one ``separate`` (every value as its command-line option;
    None: the setting, as for the CLI). ``stems``: ``"vocal,drum"`` or a list; ``formats``:
    ``"wav,flac"`` or a list; ``mixes``: one ``"NAME=STEM+STEM"`` or a list of them (a
    lone string is one value, never its characters); ``max_jobs``: the most new jobs the
    run may pay for (None: no limit). ``warn`` receives what a human should know.

    Raises TypeError for a value of the wrong type (:func:`check_values`: ``timeout="x"``,
    ``force="no"``) and :class:`~gsep_cli.errors.UsageError` (exit 2) for a choice that
    cannot work — before any request, so no credit is spent on it."""
    check_values(locals())
    from . import resolve
    from .batch import BatchOptions
    from .choices import get_model
    from .naming import DEFAULT_TEMPLATE, check_template

    chosen_model = resolve.model_name(settings, model)
    spec = get_model(chosen_model)
    chosen_formats = resolve.format_list(settings, formats)
    mix_list = [mixes] if isinstance(mixes, str) else list(mixes or ())
    stem_list = [stems] if isinstance(stems, str) else list(stems or ())
    delivery = resolve.delivery(
        chosen_formats,
        bit_depth=bit_depth,
        sample_rate=sample_rate,
        bitrate=bitrate,
        mixes=mix_list,
        mix_only=mix_only,
        no_tags=no_tags,
    )
    keep = resolve.stems(settings, chosen_model, stem_list or None, mixes=bool(mix_list))
    chosen = resolve.job_stems(spec, delivery.sources(keep))
    delivery.check(spec, keep)
    lang = resolve.lyrics_language(
        chosen_model,
        language,
        lyrics_given=lyrics is not None,
        formats=chosen_formats if formats else None,
        warn=warn,
    )
    template = check_template(name_template or DEFAULT_TEMPLATE)
    if to_stdout:
        folder = Path(".")
    else:
        folder = resolve.out_dir(settings, None if out_dir is None else Path(out_dir))
    resolve.check_overwrite_flags(force, skip_existing)
    return BatchOptions(
        chosen_model,
        chosen,
        chosen_formats,
        folder,
        template,
        force=force,
        skip_existing=skip_existing,
        pay_again=pay_again,
        no_wait=no_wait,
        timeout=timeout,
        jobs=jobs,
        lyrics=None if lyrics is None else Path(lyrics),
        language=lang,
        stdout=stdout,
        manifest=None if manifest is None else Path(manifest),
        delivery=delivery,
        keep=keep,
        max_jobs=max_jobs,
    )


#: What each of :func:`batch_options`' plain values must be (beyond None, "the
#: setting"): its type, and for a number its range (low, high; inf: no bound). The
#: command line's parsers give these already; a library caller may give anything.
_FLAGS = (
    *("force", "skip_existing", "pay_again", "no_wait", "mix_only", "no_tags", "to_stdout"),
    "recursive",  # Session.separate's own
)
_RANGES: dict[str, tuple[tuple[type, ...], float, float]] = {
    "jobs": ((int,), 1, 16),
    "parallel": ((int,), 1, 16),  # Session.separate's own
    "max_jobs": ((int,), 0, math.inf),
    "timeout": ((int, float), 0, math.inf),
    "sample_rate": ((int,), -math.inf, math.inf),  # their ranges: resolve.delivery's
    "bitrate": ((int,), -math.inf, math.inf),
}
_TEXTS = ("model", "name_template", "language", "bit_depth", "shard")  # shard: Session's
_PATHS = ("out_dir", "lyrics", "manifest")


def check_values(values: Mapping[str, object]) -> None:
    """Refuse, before anything is read or sent, a value a library caller gave that the
    command line could not: TypeError for the wrong type (a flag that is not a bool, so
    ``force="no"`` never means yes; a count that is not an int; a text that is not a
    str); :class:`~gsep_cli.errors.UsageError` (exit 2) for a number out of its range
    or not finite (``jobs`` and ``parallel`` 1-16, ``max_jobs`` and ``timeout`` 0 or
    more). Names absent from ``values``, and None values, are not checked."""
    from .errors import UsageError

    def wrong(name: str, wanted: str, value: object) -> TypeError:
        return TypeError(f"{name} must be {wanted}, not {type(value).__name__} {value!r}")

    for name, value in values.items():
        if value is None:
            continue
        if name in _FLAGS and not isinstance(value, bool):
            raise wrong(name, "True or False", value)
        if name in _TEXTS and not isinstance(value, str):
            raise wrong(name, "a str", value)
        if name in _PATHS and not isinstance(value, (str, os.PathLike)):
            raise wrong(name, "a path (str or os.PathLike)", value)
        if name in _RANGES:
            types, low, high = _RANGES[name]
            if isinstance(value, bool) or not isinstance(value, types):
                raise wrong(name, "a number" if float in types else "an int", value)
            if not low <= value <= high or value == math.inf:  # type: ignore[operator]
                where = f"{low:g} or more" if high == math.inf else f"between {low:g} and {high:g}"
                raise UsageError(f"{name}={value!r} is not {where}", f"Give {name} {where}")


#: :func:`batch_options`' keywords that only the command line gives (``-o -``: standard
#: output as the target); :meth:`gsep_cli.session.Session.separate` does not take them.
CLI_ONLY = frozenset({"warn", "to_stdout", "stdout"})


def library_choices() -> frozenset[str]:
    """The choices :meth:`gsep_cli.session.Session.separate` takes as keywords: those of
    :func:`batch_options`, less :data:`CLI_ONLY` (derived from its signature, so the two
    never differ)."""
    import inspect

    params = inspect.signature(batch_options).parameters
    named = {name for name, p in params.items() if p.kind is p.KEYWORD_ONLY}
    return frozenset(named - CLI_ONLY)


def check_choices(names: Sequence[str], where: str = "Session.separate()") -> None:
    """Raise TypeError, as Python does for a call, for the first of ``names`` that is not a
    choice (:func:`library_choices`), naming it and the close matches: a misspelt keyword
    (``stem=``) must not be ignored, or a run would pay for a job with the default."""
    from .suggest import did_you_mean

    allowed = library_choices()
    for name in names:
        if name not in allowed:
            guess = did_you_mean(name, allowed)
            raise TypeError(
                f"{where} got an unexpected keyword argument {name!r}"
                + (f"; {guess[0].lower()}{guess[1:]}" if guess else "")
            )


def planned_paths(
    options: BatchOptions,
    paths: Sequence[Path],
    ledger: Ledger | None,
    jobs: list[str] | None = None,
) -> list[list[Path]]:
    """Every input's output paths; UsageError, before any request, when two outputs of
    the batch would be one file. With ``{job}`` in the template, inputs with the same
    content share one job, so they stand for it by their content (``ledger``: None for a
    dry run, which hashes without the ledger's cache and leaves no trace), unless
    ``jobs`` gives each input's job id (known: a job on record)."""
    from .batch import content_placeholders
    from .choices import get_model, planned_outputs
    from .naming import plan_outputs

    outputs = planned_outputs(
        get_model(options.model), options.kept_stems, options.formats, options.chosen_delivery
    )
    if jobs is None and "{job}" in options.template:
        jobs = content_placeholders(options, list(paths), ledger)
    return plan_outputs(
        list(paths), options.out_dir, options.template, outputs, options.model, jobs=jobs
    )
