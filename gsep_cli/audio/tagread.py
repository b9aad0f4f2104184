"""Readers behind :func:`gsep_cli.audio.tags.read_tags`: mutagen's ID3, MP4 atoms and
Vorbis comments (with FLAC pictures) turned into :class:`~gsep_cli.audio.tags.Tags` fields.

Imported only when tags are read (it imports mutagen). Each reader returns a dict of
field name -> value (None when absent); the caller builds the Tags.
"""

from __future__ import annotations

import base64
import importlib
import re
from pathlib import Path
from typing import Any

from ..media.sniff import sniff_stream
from .tagdata import FRONT_COVER, JOIN, Cover

MUTAGEN_CLASSES = {
    "wav": ("mutagen.wave", "WAVE"),  # mutagen 1.45 or newer
    "aiff": ("mutagen.aiff", "AIFF"),
    "flac": ("mutagen.flac", "FLAC"),
    "ogg": ("mutagen.oggvorbis", "OggVorbis"),
    "opus": ("mutagen.oggopus", "OggOpus"),
    "oggflac": ("mutagen.oggflac", "OggFLAC"),
    "mp3": ("mutagen.mp3", "MP3"),
    "mp4": ("mutagen.mp4", "MP4"),
    "mov": ("mutagen.mp4", "MP4"),
}
"""Kind -> mutagen's module and class for it."""

_OGG_CODECS = (  # the first packet's signature, after the 28-byte first page header
    (b"\x01vorbis", "ogg"),
    (b"OpusHead", "opus"),
    (b"\x7fFLAC", "oggflac"),
)


def open_as(kind: str, path: Path) -> Any:
    """The ``kind`` file (a key of :data:`MUTAGEN_CLASSES`) opened by its mutagen class.
    Raises ImportError when this mutagen has no such module, what mutagen raises for a
    file it cannot parse, OSError for one it cannot read."""
    module, name = MUTAGEN_CLASSES[kind]
    return getattr(importlib.import_module(module), name)(str(path))  # str: mutagen < 1.43


def open_tagged(path: Path) -> Any:
    """``path`` opened by the mutagen class its first bytes call for, or None for a kind
    gsep does not read tags of. Not ``mutagen.File``: that imports every format module
    (mutagen 1.39's apev2 does not even import on Python 3.10), and a file's bytes say
    what it is better than its name. Raises as :func:`open_as`."""
    with path.open("rb") as fp:
        head = fp.read(64)
        fp.seek(0)
        kind = sniff_stream(fp)
    if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        kind = "aiff"
    elif head[:4] == b"OggS":
        kind = next((k for sig, k in _OGG_CODECS if head[28:].startswith(sig)), None)
    return open_as(kind, path) if kind in MUTAGEN_CLASSES else None


def read_fields(audio: Any) -> dict[str, Any]:
    """The fields of a file :func:`open_tagged` opened; ``{}`` when it has no tags."""
    from mutagen.flac import FLAC
    from mutagen.id3 import ID3
    from mutagen.mp4 import MP4Tags
    from mutagen.ogg import OggFileType

    if audio is None or audio.tags is None:
        return {}
    if isinstance(audio.tags, ID3):
        return _from_id3(audio.tags)
    if isinstance(audio.tags, MP4Tags):
        return _from_mp4(audio.tags)
    if isinstance(audio, (FLAC, OggFileType)):
        pictures = list(getattr(audio, "pictures", []))
        return _from_vorbis(audio.tags, pictures)
    return {}


def _joined(values: Any) -> str | None:
    texts = [str(v) for v in values or () if str(v)]
    return JOIN.join(texts) if texts else None


_NUMBER = re.compile(r"\s*(\d+)\s*(?:/\s*(\d*)\s*)?$")


def _numbers(text: str | None) -> tuple[int | None, int | None]:
    """``"3"`` -> (3, None), ``"03/12"`` -> (3, 12); anything else (None, None)."""
    match = _NUMBER.match(text or "")
    if not match:
        return None, None
    total = match.group(2)
    return int(match.group(1)), int(total) if total else None


def first_number(text: str | None) -> int | None:
    """The number of ``"3"`` or ``"3/12"``; None for anything else."""
    return _numbers(text)[0]


def _from_id3(id3: Any) -> dict[str, Any]:
    def text(frame_id: str) -> str | None:
        frame = id3.get(frame_id)
        return _joined(frame.text) if frame is not None else None

    track, track_total = _numbers(text("TRCK"))
    disc, disc_total = _numbers(text("TPOS"))
    pictures = [p for p in id3.getall("APIC") if p.mime != "-->"]  # "-->": a link, not data
    front = next((p for p in pictures if p.type == FRONT_COVER), None) or next(iter(pictures), None)
    return {
        "title": text("TIT2"),
        "artist": text("TPE1"),
        "album": text("TALB"),
        "album_artist": text("TPE2"),
        "track": track,
        "track_total": track_total,
        "disc": disc,
        "disc_total": disc_total,
        "date": text("TDRC") or text("TYER"),
        "genre": text("TCON"),  # genre references already resolved by mutagen's loader
        "cover": cover_of(front.data, front.mime) if front is not None else None,
    }


def _from_mp4(atoms: Any) -> dict[str, Any]:
    from mutagen.mp4 import MP4Cover

    def pair(key: str) -> tuple[int | None, int | None]:
        values = atoms.get(key) or [(0, 0)]
        number, total = (*tuple(values[0]), 0, 0)[:2]
        return number or None, total or None

    genre = _joined(atoms.get("©gen"))
    if genre is None and atoms.get("gnre"):
        from mutagen.id3 import TCON

        index = int(atoms["gnre"][0]) - 1  # ID3v1 genre number + 1
        genre = TCON.GENRES[index] if 0 <= index < len(TCON.GENRES) else None
    covers = atoms.get("covr") or []
    mimes = {MP4Cover.FORMAT_JPEG: "image/jpeg", MP4Cover.FORMAT_PNG: "image/png"}
    return {
        "title": _joined(atoms.get("©nam")),
        "artist": _joined(atoms.get("©ART")),
        "album": _joined(atoms.get("©alb")),
        "album_artist": _joined(atoms.get("aART")),
        "track": pair("trkn")[0],
        "track_total": pair("trkn")[1],
        "disc": pair("disk")[0],
        "disc_total": pair("disk")[1],
        "date": _joined(atoms.get("©day")),
        "genre": genre,
        "cover": (
            cover_of(bytes(covers[0]), mimes.get(getattr(covers[0], "imageformat", 0), ""))
            if covers
            else None
        ),
    }


def _from_vorbis(comments: Any, pictures: list[Any]) -> dict[str, Any]:
    from mutagen.flac import Picture

    def text(*keys: str) -> str | None:
        return next((t for t in (_joined(comments.get(k)) for k in keys) if t), None)

    track, track_total = _numbers(text("TRACKNUMBER"))
    disc, disc_total = _numbers(text("DISCNUMBER"))
    for value in comments.get("METADATA_BLOCK_PICTURE") or []:
        try:
            pictures.append(Picture(base64.b64decode(value)))
        except Exception:  # a broken picture is skipped, not the whole tag
            continue
    front = next((p for p in pictures if p.type == FRONT_COVER), None) or next(iter(pictures), None)
    return {
        "title": text("TITLE"),
        "artist": text("ARTIST"),
        "album": text("ALBUM"),
        "album_artist": text("ALBUMARTIST", "ALBUM ARTIST"),
        "track": track,
        "track_total": _either(first_number(text("TRACKTOTAL", "TOTALTRACKS")), track_total),
        "disc": disc,
        "disc_total": _either(first_number(text("DISCTOTAL", "TOTALDISCS")), disc_total),
        "date": text("DATE", "YEAR"),
        "genre": text("GENRE"),
        "cover": cover_of(front.data, front.mime) if front is not None else None,
    }


def _either(first: int | None, second: int | None) -> int | None:
    return second if first is None else first


_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF8", "image/gif"),
    (b"BM", "image/bmp"),
)


def cover_of(data: bytes, mime: str) -> Cover | None:
    """A :class:`Cover` (None for no bytes); a missing MIME type from the image's magic."""
    if not data:
        return None
    if not mime:
        mime = next((m for sig, m in _SIGNATURES if data.startswith(sig)), "image/jpeg")
    return Cover(bytes(data), mime)
