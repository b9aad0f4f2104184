"""Making the files the API does not give, from the ones it does: each needed WAV stem
(or the lyrics CSV) is fetched once into a hidden folder beside the results, every file
made from it is written through the downloader's temporary-file-and-atomic-move path,
and the fetched sources are removed at the end, whatever happened.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ..audio.formats import Rendering
from ..audio.plan import Deliverable
from ..models import Output

if TYPE_CHECKING:
    from ..audio.tags import Tags
    from ..download import Downloader
    from ..progress import Listener

SOURCES_FOLDER = ".gsep-sources"
"""Where the stems that files are made from wait (inside the output folder: the same
file system as the results, and room for a long stem that /tmp may not have)."""


@contextlib.contextmanager
def fetched_sources(
    downloader: Downloader,
    needed: Mapping[tuple[str, str], Output],
    out_dir: Path,
    *,
    job_id: str,
    subject: str,
) -> Iterator[dict[tuple[str, str], Path]]:
    """Download each of ``needed`` ((output name, format) → Output) once into
    ``out_dir/.gsep-sources``; yield their paths by the same keys; remove them (and the
    folder, once empty) on the way out."""
    folder = out_dir / SOURCES_FOLDER
    tag = hashlib.sha256(job_id.encode()).hexdigest()[:12]
    paths: dict[tuple[str, str], Path] = {}
    try:
        for (name, fmt), output in needed.items():
            path = folder / f"{tag}-{_safe(name)}.{'wav' if fmt == 'wav' else 'src'}"
            downloader.fetch(
                output.url,
                path,
                key=f"source:{path}",
                label=f"{name}.{fmt}",
                subject=subject,
                force=True,  # ours: a leftover of a killed run is simply replaced
            )
            paths[(name, fmt)] = path
        yield paths
    finally:
        for path in paths.values():
            with contextlib.suppress(OSError):
                path.unlink()
        with contextlib.suppress(OSError):
            folder.rmdir()  # only when empty: another run may be using it


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name)[:64]


def maker(
    item: Deliverable,
    sources: Mapping[tuple[str, str], Path],
    rendering: Rendering,
    *,
    tagger: Callable[[Path, Deliverable], None] | None,
    listener: Listener,
    downloader: Downloader,
    shown: str,
) -> Callable[[Path], None]:
    """The ``make`` of :meth:`Downloader.produce` for one client-made file: a conversion
    or a mix (then tags), or LRC/SRT from the lyrics CSV. ``shown`` names the file in a
    notice about clipped samples."""
    inputs = [sources[(name, item.fetch)] for name in item.sources]

    def make(tmp: Path) -> None:
        if not item.audio:
            from ..lyricsfmt import convert_lyrics

            convert_lyrics(inputs[0], tmp, item.fmt)
            return
        from ..audio.convert import convert

        done = convert(inputs, tmp, item.fmt, rendering, cancelled=downloader.cancelled)
        if done.clipped:
            listener.notice(clip_notice(shown, done.clipped, done.peak))
        if tagger is not None:
            tagger(tmp, item)

    return make


def clip_notice(shown: str, clipped: int, peak: float | None) -> str:
    """What the user is told when samples went over full scale and were clipped."""
    level = f" (peak {20 * math.log10(peak):+.1f} dBFS)" if peak else ""
    return (
        f"{shown}: {clipped} samples over full scale were clipped{level}; "
        "--bit-depth 32f (wav, aiff) keeps them"
    )


def tag_writer(tags: Tags | None, title: str) -> Callable[[Path, Deliverable], None] | None:
    """Writes ``tags`` (the input's) into a finished audio file, titled after its stem or
    mix; None when the input has no tags (gsep copies tags, it does not invent them)."""
    if tags is None or tags.empty:
        return None
    from ..audio.tags import write_tags

    def write(path: Path, item: Deliverable) -> None:
        write_tags(path, item.fmt, tags, stem=item.name, fallback_title=title)

    return write


def ordered(plan: Sequence[Path], items: Mapping[Path, object]) -> list[object]:
    """``items`` in the order of ``plan`` (the user's stem and format order)."""
    return [items[p] for p in plan if p in items]
