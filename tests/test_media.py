"""Tests for gsep_cli.media (sniffing, WAV parsing), gsep_cli.sandbox.render (stem rendering,
MP3) and the example clip.

WAV files here are built by hand (``make_wav``), not with ``silence.wav_header``, so parser
and writer are checked against an independent encoding; outputs are also read back with
the standard library's ``wave`` module, ``mutagen`` and ``miniaudio`` (a real decoder).
"""

from __future__ import annotations

import io
import math
import random
import struct
import wave
from collections.abc import Sequence

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from mediatools import flac_bytes, id3v2_tag, mpeg_frame, vbr_mp3

from gsep_cli import media
from gsep_cli.media import FlacInfo, MediaError, WavInfo
from gsep_cli.sandbox import render as rendering
from gsep_cli.sandbox import silence

PCM, FLOAT, EXTENSIBLE = 1, 3, 0xFFFE
GUID_TAIL = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
FORMATS = [  # (format tag, bits, channels)
    (PCM, 8, 1),
    (PCM, 8, 2),
    (PCM, 16, 1),
    (PCM, 16, 2),
    (PCM, 24, 1),
    (PCM, 24, 2),
    (PCM, 32, 1),
    (PCM, 32, 2),
    (FLOAT, 32, 1),
    (FLOAT, 32, 2),
    (FLOAT, 64, 2),
]


# ---- helpers: an independent WAV encoder/decoder ----------------------------------------


def full_scale(bits: int, tag: int) -> float:
    """Largest positive sample value of a format."""
    return 1.0 if tag == FLOAT else float((1 << (bits - 1)) - 1)


def encode(values: Sequence[float], bits: int, tag: int) -> bytes:
    """Interleaved sample values -> little-endian sample bytes."""
    if tag == FLOAT:
        return struct.pack(f"<{len(values)}{'f' if bits == 32 else 'd'}", *values)
    ints = [int(v) for v in values]
    if bits == 8:
        return bytes(v + 128 for v in ints)
    if bits == 24:
        return b"".join(v.to_bytes(3, "little", signed=True) for v in ints)
    return struct.pack(f"<{len(ints)}{'h' if bits == 16 else 'i'}", *ints)


def decode(raw: bytes, bits: int, tag: int) -> list[float]:
    """Little-endian sample bytes -> interleaved sample values."""
    if tag == FLOAT:
        code = "f" if bits == 32 else "d"
        return [v for (v,) in struct.iter_unpack(f"<{code}", raw)]
    if bits == 8:
        return [b - 128 for b in raw]
    if bits == 24:
        return [
            int.from_bytes(raw[i : i + 3], "little", signed=True) for i in range(0, len(raw), 3)
        ]
    return [v for (v,) in struct.iter_unpack("<h" if bits == 16 else "<i", raw)]


def chunk(chunk_id: bytes, body: bytes, pad: bool = True) -> bytes:
    """A RIFF chunk, with the pad byte after an odd body unless ``pad`` is False."""
    return (
        chunk_id + struct.pack("<I", len(body)) + body + (b"\x00" if pad and len(body) & 1 else b"")
    )


def fmt_body(tag: int, channels: int, rate: int, bits: int, extensible: bool = False) -> bytes:
    """A ``fmt `` chunk body; WAVE_FORMAT_EXTENSIBLE wraps ``tag`` in a sub-format GUID."""
    align = channels * bits // 8
    outer = EXTENSIBLE if extensible else tag
    body = struct.pack("<HHIIHH", outer, channels, rate, rate * align, align, bits)
    if extensible:
        body += struct.pack("<HHI", 22, bits, 3) + struct.pack("<H", tag) + GUID_TAIL
    return body


def make_wav(
    data: bytes,
    *,
    tag: int = PCM,
    bits: int = 16,
    channels: int = 2,
    rate: int = 44100,
    extensible: bool = False,
    before_data: Sequence[bytes] = (),
    declared_size: int | None = None,
) -> bytes:
    """A RIFF/WAVE file; ``declared_size`` overrides the data chunk's size field."""
    chunks = chunk(b"fmt ", fmt_body(tag, channels, rate, bits, extensible)) + b"".join(before_data)
    size = len(data) if declared_size is None else declared_size
    chunks += b"data" + struct.pack("<I", size) + data + (b"\x00" if len(data) & 1 else b"")
    return b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WAVE" + chunks


def noise(count: int, amplitude: float, seed: int = 1, integers: bool = True) -> list[float]:
    """Deterministic uniform noise in [-amplitude, amplitude]."""
    rng = random.Random(seed)
    if integers:
        a = int(amplitude)
        return [rng.randint(-a, a) for _ in range(count)]
    return [rng.uniform(-amplitude, amplitude) for _ in range(count)]


def rms(values: Sequence[float]) -> float:
    """Root mean square."""
    return math.sqrt(sum(v * v for v in values) / max(1, len(values)))


def render(wav: bytes, stems: Sequence[str], residual: bool = True, **kw: int) -> dict[str, bytes]:
    """Render ``stems`` (and the residual) of an in-memory WAV; return each file's bytes."""
    src = io.BytesIO(wav)
    info = media.parse_wav(src)
    outs = {name: io.BytesIO() for name in stems}
    if residual:
        outs[rendering.RESIDUAL] = io.BytesIO()
    rendering.render_wav_stems(src, info, stems, outs, **kw)
    return {name: out.getvalue() for name, out in outs.items()}


def samples_of(wav: bytes) -> tuple[WavInfo, list[float]]:
    """Parse a WAV and decode all its samples."""
    info = media.parse_wav(io.BytesIO(wav))
    end = info.data_offset + info.frames * info.block_align
    return info, decode(wav[info.data_offset : end], info.bits_per_sample, info.format_tag)


# ---- sniffing ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (make_wav(b"\x00" * 64), "wav"),
        (b"RF64\xff\xff\xff\xffWAVEds64" + b"\x00" * 52, "wav"),
        (b"fLaC\x00\x00\x00\x22" + b"\x00" * 56, "flac"),
        (b"ID3\x04\x00\x00\x00\x00\x01\x7f" + b"\x00" * 54, "mp3"),
        (b"\xff\xfb\xe4\x00" + b"\x00" * 60, "mp3"),  # MPEG-1 Layer III 320k 48k
        (b"\xff\xfb\x90\x64" + b"\x00" * 60, "mp3"),  # MPEG-1 Layer III 128k 44.1k
        (b"\xff\xf3\x88\xc4" + b"\x00" * 60, "mp3"),  # MPEG-2 Layer III
        (b"\x00\x00\x00\x20ftypM4A \x00\x00\x02\x00M4A isommp42\x00\x00\x00\x00", "mp4"),
        (b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isommp41", "mp4"),
        (b"\x00\x00\x00\x14ftypqt  \x20\x05\x03\x00qt  ", "mov"),
        (b"\x00\x00\x00\x08wide\x00\x10\x00\x00mdat", "mov"),
        (b"\x00\x01\x00\x00moov\x00\x00\x00\x6cmvhd", "mov"),
        (b"\x00\x00\x00\x00mdat" + b"\x00" * 56, "mov"),
        (b"\x00\x00\x00\x08free" + b"\x00" * 56, "mov"),
    ],
)
def test_sniff_recognises_formats(head: bytes, kind: str) -> None:
    assert media.sniff_format(head[:64]) == kind


@pytest.mark.parametrize(
    "head",
    [
        b"",
        b"RI",
        b"hello, world\nthis is a lyrics file\n",
        "第一行\n第二行\n".encode(),
        b"\x00" * 64,
        b"\xff" * 64,  # sync bits but reserved version/bitrate
        b"\xff\xf1\x50\x80" + b"\x00" * 60,  # ADTS AAC (layer 0)
        b"\xff\xfb\xf0\x00" + b"\x00" * 60,  # bitrate index 15
        b"\xff\xfb\x0c\x00" + b"\x00" * 60,  # sample-rate index 3
        b"RIFF\x24\x00\x00\x00AVI LIST" + b"\x00" * 48,
        b"RIFX\x24\x00\x00\x00WAVEfmt " + b"\x00" * 48,
        b"ID3\xff\xff\x00\x00\x00\x00\x00" + b"\x00" * 54,
        b"ID3\x04\x00\x00\x80\x00\x00\x00" + b"\x00" * 54,  # size not sync-safe
        b"\x00\x00\x00\x05ftypM4A " + b"\x00" * 52,  # impossible ftyp size
        b"\x00\x00\x00\x04moov" + b"\x00" * 56,  # impossible atom size
        b"OggS\x00\x02" + b"\x00" * 58,
    ],
)
def test_sniff_rejects_other_content(head: bytes) -> None:
    assert media.sniff_format(head) is None


def test_extension_kinds_table() -> None:
    assert media.EXTENSION_KINDS == {
        ".wav": "wav",
        ".flac": "flac",
        ".mp3": "mp3",
        ".m4a": "mp4",
        ".mp4": "mp4",
        ".mov": "mov",
        ".txt": "txt",
    }


def test_sniff_own_outputs() -> None:
    mp3 = io.BytesIO()
    silence.write_mp3(mp3, 1.0)
    assert media.sniff_format(mp3.getvalue()[:64]) == "mp3"
    wav = io.BytesIO()
    silence.write_silent_wav(wav, 0.1)
    assert media.sniff_format(wav.getvalue()[:64]) == "wav"


# ---- ID3v2 tags in front of any container ----------------------------------------------


def _containers() -> dict[str, bytes]:
    """One small file of every kind (``kind`` or ``kind-variant``)."""
    mp3 = io.BytesIO()
    silence.write_mp3(mp3, 0.1)
    return {
        "wav": make_wav(bytes(400)),
        "flac": flac_bytes(),
        "mp3": mp3.getvalue(),
        "mp3-no-xing": vbr_mp3(0.2),
        "mp3-mpeg2.5": mpeg_frame(8, 8000, version="2.5") * 4,
        "mp4": b"\x00\x00\x00\x20ftypM4A \x00\x00\x02\x00M4A isommp42" + bytes(68),
        "mov": b"\x00\x00\x00\x14ftypqt  \x20\x05\x03\x00qt  " + bytes(64),
    }


CONTAINERS = _containers()
ID3_TAGS = st.lists(
    st.builds(
        id3v2_tag,
        st.binary(max_size=300),
        footer=st.booleans(),
        version=st.integers(2, 4),
        revision=st.integers(0, 0xFE),
    ),
    max_size=3,
)


@settings(max_examples=150, deadline=None)
@given(tags=ID3_TAGS, name=st.sampled_from(sorted(CONTAINERS)), lead=st.binary(max_size=3))
def test_id3v2_tags_in_front_keep_the_kind(tags: list[bytes], name: str, lead: bytes) -> None:
    prefix = b"".join(tags)
    kind = name.split("-")[0]
    fp = io.BytesIO(lead + prefix + CONTAINERS[name])
    fp.seek(len(lead))  # sniffing starts where the stream is, and leaves it there
    assert media.sniff_stream(fp) == kind
    assert fp.tell() == len(lead)
    assert media.skip_id3v2(fp) == len(tags)
    assert fp.tell() == len(lead) + len(prefix)
    assert media.sniff_format((prefix + CONTAINERS[name])[: len(prefix) + 64]) == kind


@settings(max_examples=100, deadline=None)
@given(tags=ID3_TAGS.filter(bool), tail=st.binary(max_size=80))
def test_id3v2_tags_before_nothing_recognisable_are_mp3(tags: list[bytes], tail: bytes) -> None:
    assume(media.sniff_format(tail) is None)
    assert media.sniff_stream(io.BytesIO(b"".join(tags) + tail)) == "mp3"


@settings(max_examples=50, deadline=None)
@given(tags=ID3_TAGS)
def test_headers_are_read_after_id3v2_tags(tags: list[bytes]) -> None:
    fp = io.BytesIO(b"".join(tags) + flac_bytes(96000, 1, 24, 3 * 96000))
    media.skip_id3v2(fp)
    assert media.parse_flac(fp) == FlacInfo(96000, 1, 24, 3 * 96000)
    fp = io.BytesIO(b"".join(tags) + CONTAINERS["mp3"])
    media.skip_id3v2(fp)
    info = media.parse_mp3(fp)
    assert (info.offset, info.frame_count) == (len(b"".join(tags)), silence.mp3_frame_count(0.1))


@pytest.mark.parametrize(
    ("header", "length"),
    [
        (b"ID3\x04\x00\x00\x00\x00\x01\x7f", 10 + 255),
        (b"ID3\x04\x00\x10\x00\x00\x01\x7f", 10 + 255 + 10),  # footer present
        (b"ID3\x03\x00\x00\x7f\x7f\x7f\x7f", 10 + (1 << 28) - 1),
        (b"ID3\x04\x00\x00\x00\x00\x00\x00", 10),
        (b"ID3\xff\x00\x00\x00\x00\x00\x00", None),  # version 0xFF
        (b"ID3\x04\x00\x00\x00\x00\x80\x00", None),  # not sync-safe
        (b"ID3\x04\x00\x00\x00\x00", None),  # truncated
        (b"3DI\x04\x00\x10\x00\x00\x00\x00", None),  # a footer is not a header
    ],
)
def test_id3v2_tag_length(header: bytes, length: int | None) -> None:
    assert media.id3v2_tag_length(header) == length


def test_id3v2_skipping_is_bounded() -> None:
    fp = io.BytesIO(id3v2_tag() * 100 + flac_bytes())
    assert media.skip_id3v2(fp) == 64
    fp.seek(0)
    assert media.sniff_stream(fp) == "mp3"  # tags still in front after 64: MP3's own tag


def test_truncated_id3v2_tag_is_mp3() -> None:
    assert media.sniff_stream(io.BytesIO(b"ID3\x04")) == "mp3"
    tag_past_the_end = id3v2_tag(bytes(100))[:50]
    fp = io.BytesIO(tag_past_the_end)
    assert media.sniff_stream(fp) == "mp3"
    assert media.skip_id3v2(fp) == 1 and fp.tell() == 110


# ---- FLAC STREAMINFO --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rate", "channels", "bits", "total"),
    [(44100, 2, 16, 441000), (8000, 1, 8, 1), (655350, 8, 32, (1 << 36) - 1), (16000, 6, 24, 0)],
)
def test_parse_flac(rate: int, channels: int, bits: int, total: int) -> None:
    info = media.parse_flac(io.BytesIO(flac_bytes(rate, channels, bits, total)))
    assert info == FlacInfo(rate, channels, bits, total)
    assert info.duration == (total / rate if total else None)


@pytest.mark.parametrize(
    "data",
    [
        b"fLaC",
        b"fLaC\x80\x00\x00\x22" + bytes(20),  # truncated STREAMINFO
        b"fLaC\x84\x00\x00\x22" + bytes(34),  # first block is not STREAMINFO (type 4)
        b"fLaC\x80\x00\x00\x10" + bytes(34),  # STREAMINFO shorter than 34 bytes
        flac_bytes(rate=0),
        make_wav(bytes(4)),
    ],
)
def test_parse_flac_refuses_broken_headers(data: bytes) -> None:
    with pytest.raises(MediaError):
        media.parse_flac(io.BytesIO(data))


# ---- MPEG audio frame headers -----------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "kbps", "rate", "padding"),
    [
        ("1", 32, 48000, False),
        ("1", 320, 48000, False),
        ("1", 128, 44100, True),
        ("1", 128, 44100, False),
        ("1", 64, 32000, False),
        ("2", 64, 22050, True),
        ("2", 8, 16000, False),
        ("2.5", 8, 8000, False),
        ("2.5", 160, 11025, True),
    ],
)
def test_mpeg_frame_length_matches_the_header(
    version: str, kbps: int, rate: int, padding: bool
) -> None:
    frame = mpeg_frame(kbps, rate, version=version, padding=padding)
    header = media.mpeg.mpeg_frame_header(frame)
    assert header is not None
    assert (header.version, header.layer, header.bitrate, header.sample_rate) == (
        version,
        3,
        kbps * 1000,
        rate,
    )
    assert header.length == len(frame)


def test_parse_mp3_first_frame() -> None:
    low = media.parse_mp3(io.BytesIO(mpeg_frame(8, 8000, version="2.5", channels=1) * 2))
    assert (low.version, low.sample_rate, low.channels, low.samples_per_frame) == (
        "2.5",
        8000,
        1,
        576,
    )
    assert (low.bitrate, low.frame_count, low.duration) == (8000, None, None)
    vbr = media.parse_mp3(io.BytesIO(vbr_mp3(1.0)))
    assert (vbr.bitrate, vbr.frame_count, vbr.duration) == (32000, None, None)
    with pytest.raises(MediaError):
        media.parse_mp3(io.BytesIO(b"\xff\xfb\xf0\x00" + bytes(100)))


@pytest.mark.parametrize("channels", [1, 2])
def test_parse_mp3_reads_the_info_frame_count(channels: int) -> None:
    out = io.BytesIO()
    silence.write_mp3(out, 2.0, channels=channels)
    info = media.parse_mp3(io.BytesIO(out.getvalue()))
    assert info.frame_count == silence.mp3_frame_count(2.0)
    assert info.duration == pytest.approx(silence.mp3_frame_count(2.0) * 1152 / 48000)
    assert info.channels == channels


def test_parse_mp3_reads_a_vbri_frame_count() -> None:
    frame = bytearray(mpeg_frame(128, 44100))
    frame[36:54] = b"VBRI" + struct.pack(">HHHII", 1, 0, 75, 417 * 1000, 1000)
    info = media.parse_mp3(io.BytesIO(bytes(frame) + mpeg_frame(128, 44100) * 3))
    assert info.frame_count == 1000
    assert info.duration == pytest.approx(1000 * 1152 / 44100)


def test_xing_without_a_frame_count_gives_no_length() -> None:
    frame = bytearray(mpeg_frame(128, 44100))
    frame[36:48] = b"Xing" + struct.pack(">II", 0b0110, 12345)  # bytes and TOC, no frames
    assert media.parse_mp3(io.BytesIO(bytes(frame))).frame_count is None


# ---- parse_wav --------------------------------------------------------------------------


@pytest.mark.parametrize(("tag", "bits", "channels"), FORMATS)
def test_parse_wav_formats(tag: int, bits: int, channels: int) -> None:
    frames = 1000
    data = encode([0] * frames * channels, bits, tag)
    info = media.parse_wav(io.BytesIO(make_wav(data, tag=tag, bits=bits, channels=channels)))
    assert info == WavInfo(tag, channels, 44100, bits, channels * bits // 8, 44, len(data))
    assert info.frames == frames
    assert info.duration == pytest.approx(frames / 44100)


@pytest.mark.parametrize(("tag", "bits"), [(PCM, 16), (PCM, 24), (FLOAT, 32)])
def test_parse_wav_extensible(tag: int, bits: int) -> None:
    wav = make_wav(bytes(6 * bits), tag=tag, bits=bits, extensible=True)
    info = media.parse_wav(io.BytesIO(wav))
    assert info.format_tag == tag
    assert info.bits_per_sample == bits
    assert info.data_offset == 12 + 8 + 40 + 8


def test_parse_wav_extensible_unknown_subformat() -> None:
    wav = bytearray(make_wav(bytes(64), extensible=True))
    wav[12 + 8 + 24 + 2] ^= 0xFF  # corrupt the GUID tail
    with pytest.raises(MediaError, match="sub-format"):
        media.parse_wav(io.BytesIO(bytes(wav)))


def test_parse_wav_list_chunk_and_odd_padding() -> None:
    info_list = chunk(b"LIST", b"INFOINAM" + struct.pack("<I", 5) + b"song\x00")  # 17 bytes
    junk = chunk(b"junk", b"abc")  # odd: one pad byte follows
    data = bytes(400)
    wav = make_wav(data, before_data=[info_list, junk])
    info = media.parse_wav(io.BytesIO(wav))
    assert info.data_offset == wav.index(b"data") + 8
    assert info.data_size == 400
    assert info.frames == 100


def test_parse_wav_tolerates_missing_pad_byte() -> None:
    wav = make_wav(bytes(400), before_data=[chunk(b"junk", b"abc", pad=False)])
    info = media.parse_wav(io.BytesIO(wav))
    assert info.data_offset == wav.index(b"data") + 8
    assert info.frames == 100


def test_parse_wav_truncated_data_is_clamped() -> None:
    wav = make_wav(bytes(1000), declared_size=4000)
    info = media.parse_wav(io.BytesIO(wav))
    assert info.data_size == 1000
    assert info.frames == 250


def test_parse_wav_unknown_data_size_is_clamped() -> None:
    wav = make_wav(bytes(1002), declared_size=0xFFFFFFFF, bits=24, channels=1)
    info = media.parse_wav(io.BytesIO(wav))
    assert info.data_size == 1002
    assert info.frames == 334


def test_parse_wav_partial_trailing_frame_not_counted() -> None:
    info = media.parse_wav(io.BytesIO(make_wav(bytes(4 * 10 + 3))))
    assert info.data_size == 43
    assert info.frames == 10


def test_parse_wav_reads_from_current_position() -> None:
    wav = make_wav(bytes(40))
    fp = io.BytesIO(b"0123456789" + wav)
    fp.seek(10)
    info = media.parse_wav(fp)
    assert info.data_offset == 10 + 44
    assert info.frames == 10


def test_parse_wav_rf64() -> None:
    fmt = chunk(b"fmt ", fmt_body(PCM, 2, 48000, 16))
    ds64 = chunk(b"ds64", struct.pack("<QQQI", 0, 800, 200, 0))
    wav = b"RF64\xff\xff\xff\xffWAVE" + ds64 + fmt + b"data\xff\xff\xff\xff" + bytes(1000)
    info = media.parse_wav(io.BytesIO(wav))
    assert info.data_size == 800
    assert info.frames == 200


def test_parse_wav_fmt_after_data() -> None:
    data = chunk(b"data", bytes(40))
    fmt = chunk(b"fmt ", fmt_body(PCM, 1, 8000, 8))
    wav = b"RIFF" + struct.pack("<I", 4 + len(data) + len(fmt)) + b"WAVE" + data + fmt
    info = media.parse_wav(io.BytesIO(wav))
    assert (info.channels, info.bits_per_sample, info.frames, info.data_offset) == (1, 8, 40, 20)


@pytest.mark.parametrize(
    ("wav", "message"),
    [
        (b"", "not a WAV"),
        (b"hello world, definitely not audio", "not a WAV"),
        (b"RIFF\x04\x00\x00\x00AVI ", "not a WAV"),
        (b"RIFF\x04\x00\x00\x00WAVE", "fmt"),
        (b"RIFF\x10\x00\x00\x00WAVEdata\x04\x00\x00\x00\x00\x00\x00\x00", "fmt"),
        (b"RIFF\x1c\x00\x00\x00WAVE" + chunk(b"fmt ", fmt_body(PCM, 2, 44100, 16)), "data"),
        (make_wav(bytes(8), tag=2, bits=4), "unsupported"),  # ADPCM
        (make_wav(bytes(8), bits=12), "unsupported"),
        (make_wav(bytes(8), tag=FLOAT, bits=16), "unsupported"),
        (make_wav(bytes(8), channels=0), "channels"),
        (make_wav(bytes(8), rate=0), "sample rate"),
    ],
)
def test_parse_wav_rejects_malformed(wav: bytes, message: str) -> None:
    with pytest.raises(MediaError, match=message):
        media.parse_wav(io.BytesIO(wav))


def test_parse_wav_rejects_short_fmt_and_bad_block_align() -> None:
    short = b"RIFF\x20\x00\x00\x00WAVE" + chunk(b"fmt ", bytes(10)) + chunk(b"data", bytes(4))
    with pytest.raises(MediaError, match="too short"):
        media.parse_wav(io.BytesIO(short))
    body = bytearray(fmt_body(PCM, 2, 44100, 16))
    body[12] = 3  # block align 3 for 2 x 16-bit
    bad = b"RIFF\x30\x00\x00\x00WAVE" + chunk(b"fmt ", bytes(body)) + chunk(b"data", bytes(8))
    with pytest.raises(MediaError, match="block align"):
        media.parse_wav(io.BytesIO(bad))


def test_media_error_is_value_error() -> None:
    assert issubclass(MediaError, ValueError)


# ---- WAV writing ------------------------------------------------------------------------


@pytest.mark.parametrize(("tag", "bits", "channels"), FORMATS)
def test_wav_header_round_trips(tag: int, bits: int, channels: int) -> None:
    frames = 101
    header = silence.wav_header(tag, channels, 32000, bits, frames)
    data = bytes(frames * channels * bits // 8)
    wav = header + data + (b"\x00" if len(data) & 1 else b"")
    assert silence.wav_size(tag, channels, bits, frames) == len(wav)
    assert struct.unpack_from("<I", wav, 4)[0] == len(wav) - 8
    info = media.parse_wav(io.BytesIO(wav))
    assert (info.format_tag, info.channels, info.sample_rate) == (tag, channels, 32000)
    assert (info.bits_per_sample, info.frames, info.data_offset) == (bits, frames, len(header))


def test_wav_header_uses_rf64_beyond_4gib() -> None:
    frames = 1 << 30  # 4 GiB of 16-bit stereo
    header = silence.wav_header(PCM, 2, 48000, 16, frames)
    assert header[:4] == b"RF64"
    info = media.parse_wav(io.BytesIO(header + bytes(400)))
    assert info.frames == 100  # clamped to what is present
    assert silence.wav_size(PCM, 2, 16, frames) == len(header) + frames * 4


@pytest.mark.parametrize(
    ("duration", "rate", "channels", "bits"),
    [(1.5, 48000, 2, 16), (0.25, 22050, 1, 8), (0.0, 44100, 2, 24)],
)
def test_write_silent_wav(duration: float, rate: int, channels: int, bits: int) -> None:
    out = io.BytesIO()
    written = silence.write_silent_wav(out, duration, rate, channels, bits)
    data = out.getvalue()
    assert written == len(data)
    with wave.open(io.BytesIO(data)) as reader:
        assert reader.getframerate() == rate
        assert reader.getnchannels() == channels
        assert reader.getsampwidth() == bits // 8
        assert reader.getnframes() == round(duration * rate)
        raw = reader.readframes(reader.getnframes())
    assert set(decode(raw, bits, PCM)) <= {0}


# ---- stem rendering ---------------------------------------------------------------------


@pytest.mark.parametrize(("tag", "bits", "channels"), FORMATS)
def test_render_outputs_match_input_format(tag: int, bits: int, channels: int) -> None:
    frames = 3000
    values = noise(frames * channels, full_scale(bits, tag) * 0.3, integers=tag == PCM)
    wav = make_wav(encode(values, bits, tag), tag=tag, bits=bits, channels=channels, rate=22050)
    stems = ["vocal", "drum", "bass"]
    outs = render(wav, stems)
    decoded = {}
    for name, data in outs.items():
        info, decoded[name] = samples_of(data)
        assert (info.format_tag, info.bits_per_sample) == (tag, bits)
        assert (info.channels, info.sample_rate, info.frames) == (channels, 22050, frames)
        assert len(data) == silence.wav_size(tag, channels, bits, frames)
        assert rms(decoded[name]) > 0.01 * full_scale(bits, tag)
        if tag == PCM:  # the stdlib reader agrees
            with wave.open(io.BytesIO(data)) as reader:
                assert reader.getparams()[:4] == (channels, bits // 8, 22050, frames)
    # stems differ from each other
    assert len({tuple(v) for v in decoded.values()}) == len(decoded)
    # residual + stems == input (exact for integers: nothing clips at this level)
    total = [sum(column) for column in zip(*decoded.values(), strict=True)]
    if tag == PCM:
        assert total == values
    else:
        assert max(abs(t - v) for t, v in zip(total, values, strict=True)) < 1e-5


def test_render_residual_is_exact_for_16_bit_music_level_noise() -> None:
    values = noise(2 * 20000, 12000, seed=7)
    outs = render(make_wav(encode(values, 16, PCM)), ["vocal", "drum", "bass", "electric_guitar"])
    decoded = [samples_of(data)[1] for data in outs.values()]
    assert [sum(col) for col in zip(*decoded, strict=True)] == values


def test_render_bands_separate_a_low_sine() -> None:
    rate, frames = 44100, 44100 // 2
    sine = [round(20000 * math.sin(2 * math.pi * 100 * i / rate)) for i in range(frames)]
    outs = render(make_wav(encode(sine, 16, PCM), channels=1, rate=rate), ["bass", "drum"])
    skip = rate // 20  # let the filters settle
    source = rms(sine[skip:])
    bass = rms(samples_of(outs["bass"])[1][skip:])
    drum = rms(samples_of(outs["drum"])[1][skip:])
    assert bass > 0.85 * source
    assert drum < 0.06 * source
    residual = rms(samples_of(outs[rendering.RESIDUAL])[1][skip:])
    # x - lowpass(x) is the complementary one-pole high-pass at 250 Hz: |H(100 Hz)| ≈ 0.37
    assert residual < 0.5 * source


@pytest.mark.parametrize(("tag", "bits"), [(PCM, 8), (PCM, 16), (PCM, 24), (PCM, 32), (FLOAT, 32)])
def test_render_block_size_does_not_matter(tag: int, bits: int) -> None:
    values = noise(2 * 5000, full_scale(bits, tag) * 0.9, seed=3, integers=tag == PCM)
    wav = make_wav(encode(values, bits, tag), tag=tag, bits=bits)
    stems = ["vocal", "drum", "bass", "mystery"]
    big = render(wav, stems)
    assert render(wav, stems, block_frames=997) == big
    assert render(wav, stems, block_frames=1) == big


@pytest.mark.parametrize("bits", [8, 16, 24, 32])
def test_render_clips_full_scale_steps(bits: int) -> None:
    top = (1 << (bits - 1)) - 1
    square = [(top if (i // 50) % 2 else -top - 1) for i in range(2000)]
    outs = render(make_wav(encode(square, bits, PCM), bits=bits, channels=1), ["drum", "effect"])
    for name in ("drum", "effect", rendering.RESIDUAL):
        values = samples_of(outs[name])[1]
        assert -top - 1 <= min(values) and max(values) <= top
    drum = samples_of(outs["drum"])[1]
    # Right after the rising edge the high-pass overshoots: clipped at +full scale,
    # never wrapped around to a negative value. After the falling edge it is at negative
    # full scale, less the LSB the residual could not hold (it went into the first stem,
    # so that the files still add up to the input).
    assert drum[50] == top
    assert drum[100] == -top
    total = [sum(col) for col in zip(*(samples_of(d)[1] for d in outs.values()), strict=True)]
    assert total == square


def test_render_unsigned_8_bit_centre() -> None:
    silence = bytes([128]) * 1000
    outs = render(make_wav(silence, bits=8, channels=1), ["vocal"])
    for data in outs.values():
        info = media.parse_wav(io.BytesIO(data))
        assert data[info.data_offset : info.data_offset + 1000] == silence


def test_render_ignores_trailing_partial_frame() -> None:
    values = noise(2 * 500, 8000, seed=5)
    wav = make_wav(encode(values, 16, PCM) + b"\x01\x02\x03")  # 3 stray bytes
    outs = render(wav, ["vocal"])
    for data in outs.values():
        info = media.parse_wav(io.BytesIO(data))
        assert info.frames == 500
        assert info.data_size == 2000
        assert len(data) == info.data_offset + 2000
        assert struct.unpack_from("<I", data, 4)[0] == len(data) - 8
    residual = samples_of(outs[rendering.RESIDUAL])[1]
    vocal = samples_of(outs["vocal"])[1]
    assert [a + b for a, b in zip(residual, vocal, strict=True)] == values


def test_render_odd_data_size_is_padded() -> None:
    values = noise(333, 100, seed=9)
    outs = render(make_wav(encode(values, 8, PCM), bits=8, channels=1), ["bass"])
    for data in outs.values():
        assert len(data) % 2 == 0
        assert struct.unpack_from("<I", data, 4)[0] == len(data) - 8
        with wave.open(io.BytesIO(data)) as reader:
            assert reader.getnframes() == 333


class WriteOnly:
    """A sink without seek or tell, like a socket or a pipe."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self.parts.append(bytes(data))
        return len(data)


def test_render_needs_no_seekable_outputs_and_reads_data_offset() -> None:
    wav = make_wav(encode(noise(2 * 300, 5000), 16, PCM))
    src = io.BytesIO(wav)
    info = media.parse_wav(src)
    src.seek(0)  # render must seek to the data itself
    sinks = {"vocal": WriteOnly(), rendering.RESIDUAL: WriteOnly()}
    rendering.render_wav_stems(src, info, ["vocal"], sinks)  # type: ignore[arg-type]
    assert b"".join(sinks["vocal"].parts) == render(wav, ["vocal"])["vocal"]


def test_render_rejects_bad_arguments() -> None:
    wav = make_wav(bytes(40))
    info = media.parse_wav(io.BytesIO(wav))
    out = io.BytesIO()
    with pytest.raises(ValueError, match="twice"):
        rendering.render_wav_stems(io.BytesIO(wav), info, ["vocal", "vocal"], {"vocal": out})
    with pytest.raises(ValueError, match="no output"):
        rendering.render_wav_stems(io.BytesIO(wav), info, ["vocal", "bass"], {"vocal": out})
    with pytest.raises(ValueError, match="residual"):
        rendering.render_wav_stems(
            io.BytesIO(wav), info, [rendering.RESIDUAL], {rendering.RESIDUAL: out}
        )
    assert out.getvalue() == b""


def test_render_source_shorter_than_info() -> None:
    wav = make_wav(bytes(400))
    info = media.parse_wav(io.BytesIO(wav))
    with pytest.raises(MediaError, match="ended"):
        rendering.render_wav_stems(io.BytesIO(wav[:200]), info, ["vocal"], {"vocal": io.BytesIO()})


def test_stem_bands_table() -> None:
    assert rendering.STEM_BANDS["vocal"] == (300, 3400)
    assert rendering.STEM_BANDS["bass"] == (None, 250)
    assert rendering.STEM_BANDS["drum"] == (2500, None)
    assert rendering.DEFAULT_BAND == (200, 5000)


# ---- MP3 --------------------------------------------------------------------------------


def mp3_bytes(duration: float, channels: int = 2) -> bytes:
    """What write_mp3 writes, checking its return value and mp3_size on the way."""
    out = io.BytesIO()
    written = silence.write_mp3(out, duration, channels=channels)
    data = out.getvalue()
    assert written == len(data) == silence.mp3_size(duration, channels)
    return data


@pytest.mark.parametrize("duration", [0.0, 0.5, 3.0, 61.3])
@pytest.mark.parametrize("channels", [2, 1])
def test_mp3_frames_are_valid_and_add_up(duration: float, channels: int) -> None:
    data = mp3_bytes(duration, channels)
    mode = 0xC0 if channels == 1 else 0x00
    offset = count = 0
    while offset < len(data):
        b0, b1, b2, b3 = data[offset : offset + 4]
        assert (b0, b1) == (0xFF, 0xFB)  # sync, MPEG-1, Layer III, no CRC
        assert b2 >> 4 == 14  # 320 kbps
        assert (b2 >> 2) & 3 == 1  # 48 kHz
        assert b2 & 2 == 0  # no padding
        assert b3 & 0xC0 == mode
        offset += 144 * 320_000 // 48_000
        count += 1
    assert offset == len(data)
    audio_frames = silence.mp3_frame_count(duration)
    assert count == audio_frames + 1
    tag_at = 4 + (17 if channels == 1 else 32)
    assert data[tag_at : tag_at + 4] == b"Info"
    flags, frames, size = struct.unpack_from(">III", data, tag_at + 4)
    assert flags & 3 == 3
    assert (frames, size) == (audio_frames, len(data))


@pytest.mark.parametrize("duration", [0.5, 3.0, 61.3])
def test_mp3_mutagen_reads_exact_parameters(duration: float) -> None:
    mutagen_mp3 = pytest.importorskip("mutagen.mp3")
    info = mutagen_mp3.MP3(io.BytesIO(mp3_bytes(duration))).info
    assert info.sample_rate == 48000
    assert info.bitrate == 320_000
    assert info.channels == 2
    assert duration <= info.length < duration + 1152 / 48000


@pytest.mark.parametrize("duration", [0.5, 3.0, 61.3])
@pytest.mark.parametrize("channels", [2, 1])
def test_mp3_decodes_with_a_real_decoder(duration: float, channels: int) -> None:
    miniaudio = pytest.importorskip("miniaudio")
    data = mp3_bytes(duration, channels)
    info = miniaudio.mp3_get_info(data)
    assert (info.sample_rate, info.nchannels) == (48000, channels)
    decoded = miniaudio.decode(
        data,
        output_format=miniaudio.SampleFormat.SIGNED16,
        nchannels=channels,
        sample_rate=48000,
    )
    expected = duration * 48000
    # dr_mp3 skips the Info frame and adds no delay; allow one more frame for decoders
    # that play the Info frame as (silent) audio.
    assert expected <= decoded.num_frames <= expected + 1152 + 1152
    assert decoded.num_frames == silence.mp3_frame_count(duration) * 1152  # what dr_mp3 does
    assert not any(decoded.samples)  # the sandbox's MP3 is silence, as documented


def test_mp3_zero_duration_is_one_frame() -> None:
    data = mp3_bytes(0.0)
    assert len(data) == 2 * 960
    assert silence.mp3_frame_count(0.0) == 1
    mutagen_mp3 = pytest.importorskip("mutagen.mp3")
    assert mutagen_mp3.MP3(io.BytesIO(data)).info.length == pytest.approx(1152 / 48000)


def test_mp3_frame_count_edges() -> None:
    assert silence.mp3_frame_count(3.0) == 125  # exact multiple: no extra frame
    assert silence.mp3_frame_count(3.0 + 1e-6) == 126
    assert silence.mp3_frame_count(1152 / 48000) == 1


def test_mp3_write_only_sink() -> None:
    sink = WriteOnly()
    written = silence.write_mp3(sink, 2.0)  # type: ignore[arg-type]
    assert b"".join(sink.parts) == mp3_bytes(2.0)
    assert written == silence.mp3_size(2.0)


@pytest.mark.parametrize(
    ("duration", "channels"), [(-1.0, 2), (math.nan, 2), (math.inf, 2), (1.0, 3), (1.0, 0)]
)
def test_mp3_rejects_bad_arguments(duration: float, channels: int) -> None:
    with pytest.raises(ValueError):
        silence.mp3_size(duration, channels)
    with pytest.raises(ValueError):
        silence.write_mp3(io.BytesIO(), duration, channels)


# ---- example clip -----------------------------------------------------------------------


@pytest.mark.slow
def test_example_clip_is_reproducible() -> None:
    from gsep_cli.sandbox import example

    built = example.build_example_clip()
    assert built == example.EXAMPLE_CLIP.read_bytes()
    assert example.build_example_clip() == built


def test_example_clip_is_a_short_non_silent_song() -> None:
    from gsep_cli.sandbox.example import EXAMPLE_CLIP

    data = EXAMPLE_CLIP.read_bytes()
    assert media.sniff_format(data[:64]) == "wav"
    info, values = samples_of(data)
    assert (info.format_tag, info.channels, info.sample_rate, info.bits_per_sample) == (
        PCM,
        2,
        22050,
        16,
    )
    assert 3.0 <= info.duration <= 6.0
    assert 200_000 < len(data) < 500_000
    assert max(abs(v) for v in values) < 32767  # peak below full scale
    assert rms(values) > 2000
    with wave.open(io.BytesIO(data)) as reader:
        assert reader.getnframes() == info.frames
    left, right = values[0::2], values[1::2]
    assert left != right  # panned, not dual mono


def test_example_clip_renders_audible_stems() -> None:
    from gsep_cli.sandbox.example import EXAMPLE_CLIP

    outs = render(EXAMPLE_CLIP.read_bytes(), ["vocal", "drum", "bass"])
    levels = {name: rms(samples_of(data)[1]) for name, data in outs.items()}
    assert all(level > 300 for level in levels.values()), levels
