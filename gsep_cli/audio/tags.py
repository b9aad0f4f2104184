"""The input's tags, copied onto every stem: :func:`read_tags` from any input gsep takes,
:func:`write_tags` into a finished WAV, AIFF, FLAC, Ogg Vorbis, Ogg Opus or MP3 file.

mutagen does the reading and writing (imported inside the functions: gsep's start-up does
not pay for it). Each format gets its own conventions:

* MP3, WAV and AIFF: an ID3v2.4 tag (for WAV an ``id3 `` chunk, for AIFF an ``ID3 ``
  chunk), frames per ID3v2.4.0 "Native Frames" (id3.org, 2000): TIT2 title, TPE1 artist,
  TALB album, TPE2 album artist (the de-facto use), TRCK and TPOS "n" or "n/total"
  (section 4.2.1), TDRC recording time as an ISO 8601 ``yyyy[-MM[-dd]]`` (section 4.2.5),
  TCON genre (section 4.2.3), APIC picture type 3 "Cover (front)" (section 4.14). WAV's
  RIFF INFO list is read (:mod:`gsep_cli.audio.riffinfo`) but not written: mutagen cannot
  write it, so WAV stems carry the ID3 chunk only.
* FLAC, Ogg Vorbis, Ogg Opus: Vorbis comments, names per the Xiph field recommendations
  (xiph.org/vorbis/doc/v-comment.html: TITLE, ARTIST, ALBUM, TRACKNUMBER, DATE, GENRE)
  and the de-facto names proposed on the Xiph wiki's "Field names" page (ALBUMARTIST,
  TRACKTOTAL, DISCNUMBER, DISCTOTAL; TOTALTRACKS and TOTALDISCS are read too). The
  cover is a FLAC PICTURE (RFC 9639 section 8.8): a PICTURE metadata block in FLAC, and
  in Ogg the same structure base64-encoded in a METADATA_BLOCK_PICTURE comment (Xiph
  wiki "VorbisComment", "Cover art"; Opus's comment header is the same format, RFC 7845
  section 5.2). Its width, height and depth are left 0: gsep does not decode images,
  and readers take them from the image.
* M4A/MP4 inputs (read only): the iTunes ``ilst`` atoms ``©nam ©ART ©alb aART trkn disk
  ©day ©gen``/``gnre covr``.

Several values in one field (two ARTIST comments, a multi-value ID3 frame) are joined with
"; ". A field absent or empty is None.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import LocalFailure
from .tagdata import FRONT_COVER, JOIN, Cover, Tags

__all__ = ["FRONT_COVER", "JOIN", "WRITABLE", "Cover", "Tags", "read_tags", "write_tags"]

WRITABLE = ("wav", "aiff", "flac", "ogg", "opus", "mp3")
"""The formats :func:`write_tags` writes into (``ogg`` is Ogg Vorbis)."""


def read_tags(path: Path) -> Tags:
    """The tags of the audio file at ``path``: WAV (ID3 chunk, else RIFF INFO for the
    fields it lacks), AIFF (ID3), FLAC (Vorbis comments, PICTURE), MP3 (ID3v2, else
    ID3v1), M4A/MP4 (atoms), Ogg Vorbis or Opus (Vorbis comments).

    Never raises: a file mutagen cannot read, a corrupt tag block or a field that does not
    parse (a track number "A1") gives an empty :class:`Tags` or leaves that field None,
    because a stem without tags is better than no stem.
    """
    from .riffinfo import read_riff_info, wav_without_id3
    from .tagread import first_number, open_tagged, read_fields

    found: dict[str, Any] = {}
    if not wav_without_id3(path):  # the common WAV input: no mutagen import at all
        try:
            found = read_fields(open_tagged(path))
        except Exception:  # mutagen raises many kinds for what it cannot parse
            found = {}
    for name, text in read_riff_info(path).items():  # a WAV's INFO fills what ID3 lacks
        if found.get(name) is None:
            found[name] = first_number(text) if name == "track" else text
    return Tags(**{k: v for k, v in found.items() if v is not None and v != ""})


def write_tags(
    path: Path, fmt: str, tags: Tags, *, stem: str, fallback_title: str | None = None
) -> None:
    """Write ``tags`` into the finished audio file at ``path`` of format ``fmt`` (one of
    :data:`WRITABLE`), titled after ``stem``: ``"Song (vocal)"`` from the input's title,
    else from ``fallback_title`` (the caller passes the input's file name without its
    extension), else the stem's name alone. Tags of these fields the file already had are
    replaced (a field None removes them); its other tags are kept.

    The file is rewritten in place: write into a temporary file before its final rename,
    so an interruption cannot leave a half-tagged stem under the final name.

    Raises :class:`~gsep_cli.errors.LocalFailure` (exit 2) when the file cannot be
    written or is not a ``fmt`` file mutagen can open; ValueError for a ``fmt`` outside
    :data:`WRITABLE` (a caller's bug).
    """
    if fmt not in WRITABLE:
        raise ValueError(f"cannot write tags into {fmt!r}: one of {', '.join(WRITABLE)}")
    base = tags.title or fallback_title
    title = f"{base} ({stem})" if base else stem
    from mutagen import MutagenError

    from .tagwrite import write_id3_file, write_vorbis_file

    writer = write_vorbis_file if fmt in ("flac", "ogg", "opus") else write_id3_file
    try:
        writer(path, tags, title, fmt)
    except ImportError:  # mutagen.wave: mutagen 1.45 or newer
        raise LocalFailure(
            f"could not write the tags into {path}: this mutagen cannot write {fmt.upper()}",
            "Upgrade it (pip install -U 'mutagen>=1.45'), or leave the tags out with --no-tags",
        ) from None
    except (MutagenError, OSError) as exc:
        raise LocalFailure(
            f"could not write the tags into {path} ({' '.join(str(exc).split())})",
            "Check free disk space and that the folder is writable, then run the same "
            "command again (finished jobs are not paid for again)",
        ) from None
