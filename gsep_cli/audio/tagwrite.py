"""Writers behind :func:`gsep_cli.audio.tags.write_tags`: an ID3v2.4 tag into MP3, WAV
and AIFF files, Vorbis comments and a FLAC PICTURE into FLAC, Ogg Vorbis and Ogg Opus
files (the conventions and their specifications: :mod:`gsep_cli.audio.tags`).

Imported only when tags are written (it imports mutagen). Errors are mutagen's and
OSError; the caller turns them into gsep's.
"""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any

from mutagen import id3 as frames
from mutagen.flac import Picture

from .tagdata import FRONT_COVER, Tags
from .tagread import open_as


def write_id3_file(path: Path, tags: Tags, title: str, kind: str) -> None:
    """Replace the ID3v2.4 tag's fields of the ``kind`` ("mp3", "wav", "aiff") file."""
    audio = open_as(kind, path)
    if audio.tags is None:
        audio.add_tags()
    _to_id3(audio.tags, tags, title)
    audio.save(v2_version=4)


_ID3_TEXT = {"TPE1": "artist", "TALB": "album", "TPE2": "album_artist"}
_ID3_REFERENCE = re.compile(r"\((?:\d+|RX|CR)\)")
_ID3_DATE = re.compile(r"\d{4}(?:-\d{2}(?:-\d{2})?)?")


def id3_date(date: str | None) -> str | None:
    """``date`` as an ID3v2.4 timestamp (section 4.2.5): its leading ``yyyy[-MM[-dd]]``,
    else the first 4-digit year in it, else None (``"Summer 1999"`` -> ``"1999"``)."""
    if not date:
        return None
    match = _ID3_DATE.match(date.strip()) or re.search(r"(?<!\d)\d{4}(?!\d)", date)
    return match.group(0) if match else None


def id3_genre(genre: str | None) -> str | None:
    """``genre`` as TCON text. A text that starts like an ID3v2.3 genre reference
    ("(17)", "(RX)") gets that version's escape, a doubled "(", which readers of v2.4
    still honour, so that "(17) Live" is not read as "Rock". Texts that are v2.4
    references themselves (a number 0-255, "RX", "CR": section 4.2.3) cannot be escaped:
    they are kept and read back as the genre they name."""
    if not genre:
        return None
    return "(" + genre if _ID3_REFERENCE.match(genre) else genre


def _to_id3(id3: Any, tags: Tags, title: str) -> None:
    def put(frame_id: str, text: str | None) -> None:
        id3.delall(frame_id)
        if text:
            id3.add(getattr(frames, frame_id)(encoding=frames.Encoding.UTF8, text=[text]))

    put("TIT2", title)
    for frame_id, name in _ID3_TEXT.items():
        put(frame_id, getattr(tags, name))
    put("TRCK", _id3_pair(tags.track, tags.track_total))
    put("TPOS", _id3_pair(tags.disc, tags.disc_total))
    put("TDRC", id3_date(tags.date))
    put("TCON", id3_genre(tags.genre))
    id3.delall("APIC")
    if tags.cover is not None:
        id3.add(
            frames.APIC(
                encoding=frames.Encoding.UTF8,
                mime=tags.cover.mime,
                type=frames.PictureType.COVER_FRONT,
                desc="",
                data=tags.cover.data,
            )
        )


def _id3_pair(number: int | None, total: int | None) -> str | None:
    """TRCK/TPOS text: "n/total" or "n". ID3 has no place for a total without a number,
    so that total is left out."""
    if number is None:
        return None
    return f"{number}/{total}" if total is not None else str(number)


VORBIS_NAMES = {
    "artist": "ARTIST",
    "album": "ALBUM",
    "album_artist": "ALBUMARTIST",
    "track": "TRACKNUMBER",
    "track_total": "TRACKTOTAL",
    "disc": "DISCNUMBER",
    "disc_total": "DISCTOTAL",
    "date": "DATE",
    "genre": "GENRE",
}
"""Tags field -> Vorbis comment name (TITLE is written from the stem's title)."""

_VORBIS_ALIASES = ("TOTALTRACKS", "TOTALDISCS", "ALBUM ARTIST", "COVERART", "COVERARTMIME")


def write_vorbis_file(path: Path, tags: Tags, title: str, kind: str) -> None:
    """Replace the Vorbis comments' fields (and the cover) of the ``kind`` ("flac", "ogg",
    "opus") file."""
    audio = open_as(kind, path)
    if audio.tags is None:
        audio.add_tags()
    comments = audio.tags
    for key in ("TITLE", "METADATA_BLOCK_PICTURE", *VORBIS_NAMES.values(), *_VORBIS_ALIASES):
        if key in comments:
            del comments[key]
    comments["TITLE"] = title
    for field, key in VORBIS_NAMES.items():
        value = getattr(tags, field)
        if value is not None and value != "":
            comments[key] = str(value)
    picture = None
    if tags.cover is not None:
        picture = Picture()
        picture.type = FRONT_COVER
        picture.mime = tags.cover.mime
        picture.data = tags.cover.data
    if kind == "flac":
        audio.clear_pictures()
        if picture is not None:
            audio.add_picture(picture)
    elif picture is not None:
        comments["METADATA_BLOCK_PICTURE"] = base64.b64encode(picture.write()).decode("ascii")
    audio.save()
