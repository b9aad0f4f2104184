"""gsep_cli.audio.tags: the input's tags, read from every container gsep takes, written
into stems of every format that carries tags, and read back with mutagen.

The inputs are real audio files made with soundfile (the audio extra) and tagged here with
mutagen's own classes, or by hand from the specifications (an ID3v1 tag, a RIFF INFO
list, a minimal M4A), never with the module under test. The outputs are checked twice:
through :func:`read_tags`, and raw (frame and comment names, "n/total" texts, the
picture's type and bytes) with mutagen directly, against the conventions the module's
docstring cites. There is no ffmpeg on the test machines, so the M4A input is a
hand-made ``ftyp`` + ``moov``/``mvhd`` (no audio track: mutagen then reads the length
from ``mvhd``), tagged with mutagen.mp4.
"""

from __future__ import annotations

import base64
import json
import shutil
import struct
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from audio import make_wav
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mediatools import id3v1_tag

from gsep_cli.audio.tags import WRITABLE, Cover, Tags, read_tags, write_tags
from gsep_cli.audio.tagwrite import id3_date, id3_genre
from gsep_cli.errors import ExitCode, LocalFailure

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
JPEG = b"\xff\xd8\xff\xe0" + bytes(range(255, -1, -1)) * 3

FULL = Tags(
    title="Sóng 歌",
    artist="Ärtist",
    album="Albüm",
    album_artist="Various Ärtists",
    track=3,
    track_total=12,
    disc=1,
    disc_total=2,
    date="1999-05-01",
    genre="Synth-pop",
    cover=Cover(PNG, "image/png"),
)

ID3_FORMATS = ("wav", "aiff", "mp3")
SOUNDFILE = {  # format -> soundfile's format, subtype and sample rate
    "wav": ("WAV", "PCM_16", 44100),
    "aiff": ("AIFF", "PCM_16", 44100),
    "flac": ("FLAC", "PCM_16", 44100),
    "ogg": ("OGG", "VORBIS", 44100),
    "opus": ("OGG", "OPUS", 48000),
    "mp3": ("MP3", "MPEG_LAYER_III", 44100),
}


def make_audio(path: Path, fmt: str) -> Path:
    """A 0.1-second stereo noise file of ``fmt`` at ``path``, untagged (soundfile)."""
    sf = pytest.importorskip("soundfile")
    np = pytest.importorskip("numpy")
    major, subtype, rate = SOUNDFILE[fmt]
    noise = np.random.default_rng(7).uniform(-0.2, 0.2, (rate // 10, 2)).astype("float32")
    sf.write(path, noise, rate, format=major, subtype=subtype)
    return path


@pytest.fixture(scope="module")
def templates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """One untagged file of each writable format, as bytes (copied for each use)."""
    folder = tmp_path_factory.mktemp("templates")
    return {fmt: make_audio(folder / f"t.{fmt}", fmt).read_bytes() for fmt in WRITABLE}


# --- inputs, tagged without the module under test -------------------------------------


def _tag_id3(path: Path, fmt: str) -> None:
    from mutagen import id3
    from mutagen.aiff import AIFF
    from mutagen.mp3 import MP3
    from mutagen.wave import WAVE

    audio: Any = {"wav": WAVE, "aiff": AIFF, "mp3": MP3}[fmt](path)
    audio.add_tags()
    for frame in (
        id3.TIT2(encoding=3, text=FULL.title),
        id3.TPE1(encoding=3, text=FULL.artist),
        id3.TALB(encoding=3, text=FULL.album),
        id3.TPE2(encoding=3, text=FULL.album_artist),
        id3.TRCK(encoding=3, text="03/12"),
        id3.TPOS(encoding=3, text="1/2"),
        id3.TDRC(encoding=3, text="1999-05-01"),
        id3.TCON(encoding=3, text="Synth-pop"),
        id3.APIC(encoding=3, mime="image/jpeg", type=4, desc="back", data=JPEG),
        id3.APIC(encoding=3, mime="image/png", type=3, desc="front", data=PNG),
    ):
        audio.tags.add(frame)
    audio.save(v2_version=3)  # v2.3, as most taggers still write


def _vorbis_comments() -> dict[str, str]:
    return {
        "TITLE": str(FULL.title),
        "ARTIST": str(FULL.artist),
        "ALBUM": str(FULL.album),
        "ALBUMARTIST": str(FULL.album_artist),
        "TRACKNUMBER": "3",
        "TRACKTOTAL": "12",
        "DISCNUMBER": "1/2",  # the "n/total" form some taggers write
        "DATE": "1999-05-01",
        "GENRE": "Synth-pop",
    }


def _picture(data: bytes, mime: str, kind: int) -> Any:
    from mutagen.flac import Picture

    picture = Picture()
    picture.data, picture.mime, picture.type = data, mime, kind
    return picture


def _tag_vorbis(path: Path, fmt: str) -> None:
    from mutagen.flac import FLAC
    from mutagen.oggopus import OggOpus
    from mutagen.oggvorbis import OggVorbis

    audio: Any = {"flac": FLAC, "ogg": OggVorbis, "opus": OggOpus}[fmt](path)
    if audio.tags is None:
        audio.add_tags()
    for key, value in _vorbis_comments().items():
        audio.tags[key] = value
    back, front = _picture(JPEG, "image/jpeg", 4), _picture(PNG, "image/png", 3)
    if fmt == "flac":
        audio.add_picture(back)
        audio.add_picture(front)
    else:
        audio.tags["METADATA_BLOCK_PICTURE"] = [
            base64.b64encode(p.write()).decode("ascii") for p in (back, front)
        ]
    audio.save()


def riff_info_wav(path: Path, fields: dict[bytes, bytes]) -> Path:
    """A WAV with a ``LIST``/``INFO`` chunk of ``fields`` after its data (RIFF 1991)."""
    make_wav(path, seconds=0.05)
    subs = b"".join(
        key + struct.pack("<I", len(v) + 1) + v + b"\x00" + b"\x00" * ((len(v) + 1) & 1)
        for key, v in fields.items()
    )
    chunk = b"LIST" + struct.pack("<I", 4 + len(subs)) + b"INFO" + subs
    data = path.read_bytes() + chunk
    path.write_bytes(data[:4] + struct.pack("<I", len(data) - 8) + data[8:])
    return path


def minimal_m4a(path: Path) -> Path:
    """``ftyp`` + ``moov`` holding one version-0 ``mvhd`` (ISO/IEC 14496-12 8.2.2): one
    second at 1000 units a second. mutagen reads and tags it; there is no audio track."""
    mvhd_body = struct.pack(">B3xIIII", 0, 0, 0, 1000, 1000) + struct.pack(">IH", 0x10000, 0x100)
    mvhd_body += bytes(10) + struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)
    mvhd_body += bytes(24) + struct.pack(">I", 2)
    mvhd = struct.pack(">I", 8 + len(mvhd_body)) + b"mvhd" + mvhd_body
    ftyp = b"M4A " + struct.pack(">I", 0x200) + b"M4A isommp42"
    path.write_bytes(
        struct.pack(">I", 8 + len(ftyp))
        + b"ftyp"
        + ftyp
        + struct.pack(">I", 8 + len(mvhd))
        + b"moov"
        + mvhd
    )
    from mutagen.mp4 import MP4, MP4Cover

    audio: Any = MP4(path)
    audio.add_tags()
    audio.tags.update(
        {
            "©nam": [FULL.title],
            "©ART": [FULL.artist],
            "©alb": [FULL.album],
            "aART": [FULL.album_artist],
            "trkn": [(3, 12)],
            "disk": [(1, 2)],
            "©day": ["1999-05-01"],
            "©gen": ["Synth-pop"],
            "covr": [MP4Cover(PNG, MP4Cover.FORMAT_PNG), MP4Cover(JPEG, MP4Cover.FORMAT_JPEG)],
        }
    )
    audio.save()
    return path


INFO_TAGS = Tags(
    title="Sóng", artist="Ärtist", album="Albüm", track=3, date="1999-05-01", genre="Synth-pop"
)
V1_TAGS = Tags(title="Song", artist="Artist", album="Album", track=3, date="1999", genre="Rock")


def make_input(folder: Path, kind: str) -> tuple[Path, Tags]:
    """An input of ``kind`` and the Tags it holds."""
    if kind == "wav-info":
        fields = {b"INAM": "Sóng", b"IART": "Ärtist", b"IPRD": "Albüm", b"ITRK": "3"}
        raw = {k: v.encode() for k, v in fields.items()}
        raw |= {b"ICRD": b"1999-05-01", b"IGNR": b"Synth-pop", b"ICMT": b"not a field"}
        return riff_info_wav(folder / "in.wav", raw), INFO_TAGS
    if kind == "mp3-id3v1":
        path = make_audio(folder / "in.mp3", "mp3")
        v1 = id3v1_tag(b"Song", b"Artist", b"Album", b"1999", track=3, genre=17)  # 17: Rock
        path.write_bytes(path.read_bytes() + v1)
        return path, V1_TAGS
    if kind == "m4a":
        return minimal_m4a(folder / "in.m4a"), FULL
    path = make_audio(folder / f"in.{kind}", kind)
    (_tag_id3 if kind in ID3_FORMATS else _tag_vorbis)(path, kind)
    return path, FULL


INPUT_KINDS = [*WRITABLE, "wav-info", "mp3-id3v1", "m4a"]


# --- the raw check: the output's tags as mutagen shows them ----------------------------


def raw_tags(path: Path, fmt: str) -> dict[str, Any]:
    """Field -> the raw text (or picture) mutagen shows, by each format's names."""
    import mutagen

    audio: Any = mutagen.File(path)
    if fmt in ID3_FORMATS:
        tags = audio.tags
        names = {"title": "TIT2", "artist": "TPE1", "album": "TALB", "album_artist": "TPE2"}
        names |= {"track": "TRCK", "disc": "TPOS", "date": "TDRC", "genre": "TCON"}
        got: dict[str, Any] = {
            f: [str(t) for t in tags[n].text] for f, n in names.items() if n in tags
        }
        got["cover"] = [(p.type, p.mime, p.data) for p in tags.getall("APIC")]
        got["version"] = tags.version
        return got
    names = {"title": "TITLE", "artist": "ARTIST", "album": "ALBUM", "album_artist": "ALBUMARTIST"}
    names |= {"track": "TRACKNUMBER", "track_total": "TRACKTOTAL", "disc": "DISCNUMBER"}
    names |= {"disc_total": "DISCTOTAL", "date": "DATE", "genre": "GENRE"}
    got = {f: audio.tags[n] for f, n in names.items() if n in audio.tags}
    if fmt == "flac":
        pictures = audio.pictures
        assert "METADATA_BLOCK_PICTURE" not in audio.tags
    else:
        from mutagen.flac import Picture

        blocks = audio.tags.get("METADATA_BLOCK_PICTURE", [])
        pictures = [Picture(base64.b64decode(b)) for b in blocks]
    got["cover"] = [(p.type, p.mime, p.data) for p in pictures]
    return got


def expected_raw(tags: Tags, fmt: str, title: str) -> dict[str, Any]:
    """What :func:`raw_tags` must show for ``tags`` written into ``fmt``, per the specs."""
    cover = [(3, tags.cover.mime, tags.cover.data)] if tags.cover else []
    if fmt in ID3_FORMATS:
        out: dict[str, Any] = {"title": [title], "cover": cover, "version": (2, 4, 0)}
        for field in ("artist", "album", "album_artist", "genre"):
            if getattr(tags, field) is not None:
                out[field] = [getattr(tags, field)]
        for field, total in (("track", tags.track_total), ("disc", tags.disc_total)):
            number = getattr(tags, field)
            if number is not None:
                out[field] = [f"{number}/{total}" if total is not None else str(number)]
        if tags.date is not None:
            out["date"] = [tags.date]
        return out
    out = {"title": [title], "cover": cover}
    for field in ("artist", "album", "album_artist", "track", "track_total", "disc"):
        if getattr(tags, field) is not None:
            out[field] = [str(getattr(tags, field))]
    for field in ("disc_total", "date", "genre"):
        if getattr(tags, field) is not None:
            out[field] = [str(getattr(tags, field))]
    return out


def decodes(path: Path) -> bool:
    sf = pytest.importorskip("soundfile")
    data, _rate = sf.read(path)
    return len(data) > 0


# --- reading ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", INPUT_KINDS)
def test_read_tags_of_every_input_kind(tmp_path: Path, kind: str) -> None:
    path, expected = make_input(tmp_path, kind)
    assert read_tags(path) == expected


@pytest.mark.parametrize("kind", INPUT_KINDS)
@pytest.mark.parametrize("out", WRITABLE)
def test_tags_copied_to_every_output_format(
    tmp_path: Path, templates: dict[str, bytes], kind: str, out: str
) -> None:
    source, expected = make_input(tmp_path, kind)
    stem = tmp_path / f"vocal.{out}"
    stem.write_bytes(templates[out])
    write_tags(stem, out, read_tags(source), stem="vocal", fallback_title="in")
    title = f"{expected.title} (vocal)"
    assert read_tags(stem) == replace(expected, title=title)
    assert raw_tags(stem, out) == expected_raw(expected, out, title)
    assert decodes(stem)  # the audio is still there


@pytest.mark.parametrize("out", WRITABLE)
def test_untagged_input_gives_titled_stems_only(
    tmp_path: Path, templates: dict[str, bytes], out: str
) -> None:
    source = make_wav(tmp_path / "My Song.wav", seconds=0.05)
    tags = read_tags(source)
    assert tags == Tags() and tags.empty
    stem = tmp_path / f"drum.{out}"
    stem.write_bytes(templates[out])
    write_tags(stem, out, tags, stem="drum", fallback_title=source.stem)
    assert read_tags(stem) == Tags(title="My Song (drum)")
    assert raw_tags(stem, out) == expected_raw(Tags(), out, "My Song (drum)")
    write_tags(stem, out, tags, stem="drum")  # no fallback either: the stem's name
    assert read_tags(stem) == Tags(title="drum")


@pytest.mark.parametrize("out", WRITABLE)
def test_writing_again_replaces_the_fields_and_keeps_other_tags(
    tmp_path: Path, templates: dict[str, bytes], out: str
) -> None:
    stem = tmp_path / f"bass.{out}"
    stem.write_bytes(templates[out])
    write_tags(stem, out, FULL, stem="bass")
    import mutagen

    audio: Any = mutagen.File(stem)
    if out in ID3_FORMATS:
        from mutagen.id3 import TCOP

        audio.tags.add(TCOP(encoding=3, text="(c) someone"))
        audio.save()
    else:
        audio.tags["COPYRIGHT"] = "(c) someone"
        audio.save()
    fewer = Tags(title="Other", artist="Someone else")
    write_tags(stem, out, fewer, stem="bass")
    assert read_tags(stem) == Tags(title="Other (bass)", artist="Someone else")
    audio = mutagen.File(stem)
    kept = audio.tags["TCOP"].text if out in ID3_FORMATS else audio.tags["COPYRIGHT"]
    assert list(kept) == ["(c) someone"]


def test_the_front_cover_wins_else_the_first_picture(tmp_path: Path) -> None:
    path = make_audio(tmp_path / "in.flac", "flac")
    from mutagen.flac import FLAC

    audio: Any = FLAC(path)
    audio.add_picture(_picture(JPEG, "image/jpeg", 4))  # back cover
    audio.add_picture(_picture(PNG, "", 8))  # artist, no MIME type: taken from the bytes
    audio.save()
    assert read_tags(path).cover == Cover(JPEG, "image/jpeg")
    audio.add_picture(_picture(PNG, "image/png", 3))
    audio.save()
    assert read_tags(path).cover == Cover(PNG, "image/png")
    audio.clear_pictures()
    audio.add_picture(_picture(PNG, "", 8))
    audio.save()
    assert read_tags(path).cover == Cover(PNG, "image/png")


def test_vorbis_alternative_names_and_several_values(tmp_path: Path) -> None:
    path = make_audio(tmp_path / "in.ogg", "ogg")
    from mutagen.oggvorbis import OggVorbis

    audio: Any = OggVorbis(path)
    audio.tags["ARTIST"] = ["One", "Two"]
    audio.tags["TRACKNUMBER"] = "4/9"
    audio.tags["TOTALTRACKS"] = "10"  # the other spelling wins over the "/9"
    audio.tags["ALBUM ARTIST"] = "Band"
    audio.tags["TOTALDISCS"] = "0"
    audio.save()
    got = read_tags(path)
    assert (got.artist, got.track, got.track_total) == ("One; Two", 4, 10)
    assert (got.album_artist, got.disc, got.disc_total) == ("Band", None, 0)


def test_riff_info_fills_only_what_the_id3_chunk_lacks(tmp_path: Path) -> None:
    path = riff_info_wav(tmp_path / "in.wav", {b"INAM": b"Info title", b"IGNR": b"Caf\xe9"})
    from mutagen.id3 import TIT2
    from mutagen.wave import WAVE

    audio: Any = WAVE(path)
    audio.add_tags()
    audio.tags.add(TIT2(encoding=3, text="ID3 title"))
    audio.save()
    assert read_tags(path) == Tags(title="ID3 title", genre="Café")  # Latin-1 INFO text


# --- ID3's own rules --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("date", "expected"),
    [
        ("1999", "1999"),
        ("1999-05", "1999-05"),
        ("1999-05-01", "1999-05-01"),
        ("1999-05-01T10:11:12", "1999-05-01"),
        ("Summer 1999", "1999"),
        ("05/01/1999", "1999"),
        ("99", None),
        ("", None),
        (None, None),
    ],
)
def test_id3_dates_are_iso_timestamps(date: str | None, expected: str | None) -> None:
    assert id3_date(date) == expected


def test_free_text_dates_become_years_in_id3(tmp_path: Path, templates: dict[str, bytes]) -> None:
    for fmt in WRITABLE:
        stem = tmp_path / f"s.{fmt}"
        stem.write_bytes(templates[fmt])
        write_tags(stem, fmt, Tags(date="Summer 1999"), stem="vocal")
        assert read_tags(stem).date == ("1999" if fmt in ID3_FORMATS else "Summer 1999")


@pytest.mark.parametrize(
    ("genre", "written", "read_back"),
    [
        ("Rock", "Rock", "Rock"),
        ("(17) live", "((17) live", "(17) live"),  # escaped: not genre 17
        ("(Live)", "(Live)", "(Live)"),  # not a reference form: left alone
        ("17", "17", "Rock"),  # an ID3v1 number: a reference by the spec
    ],
)
def test_id3_genre_references(
    tmp_path: Path, templates: dict[str, bytes], genre: str, written: str, read_back: str
) -> None:
    assert id3_genre(genre) == written
    stem = tmp_path / "s.mp3"
    stem.write_bytes(templates["mp3"])
    write_tags(stem, "mp3", Tags(genre=genre), stem="vocal")
    assert read_tags(stem).genre == read_back


# --- the property: any text, any numbers, every format ----------------------------------

TEXT = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), min_size=1)
NUMBER = st.none() | st.integers(min_value=0)
ID3_REFERENCE = st.from_regex(r"\A(\d+|RX|CR)\Z")


@st.composite
def any_tags(draw: st.DrawFn, fmt: str) -> Tags:
    def maybe(strategy: st.SearchStrategy[Any]) -> Any:
        return draw(st.none() | strategy)

    if fmt in ID3_FORMATS:
        # ID3: a TCON that is a genre reference reads back as that genre, and mutagen's
        # genre reader stops at a line break; dates are ISO timestamps.
        genre = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00\n"))
        genre = genre.filter(lambda g: g and not (g.isdecimal() and int(g) < 256))
        genre = genre.filter(lambda g: g not in ("RX", "CR"))
        date = st.dates().map(lambda d: d.isoformat()[: draw(st.sampled_from([4, 7, 10]))])
    else:
        genre, date = TEXT, TEXT
    cover = st.builds(
        Cover, st.binary(min_size=1, max_size=300), st.sampled_from(["image/png", "image/jpeg"])
    )
    return Tags(
        title=maybe(TEXT),
        artist=maybe(TEXT),
        album=maybe(TEXT),
        album_artist=maybe(TEXT),
        track=draw(NUMBER),
        track_total=draw(NUMBER),
        disc=draw(NUMBER),
        disc_total=draw(NUMBER),
        date=maybe(date),
        genre=maybe(genre),
        cover=maybe(cover),
    )


@pytest.mark.slow
@pytest.mark.parametrize("fmt", WRITABLE)
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_any_tags_round_trip(templates: dict[str, bytes], fmt: str, data: st.DataObject) -> None:
    tags = data.draw(any_tags(fmt))
    stem_name = data.draw(st.sampled_from(["vocal", "drum", "bass", "backing"]))
    with tempfile.TemporaryDirectory() as folder:
        stem = Path(folder) / f"s.{fmt}"
        stem.write_bytes(templates[fmt])
        write_tags(stem, fmt, tags, stem=stem_name, fallback_title="fallback")
        title = f"{tags.title or 'fallback'} ({stem_name})"
        expected = replace(tags, title=title)
        if fmt in ID3_FORMATS:  # ID3 has no place for a total without its number
            if tags.track is None:
                expected = replace(expected, track_total=None)
            if tags.disc is None:
                expected = replace(expected, disc_total=None)
        assert read_tags(stem) == expected
        assert raw_tags(stem, fmt) == expected_raw(expected, fmt, title)


# --- what must not raise, and what must ---------------------------------------------------


def _corrupt_inputs(folder: Path) -> list[Path]:
    mp3 = make_audio(folder / "bad-id3.mp3", "mp3")
    huge = b"ID3\x04\x00\x00\x7f\x7f\x7f\x7f" + b"TIT2\x00\x00\x10\x00\x00\x00\x03x" + bytes(40)
    mp3.write_bytes(huge + mp3.read_bytes())
    flac = make_audio(folder / "bad-comment.flac", "flac")
    _tag_vorbis(flac, "flac")
    data = flac.read_bytes()
    at = data.index(b"reference libFLAC") - 8  # inside the VORBIS_COMMENT block
    flac.write_bytes(data[:at] + b"\xff" * 12 + data[at + 12 :])
    wav = make_wav(folder / "bad-chunk.wav", seconds=0.05)
    junk = b"id3 " + struct.pack("<I", 20) + b"ID3\x04\x00\x00\x00\x00\x7f\x7f" + bytes(10)
    body = wav.read_bytes() + junk
    wav.write_bytes(body[:4] + struct.pack("<I", len(body) - 8) + body[8:])
    info = riff_info_wav(folder / "bad-info.wav", {b"INAM": b"x", b"IART": b"y"})
    body = info.read_bytes()
    at = body.index(b"INAM") + 4  # its size: far past the end of the file
    info.write_bytes(body[:at] + struct.pack("<I", 0xFFFFFFF0) + body[at + 4 :])
    m4a = minimal_m4a(folder / "cut.m4a")
    m4a.write_bytes(m4a.read_bytes()[:-40])
    text = folder / "notes.mp3"
    text.write_text("not audio at all")
    return [mp3, flac, wav, info, m4a, text, folder / "missing.flac", folder]


def test_corrupt_tag_blocks_never_raise(tmp_path: Path) -> None:
    for path in _corrupt_inputs(tmp_path):
        assert isinstance(read_tags(path), Tags), path


def test_a_broken_picture_leaves_the_other_fields(tmp_path: Path) -> None:
    path = make_audio(tmp_path / "in.opus", "opus")
    _tag_vorbis(path, "opus")
    from mutagen.oggopus import OggOpus

    audio: Any = OggOpus(path)
    audio.tags["METADATA_BLOCK_PICTURE"] = ["not base64 !", base64.b64encode(b"short").decode()]
    audio.save()
    assert read_tags(path) == replace(FULL, cover=None)


@pytest.mark.slow
@pytest.mark.parametrize("kind", INPUT_KINDS)
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_damaged_files_never_raise(
    tmp_path_factory: pytest.TempPathFactory, kind: str, data: st.DataObject
) -> None:
    folder = tmp_path_factory.mktemp("damaged")
    path = make_input(folder, kind)[0]
    raw = bytearray(path.read_bytes())
    for _ in range(data.draw(st.integers(1, 8))):
        at = data.draw(st.integers(0, len(raw) - 1))
        raw[at : at + 4] = data.draw(st.binary(min_size=4, max_size=4))
    cut = data.draw(st.integers(1, len(raw)))
    path.write_bytes(bytes(raw[:cut]))
    assert isinstance(read_tags(path), Tags)
    shutil.rmtree(folder)


@pytest.mark.parametrize("case", ["missing", "folder", "not-that-format"])
def test_a_failed_write_is_one_line_with_a_hint(tmp_path: Path, case: str) -> None:
    path = {"missing": tmp_path / "missing.mp3", "folder": tmp_path}.get(case, tmp_path / "t.flac")
    if case == "not-that-format":
        path.write_text("not a FLAC")
    with pytest.raises(LocalFailure) as caught:
        write_tags(path, path.suffix.lstrip(".") or "wav", FULL, stem="vocal")
    error = caught.value
    assert error.exit_code == ExitCode.USAGE
    assert str(path) in error.message and "\n" not in error.message
    assert error.hint and "\n" not in error.hint


def test_a_mutagen_without_wave_refuses_wav_with_the_upgrade_line(
    tmp_path: Path, templates: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "mutagen.wave", None)  # as mutagen before 1.45
    stem = tmp_path / "s.wav"
    stem.write_bytes(templates["wav"])
    with pytest.raises(LocalFailure) as caught:
        write_tags(stem, "wav", FULL, stem="vocal")
    assert "mutagen>=1.45" in str(caught.value.hint) and "--no-tags" in str(caught.value.hint)
    assert read_tags(stem) == Tags()  # reading does not raise either
    assert stem.read_bytes() == templates["wav"]


def test_unknown_format_is_a_programming_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="m4a"):
        write_tags(tmp_path / "x.m4a", "m4a", FULL, stem="vocal")


def test_importing_the_module_does_not_import_mutagen() -> None:
    code = (
        "import json, sys\n"
        "import gsep_cli.audio.tags\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('mutagen', 'soundfile', 'numpy'))))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []
