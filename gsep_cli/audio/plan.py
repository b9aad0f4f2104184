"""What files a finished job gives the user, and how each is made: fetched as the API
gives it, or made on the client from the API's WAV stems (another format, depth or rate;
a mix) or from the lyrics CSV (LRC, SRT). Standard library only: the plan is made, and
checked, before any request.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ..errors import UsageError
from ..models import ModelSpec
from .formats import (
    API_FORMATS,
    AUDIO_FORMATS,
    DEPTHS_OF,
    LOSSY,
    LYRICS_FORMATS,
    Mix,
    Rendering,
    check_mixes,
    check_rendering,
)

LYRICS_OUTPUT = "lyrics"
"""The lyrics model's output that LRC and SRT are made from (its ``file`` is a CSV)."""


@dataclass(frozen=True)
class Deliverable:
    """One file the user gets: ``name`` (a stem, a mix or a document output) in ``fmt``
    with extension ``ext``, from the job's ``sources`` (output names) in the API format
    ``fetch`` (``wav``, ``mp3`` or ``file``). ``made``: made on the client from them;
    else it is the one source, downloaded as it is."""

    name: str
    fmt: str
    ext: str
    sources: tuple[str, ...]
    fetch: str
    made: bool

    @property
    def audio(self) -> bool:
        """Whether it is audio (tags apply; conversions need the audio extra)."""
        return self.fmt in AUDIO_FORMATS

    def recipe(self, rendering: Rendering) -> str:
        """What this file is made of and how, as the ledger records it: a re-run keeps a
        file only when it would make the very same (:func:`same_recipe`)."""
        tags = f"tags={int(rendering.tags)}" if self.audio else ""
        if not self.made:
            return f"{API_RECIPE};{tags}" if tags else API_RECIPE
        if not self.audio:
            return f"{self.fmt}<-{self.sources[0]}"
        r = rendering  # only what changes this format's file: a bit depth no lossy one
        depth = r.bit_depth if self.fmt in DEPTHS_OF else None
        kbps = r.bitrate if self.fmt in LOSSY else None
        how = f"depth={depth or ''};rate={r.sample_rate or ''};kbps={kbps or ''}"
        return f"{self.fmt}<-{'+'.join(sorted(self.sources))};{how};{tags}"


API_RECIPE = "api"
"""The recipe of a file downloaded as the API gives it (tags aside)."""


def same_recipe(recorded: str | None, wanted: str) -> bool:
    """Whether a file recorded with ``recorded`` is what ``wanted`` asks for; a file
    recorded before recipes were (None) was downloaded as the API gave it."""
    if recorded is None:
        return wanted.split(";", 1)[0] == API_RECIPE
    return recorded == wanted


@dataclass(frozen=True)
class Delivery:
    """How a job's results are delivered: the ``formats`` asked for (audio and lyrics
    formats alike, in the user's order), the ``mixes``, ``mix_only`` (keep the mixes, not
    the stems they sum) and the ``rendering`` of client-made audio (bit depth, rate, bit
    rate, tags)."""

    formats: tuple[str, ...] = ("wav",)
    mixes: tuple[Mix, ...] = ()
    mix_only: bool = False
    rendering: Rendering = field(default_factory=Rendering)

    def deliverables(self, spec: ModelSpec, stems: Sequence[str]) -> list[Deliverable]:
        """Every file for a job of ``spec`` created with ``stems``: each kept stem in each
        audio format, then each mix; a document output once (the lyrics in each lyrics
        format chosen, CSV when none is)."""
        audio = [f for f in self.formats if f in AUDIO_FORMATS]
        planned: list[Deliverable] = []
        for stem in [] if self.mix_only else stems:
            ext = spec.file_ext(stem)
            if ext is not None:
                planned.extend(self._document(stem, ext))
                continue
            for fmt in audio:
                made = self.rendering.changes(fmt)
                planned.append(Deliverable(stem, fmt, fmt, (stem,), "wav" if made else fmt, made))
        for mix in self.mixes:
            planned.extend(Deliverable(mix.name, f, f, mix.stems, "wav", True) for f in audio)
        return planned

    def _document(self, name: str, ext: str) -> list[Deliverable]:
        chosen = [f for f in self.formats if f in LYRICS_FORMATS]
        if name != LYRICS_OUTPUT or not chosen:
            return [Deliverable(name, "file", ext, (name,), "file", False)]
        return [Deliverable(name, f, f, (name,), "file", f != "csv") for f in chosen]

    def check(self, spec: ModelSpec, stems: Sequence[str]) -> None:
        """Refuse, before any request, what cannot be delivered (UsageError, exit 2):
        formats the model has no output for, mixes of stems it lacks, renderings no chosen
        format takes, and client-made audio without the audio extra."""
        documents = [s for s in spec.outputs if spec.file_ext(s) is not None]
        lyric_formats = [f for f in self.formats if f in LYRICS_FORMATS]
        if lyric_formats and LYRICS_OUTPUT not in documents:
            raise UsageError(
                f"--format {','.join(lyric_formats)} is for the lyrics model's lyrics",
                "Use wav, mp3, flac, ogg, opus or aiff for stems",
            )
        audio = [f for f in self.formats if f in AUDIO_FORMATS]
        if self.mixes:
            if documents:
                raise UsageError(f"model {spec.name} gives no audio to mix", "Drop --mix")
            if not audio:
                raise UsageError("--mix needs an audio format", "e.g. --format wav")
            check_mixes(self.mixes, spec.output_names, [] if self.mix_only else stems)
        elif self.mix_only:
            raise UsageError("--mix-only keeps only mixes, and none was given", "Add --mix")
        if documents:
            return
        check_rendering(audio, self.rendering)
        made = [f for f in audio if f not in API_FORMATS]
        changed = [f for f in audio if f in API_FORMATS and self.rendering.changes(f)]
        if self.mixes or made or changed:
            from . import require

            why = "--mix" if self.mixes else f"--format {made[0]}" if made else ""
            options = ", ".join(self.rendering.changed_by(changed[0])) if changed else ""
            require(why or f"--format {changed[0]} with {options}")

    def sources(self, stems: Sequence[str]) -> list[str]:
        """The stems the job must be created with: ``stems`` and those the mixes sum."""
        wanted = list(stems)
        for mix in self.mixes:
            wanted.extend(s for s in mix.stems if s not in wanted)
        return wanted
