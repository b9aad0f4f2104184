"""The RIFF ``LIST``/``INFO`` chunk of a WAV file, read with the standard library (mutagen
reads a WAV's ``id3 `` chunk but not its INFO list).

The INFO list is the Resource Interchange File Format's own metadata (Microsoft/IBM,
"Multimedia Programming Interface and Data Specifications 1.0", 1991, section 2-14;
``ITRK``/``IPRT`` for the track number are later, common additions): sub-chunks with a
four-letter id and a NUL-terminated text each.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from io import SEEK_END
from pathlib import Path
from typing import BinaryIO

from ..media.stream import read_at
from ..media.wav import _next_chunk

INFO_FIELDS = {
    b"INAM": "title",
    b"IART": "artist",
    b"IPRD": "album",
    b"ICRD": "date",
    b"IGNR": "genre",
    b"ITRK": "track",
    b"IPRT": "track",
}
"""INFO sub-chunk id -> the :class:`~gsep_cli.audio.tags.Tags` field it gives (as text)."""

_MAX_CHUNKS = 4096
_MAX_TEXT = 64 * 1024


def read_riff_info(path: Path) -> dict[str, str]:
    """The INFO texts of the WAV at ``path``, by field name (``{"title": "Song", "track":
    "3"}``; the first of ``ITRK`` and ``IPRT`` wins). Texts are UTF-8 when they decode as
    such, else Latin-1 (older writers' code page); empty ones are left out. Anything that
    is not a WAV, or a malformed chunk, ends the walk with what was found so far: never an
    exception (an unreadable file gives ``{}``)."""
    found: dict[str, str] = {}
    for fp, chunk_id, pos, size, end in _chunks(path):
        if chunk_id == b"LIST" and read_at(fp, pos + 8, 4) == b"INFO":
            body = read_at(fp, pos + 12, min(size - 4, end - pos - 12, 16 * _MAX_TEXT))
            _parse_info(body, found)
    return found


def wav_without_id3(path: Path) -> bool:
    """Whether ``path`` is a WAV with no ID3 chunk (``id3 `` or ``ID3 ``): then its INFO
    list is all there is, and mutagen need not even be imported (False for another kind
    of file, or an unreadable one)."""
    ids = [chunk_id for _, chunk_id, _, _, _ in _chunks(path)]
    return bool(ids) and not any(i in (b"id3 ", b"ID3 ") for i in ids)


def _chunks(path: Path) -> Iterator[tuple[BinaryIO, bytes, int, int, int]]:
    """(open file, chunk id, offset, size, file size) of each top-level chunk of a WAV;
    nothing for another kind of file, and the walk ends at the first malformed chunk."""
    try:
        with path.open("rb") as fp:
            end = fp.seek(0, SEEK_END)
            head = read_at(fp, 0, 12)
            if len(head) < 12 or head[:4] not in (b"RIFF", b"RF64") or head[8:] != b"WAVE":
                return
            pos = 12
            for _ in range(_MAX_CHUNKS):
                if pos + 8 > end:
                    break
                chunk_id, size = struct.unpack("<4sI", read_at(fp, pos, 8))
                yield fp, chunk_id, pos, size, end
                pos = _next_chunk(fp, pos + 8, size, end)
    except (OSError, struct.error, ValueError):
        return


def _parse_info(body: bytes, found: dict[str, str]) -> None:
    """Add the known sub-chunks of an INFO list's ``body`` (after ``INFO``) to ``found``."""
    at = 0
    while at + 8 <= len(body):
        sub_id, size = struct.unpack_from("<4sI", body, at)
        raw = body[at + 8 : at + 8 + min(size, _MAX_TEXT)]
        at += 8 + size + (size & 1)
        name = INFO_FIELDS.get(sub_id)
        if name is None or name in found:
            continue
        text = _decode(raw.split(b"\x00", 1)[0]).strip()
        if text:
            found[name] = text


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")
