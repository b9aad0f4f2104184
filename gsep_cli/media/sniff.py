"""Naming a container from its first bytes, after any leading ID3v2 tags."""

from __future__ import annotations

from io import BytesIO

from .mpeg import find_first_frame, mpeg_frame_header
from .stream import ByteStream, read_exact

EXTENSION_KINDS: dict[str, str] = {
    ".wav": "wav",
    ".flac": "flac",
    ".mp3": "mp3",
    ".m4a": "mp4",
    ".mp4": "mp4",
    ".mov": "mov",
    ".txt": "txt",
}
"""File-name extension (lower case, with the dot) -> the kind :func:`sniff_format` returns."""


SNIFF_BYTES = 64
"""Bytes after the leading ID3v2 tags that :func:`sniff_stream` looks at."""


ID3V2_HEADER_BYTES = 10


_ID3V2_FOOTER_FLAG = 0x10


_MAX_ID3V2_TAGS = 64


def sniff_stream(fp: ByteStream) -> str | None:
    """Name the container of the stream that starts at ``fp``'s position.

    Leading ID3v2 tags (:func:`skip_id3v2`) are skipped and what follows them is sniffed,
    so a FLAC or an M4A with an ID3 tag in front keeps its kind. Tags followed by MPEG
    audio, or by nothing recognisable, are MP3 (ID3v2 is MP3's own tag format). Without
    tags, a stream that opens with no known signature is MP3 when an MPEG audio frame
    followed by another of the same stream (``strict``) starts within the first
    :data:`~gsep_cli.media.mpeg.SYNC_SEARCH_BYTES` (64 KiB: junk or padding before the
    first frame, which decoders skip). Returns ``"wav"``, ``"flac"``, ``"mp3"``, ``"mp4"``
    (MP4 and M4A) or ``"mov"``, or None when nothing matches (text is never sniffed).
    Reads at most the tag headers, :data:`SNIFF_BYTES` and that window; ``fp`` is left
    where it was.
    """
    start = fp.tell()
    try:
        tags = skip_id3v2(fp)
        audio = fp.tell()
        kind = _sniff_container(read_exact(fp, SNIFF_BYTES))
        if kind is None and not tags and find_first_frame(fp, audio, strict=True) is not None:
            kind = "mp3"  # junk before the first frame, as decoders and mutagen allow
    finally:
        fp.seek(start)
    return "mp3" if kind is None and tags else kind


def sniff_format(head: bytes) -> str | None:
    """:func:`sniff_stream` over the first bytes of a file (pass at least 64 when
    available). ID3v2 tags that end within ``head`` are skipped; one that runs past its
    end leaves nothing recognisable after it, so the answer is ``"mp3"``."""
    return sniff_stream(BytesIO(head))


def _sniff_container(head: bytes) -> str | None:
    """The container whose signature opens ``head`` (ID3v2 tags already skipped)."""
    if len(head) < 4:
        return None
    if head[8:12] == b"WAVE" and head[:4] in (b"RIFF", b"RF64", b"BW64"):
        return "wav"
    if head[:4] == b"fLaC":
        return "flac"
    iso = _iso_bmff_kind(head)
    if iso is not None:
        return iso
    if _is_truncated_id3(head) or mpeg_frame_header(head) is not None:
        return "mp3"
    return None


def _iso_bmff_kind(head: bytes) -> str | None:
    """``"mp4"``/``"mov"`` for an ISO-BMFF/QuickTime file, else None."""
    if len(head) < 8:
        return None
    size = int.from_bytes(head[:4], "big")
    box = head[4:8]
    if box == b"ftyp":
        if len(head) < 12 or size < 16 or size % 4:
            return None
        return "mov" if head[8:12] == b"qt  " else "mp4"
    if box in (b"moov", b"mdat", b"wide", b"free") and (size in (0, 1) or size >= 8):
        return "mov"
    return None


def id3v2_tag_length(header: bytes) -> int | None:
    """Bytes taken by the ID3v2 tag opening with this 10-byte ``header``: header, body and
    footer; None when the bytes are not a valid ID3v2 header (ID3v2.4 section 3.1)."""
    if len(header) < ID3V2_HEADER_BYTES or not _is_id3_header(header):
        return None
    size = 0
    for byte in header[6:10]:  # sync-safe: 7 bits per byte, most significant first
        size = (size << 7) | byte
    footer = ID3V2_HEADER_BYTES if header[5] & _ID3V2_FOOTER_FLAG else 0
    return ID3V2_HEADER_BYTES + size + footer


def skip_id3v2(fp: ByteStream) -> int:
    """Move ``fp`` past the ID3v2 tags that start at its position; return how many.

    ``fp`` ends right after the last tag (possibly past the end of a truncated file), or
    where it was when no tag is there.
    """
    for count in range(_MAX_ID3V2_TAGS):
        start = fp.tell()
        length = id3v2_tag_length(read_exact(fp, ID3V2_HEADER_BYTES))
        if length is None:
            fp.seek(start)
            return count
        fp.seek(start + length)
    return _MAX_ID3V2_TAGS


def _is_id3_header(head: bytes) -> bool:
    """True when ``head`` opens with a full, valid ID3v2 header."""
    return (
        head[:3] == b"ID3"
        and head[3] < 0xFF
        and head[4] < 0xFF
        and all(b < 0x80 for b in head[6:10])
    )


def _is_truncated_id3(head: bytes) -> bool:
    """True for a file that ends inside an ID3v2 header: still an MP3's tag."""
    return head[:3] == b"ID3" and len(head) < ID3V2_HEADER_BYTES
