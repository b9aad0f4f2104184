"""Everything that can be known locally is checked before the first request, in the real
run as in ``--dry-run``: non-regular inputs, content against extension, ID3v2 tags in
front of any format, sample rate and channels, and durations that are only estimates
(a warning, never a refusal). CLI runs go to a sandbox over real HTTP, which must see no
request whenever the input is refused."""

from __future__ import annotations

import dataclasses
import io
import os
import socket
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from clitools import (
    SECRET,
    assert_clean_error,
    clean_env,
    key_info_requests,
    make_wav,
    run_cli,
    run_gsep,
    set_env,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from mediatools import flac_bytes, id3v2_tag, mpeg_frame, vbr_mp3

from gsep_cli import media, models
from gsep_cli import preflight as preflight_module
from gsep_cli.errors import ExitCode, UsageError
from gsep_cli.inputfile import open_input
from gsep_cli.preflight import (
    AudioFacts,
    check_duration,
    check_input_file,
    duration_verdict,
    preflight,
    read_duration,
    read_facts,
)
from gsep_cli.sandbox import Sandbox

HQ = "gsep_music_hq_v1"
POSIX = os.name == "posix"


@pytest.fixture
def sb(sandbox: Any) -> Sandbox:
    # a fresh sandbox per test (not the module's shared one), one part per upload
    box: Sandbox = sandbox(rate_limit=0, chunk_size=16 << 20)
    return box


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sb: Sandbox) -> Path:
    set_env(monkeypatch, tmp_path, GSEP_API_KEY=SECRET, GSEP_BASE_URL=sb.base_url)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def assert_untouched(sb: Sandbox) -> None:
    """Not one request, so no upload and no job."""
    assert sb.requests == []
    assert (sb.store.upload_count(), sb.store.job_count()) == (0, 0)


def warnings_of(run: Any) -> list[str]:
    return [line for line in run.err_lines if line.startswith("gsep: warning:")]


# ---- 1. non-regular inputs never block ---------------------------------------------------
@pytest.mark.slow
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")
def test_a_fifo_is_refused_without_blocking(tmp_path: Path, sb: Sandbox) -> None:
    os.mkfifo(tmp_path / "p.wav")
    env = clean_env(tmp_path, GSEP_API_KEY=SECRET, GSEP_BASE_URL=sb.base_url)
    for args in (["separate", "p.wav", "--dry-run"], ["separate", "p.wav"], ["upload", "p.wav"]):
        run = run_gsep(args, env, cwd=tmp_path, timeout=10)  # a hang fails here
        assert_clean_error(run, ExitCode.USAGE, "p.wav is a FIFO (named pipe)", "regular file")
    assert_untouched(sb)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")
def test_library_checks_never_open_a_fifo(tmp_path: Path) -> None:
    fifo = tmp_path / "p.wav"
    os.mkfifo(fifo)
    spec = models.MODELS[HQ]
    calls: list[Callable[[], object]] = [
        lambda: open_input(fifo),
        lambda: check_input_file(fifo, spec),
        lambda: check_input_file(fifo, spec, measure=False),
        lambda: check_duration(fifo, spec),
        lambda: preflight(fifo, spec),
        lambda: preflight(fifo, spec, for_upload=True),
    ]
    messages: list[str] = []

    def run_all() -> None:
        for call in calls:
            with pytest.raises(UsageError) as caught:
                call()
            messages.append(caught.value.message)
        messages.append(repr(read_duration(fifo, "wav")))

    worker = threading.Thread(target=run_all, daemon=True)
    worker.start()
    worker.join(5)
    if worker.is_alive():  # release the reader stuck in open() before failing
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        pytest.fail("a check blocked on a FIFO")
    assert messages == [f"{fifo} is a FIFO (named pipe), not a regular file"] * len(calls) + [
        "None"
    ]


@pytest.mark.skipif(not POSIX or not hasattr(socket, "AF_UNIX"), reason="POSIX only")
def test_sockets_and_devices_are_refused(env: Path, sb: Sandbox, capsys: Any) -> None:
    with socket.socket(socket.AF_UNIX) as server:
        server.bind("s.wav")
    os.symlink(os.devnull, "null.wav")
    for name, what in (("s.wav", "a socket"), ("null.wav", "a character device")):
        for args in (["separate", name], ["separate", "--dry-run", name], ["upload", name]):
            assert_clean_error(run_cli(capsys, args), ExitCode.USAGE, f"{name} is {what}")
    assert_untouched(sb)


# ---- unreadable headers are unknown, never an error ---------------------------------------
SIGNATURES = {
    "wav": b"RIFF\x00\x00\x00\x00WAVE",
    "flac": b"fLaC",
    "mp3": b"\xff\xfb\x90\x64",
    "mp4": b"\x00\x00\x00\x18ftypM4A ",
    "mov": b"\x00\x00\x00\x14ftypqt  ",
}


@settings(max_examples=150, deadline=None)
@given(
    kind=st.sampled_from(sorted(SIGNATURES)),
    tags=st.lists(st.binary(max_size=40).map(id3v2_tag), max_size=2),
    junk=st.binary(max_size=300),
)
def test_any_bytes_give_facts_not_exceptions(kind: str, tags: list[bytes], junk: bytes) -> None:
    data = b"".join(tags) + SIGNATURES[kind] + junk
    facts = read_facts(io.BytesIO(data), kind)
    assert isinstance(facts, AudioFacts)
    assert facts.duration is None or facts.duration >= 0
    assert media.sniff_stream(io.BytesIO(data)) in {None, *media.EXTENSION_KINDS.values()}


# ---- 2. content is checked in the real run -----------------------------------------------
def test_content_is_checked_in_the_real_run(env: Path, sb: Sandbox, capsys: Any) -> None:
    make_wav(Path("song.wav"))
    Path("fake.mp3").write_bytes(Path("song.wav").read_bytes())
    for args in (
        ["separate", "fake.mp3"],
        ["upload", "fake.mp3"],
        ["separate", "--dry-run", "fake.mp3"],
    ):
        line = assert_clean_error(run_cli(capsys, args), ExitCode.USAGE, "fake.mp3", "wav data")
        assert line.endswith("— Rename it to fake.wav to match its content"), line
    Path("clip.m4a").write_bytes(b"\x00\x00\x00\x14ftypqt  \x20\x05\x03\x00qt  " + bytes(64))
    run = run_cli(capsys, ["separate", "clip.m4a"])
    assert_clean_error(run, ExitCode.USAGE, "mov data", f"{HQ} does not accept mov")
    assert_untouched(sb)


# ---- 3. ID3v2 tags in front of any format --------------------------------------------------
def test_flac_behind_id3v2_tags_is_flac_here_and_in_the_sandbox(
    env: Path, sb: Sandbox, capsys: Any
) -> None:
    tags = id3v2_tag(bytes(300), footer=True) + id3v2_tag(b"TIT2" + bytes(40), version=3)
    Path("tagged.flac").write_bytes(tags + flac_bytes(48000, 2, 16, 3 * 48000))
    run = run_cli(capsys, ["--json", "separate", "--dry-run", "tagged.flac"])
    assert run.code == 0, str(run)
    doc = run.json()
    assert (doc["format"], doc["duration"], doc["durationExact"]) == ("flac", 3.0, True)
    assert key_info_requests(sb) == 1  # the credits left
    run = run_cli(capsys, ["separate", "--no-wait", "tagged.flac"])
    assert run.code == 0, str(run)
    assert sb.store.job_count() == 1  # the sandbox sniffs past the tags as well


# ---- 4. sample rate and channels before upload ---------------------------------------------
FORMAT_LIMITS = [
    ("low.wav", lambda p: make_wav(p, seconds=0.1, rate=8000), "sample rate of 8000 Hz"),
    ("high.wav", lambda p: make_wav(p, seconds=0.01, rate=192001), "sample rate of 192001 Hz"),
    ("surround.wav", lambda p: make_wav(p, seconds=0.1, channels=6), "has 6 channels"),
    ("low.flac", lambda p: p.write_bytes(flac_bytes(8000, 2, 16, 800)), "8000 Hz"),
    ("surround.flac", lambda p: p.write_bytes(flac_bytes(48000, 6, 24, 4800)), "6 channels"),
    ("low.mp3", lambda p: p.write_bytes(mpeg_frame(8, 8000, version="2.5") * 8), "8000 Hz"),
]


@pytest.mark.parametrize(("name", "make", "fragment"), FORMAT_LIMITS)
def test_sample_rate_and_channels_are_checked_before_upload(
    env: Path, sb: Sandbox, capsys: Any, name: str, make: Callable[[Path], Any], fragment: str
) -> None:
    make(Path(name))
    for args in (["separate", "--dry-run", name], ["separate", name], ["upload", name]):
        line = assert_clean_error(run_cli(capsys, args), ExitCode.USAGE, name, fragment)
        assert "16000 to 192000 Hz" in line or "mono or stereo (1 or 2)" in line, line
    assert_untouched(sb)


@settings(max_examples=60, deadline=None)
@given(rate=st.integers(1, (1 << 20) - 1), channels=st.integers(1, 8))
def test_flac_rate_and_channel_rule(rate: int, channels: int) -> None:
    """Refused exactly when outside 16-192 kHz or more than 2 channels (codes 1014/1015)."""
    spec = models.MODELS[HQ]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "x.flac"
        path.write_bytes(flac_bytes(rate, channels, 16, rate))
        try:
            checked = preflight(path, spec)
        except UsageError:
            refused = True
        else:
            refused = False
            assert (checked.sample_rate, checked.channels, checked.duration) == (rate, channels, 1)
    assert refused == (not 16000 <= rate <= 192000 or channels > 2)


# ---- 5. an estimated duration never refuses ------------------------------------------------
def test_an_estimated_duration_over_the_limit_is_only_a_warning(
    env: Path, sb: Sandbox, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """150 s of MP3 without a Xing header, whose first frames are 32 kbps and the rest 320
    kbps, in a file larger than preflight counts (COUNT_BYTES, lowered here so that the
    file stays small): mutagen's estimate (from the first frames) is 1499 s, over the
    1200 s limit."""
    song = Path("song.mp3")
    song.write_bytes(vbr_mp3(150.0))
    monkeypatch.setattr(preflight_module, "COUNT_BYTES", song.stat().st_size - 1)
    warning = (
        "gsep: warning: song.mp3 seems to last about 1499 s (estimated from its first "
        f"frames), over {HQ}'s limit of 1200 s; the API will decide"
    )
    run = run_cli(capsys, ["--json", "separate", "--dry-run", "song.mp3"])
    assert run.code == 0, str(run)
    doc = run.json()
    assert doc["duration"] == pytest.approx(1499.1, abs=0.1) and doc["durationExact"] is False
    assert warnings_of(run) == [warning]
    run = run_cli(capsys, ["upload", "--dry-run", "song.mp3"])
    assert run.lines == [f"would upload song.mp3 ({song.stat().st_size} bytes, mp3, about 1499 s)"]
    assert warnings_of(run) == [warning]
    assert key_info_requests(sb) == 1  # separate --dry-run's: the credits left
    run = run_cli(capsys, ["upload", "song.mp3"])
    assert run.code == 0 and warnings_of(run) == [warning], str(run)
    assert sb.store.upload_count() == 1
    run = run_cli(capsys, ["separate", "--no-wait", "song.mp3"])
    assert run.code == 0, str(run)
    assert warning in run.err_lines  # through the batch's listener
    assert sb.store.job_count() == 1  # the API decided (the sandbox counts: 150 s)


def test_a_counted_duration_is_exact_without_a_warning(env: Path, sb: Sandbox, capsys: Any) -> None:
    """The same MP3 within COUNT_BYTES: preflight counts its frames (issue 15, first run
    4): exactly 150 s, no warning; over a lowered limit it is refused before any request."""
    song = Path("song.mp3")
    song.write_bytes(vbr_mp3(150.0))
    assert song.stat().st_size <= preflight_module.COUNT_BYTES
    run = run_cli(capsys, ["--json", "separate", "--dry-run", "song.mp3"])
    assert run.code == 0, str(run)
    doc = run.json()
    assert doc["duration"] == 150.0 and doc["durationExact"] is True
    assert warnings_of(run) == []
    spec = dataclasses.replace(models.MODELS[HQ], max_seconds=149)
    with pytest.raises(UsageError, match=r"lasts 150\.00 s, over"):
        preflight(song, spec)
    assert key_info_requests(sb) == 1  # the dry run's: the credits left
    assert (sb.store.upload_count(), sb.store.job_count()) == (0, 0)


def test_upload_never_refuses_on_duration(
    env: Path, sb: Sandbox, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = dataclasses.replace(models.MODELS[HQ], max_seconds=1)
    monkeypatch.setitem(models.MODELS, HQ, spec)
    make_wav(Path("long.wav"), seconds=1.5, rate=16000, channels=1)
    run = run_cli(capsys, ["upload", "long.wav"])
    assert run.code == 0, str(run)
    assert warnings_of(run) == [
        f"gsep: warning: long.wav lasts 1.50 s, over {HQ}'s limit of 1 s: "
        "jobs of that model will refuse it"
    ]
    assert sb.store.upload_count() == 1


def test_an_exact_duration_over_the_limit_is_refused(env: Path, sb: Sandbox, capsys: Any) -> None:
    """FLAC's STREAMINFO states the length exactly: 1300 s is over the 20 minutes."""
    Path("long.flac").write_bytes(flac_bytes(48000, 2, 16, 1300 * 48000))
    Path("unknown.flac").write_bytes(flac_bytes(48000, 2, 16, 0))  # no sample count
    for args in (["separate", "long.flac"], ["separate", "--dry-run", "long.flac"]):
        assert_clean_error(run_cli(capsys, args), ExitCode.USAGE, "long.flac lasts 1300.00 s")
    assert_untouched(sb)
    run = run_cli(capsys, ["--json", "upload", "--dry-run", "unknown.flac"])
    assert run.code == 0, str(run)
    assert (run.json()["duration"], run.json()["durationExact"]) == (None, False)


@given(
    seconds=st.floats(0, 1e7, allow_nan=False),
    exact=st.booleans(),
    for_upload=st.booleans(),
)
def test_only_an_exact_duration_over_the_limit_refuses(
    seconds: float, exact: bool, for_upload: bool
) -> None:
    spec = models.MODELS[HQ]
    facts = AudioFacts(duration=seconds, duration_exact=exact)
    try:
        warnings = duration_verdict(Path("x.mp3"), spec, facts, for_upload=for_upload)
    except UsageError:
        assert exact and not for_upload and seconds > spec.max_seconds
    else:
        assert len(warnings) == (seconds > spec.max_seconds)
        assert not exact or for_upload or seconds <= spec.max_seconds
