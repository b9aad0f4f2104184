"""What users type for formats, tags and mixes (issue 17): the installed gsep against the
sandbox over loopback. Files made on the client hold the stem's samples exactly, a mix of
the stems plus ``others`` gives the input back, the input's tags land on every file, a
re-run never pays and re-makes only what is missing, and without the audio extra the
refusal comes before any request."""

from __future__ import annotations

import shutil
import signal
from pathlib import Path
from typing import Any

import pytest
from clitools import assert_clean_error, clean_env, run_gsep, start_gsep, wait_for

from gsep_cli.sandbox import Sandbox
from gsep_cli.sandbox.example import EXAMPLE_CLIP

np = pytest.importorskip("numpy")
sf = pytest.importorskip("soundfile")
pytest.importorskip("soxr")

KEY = "formats-key-7731"


@pytest.fixture
def env(tmp_path: Path, shared_sandbox: Sandbox) -> dict[str, str]:
    shared_sandbox.faults.clear()
    return clean_env(tmp_path, GSEP_API_KEY=KEY, GSEP_BASE_URL=shared_sandbox.base_url)


@pytest.fixture
def song(tmp_path: Path) -> Path:
    """The bundled clip (band-filtered stems of it are audible, unlike a silent input)."""
    path = tmp_path / "song.wav"
    shutil.copy(EXAMPLE_CLIP, path)
    return path


def _samples(path: Path) -> Any:
    data, _ = sf.read(str(path), dtype="int32", always_2d=True)
    return data


@pytest.mark.slow
def test_a_mix_of_the_stems_and_others_gives_the_input_back(
    tmp_path: Path, env: dict[str, str], song: Path, shared_sandbox: Sandbox
) -> None:
    jobs = shared_sandbox.store.job_count()
    args = ["separate", str(song), "--mix", "all=vocal+drum+others", "--mix-only"]
    run = run_gsep([*args, "--format", "wav,flac", "-o", "out"], env, cwd=tmp_path)
    assert run.code == 0, run
    assert run.lines == ["out/song/all.wav", "out/song/all.flac"]
    assert shared_sandbox.store.job_count() == jobs + 1
    original = _samples(song)
    for name in ("all.wav", "all.flac"):
        mixed = _samples(tmp_path / "out" / "song" / name)
        assert mixed.shape == original.shape
        assert int(np.max(np.abs((mixed >> 16) - (original >> 16)))) <= 1  # within 1 LSB
    assert not (tmp_path / "out" / ".gsep-sources").exists()


@pytest.mark.slow
def test_lossless_formats_hold_the_wav_stems_samples_and_json_names_them(
    tmp_path: Path, env: dict[str, str], song: Path, shared_sandbox: Sandbox
) -> None:
    shared_sandbox.clear_requests()
    args = ["--json", "separate", str(song), "--stems", "vocal", "-o", "out"]
    run = run_gsep([*args, "--format", "wav,flac,aiff,ogg,opus,mp3"], env, cwd=tmp_path)
    assert run.code == 0, run
    results = [r["path"].rsplit("/", 1)[-1] for r in shared_sandbox.requests if r["kind"] == "cdn"]
    assert sorted(results) == ["vocal.mp3", "vocal.wav"]  # the WAV stem once, for all six
    files = run.json()["files"]
    assert [(f["stem"], f["format"]) for f in files] == [
        ("vocal", fmt) for fmt in ("wav", "flac", "aiff", "ogg", "opus", "mp3")
    ]
    folder = tmp_path / "out" / "song"
    stem = _samples(folder / "vocal.wav")
    for fmt in ("flac", "aiff"):
        assert np.array_equal(_samples(folder / f"vocal.{fmt}"), stem), fmt
    assert sf.info(str(folder / "vocal.opus")).samplerate == 48000  # Opus' own rate
    assert sf.info(str(folder / "vocal.ogg")).frames == len(stem)


@pytest.mark.slow
def test_a_rerun_pays_nothing_and_makes_again_only_what_is_missing(
    tmp_path: Path, env: dict[str, str], song: Path, shared_sandbox: Sandbox
) -> None:
    args = ["separate", str(song), "--stems", "vocal", "--format", "flac", "-o", "out"]
    args += ["--mix", "band=drum+bass"]
    first = run_gsep(args, env, cwd=tmp_path)
    assert first.code == 0, first
    jobs = shared_sandbox.store.job_count()
    band = tmp_path / "out" / "song" / "band.flac"
    vocal = tmp_path / "out" / "song" / "vocal.flac"
    made_at = vocal.stat().st_mtime_ns
    again = run_gsep(args, env, cwd=tmp_path)
    assert again.code == 0 and "already done" in again.err, again
    band.unlink()
    shared_sandbox.clear_requests()
    third = run_gsep(args, env, cwd=tmp_path)
    assert third.code == 0, third
    assert band.is_file() and vocal.stat().st_mtime_ns == made_at  # only the missing one
    assert shared_sandbox.store.job_count() == jobs  # never a second job
    posts = [r for r in shared_sandbox.requests if r.get("method") == "POST"]
    assert posts == [], posts


@pytest.mark.slow
def test_the_inputs_tags_land_on_every_file_and_no_tags_leaves_them_off(
    tmp_path: Path, env: dict[str, str], song: Path, shared_sandbox: Sandbox
) -> None:
    from mutagen.id3 import APIC, TALB, TIT2, TPE1
    from mutagen.wave import WAVE

    cover = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
    tagged = WAVE(str(song))
    tagged.add_tags()
    assert tagged.tags is not None
    tagged.tags.add(TIT2(encoding=3, text="Golden Hour"))
    tagged.tags.add(TPE1(encoding=3, text="Ünïcode Artist"))
    tagged.tags.add(TALB(encoding=3, text="Album"))
    tagged.tags.add(APIC(encoding=3, mime="image/png", type=3, desc="", data=cover))
    tagged.save()
    args = ["separate", str(song), "--stems", "vocal", "--format", "wav,mp3,flac,opus"]
    run = run_gsep([*args, "-o", "tagged"], env, cwd=tmp_path)
    assert run.code == 0, run
    from gsep_cli.audio.tags import read_tags

    for fmt in ("wav", "mp3", "flac", "opus"):
        tags = read_tags(tmp_path / "tagged" / "song" / f"vocal.{fmt}")
        assert (tags.title, tags.artist, tags.album) == (
            "Golden Hour (vocal)",
            "Ünïcode Artist",
            "Album",
        ), fmt
        assert tags.cover is not None and tags.cover.data == cover, fmt
    plain = run_gsep([*args, "-o", "plain", "--no-tags"], env, cwd=tmp_path)
    assert plain.code == 0, plain
    for fmt in ("wav", "mp3", "flac", "opus"):
        assert read_tags(tmp_path / "plain" / "song" / f"vocal.{fmt}").empty, fmt


@pytest.mark.slow
def test_lyrics_come_as_lrc_and_srt(tmp_path: Path, env: dict[str, str], song: Path) -> None:
    (tmp_path / "song.txt").write_text("first line\nsecond, line\nthird line\n", "utf-8")
    args = ["separate", str(song), "-m", "gts_lyrics_line_v1", "--language", "en"]
    run = run_gsep([*args, "--format", "lrc,srt", "-o", "out"], env, cwd=tmp_path)
    assert run.code == 0, run
    assert run.lines == ["out/song/lyrics.lrc", "out/song/lyrics.srt", "out/song/reports.json"]
    lrc = (tmp_path / "out" / "song" / "lyrics.lrc").read_text("utf-8").splitlines()
    assert lrc == ["[00:00.00]first line", "[00:01.33]second, line", "[00:02.67]third line"]
    srt = (tmp_path / "out" / "song" / "lyrics.srt").read_text("utf-8")
    assert srt.startswith("1\n00:00:00,000 --> 00:00:01,333\nfirst line\n\n2\n")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--format", "flac"], "--format flac needs the audio extra"),
        (["--format", "wav", "--bit-depth", "24"], "--format wav with --bit-depth needs the audio"),
        (["--mix", "band=drum+bass"], "--mix needs the audio extra"),
    ],
)
def test_without_the_extra_the_refusal_comes_before_any_request(
    tmp_path: Path, song: Path, extra: list[str], message: str
) -> None:
    blocker = tmp_path / "no-extra"
    blocker.mkdir()
    (blocker / "soundfile.py").write_text("raise ImportError('blocked for this test')\n")
    # nothing listens there: a request would fail with a network error, not exit 2
    env = clean_env(tmp_path, GSEP_API_KEY=KEY, GSEP_BASE_URL="http://127.0.0.1:9/developers/api")
    env["PYTHONPATH"] = str(blocker)
    run = run_gsep(["separate", str(song), *extra, "-o", "out"], env, cwd=tmp_path)
    line = assert_clean_error(run, 2, message)
    assert "pip install 'gsep-cli[audio]'" in line
    assert not (tmp_path / "out").exists()


def test_a_made_format_cannot_go_to_standard_output(tmp_path: Path, song: Path) -> None:
    env = clean_env(tmp_path, GSEP_API_KEY=KEY, GSEP_BASE_URL="http://127.0.0.1:9/developers/api")
    run = run_gsep(
        ["separate", str(song), "--stems", "vocal", "--format", "flac", "-o", "-"],
        env,
        cwd=tmp_path,
    )
    assert_clean_error(run, 2, "-o - streams a result as the API gives it")


@pytest.mark.slow
@pytest.mark.parametrize(
    ("first", "then"),
    [
        (["--format", "flac"], ["--format", "flac", "--bit-depth", "24"]),
        (["--format", "wav"], ["--format", "wav", "--sample-rate", "48000"]),
        (["--format", "mp3"], ["--format", "mp3", "--bitrate", "128"]),
        (["--mix", "m=vocal+drum", "--mix-only"], ["--mix", "m=drum+others", "--mix-only"]),
    ],
    ids=["bit-depth", "sample-rate", "bitrate", "mix-recipe"],
)
def test_a_rerun_asking_for_other_audio_never_passes_the_old_file_off_as_done(
    tmp_path: Path,
    env: dict[str, str],
    song: Path,
    shared_sandbox: Sandbox,
    first: list[str],
    then: list[str],
) -> None:
    """The ledger records how each file was made; a file of another recipe is not "already
    done": it is in the way (exit 2 and --force, as any file in the way), then made anew
    from the same job."""
    base = ["separate", str(song), "--stems", "vocal,drum", "-o", "out"]
    assert run_gsep([*base, *first], env, cwd=tmp_path).code == 0
    jobs = shared_sandbox.store.job_count()
    mix = tmp_path / "out" / "song" / "m.wav"
    before = mix.read_bytes() if mix.exists() else b""
    changed = run_gsep([*base, *then], env, cwd=tmp_path)
    assert_clean_error(changed, 2, "already exists", "--force")
    forced = run_gsep([*base, *then, "--force"], env, cwd=tmp_path)
    assert forced.code == 0 and "already done" not in forced.err, forced
    again = run_gsep([*base, *then], env, cwd=tmp_path)
    assert again.code == 0 and "already done" in again.err, again
    assert shared_sandbox.store.job_count() == jobs
    folder = tmp_path / "out" / "song"
    if "--bit-depth" in then:
        assert sf.info(str(folder / "vocal.flac")).subtype == "PCM_24"
    if "--sample-rate" in then:
        assert sf.info(str(folder / "vocal.wav")).samplerate == 48000
    if "--bitrate" in then:
        from mutagen.mp3 import MP3

        assert abs(MP3(str(folder / "vocal.mp3")).info.bitrate - 128000) <= 1000
    if "--mix" in then:
        assert mix.read_bytes() != before  # drum+others now, no longer vocal+drum


@pytest.mark.slow
def test_download_takes_tags_only_from_the_input_the_job_was_made_of(
    tmp_path: Path, env: dict[str, str], song: Path
) -> None:
    from mutagen.id3 import TIT2
    from mutagen.wave import WAVE

    tagged = WAVE(str(song))
    tagged.add_tags()
    assert tagged.tags is not None
    tagged.tags.add(TIT2(encoding=3, text="Golden Hour"))
    tagged.save()
    run = run_gsep(["--json", "separate", str(song), "-s", "vocal", "--no-wait"], env, cwd=tmp_path)
    assert run.code == 0, run
    job = run.json()["jobId"]
    assert run_gsep(["job", "status", job, "--wait"], env, cwd=tmp_path).code == 0
    from gsep_cli.audio.tags import read_tags

    same = run_gsep(["download", job, "-f", "flac", "-o", "same"], env, cwd=tmp_path)
    assert same.code == 0, same
    assert read_tags(tmp_path / "same" / "song" / "vocal.flac").title == "Golden Hour (vocal)"
    assert tagged.tags is not None
    tagged.tags.add(TIT2(encoding=3, text="Another Song"))  # the file is now another work
    tagged.save()
    other = run_gsep(["download", job, "-f", "flac", "-o", "other"], env, cwd=tmp_path)
    assert other.code == 0, other
    assert "its tags are not copied" in other.err
    assert read_tags(tmp_path / "other" / "song" / "vocal.flac").empty


@pytest.mark.slow
def test_a_conversion_failing_after_the_job_is_one_line_naming_the_file_and_the_job(
    tmp_path: Path, env: dict[str, str]
) -> None:
    """A 2-frame input resampled to 8 kHz has no sample left for FLAC: one error line that
    names vocal.flac (not a temporary name) and the job, and nothing after it (a resampler
    left to the traceback made nanobind print 20 "leaked" lines at exit)."""
    short = tmp_path / "short.wav"
    sf.write(str(short), np.zeros((2, 2), np.int16), 44100, subtype="PCM_16")
    args = ["separate", str(short), "-s", "vocal", "-f", "flac", "--sample-rate", "8000"]
    run = run_gsep([*args, "-o", "out"], env, cwd=tmp_path)
    line = assert_clean_error(run, 2, "vocal.flac would hold no samples", "is on record")
    assert run.err_lines[-1] == line and "leaked" not in run.err


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_while_a_stem_is_fetched_to_convert_leaves_no_stem_behind(
    tmp_path: Path, env: dict[str, str], song: Path, shared_sandbox: Sandbox, sig: int
) -> None:
    """The stem a file is made from waits in .gsep-sources; a stop ends the process before
    the converting thread cleans up, so the downloader's cancel removes it (a stopped
    separate left whole stems there, for good)."""
    shared_sandbox.add_fault("download-drip:1:20000")  # the source arrives slowly
    proc = start_gsep(
        ["separate", str(song), "-s", "vocal", "-f", "flac", "-o", "out"], env, tmp_path
    )
    sources = tmp_path / "out" / ".gsep-sources"
    try:
        wait_for(lambda: any(sources.glob("*/.gsep-*")), seconds=30)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    left = [p for p in sources.rglob("*") if p.is_file()] if sources.exists() else []
    assert left == [], left
