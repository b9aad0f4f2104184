"""Readers behind :func:`gsep_cli.audio.tags.read_tags`: mutagen's ID3, MP4 atoms and
Vorbis comments (with FLAC pictures) turned into :class:`~gsep_cli.audio.tags.Tags` fields.

Imported only when tags are read (it imports mutagen). Each reader returns a dict of
field name -> value (None when absent); the caller builds the Tags.
"""

from __future__ import annotations

import base64
import re
from typing import Any

from .tags import FRONT_COVER, JOIN, Cover


def read_fields(audio: Any) -> dict[str, Any]:
    """The fields of a file mutagen opened (``mutagen.File``); ``{}`` for a kind of tag
    gsep does not read (APEv2, ASF...)."""
    from mutagen.flac import FLAC
    from mutagen.id3 import ID3
    from mutagen.mp4 import MP4Tags
    from mutagen.ogg import OggFileType

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
