"""``--dry-run`` on upload and separate: every local check, what would be sent, no request
but separate's one GET /v1/key/info (the credits left); and the duration limit as part of
every upload's preflight."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from clitools import (
    SECRET,
    api_requests,
    assert_clean_error,
    key_info_requests,
    make_wav,
    run_cli,
    set_env,
)

from gsep_cli import models
from gsep_cli.errors import ExitCode, UsageError
from gsep_cli.preflight import check_duration, preflight, read_duration
from gsep_cli.sandbox import Sandbox, silence

HQ = "gsep_music_hq_v1"


@pytest.fixture
def sb(sandbox: Any) -> Sandbox:
    # a fresh sandbox per test (not the module's shared one), jobs that end at once
    box: Sandbox = sandbox(rate_limit=0)
    return box


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sb: Sandbox) -> Path:
    """In-process environment with a key and the sandbox's URL; returns the state dir."""
    set_env(monkeypatch, tmp_path, GSEP_API_KEY=SECRET, GSEP_BASE_URL=sb.base_url)
    monkeypatch.chdir(tmp_path)
    return tmp_path / "state"


def write_mp3(path: Path, seconds: float) -> Path:
    with open(path, "wb") as fh:
        silence.write_mp3(fh, seconds)
    return path


def mp3_seconds(seconds: float) -> float:
    return silence.mp3_frame_count(seconds) * silence.MP3_FRAME_SAMPLES / silence.MP3_SAMPLE_RATE


def limited(monkeypatch: pytest.MonkeyPatch, seconds: int) -> None:
    """Give the default model a tiny duration limit (the client's registry only)."""
    spec = dataclasses.replace(models.MODELS[HQ], max_seconds=seconds)
    monkeypatch.setitem(models.MODELS, HQ, spec)


def test_upload_dry_run_prints_what_would_be_sent_and_sends_nothing(
    capsys: Any, env: Path, sb: Sandbox
) -> None:
    song = make_wav(Path("song.wav"), seconds=0.5)
    run = run_cli(capsys, ["upload", "--dry-run", "song.wav"])
    assert run.code == 0, str(run)
    size = song.stat().st_size
    assert run.lines == [f"would upload song.wav ({size} bytes, wav, 0.50 s)"]
    assert sb.requests == []
    assert not (env / "ledger.sqlite3").exists()


def test_separate_dry_run_json_shape(capsys: Any, env: Path, sb: Sandbox) -> None:
    make_wav(Path("song.wav"), seconds=0.25)
    run = run_cli(
        capsys,
        ["--json", "separate", "--dry-run", "song.wav", "-s", "vocal,drum,others", "-f", "both"],
    )
    assert run.code == 0, str(run)
    doc = run.json()
    assert doc == {
        "input": "song.wav",
        "bytes": Path("song.wav").stat().st_size,
        "format": "wav",
        "duration": 0.25,
        "durationExact": True,
        "model": HQ,
        "type": "vocal,drum",
        "wouldWrite": [
            f"song/{stem}.{ext}" for stem in ("vocal", "drum", "others") for ext in ("wav", "mp3")
        ],
        "ok": True,
        "newJob": True,
        "reuseJob": None,
        "sameAs": None,
    }
    assert key_info_requests(sb) == 1  # its one request: the credits left
    assert not (env / "ledger.sqlite3").exists()
    assert not Path("song").exists()


def test_separate_dry_run_human_line_and_no_wait(capsys: Any, env: Path, sb: Sandbox) -> None:
    make_wav(Path("song.wav"), seconds=0.25)
    size = Path("song.wav").stat().st_size
    run = run_cli(capsys, ["separate", "--dry-run", "song.wav", "-s", "vocal,drum", "-o", "out"])
    assert run.code == 0, str(run)
    assert run.lines == [
        f"would upload song.wav ({size} bytes, wav, 0.25 s) then create {HQ} job "
        "type=vocal,drum; would write out/song/vocal.wav, out/song/drum.wav"
    ]
    run = run_cli(capsys, ["--json", "separate", "--dry-run", "--no-wait", "song.wav"])
    assert run.code == 0, str(run)
    assert run.json()["wouldWrite"] == []
    run = run_cli(
        capsys, ["separate", "--dry-run", "song.wav", "--model", "gsep_dme_mtrack_v1", "--no-wait"]
    )
    assert run.code == 0, str(run)
    assert run.lines == [
        f"would upload song.wav ({size} bytes, wav, 0.25 s) then create gsep_dme_mtrack_v1 "
        "job (no type)"
    ]
    assert key_info_requests(sb) == 3


def test_mp3_duration_comes_from_mutagen(capsys: Any, env: Path, sb: Sandbox) -> None:
    write_mp3(Path("a.mp3"), 3.0)
    run = run_cli(capsys, ["--json", "upload", "--dry-run", "a.mp3"])
    assert run.code == 0, str(run)
    doc = run.json()
    assert doc["format"] == "mp3"
    assert doc["duration"] == pytest.approx(mp3_seconds(3.0), abs=0.03)
    assert doc["type"] is None and doc["wouldWrite"] == [] and doc["ok"] is True
    assert sb.requests == []


@pytest.mark.parametrize(
    ("name", "data", "kind"),
    [
        ("junk.mp3", b"\xff\xfb\x90\x00" + bytes(200), "mp3"),  # a frame header, no stream
        ("clip.m4a", b"\x00\x00\x00\x18ftypM4A \x00\x00\x00\x00isomM4A " + bytes(64), "mp4"),
        ("clip.mp4", b"\x00\x00\x00\x18ftypisom\x00\x00\x00\x00isommp41" + bytes(64), "mp4"),
        # STREAMINFO says 44.1 kHz stereo, and 0 samples: an unknown length (FLAC spec)
        ("x.flac", b"fLaC\x80\x00\x00\x22" + bytes(10) + b"\x0a\xc4\x42\xf0" + bytes(20), "flac"),
    ],
)
def test_unreadable_duration_is_unknown_not_an_error(
    capsys: Any, env: Path, sb: Sandbox, name: str, data: bytes, kind: str
) -> None:
    Path(name).write_bytes(data)
    run = run_cli(capsys, ["--json", "separate", "--dry-run", name])
    assert run.code == 0, str(run)
    doc = run.json()
    assert (doc["format"], doc["duration"], doc["ok"]) == (kind, None, True)
    run = run_cli(capsys, ["upload", "--dry-run", name])
    assert run.lines == [f"would upload {name} ({len(data)} bytes, {kind}, duration unknown)"]
    assert key_info_requests(sb) == 1


def test_a_flac_without_a_readable_streaminfo_is_refused(
    capsys: Any, env: Path, sb: Sandbox
) -> None:
    Path("x.flac").write_bytes(b"fLaC" + bytes(100))  # the API cannot read it either (1107)
    run = run_cli(capsys, ["separate", "--dry-run", "x.flac"])
    assert_clean_error(run, 2, "not a readable FLAC file")
    assert sb.requests == []


def test_content_that_does_not_match_the_extension_is_refused(
    capsys: Any, env: Path, sb: Sandbox
) -> None:
    make_wav(Path("song.wav"))
    Path("fake.flac").write_bytes(Path("song.wav").read_bytes())
    run = run_cli(capsys, ["separate", "--dry-run", "fake.flac"])
    assert_clean_error(run, ExitCode.USAGE, "fake.flac", "wav data", ".flac", "flac")
    Path("noise.mp3").write_bytes(b"plain text, not audio" * 10)
    run = run_cli(capsys, ["upload", "--dry-run", "noise.mp3"])
    assert_clean_error(run, ExitCode.USAGE, "no supported audio format", ".mp3")
    assert sb.requests == []


def test_other_local_checks_in_a_dry_run(capsys: Any, env: Path, sb: Sandbox) -> None:
    make_wav(Path("song.wav"))
    Path("empty.wav").write_bytes(b"")
    assert_clean_error(run_cli(capsys, ["upload", "--dry-run", "nope.wav"]), 2, "not found")
    assert_clean_error(run_cli(capsys, ["upload", "--dry-run", "empty.wav"]), 2, "empty")
    assert_clean_error(run_cli(capsys, ["separate", "--dry-run", "song.wav", "-s", "x"]), 2, "x")
    Path("song").mkdir()
    Path("song/vocal.wav").write_bytes(b"mine")
    run = run_cli(capsys, ["separate", "--dry-run", "song.wav"])
    assert_clean_error(run, ExitCode.USAGE, "already exists")
    assert run_cli(capsys, ["separate", "--dry-run", "--force", "song.wav"]).code == 0
    assert key_info_requests(sb) == 1


def test_key_needed_unless_sandbox_and_no_sandbox_started(
    capsys: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    set_env(monkeypatch, tmp_path)
    monkeypatch.chdir(tmp_path)
    make_wav(Path("song.wav"))
    run = run_cli(capsys, ["separate", "--dry-run", "song.wav"])
    assert_clean_error(run, ExitCode.AUTH, "no API key")
    assert_clean_error(run_cli(capsys, ["upload", "--dry-run", "song.wav"]), 3, "no API key")
    started: list[Any] = []
    monkeypatch.setattr("gsep_cli.cli.State.start_sandbox", lambda self: started.append(1))
    run = run_cli(capsys, ["--sandbox", "separate", "--dry-run", "song.wav"])
    assert run.code == 0, str(run)
    assert run.lines[0].startswith("would upload song.wav")
    assert run_cli(capsys, ["--sandbox", "upload", "--dry-run", "song.wav"]).code == 0
    assert started == []
    assert not (tmp_path / "state" / "ledger.sqlite3").exists()


def test_several_inputs_one_bad_exit_9(capsys: Any, env: Path, sb: Sandbox) -> None:
    make_wav(Path("a.wav"))
    write_mp3(Path("b.mp3"), 0.5)
    Path("c.flac").write_bytes(Path("a.wav").read_bytes())
    run = run_cli(capsys, ["--json", "separate", "--dry-run", "a.wav", "b.mp3", "c.flac"])
    assert run.code == ExitCode.PARTIAL, str(run)
    docs = [json.loads(line) for line in run.lines]
    assert [(d["input"], d["ok"]) for d in docs] == [
        ("a.wav", True),
        ("b.mp3", True),
        ("c.flac", False),
    ]
    assert docs[2]["error"]["exitCode"] == ExitCode.USAGE
    assert [ln for ln in run.err_lines if ln.startswith("gsep: error: c.flac: ")]
    run = run_cli(capsys, ["separate", "--dry-run", "a.wav", "b.mp3"])
    assert run.code == 0 and len(run.lines) == 2, str(run)
    Path("d.flac").write_bytes(b"nothing")
    run = run_cli(capsys, ["separate", "--dry-run", "c.flac", "d.flac"])
    assert run.code == ExitCode.USAGE and run.out == "", str(run)  # all failed the same way
    assert key_info_requests(sb) == 2  # not when every input failed its checks


# ---- the duration limit, with and without --dry-run -----------------------------------
def test_over_the_duration_limit_fails_before_any_request(
    capsys: Any, monkeypatch: pytest.MonkeyPatch, env: Path, sb: Sandbox
) -> None:
    limited(monkeypatch, 1)
    make_wav(Path("long.wav"), seconds=1.5, rate=16000, channels=1)
    write_mp3(Path("long.mp3"), 2.0)
    make_wav(Path("short.wav"), seconds=0.5, rate=16000, channels=1)
    for args in (
        ["separate", "long.wav"],
        ["separate", "--dry-run", "long.wav"],
        ["separate", "long.mp3"],
        ["separate", "--dry-run", "long.mp3"],
    ):
        line = assert_clean_error(run_cli(capsys, args), ExitCode.USAGE, "limit of 1 s")
        assert args[-1] in line
    assert api_requests(sb) == [] and sb.requests == []
    # creating an upload never fails on duration (another model may allow it): a warning
    run = run_cli(capsys, ["upload", "--dry-run", "long.mp3"])
    assert run.code == 0, str(run)
    warnings = [ln for ln in run.err_lines if ln.startswith("gsep: warning:")]
    assert len(warnings) == 1 and "long.mp3" in warnings[0], str(run)
    assert "limit of 1 s" in warnings[0], str(run)
    assert sb.requests == []
    run = run_cli(capsys, ["separate", "short.wav", "long.wav"])  # the batch checks it too
    assert run.code == ExitCode.PARTIAL, str(run)
    assert [r["path"] for r in api_requests(sb) if r["method"] == "POST"].count(
        f"/developers/api/v1/{HQ}/jobs"
    ) == 1


def test_wav_over_a_real_model_limit_from_its_header(tmp_path: Path) -> None:
    """16 kHz mono 8-bit, 601 s: 9.6 MB, over gts_lyrics_line_v1's 10 minutes."""
    path = make_wav(tmp_path / "long.wav", 601, rate=16000, channels=1, width=1, silent=True)
    spec = models.MODELS["gts_lyrics_line_v1"]
    with pytest.raises(UsageError, match="limit of 600 s"):
        preflight(path, spec)
    assert check_duration(path, models.MODELS[HQ]) == pytest.approx(601.0)


def test_library_preflight_with_a_fake_spec(tmp_path: Path) -> None:
    spec = dataclasses.replace(models.MODELS[HQ], max_seconds=2)
    mp3 = write_mp3(tmp_path / "x.mp3", 2.5)
    with pytest.raises(UsageError, match="limit of 2 s"):
        check_duration(mp3, spec)
    ok = write_mp3(tmp_path / "y.mp3", 1.0)
    checked = preflight(ok, spec)
    assert (checked.format, checked.bytes) == ("mp3", ok.stat().st_size)
    assert checked.duration == pytest.approx(mp3_seconds(1.0), abs=0.03)
    # a misnamed file is never measured with the wrong reader
    renamed = tmp_path / "x.flac"
    renamed.write_bytes(mp3.read_bytes())
    assert check_duration(renamed, spec) is None
    assert read_duration(tmp_path / "missing.wav", "wav") is None
