"""The sandbox's stems of FLAC and MP3 inputs are audible (decoded with the audio extra),
and every input's stems plus ``others`` add up to the (decoded) input sample for sample;
without the extra, compressed inputs get silent stems, as before.

Inputs are made here with soundfile; results are fetched over loopback HTTP from a real
sandbox and read back with soundfile as int32 (a 16-bit stem reads as its samples times
65536, a 24-bit one times 256, as the FLAC inputs do at the same depth).
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import wave
from typing import Any

import pytest
import requests
from conftest import TIMEOUT, Api
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mediatools import mp3_stream

from gsep_cli import media
from gsep_cli.models import RESIDUAL
from gsep_cli.sandbox import Sandbox, decode, render, results

np = pytest.importorskip("numpy")
sf = pytest.importorskip("soundfile")

MUSIC_STEMS = ["vocal", "drum", "bass", "electric_guitar", "acoustic_piano"]


@pytest.fixture(scope="module")
def sandbox_options() -> dict[str, Any]:
    return {"job_seconds": 0, "chunk_size": 64 * 1024, "rate_limit": 0}


def _music(frames: int, rate: int, channels: int, seed: int = 0) -> Any:
    """Float samples in [-1, 1], frames x channels: tones in every stem's band, noise, and
    bursts of a full-scale square wave (so the residual has overs to spill)."""
    rng = np.random.default_rng(seed)
    t = np.arange(frames) / rate
    tones = 0.3 * np.sin(2 * np.pi * 100 * t) + 0.25 * np.sin(2 * np.pi * 1000 * t)
    tones += 0.2 * np.sin(2 * np.pi * 5000 * t)
    square = np.where((np.arange(frames) // 40) % 2, 1.0, -1.0)
    loud = (np.arange(frames) // (rate // 10)) % 3 == 0
    mono = np.where(loud, square, tones)
    out = np.stack([mono] * channels, axis=1) + 0.05 * rng.standard_normal((frames, channels))
    return np.clip(out, -1.0, 1.0)


def _encode(fmt: str, subtype: str, frames: int, rate: int, channels: int) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, _music(frames, rate, channels), rate, format=fmt, subtype=subtype)
    return buf.getvalue()


def _read(data: bytes, dtype: str = "int32") -> tuple[Any, Any]:
    """(samples as int64, frames x channels; soundfile's info) of an audio file's bytes."""
    samples, _ = sf.read(io.BytesIO(data), dtype=dtype, always_2d=True)
    return samples.astype(np.int64), sf.info(io.BytesIO(data))


def _stems_over_http(api: Api, data: bytes, name: str, stems: str) -> tuple[str, dict[str, bytes]]:
    """Upload, run one job for ``stems``; return its id and every WAV result's bytes."""
    job_id = api.job_id(audioUploadId=api.upload(data, name), type=stems)
    done = api.wait(job_id)
    assert done["status"] == "success", done
    wavs = {}
    for output, urls in done["downloadUrl"].items():
        got = requests.get(urls["wav"], timeout=TIMEOUT)
        assert got.status_code == 200, got.text
        wavs[output] = got.content
    return job_id, wavs


def _rms(samples: Any) -> float:
    return float(np.sqrt(np.mean((samples / 2.0**31) ** 2)))


# ---- compressed inputs, through the sandbox over HTTP ------------------------------------


@pytest.mark.parametrize(
    ("fmt", "subtype", "rate", "channels", "depth"),
    [
        ("FLAC", "PCM_16", 44100, 2, "PCM_16"),
        ("FLAC", "PCM_24", 48000, 1, "PCM_24"),
        ("MP3", "MPEG_LAYER_III", 44100, 2, "PCM_16"),
        ("MP3", "MPEG_LAYER_III", 32000, 1, "PCM_16"),
    ],
)
def test_compressed_input_gives_audible_stems_that_sum_to_the_decoded_input(
    sb: Sandbox, fmt: str, subtype: str, rate: int, channels: int, depth: str
) -> None:
    data = _encode(fmt, subtype, rate // 2, rate, channels)
    name = f"song.{fmt.lower()}"
    job_id, wavs = _stems_over_http(Api(sb), data, name, "vocal,drum,bass")
    assert set(wavs) == {"vocal", "drum", "bass", RESIDUAL}
    # the sandbox decodes an MP3 to 16-bit: the reference is libsndfile's own 16-bit decode
    decoded = _read(data, "int16")[0] << 16 if fmt == "MP3" else _read(data)[0]
    total = np.zeros_like(decoded)
    for output, wav in wavs.items():
        samples, info = _read(wav)
        assert (info.format, info.subtype) == ("WAV", depth), output
        assert (info.samplerate, info.channels) == (rate, channels), output
        assert samples.shape == decoded.shape, output
        assert _rms(samples) > 0.01, f"{output} is silent"
        total += samples
    assert np.array_equal(total, decoded)
    assert _rms(decoded) > 0.1
    # the decoded PCM was temporary
    folder = sb.store.root / "results" / job_id
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        f"{o}.{ext}" for o in wavs for ext in ("wav", "mp3")
    )


def test_flac_with_id3_in_front_is_decoded_too(sb: Sandbox) -> None:
    flac = _encode("FLAC", "PCM_16", 8000, 16000, 2)
    tag = b"ID3\x04\x00\x00\x00\x00\x00\x0a" + bytes(10)  # an empty ID3v2.4 tag
    _, wavs = _stems_over_http(Api(sb), tag + flac, "tagged.flac", "vocal")
    total = sum(_read(wav)[0] for wav in wavs.values())
    assert np.array_equal(total, _read(flac)[0])
    assert _rms(_read(wavs["vocal"])[0]) > 0.01


@pytest.mark.parametrize(
    ("name", "make"),
    [
        # cut short: STREAMINFO is whole, so the job's checks take it; libsndfile loses sync
        ("cut.flac", lambda: _encode("FLAC", "PCM_16", 20000, 44100, 2)[:30000]),
        # frames of zeros (a valid stream, 250 frames counted) that mpg123 reads only in
        # part: the decoded length is not the input's
        (
            "vbr.mp3",
            lambda: mp3_stream([32 if i % 7 else 160 for i in range(250)], 22050, version="2"),
        ),
    ],
)
def test_an_input_libsndfile_cannot_read_gets_silent_stems_of_its_length(
    sb: Sandbox, name: str, make: Any
) -> None:
    """The job's checks took it (as the service would), so its stems are silence of the
    measured length, like an input with no decoder: no error, no temporary file left."""
    data = make()
    api = Api(sb)
    job_id, wavs = _stems_over_http(api, data, name, "bass")
    seconds = sb.store.find_job(job_id).audio_seconds  # type: ignore[union-attr]
    with pytest.raises(media.MediaError):  # the decoder does fail on it
        decode.decode_pcm(io.BytesIO(data), name[-4:].strip("."), io.BytesIO(), seconds=seconds)
    for output, wav in wavs.items():
        samples, info = _read(wav)
        assert not samples.any(), output
        assert info.frames == round(seconds * info.samplerate), output
    assert not any("error" in entry for entry in sb.requests)
    assert not (sb.store.root / "results" / job_id / results.DECODED_NAME).exists()


def test_without_soundfile_compressed_inputs_give_silent_stems_and_no_error(
    sb: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The extra blocked (``import soundfile`` fails, as when it is not installed): the
    stems of an audible FLAC are digital silence of the input's length, as before."""
    monkeypatch.setitem(sys.modules, "soundfile", None)
    flac = _encode("FLAC", "PCM_16", 16000, 32000, 2)
    _, wavs = _stems_over_http(Api(sb), flac, "quiet.flac", "vocal,drum")
    assert set(wavs) == {"vocal", "drum", RESIDUAL}
    for output, wav in wavs.items():
        with wave.open(io.BytesIO(wav)) as reader:  # soundfile is blocked: the stdlib reads
            frames = reader.readframes(reader.getnframes())
            assert reader.getnframes() == round(0.5 * 48000), output
        assert frames == bytes(len(frames)), f"{output} is not silent"
    assert not any("error" in entry for entry in sb.requests)


def test_a_libsndfile_without_an_mp3_decoder_gives_silent_stems(
    sb: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """libsndfile before 1.1 has no MP3 decoder (``available_formats`` lacks it): the
    stems of an MP3 are silent, while a FLAC is still decoded."""
    formats = {k: v for k, v in sf.available_formats().items() if k != "MP3"}
    monkeypatch.setattr(sf, "available_formats", lambda: formats)
    mp3 = _encode("MP3", "MPEG_LAYER_III", 8000, 32000, 1)
    _, wavs = _stems_over_http(Api(sb), mp3, "old.mp3", "drum")
    assert all(not _read(wav)[0].any() for wav in wavs.values())
    flac = _encode("FLAC", "PCM_16", 8000, 32000, 1)
    _, wavs = _stems_over_http(Api(sb), flac, "new.flac", "drum")
    assert _rms(_read(wavs["drum"])[0]) > 0.01


@pytest.mark.parametrize(
    ("fmt", "subtype", "rate", "channels"),
    [
        ("FLAC", "PCM_16", 44100, 2),
        ("FLAC", "PCM_24", 96000, 1),
        ("MP3", "MPEG_LAYER_III", 48000, 2),
    ],
)
def test_decoding_in_small_blocks_gives_the_same_pcm(
    fmt: str, subtype: str, rate: int, channels: int
) -> None:
    """The input is read a block at a time (memory bounded by one block): the block size
    changes nothing, and the PCM is the samples libsndfile reads in one go."""
    data = _encode(fmt, subtype, 30000, rate, channels)
    outs = []
    for block_frames in (65536, 4096, 999):
        out = io.BytesIO()
        info = decode.decode_pcm(io.BytesIO(data), fmt.lower(), out, block_frames=block_frames)
        assert info is not None and info.frames == 30000 and info.data_offset == 0
        assert (info.sample_rate, info.channels) == (rate, channels)
        outs.append(out.getvalue())
    assert outs[0] == outs[1] == outs[2]
    bits = 24 if subtype == "PCM_24" else 16
    wide = np.frombuffer(outs[0], np.uint8).reshape(-1, bits // 8)
    pad = np.zeros((len(wide), 4 - bits // 8), np.uint8)  # back to left-justified int32
    got = np.hstack([pad, wide]).copy().view("<i4").reshape(-1, channels)
    expected = _read(data, "int16")[0] << 16 if bits == 16 else _read(data)[0]
    assert np.array_equal(got, expected)


def test_m4a_inputs_stay_silent(sb: Sandbox) -> None:
    """No libsndfile decoder for AAC: an M4A's stems are silence (whatever is installed)."""
    m4a = b"\x00\x00\x00\x20ftypM4A \x00\x00\x02\x00M4A isommp42" + bytes(4000)
    _, wavs = _stems_over_http(Api(sb), m4a, "song.m4a", "vocal")
    assert set(wavs) == {"vocal", RESIDUAL}
    for wav in wavs.values():
        assert not _read(wav)[0].any()


@pytest.mark.slow
def test_the_sandbox_does_not_import_the_extra_until_it_decodes() -> None:
    """Importing the sandbox and rendering a WAV input's stems imports neither numpy nor
    soundfile (gsep's start-up is watched); only a compressed input's decode does."""
    code = (
        "import io, json, sys\n"
        "from gsep_cli import media\n"
        "from gsep_cli.sandbox import Sandbox, render\n"
        f"wav = {_tiny_wav()!r}\n"
        "src = io.BytesIO(wav)\n"
        "render.render_wav_stems(src, media.parse_wav(src), ['vocal'], {'vocal': io.BytesIO()})\n"
        "print(json.dumps(sorted(m for m in ('numpy', 'soundfile') if m in sys.modules)))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []


def _tiny_wav() -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(bytes(range(200)))
    return buf.getvalue()


# ---- the sum, as a property of the render ------------------------------------------------


@st.composite
def pcm_inputs(draw: st.DrawFn) -> tuple[bytes, list[int]]:
    """A PCM WAV (16 or 24-bit, 1 or 2 channels, 1 to 3000 frames, any rate the API
    takes) whose samples lean to full scale; and its samples, interleaved."""
    width = draw(st.sampled_from([2, 3]))
    channels = draw(st.sampled_from([1, 2]))
    frames = draw(st.integers(1, 3000))
    rate = draw(st.sampled_from([16000, 22050, 44100, 48000, 96000, 192000]))
    top = (1 << (8 * width - 1)) - 1
    extremes = st.sampled_from([-top - 1, top, -top, top - 1, 0])
    value = st.one_of(extremes, st.integers(-top - 1, top))
    seed = draw(st.lists(value, min_size=1, max_size=64))
    # a pattern repeated to length: long runs of extremes (steps the filters overshoot on)
    stretch = draw(st.integers(1, 60))
    samples = [seed[(i // stretch) % len(seed)] for i in range(frames * channels)]
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(b"".join(v.to_bytes(width, "little", signed=True) for v in samples))
    return buf.getvalue(), samples


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    pcm=pcm_inputs(),
    stems=st.lists(st.sampled_from([*MUSIC_STEMS, "mystery"]), min_size=1, unique=True),
    block_frames=st.integers(1, 4096),
)
def test_stems_plus_others_equal_a_wav_input_exactly(
    pcm: tuple[bytes, list[int]], stems: list[str], block_frames: int
) -> None:
    wav, samples = pcm
    src = io.BytesIO(wav)
    info = media.parse_wav(src)
    outputs = {name: io.BytesIO() for name in [*stems, RESIDUAL]}
    render.render_wav_stems(src, info, stems, outputs, block_frames=block_frames)  # type: ignore[arg-type]
    expected = _read(wav)[0]
    assert expected.ravel().tolist() == [v << (32 - info.bits_per_sample) for v in samples]
    total = np.zeros_like(expected)
    for name, out in outputs.items():
        got, got_info = _read(out.getvalue())
        assert got.shape == expected.shape, name
        assert got_info.subtype == f"PCM_{info.bits_per_sample}", name
        total += got
    assert np.array_equal(total, expected)
