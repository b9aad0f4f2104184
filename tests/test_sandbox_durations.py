"""The sandbox's stems last as long as their input (issue 15, first run 4).

The sandbox measured inputs with a reader of its own, which took 128 kbit/s for an MP3
whose first frame it could not find right after the ID3 tag: a 4.08 s 22.05 kHz 64 kbit/s
MP3 got 2.05 s stems. It now measures with :func:`gsep_cli.media.read_facts`, the client's
own reading (headers, then mutagen). The properties below run MP3 frame sequences of every
MPEG version, sample rate and bit rate, constant or variable (with a Xing/Info or VBRI
header), behind ID3 tags of any size, through both.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from audio import wav_bytes
from clitools import clean_env, run_gsep
from hypothesis import given, settings
from hypothesis import strategies as st
from mediatools import flac_bytes, id3v2_tag, mp3_stream

from gsep_cli import media
from gsep_cli.choices import get_model
from gsep_cli.sandbox.checks import check_media
from gsep_cli.sandbox.state import SandboxSettings, Upload

RATES = {"1": (32000, 44100, 48000), "2": (16000, 22050, 24000), "2.5": (8000, 11025, 12000)}
KBPS = {
    "1": (32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    "lsf": (8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}


def _sandbox_seconds(data: bytes, name: str) -> float:
    """What the sandbox's job validation makes of an upload holding ``data``."""
    upload = Upload("u", name, len(data), max(1, len(data)), 0.0)
    kind, seconds = check_media(
        get_model("gsep_music_hq_v1"), upload, SandboxSettings(), lambda _: io.BytesIO(data)
    )
    assert kind == media.EXTENSION_KINDS["." + name.rsplit(".", 1)[1]]
    return seconds


@st.composite
def mp3_inputs(draw: st.DrawFn) -> tuple[bytes, float, bool]:
    """(bytes, true length in seconds, whether a header states it exactly) of an MP3."""
    version = draw(st.sampled_from(["1", "2", "2.5"]))
    rate = draw(st.sampled_from(RATES[version]))
    table = KBPS["1" if version == "1" else "lsf"]
    frames = draw(st.integers(20, 400))
    header = draw(st.sampled_from([None, "Xing", "Info", "VBRI"]))
    if header is None:  # without a header only a constant bit rate has a knowable length
        kbps = [draw(st.sampled_from(table))] * frames
    else:
        kbps = draw(st.lists(st.sampled_from(table), min_size=frames, max_size=frames))
    channels = draw(st.sampled_from([1, 2]))
    tag = draw(st.one_of(st.just(b""), st.integers(0, 20_000).map(lambda n: id3v2_tag(bytes(n)))))
    # stray bytes between the tag and the first frame (padding some taggers leave); an
    # MP3 without a tag must start with a frame, or it is not recognised as one (1107)
    gap = draw(st.sampled_from([0, 0, 1, 417])) if tag else 0
    audio = mp3_stream(kbps, rate, version=version, channels=channels, vbr_header=header)
    seconds = frames * (1152 if version == "1" else 576) / rate
    return tag + bytes(gap) + audio, seconds, header is not None


@settings(max_examples=150, deadline=None)
@given(mp3_inputs())
def test_mp3_lengths_come_from_the_media_reading_on_both_sides(
    given_mp3: tuple[bytes, float, bool],
) -> None:
    data, seconds, exact = given_mp3
    facts = media.read_facts(io.BytesIO(data), "mp3")
    assert facts.duration is not None
    if exact:  # the header's frame count, to the sample
        assert facts.duration_exact and facts.duration == pytest.approx(seconds, abs=1e-9)
    else:  # constant bit rate without a header: mutagen's estimate, within 0.5 %
        assert facts.duration == pytest.approx(seconds, rel=0.005)
    if facts.sample_rate is not None and facts.sample_rate >= 16000:  # the API's (1014)
        assert _sandbox_seconds(data, "song.mp3") == facts.duration


@settings(max_examples=60, deadline=None)
@given(
    rate=st.sampled_from([16000, 22050, 44100, 48000, 96000]),
    channels=st.sampled_from([1, 2]),
    frames=st.integers(1, 200_000),
)
def test_flac_and_wav_lengths_are_their_headers(rate: int, channels: int, frames: int) -> None:
    flac = flac_bytes(rate=rate, channels=channels, total_samples=frames)
    assert _sandbox_seconds(flac, "song.flac") == pytest.approx(frames / rate)
    kept = min(frames, 4000)  # a WAV holds its samples: keep it small
    wav = wav_bytes(kept, rate=rate, channels=channels, silent=True)
    assert _sandbox_seconds(wav, "song.wav") == pytest.approx(kept / rate)


@pytest.mark.slow
@pytest.mark.parametrize("gap", [0, 64], ids=["tag", "tag-then-stray-bytes"])
def test_a_22khz_64kbps_mp3_with_an_id3_tag_gets_stems_of_its_length(
    tmp_path: Path, gap: int
) -> None:
    """The issue's case, end to end: 4.08 s at 22.05 kHz and 64 kbit/s behind an ID3 tag."""
    frames = round(4.08 * 22050 / 576)
    seconds = frames * 576 / 22050
    song = tmp_path / "song.mp3"
    song.write_bytes(
        id3v2_tag(b"TIT2" + bytes(600)) + bytes(gap) + mp3_stream([64] * frames, 22050, version="2")
    )
    run = run_gsep(
        ["--sandbox", "separate", "song.mp3", "--stems", "vocal", "--format", "both"],
        clean_env(tmp_path),
        cwd=tmp_path,
    )
    assert run.code == 0, str(run)
    with open(tmp_path / "song" / "vocal.mp3", "rb") as fh:
        stem = media.read_facts(fh, "mp3")
    assert stem.duration_exact and stem.duration is not None
    assert seconds - 0.01 <= stem.duration <= seconds + 1152 / 48000  # whole 24 ms frames
    with open(tmp_path / "song" / "vocal.wav", "rb") as fh:
        wav = media.read_facts(fh, "wav")
    assert wav.duration == pytest.approx(seconds, rel=0.005)
