"""Output names through the CLI, in-process against the sandbox over real HTTP: {dir} and
{trackext}, long names in bytes, and outputs that would meet refused before any request."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import clitools
import pytest
from clitools import SECRET, assert_clean_error, files_under, key_info_requests, make_wav, run_cli

from gsep_cli.client import GsepClient
from gsep_cli.naming import name_bytes
from gsep_cli.sandbox import Sandbox, silence


@pytest.fixture(scope="module")
def sandbox_options() -> dict[str, Any]:
    # jobs that end at once: these tests look at file names, not at waiting
    return {"job_seconds": 0, "chunk_size": 4096, "rate_limit": 0}


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sb: Sandbox) -> Path:
    clitools.set_env(monkeypatch, tmp_path, GSEP_API_KEY=SECRET, GSEP_BASE_URL=sb.base_url)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def jobs_created(sb: Sandbox) -> int:
    return sum(1 for e in sb.requests if e["method"] == "POST" and e["path"].endswith("/jobs"))


# ---- {dir} and {trackext} --------------------------------------------------------------------
def test_dir_and_trackext_place_each_input_like_its_source(
    env: Path, sb: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    make_wav(env / "album" / "x" / "a.wav", seconds=0.1)
    make_wav(env / "album" / "y" / "a.wav", seconds=0.15)
    args = ["separate", "album", "-r", "-o", "out"]
    template = ["--name-template", "{dir}/{track}.{trackext}/{stem}.{ext}"]
    run = run_cli(capsys, [*args, *template])
    assert run.code == 0, run
    assert files_under(env / "out") == ["album/x/a.wav/vocal.wav", "album/y/a.wav/vocal.wav"]
    # the same command again finds both inputs' files where it planned them: no new job
    sb.clear_requests()
    again = run_cli(capsys, [*args, *template])
    assert again.code == 0, again
    assert "already done" in again.err
    assert jobs_created(sb) == 0


def test_download_takes_dir_and_trackext_from_the_recorded_input(
    env: Path, sb: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    make_wav(env / "sub" / "song.wav", seconds=0.1)
    submitted = run_cli(capsys, ["separate", "sub/song.wav", "--no-wait"])
    assert submitted.code == 0, submitted
    (job_id,) = submitted.lines
    template = "{dir}/{track}_{trackext}/{stem}.{ext}"
    run = run_cli(capsys, ["download", job_id, "-o", "out", "--name-template", template])
    assert run.code == 0, run
    assert files_under(env / "out") == ["sub/song_wav/vocal.wav"]


def test_download_without_a_record_has_empty_dir_and_trackext(
    env: Path, sb: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    with GsepClient(sb.base_url, SECRET) as client:  # made outside the CLI: not on record
        job_id = client.create_job(client.upload_file(make_wav(env / "x.wav", seconds=0.1)))
        client.wait(job_id, timeout=30)
    template = "{dir}/{track}{trackext}/{stem}.{ext}"
    run = run_cli(capsys, ["download", job_id, "-o", "out", "--name-template", template])
    assert run.code == 0, run
    assert files_under(env / "out") == [f"{job_id}/vocal.wav"]


# ---- long names -------------------------------------------------------------------------------
@pytest.mark.parametrize("track", ["x" * 200, "한" * 80])
def test_long_track_names_keep_stem_and_ext_and_fit(
    env: Path, sb: Sandbox, capsys: pytest.CaptureFixture[str], track: str
) -> None:
    make_wav(env / f"{track}.wav", seconds=0.1)
    args = [
        "separate",
        f"{track}.wav",
        "-s",
        "vocal,drum",
        "--name-template",
        "{track}_{stem}.{ext}",
    ]
    run = run_cli(capsys, [*args, "-o", "out"])
    assert run.code == 0, run
    assert files_under(env / "out") == sorted([f"{track}_drum.wav", f"{track}_vocal.wav"])
    assert all(name_bytes(name) <= 255 for name in files_under(env / "out"))


def test_a_track_over_the_limit_is_shortened_for_every_stem(
    env: Path, sb: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    track = "가" * 83  # 249 bytes: fits as an input name, not with "_vocal.wav"
    make_wav(env / f"{track}.wav", seconds=0.1)
    args = [
        "separate",
        f"{track}.wav",
        "-s",
        "vocal,drum",
        "--name-template",
        "{track}_{stem}.{ext}",
    ]
    run = run_cli(capsys, [*args, "-o", "out"])
    assert run.code == 0, run
    names = files_under(env / "out")
    assert [name.rsplit("_", 1)[1] for name in names] == ["drum.wav", "vocal.wav"]
    assert all(name.startswith("가" * 70) and "~" in name for name in names)
    assert all(name_bytes(name) <= 255 for name in names)


def test_a_template_part_that_cannot_fit_is_refused_before_any_request(
    env: Path, sb: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    make_wav(env / "song.wav", seconds=0.1)
    template = "L" * 250 + "_{stem}.{ext}"
    run = run_cli(capsys, ["separate", "song.wav", "--name-template", template])
    assert_clean_error(run, 2, "260-byte name", "255-byte limit")
    assert sb.requests == []


# ---- collisions, refused before any request ------------------------------------------------
DIR_HINT = "Add {dir}: --name-template '{dir}/{track}/{stem}.{ext}'"


@pytest.mark.parametrize(
    "extra", [[], ["--force"], ["--dry-run"], ["--skip-existing", "--jobs", "1"]]
)
def test_same_names_in_two_folders_are_refused_before_paying(
    env: Path, sb: Sandbox, capsys: pytest.CaptureFixture[str], extra: list[str]
) -> None:
    # different content: it used to create 2 jobs then exit 9; with --force the second
    # overwrote the first; --dry-run printed the same path twice and exited 0
    make_wav(env / "a" / "song.wav", seconds=0.1)
    make_wav(env / "b" / "song.wav", seconds=0.15)
    run = run_cli(capsys, ["separate", "a/song.wav", "b/song.wav", "-o", "out", *extra])
    line = assert_clean_error(run, 2, "a/song.wav and b/song.wav would both write", DIR_HINT)
    assert "out/song/vocal.wav" in line
    assert sb.requests == []
    assert not (env / "out").exists()


def test_a_recursive_folder_with_the_same_name_twice_is_refused(
    env: Path, sb: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    make_wav(env / "album" / "x" / "a.wav", seconds=0.1)
    make_wav(env / "album" / "y" / "a.wav", seconds=0.15)
    for extra in ([], ["--dry-run"]):
        run = run_cli(capsys, ["separate", "album", "-r", "-o", "out", *extra])
        assert_clean_error(run, 2, "album/x/a.wav and album/y/a.wav", "out/a/vocal.wav", DIR_HINT)
    assert sb.requests == []


def test_the_same_name_with_two_extensions_is_told_to_add_trackext(
    env: Path, sb: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    make_wav(env / "song.wav", seconds=0.1)
    with open(env / "song.mp3", "wb") as fh:
        silence.write_mp3(fh, 0.2)
    run = run_cli(capsys, ["separate", "song.wav", "song.mp3", "--dry-run"])
    assert_clean_error(
        run,
        2,
        "song.wav and song.mp3 would both write song/vocal.wav",
        "Add {trackext}: --name-template '{track}_{trackext}/{stem}.{ext}'",
    )
    template = ["--name-template", "{track}_{trackext}/{stem}.{ext}"]
    fixed = run_cli(capsys, ["separate", "song.wav", "song.mp3", "--dry-run", *template])
    assert fixed.code == 0, fixed
    assert [line.rsplit("would write ", 1)[1] for line in fixed.lines] == [
        "song_wav/vocal.wav",
        "song_mp3/vocal.wav",
    ]
    assert key_info_requests(sb) == 1  # the credits, asked once all checks passed


@pytest.mark.parametrize(
    ("args", "hint"),
    [
        (["-s", "vocal,drum", "--name-template", "{track}.{ext}"], "Include {stem} in"),
        (["-f", "both", "--name-template", "{track}/{stem}"], "Include {ext} in"),
        (["-s", "vocal,drum", "-f", "both", "--name-template", "{track}"], "{stem} and {ext}"),
    ],
)
def test_two_outputs_of_one_input_on_one_path_name_exactly_the_missing_field(
    env: Path, sb: Sandbox, capsys: pytest.CaptureFixture[str], args: list[str], hint: str
) -> None:
    make_wav(env / "song.wav", seconds=0.1)
    run = run_cli(capsys, ["separate", "song.wav", *args])
    line = assert_clean_error(run, 2, "two outputs of song.wav", "same file", hint)
    assert line.count("{") == hint.count("{")  # no other field offered
    assert sb.requests == []


def test_job_in_the_template_keeps_inputs_apart_in_a_dry_run(
    env: Path, sb: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    make_wav(env / "a" / "song.wav", seconds=0.1)
    make_wav(env / "b" / "song.wav", seconds=0.15)
    template = ["--name-template", "{job}/{stem}.{ext}"]
    run = run_cli(capsys, ["separate", "a/song.wav", "b/song.wav", "--dry-run", *template])
    assert run.code == 0, run
    written = [line.rsplit("would write ", 1)[1] for line in run.lines]
    assert len(set(written)) == 2
    assert key_info_requests(sb) == 1  # the credits left
