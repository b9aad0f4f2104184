"""The client-side converter (gsep_cli.audio.convert): lossless conversions are bit-exact,
mixes are exact integer sums with overs clipped and counted, resampling keeps the length
and the pitch, lossy files decode with a second, independent decoder (miniaudio), the
bit rates asked for are the ones written, and memory does not depend on the length
(blocks)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

np = pytest.importorskip("numpy")
sf = pytest.importorskip("soundfile")
pytest.importorskip("soxr")

from gsep_cli.audio.convert import ConversionError, convert  # noqa: E402
from gsep_cli.audio.formats import Rendering  # noqa: E402
from gsep_cli.errors import Interrupted  # noqa: E402

DEPTH = {"PCM_16": 16, "PCM_24": 24}


def _pcm(rng: np.random.Generator, frames: int, channels: int, bits: int) -> np.ndarray:
    """Full-scale random integer samples, left-justified in int32 as libsndfile reads them."""
    low, high = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    values = rng.integers(low, high, size=(frames, channels), endpoint=True, dtype=np.int64)
    if frames >= 2:  # both extremes, every time
        values[0], values[1] = low, high
    return (values << (32 - bits)).astype(np.int32)


def _write(path: Path, samples: np.ndarray, rate: int, subtype: str) -> Path:
    sf.write(str(path), samples, rate, subtype=subtype, format="WAV")
    return path


def _read_int(path: Path) -> np.ndarray:
    data, _ = sf.read(str(path), dtype="int32", always_2d=True)
    return data


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    frames=st.integers(1, 5000),
    channels=st.integers(1, 2),
    subtype=st.sampled_from(["PCM_16", "PCM_24"]),
    fmt=st.sampled_from(["flac", "aiff", "wav"]),
    widen=st.booleans(),
    block=st.integers(1, 3000),
    seed=st.integers(0, 2**32 - 1),
)
def test_lossless_conversions_give_the_stems_samples_exactly(
    tmp_path: Path,
    frames: int,
    channels: int,
    subtype: str,
    fmt: str,
    widen: bool,
    block: int,
    seed: int,
) -> None:
    samples = _pcm(np.random.default_rng(seed), frames, channels, DEPTH[subtype])
    stem = _write(tmp_path / "stem.wav", samples, 44100, subtype)
    depth = "24" if widen else None
    out = tmp_path / f"out.{fmt}"
    done = convert([stem], out, fmt, Rendering(bit_depth=depth), block_frames=block)
    assert done.frames == frames and done.clipped == 0
    assert np.array_equal(_read_int(out), samples)
    assert sf.info(str(out)).subtype == ("PCM_24" if widen else subtype)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    lengths=st.lists(st.integers(0, 3000), min_size=2, max_size=4),
    channels=st.integers(1, 2),
    quiet=st.booleans(),
    block=st.integers(1, 2000),
    seed=st.integers(0, 2**32 - 1),
)
def test_a_mix_is_the_exact_sum_with_overs_clipped_and_counted(
    tmp_path: Path, lengths: list[int], channels: int, quiet: bool, block: int, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    stems, total = [], np.zeros((max(lengths), channels), dtype=np.int64)
    for index, length in enumerate(lengths):
        samples = _pcm(rng, length, channels, 16)
        if quiet:  # headroom: no sum reaches full scale
            samples = (samples >> 18) << 16
        stems.append(_write(tmp_path / f"s{index}.wav", samples, 22050, "PCM_16"))
        total[:length] += samples.astype(np.int64) >> 16  # a shorter stem is silence after
    done = convert(stems, tmp_path / "mix.wav", "wav", block_frames=block)
    got = _read_int(tmp_path / "mix.wav").astype(np.int64) >> 16
    assert np.array_equal(got, np.clip(total, -32768, 32767))
    assert done.clipped == int(np.count_nonzero(np.abs(total) > 32768))
    if quiet:
        assert done.clipped == 0


def test_a_32_bit_float_mix_keeps_the_overs(tmp_path: Path) -> None:
    loud = np.full((1000, 2), 30000 << 16, dtype=np.int32)
    a = _write(tmp_path / "a.wav", loud, 44100, "PCM_16")
    b = _write(tmp_path / "b.wav", loud, 44100, "PCM_16")
    done = convert([a, b], tmp_path / "mix.wav", "wav", Rendering(bit_depth="32f"))
    data, _ = sf.read(str(tmp_path / "mix.wav"), dtype="float64")
    assert done.clipped == 0 and sf.info(str(tmp_path / "mix.wav")).subtype == "FLOAT"
    assert np.allclose(data, 2 * 30000 / 32768) and data.max() > 1.0


def test_a_narrower_depth_rounds_to_the_nearest_step(tmp_path: Path) -> None:
    samples = _pcm(np.random.default_rng(7), 4000, 2, 24)
    stem = _write(tmp_path / "stem.wav", samples, 48000, "PCM_24")
    done = convert([stem], tmp_path / "out.flac", "flac", Rendering(bit_depth="16"))
    got = _read_int(tmp_path / "out.flac").astype(np.int64) >> 16
    want = np.clip(np.rint((samples.astype(np.int64) >> 8) / 256), -32768, 32767)
    assert np.array_equal(got, want) and done.clipped == 0


def test_resampling_keeps_the_length_and_the_pitch(tmp_path: Path) -> None:
    rate, seconds = 44100, 3
    t = np.arange(rate * seconds) / rate
    tone = (0.5 * np.sin(2 * np.pi * 1000 * t) * 32767).astype(np.int16)
    stem = tmp_path / "tone.wav"
    sf.write(str(stem), tone, rate, subtype="PCM_16")
    done = convert([stem], tmp_path / "out.wav", "wav", Rendering(sample_rate=48000))
    data, got_rate = sf.read(str(tmp_path / "out.wav"))
    assert got_rate == 48000 and abs(len(data) - 48000 * seconds) <= 1
    spectrum = np.abs(np.fft.rfft(data[48000:96000]))
    assert abs(np.argmax(spectrum) - 1000) <= 1  # 1 Hz bins over one second
    assert done.clipped == 0


@pytest.mark.parametrize(
    ("fmt", "kbps", "rate"),
    [("mp3", None, 44100), ("mp3", 128, 44100), ("ogg", None, 44100), ("opus", 96, 48000)],
)
def test_lossy_files_decode_elsewhere_with_the_stems_duration(
    tmp_path: Path, fmt: str, kbps: int | None, rate: int
) -> None:
    mutagen = pytest.importorskip("mutagen")
    t = np.arange(44100 * 4) / 44100
    music = 0.3 * np.sin(2 * np.pi * 440 * t) + 0.1 * np.sin(2 * np.pi * 3100 * t)
    stem = tmp_path / "stem.wav"
    sf.write(str(stem), np.stack([music, music[::-1]], axis=1), 44100, subtype="PCM_16")
    out = tmp_path / f"out.{fmt}"
    done = convert([stem], out, fmt, Rendering(bitrate=kbps))
    assert done.sample_rate == rate
    info = mutagen.File(str(out)).info
    assert abs(info.length - 4.0) <= 1152 / rate  # within one MPEG frame (Opus: a 20 ms packet)
    if fmt == "mp3":
        assert abs(info.bitrate - (kbps or 320) * 1000) <= 1000  # mutagen's rounding
    if fmt in ("mp3", "ogg"):  # miniaudio: dr_mp3 / stb_vorbis, not libsndfile
        miniaudio = pytest.importorskip("miniaudio")
        decoded = miniaudio.decode_file(str(out))
        assert decoded.sample_rate == rate and decoded.nchannels == 2
        assert abs(decoded.num_frames - 4 * rate) <= 1152  # gapless: LAME's delay is undone


@pytest.mark.parametrize("fmt", ["opus", "ogg", "mp3", "flac"])
def test_ffmpeg_decodes_what_gsep_writes_where_it_is_installed(tmp_path: Path, fmt: str) -> None:
    """A second decoder for every format, Opus included (miniaudio has no Opus decoder):
    ffmpeg, where the machine has it (it is no dependency of gsep)."""
    import shutil
    import subprocess

    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        pytest.skip("ffmpeg is not installed")
    t = np.arange(48000 * 2) / 48000
    stem = tmp_path / "stem.wav"
    sf.write(str(stem), 0.4 * np.sin(2 * np.pi * 660 * t), 48000, subtype="PCM_24")
    out = tmp_path / f"out.{fmt}"
    convert([stem], out, fmt)
    done = subprocess.run(
        [ffmpeg, "-v", "error", "-i", str(out), "-f", "s16le", "-ac", "1", "-"],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0 and done.stderr == b"", done.stderr
    assert abs(len(done.stdout) // 2 - 2 * 48000) <= 1152


def test_mixing_stems_of_different_shapes_is_refused(tmp_path: Path) -> None:
    mono = _write(tmp_path / "mono.wav", np.zeros((10, 1), np.int32), 44100, "PCM_16")
    stereo = _write(tmp_path / "stereo.wav", np.zeros((10, 2), np.int32), 44100, "PCM_16")
    with pytest.raises(ConversionError, match="cannot mix"):
        convert([mono, stereo], tmp_path / "mix.wav", "wav")


def test_an_unreadable_stem_is_a_one_line_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF0000WAVEjunk")
    with pytest.raises(ConversionError) as info:
        convert([bad], tmp_path / "out.flac", "flac")
    assert "bad.wav" in info.value.message and "\n" not in info.value.message


@pytest.mark.parametrize("fmt", ["flac", "mp3", "opus"])
def test_a_stem_without_samples_is_refused_where_no_empty_file_can_be_written(
    tmp_path: Path, fmt: str
) -> None:
    empty = _write(tmp_path / "empty.wav", np.zeros((0, 2), np.int32), 44100, "PCM_16")
    with pytest.raises(ConversionError, match="has no samples"):
        convert([empty], tmp_path / f"out.{fmt}", fmt)
    done = convert([empty], tmp_path / "out.aiff", "aiff")  # these can be empty
    assert done.frames == 0 and sf.info(str(tmp_path / "out.aiff")).frames == 0


def test_a_cancelled_conversion_stops_between_blocks(tmp_path: Path) -> None:
    stem = _write(tmp_path / "s.wav", np.zeros((50000, 2), np.int32), 44100, "PCM_16")
    cancelled = threading.Event()
    cancelled.set()
    with pytest.raises(Interrupted):
        convert([stem], tmp_path / "out.flac", "flac", cancelled=cancelled, block_frames=1000)


NAN_SCRIPT = """
import sys
import numpy as np, soundfile as sf
from pathlib import Path
from gsep_cli.audio.convert import convert
folder = Path(sys.argv[1])
bad = np.full((4000, 2), 0.25, dtype=np.float32)
bad[100:200] = np.nan
bad[300] = np.inf
bad[301] = -np.inf
sf.write(str(folder / "a.wav"), bad, 44100, subtype="FLOAT")
sf.write(str(folder / "b.wav"), bad, 44100, subtype="FLOAT")
for fmt in ("mp3", "ogg", "opus", "flac", "wav"):
    done = convert([folder / "a.wav", folder / "b.wav"], folder / ("mix." + fmt), fmt)
    print(fmt, done.nonfinite, flush=True)
"""


def test_nan_and_infinite_samples_never_reach_an_encoder(tmp_path: Path) -> None:
    """LAME asserts (and aborts the whole process) on a NaN: in a child process, so a
    regression fails this test instead of killing the run."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", NAN_SCRIPT, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [
        x
        for f in ("mp3", "ogg", "opus", "flac", "wav")
        for x in (f, "204")  # 102 frames x 2 channels
    ]
    data, _ = sf.read(str(tmp_path / "mix.wav"), dtype="float64")
    assert np.all(np.isfinite(data)) and data[150, 0] == 0.0


@pytest.mark.parametrize("fmt", ["flac", "mp3"])
def test_a_result_that_resamples_to_nothing_is_refused_not_left_empty(
    tmp_path: Path, fmt: str
) -> None:
    one = _write(tmp_path / "one.wav", np.zeros((1, 2), np.int32), 44100, "PCM_16")
    with pytest.raises(ConversionError, match="no samples"):
        convert([one], tmp_path / f"out.{fmt}", fmt, Rendering(sample_rate=16000))


def test_a_full_disk_is_said_as_such(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """/dev/full fails every write with ENOSPC, which libsndfile reports as "System
    error"; the file system's free space tells what it was."""
    import errno
    import os

    from gsep_cli.audio import convert as module

    stem = _write(tmp_path / "s.wav", np.ones((50000, 2), np.int32) << 20, 44100, "PCM_16")
    monkeypatch.setattr(module.os, "statvfs", lambda _: os.statvfs_result((4096,) * 2 + (0,) * 8))
    with pytest.raises(OSError) as info:
        convert([stem], Path("/dev/full"), "flac")
    assert info.value.errno == errno.ENOSPC


def test_an_mp3_bit_rate_the_stems_rate_lacks_is_said(tmp_path: Path) -> None:
    stem = _write(tmp_path / "s.wav", np.zeros((22050, 2), np.int32), 22050, "PCM_16")
    done = convert([stem], tmp_path / "out.mp3", "mp3", Rendering(bitrate=320))
    assert done.notes == ("MP3 has no 320 kbps rate at 22050 Hz: written at 160 kbps",)


def test_an_mp3_of_a_stem_above_48_khz_says_its_rate(tmp_path: Path) -> None:
    stem = _write(tmp_path / "s.wav", np.zeros((9600, 2), np.int32), 96000, "PCM_24")
    done = convert([stem], tmp_path / "out.mp3", "mp3")
    assert done.sample_rate == 48000
    assert done.notes == ("MP3 has no 96000 Hz rate: written at 48000 Hz",)
