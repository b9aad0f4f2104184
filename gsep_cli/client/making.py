"""Making the files the API does not give, from the ones it does: each needed WAV stem
(or the lyrics CSV) is fetched once into a hidden folder beside the results, every file
made from it is written through the downloader's temporary-file-and-atomic-move path,
and the fetched sources are removed at the end, whatever happened.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from ..audio.formats import Rendering
from ..audio.plan import Deliverable
from ..errors import UsageError
from ..models import Output

if TYPE_CHECKING:
    from ..audio.tags import Tags
    from ..download import Downloader
    from ..progress import Listener

LOCK_NAME = ".lock"
SWEEP_AGE = 60.0
"""Seconds a source folder's lock file must have existed before a folder nobody holds is
removed (between creating and locking it, a live gsep holds nothing yet)."""
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
    """Download each of ``needed`` ((output name, format) → Output) once into a folder
    of this call's own under ``out_dir/.gsep-sources`` (locked while in use, so two gsep
    processes writing one job never share a source, and a later run removes what a killed
    one left); yield their paths by the same keys; remove them on the way out."""
    from ..download import lock_file

    if not needed:  # every source is already here as a result
        yield {}
        return
    parent = out_dir / SOURCES_FOLDER
    tag = hashlib.sha256(job_id.encode()).hexdigest()[:12]
    try:
        parent.mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(prefix=f"{tag}-", dir=parent))
    except OSError as exc:
        raise UsageError(
            f"cannot make {parent} for the stems to convert: {exc.strerror or exc}",
            f"Move whatever is at {parent} away (gsep keeps its stems there while it "
            "converts them)",
        ) from None
    try:
        with downloader.scratch(folder), open(folder / LOCK_NAME, "wb") as held:
            lock_file(held)
            _sweep(parent, keep=folder)
            paths: dict[tuple[str, str], Path] = {}
            for (name, fmt), output in needed.items():
                path = folder / f"{_safe(name)}.{'wav' if fmt == 'wav' else 'src'}"
                downloader.fetch(
                    output.url, path, key=f"source:{path}", label=f"{name}.{fmt}", subject=subject
                )
                paths[(name, fmt)] = path
            yield paths
    finally:
        with contextlib.suppress(OSError):
            parent.rmdir()  # only when empty: another run may be using it


def _sweep(parent: Path, *, keep: Path) -> None:
    """Remove the source folders under ``parent`` that no live gsep holds (kill -9 left
    them): those whose lock file can be locked at once."""
    from ..download import lock_file

    for folder in parent.iterdir():
        if folder == keep or not folder.is_dir():
            continue
        try:
            with open(folder / LOCK_NAME, "rb") as fh:
                # young: its gsep may not have locked it yet; locked: alive
                young = time.time() - os.fstat(fh.fileno()).st_mtime < SWEEP_AGE
                if young or not lock_file(fh, wait=False):
                    continue
        except FileNotFoundError:
            pass  # being made just now, or a lock already gone: leave it
        except OSError:
            continue
        else:
            shutil.rmtree(folder, ignore_errors=True)


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

        done = convert(inputs, tmp, item.fmt, rendering, cancelled=downloader.cancelled, name=shown)
        if done.clipped:
            listener.notice(clip_notice(shown, done.clipped, done.peak))
        if done.nonfinite:
            listener.notice(
                f"{shown}: {done.nonfinite} samples of the stem were not numbers (NaN or "
                "infinite); written as silence or full scale"
            )
        for note in done.notes:
            listener.notice(f"{shown}: {note}")
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
