"""The output contract: stdout results only, ``--json`` shapes of every command, ``-q``,
``--no-progress``, help texts, and (under a pseudo-terminal) live progress with NO_COLOR."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import clitools
import pytest
from clitools import ESC, SECRET, assert_no_secret, files_under, make_wav, run_cli

from gsep_cli import __version__
from gsep_cli.sandbox import Sandbox


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sb: Sandbox) -> Path:
    clitools.set_env(monkeypatch, tmp_path, GSEP_API_KEY=SECRET, GSEP_BASE_URL=sb.base_url)
    monkeypatch.chdir(tmp_path)
    make_wav(tmp_path / "song.wav", seconds=0.2)
    return tmp_path


def check_file_entry(entry: dict[str, Any]) -> None:
    assert set(entry) >= {"stem", "format", "path", "bytes", "skipped"}
    assert Path(entry["path"]).is_file()
    assert entry["bytes"] == Path(entry["path"]).stat().st_size > 0
    assert isinstance(entry["skipped"], bool)


# ---- --json shapes ------------------------------------------------------------------------
def test_json_upload_job_status_download(
    env: Path, sb: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    size = (env / "song.wav").stat().st_size
    up = run_cli(capsys, ["--json", "upload", "song.wav"])
    assert up.code == 0, up
    doc = up.json()
    assert set(doc) >= {"uploadId", "file", "bytes"}
    assert doc["file"] == "song.wav" and doc["bytes"] == size
    upload_id = doc["uploadId"]

    created = run_cli(capsys, ["--json", "job", "create", upload_id, "-s", "vocal", "-s", "bass"])
    assert created.code == 0, created
    job = created.json()
    assert set(job) >= {"jobId", "uploadId", "model", "stems"}
    assert job["uploadId"] == upload_id
    assert job["model"] == "gsep_music_hq_v1"
    assert job["stems"] == ["vocal", "bass"]
    job_id = job["jobId"]

    early = run_cli(capsys, ["--json", "job", "status", job_id]).json()
    assert set(early) >= {"jobId", "model", "status", "errorMessage", "expireAt", "outputs"}
    assert early["status"] in ("waiting", "running")
    assert early["outputs"] == [] and early["errorMessage"] is None and early["expireAt"] is None

    done = run_cli(capsys, ["--json", "job", "status", job_id, "--wait"])
    assert done.code == 0, done
    status = done.json()
    assert status["jobId"] == job_id and status["status"] == "success"
    assert status["expireAt"].endswith("Z")
    assert {(o["stem"], o["format"]) for o in status["outputs"]} == {
        (stem, fmt) for stem in ("vocal", "bass", "others") for fmt in ("wav", "mp3")
    }

    dl = run_cli(capsys, ["--json", "download", job_id, "-o", "out", "--format", "both"])
    assert dl.code == 0, dl
    files = dl.json()
    assert set(files) >= {"jobId", "model", "status", "expireAt", "files"}
    assert files["jobId"] == job_id and files["status"] == "success"
    assert [(f["stem"], f["format"]) for f in files["files"]] == [
        ("vocal", "wav"),
        ("vocal", "mp3"),
        ("bass", "wav"),
        ("bass", "mp3"),
    ]  # the job's stems, not others
    for entry in files["files"]:
        check_file_entry(entry)
        # the job is on record (gsep job create records it): named after its input
        assert entry["path"].startswith(os.path.join("out", "song"))

    skipped = run_cli(
        capsys, ["--json", "download", job_id, "-o", "out", "--stems", "all", "--skip-existing"]
    ).json()
    assert [(f["stem"], f["skipped"]) for f in skipped["files"]] == [
        ("vocal", True),
        ("bass", True),
        ("others", False),
    ]
    for out in (up, created, done, dl):
        assert_no_secret(out)


@pytest.mark.slow
def test_json_separate_and_no_download(
    env: Path, sb: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    run = run_cli(capsys, ["--json", "separate", "song.wav", "-s", "vocal,drum", "-o", "o"])
    assert run.code == 0, run
    doc = run.json()
    keys = {"input", "bytes", "uploadId", "jobId", "model", "stems", "status", "expireAt", "files"}
    assert set(doc) >= keys
    assert doc["input"] == "song.wav"
    assert doc["bytes"] == (env / "song.wav").stat().st_size
    assert doc["stems"] == ["vocal", "drum"]
    assert doc["status"] == "success"
    assert [f["path"] for f in doc["files"]] == [
        os.path.join("o", "song", "vocal.wav"),
        os.path.join("o", "song", "drum.wav"),
    ]
    for entry in doc["files"]:
        check_file_entry(entry)

    jobs = sb.store.job_count()
    sb.clear_requests()
    nodl = run_cli(capsys, ["--json", "separate", "song.wav", "--no-download", "-o", "o"])
    assert nodl.code == 0, nodl
    sub = nodl.json()
    assert sub["status"] == "submitted"
    assert "files" not in sub
    assert set(sub) >= {"input", "bytes", "uploadId", "jobId", "model", "stems"}
    assert sb.store.job_count() == jobs + 1
    assert not any(e["kind"] == "cdn" for e in sb.requests)


def test_json_errors_leave_stdout_empty(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for args in (["--json", "separate", "missing.wav"], ["--json", "job", "status", "x/y"]):
        run = run_cli(capsys, args)
        assert run.code == 2 and run.out == ""
        assert run.err.startswith("gsep: error:")


# ---- plain output, -q, --no-progress ------------------------------------------------------
@pytest.mark.slow
def test_separate_plain_stdout_is_only_paths(
    env: Path, sb: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    run = run_cli(capsys, ["separate", "song.wav", "--stems", "vocal,drum", "--format", "both"])
    assert run.code == 0, run
    assert run.lines == [
        os.path.join("song", name) for name in ("vocal.wav", "vocal.mp3", "drum.wav", "drum.mp3")
    ]
    assert all(Path(line).is_file() for line in run.lines)
    # the progress and the live status went to stderr, as plain lines
    assert "upload song.wav" in run.err
    assert re.search(r"job \S+: success", run.err)
    assert ESC not in run.err and "\r" not in run.err
    assert_no_secret(run)


@pytest.mark.slow
def test_quiet_prints_only_results(
    env: Path, sb: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    flag = "-q"
    long_form = run_cli(capsys, ["--quiet", "upload", "song.wav"])
    assert (long_form.code, long_form.err) == (0, "")
    up = run_cli(capsys, [flag, "upload", "song.wav"])
    assert (up.code, up.err) == (0, "")
    assert re.fullmatch(r"\S+\n", up.out)
    job = run_cli(capsys, [flag, "job", "create", up.out.strip()])
    assert (job.code, job.err) == (0, "")
    wait = run_cli(capsys, [flag, "job", "status", job.out.strip(), "--wait"])
    assert (wait.code, wait.out, wait.err) == (0, "success\n", "")
    sep = run_cli(capsys, [flag, "separate", "song.wav", "-o", "q"])
    assert (sep.code, sep.err) == (0, "")
    assert sep.lines == [os.path.join("q", "song", "vocal.wav")]
    dl = run_cli(capsys, [flag, "download", job.out.strip(), "-o", "q2"])
    assert (dl.code, dl.err) == (0, "")
    assert len(dl.lines) == 1


def test_quiet_still_shows_errors(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = run_cli(capsys, ["-q", "separate", "missing.wav"])
    assert run.code == 2
    assert run.err.startswith("gsep: error: file not found")


def test_no_progress_gives_plain_lines(
    env: Path, sb: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    run = run_cli(capsys, ["--no-progress", "separate", "song.wav", "-o", "np"])
    assert run.code == 0, run
    assert ESC not in run.err
    assert all(line.startswith("gsep: ") for line in run.err_lines)
    assert len(run.err_lines) <= 10


@pytest.mark.slow
def test_verbose_logs_requests_without_secrets(
    env: Path, sb: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    run = run_cli(capsys, ["-v", "separate", "song.wav", "-o", "v"])
    assert run.code == 0, run
    assert "-> POST" in run.err and "<- 200" in run.err
    assert_no_secret(run)
    assert "X-Amz-Signature=" not in run.err.replace("X-Amz-Signature=<redacted>", "")
    assert "Signature=" not in run.err.replace("Signature=<redacted>", "")
    assert run.lines == [os.path.join("v", "song", "vocal.wav")]


def test_default_output_layout_and_name_template(
    env: Path, sb: Sandbox, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GSEP_FORMAT", "mp3")
    monkeypatch.setenv("GSEP_OUTPUT_DIR", str(env / "from-env"))
    template = "{model}/{job}/{track}-{stem}.{ext}"
    run = run_cli(capsys, ["separate", "song.wav", "-s", "bass", "--name-template", template])
    assert run.code == 0, run
    (path,) = run.lines
    parts = Path(path).relative_to(env / "from-env").parts
    assert parts[0] == "gsep_music_hq_v1"
    assert parts[2] == "song-bass.mp3"
    assert files_under(env / "from-env") == ["/".join(parts)]


@pytest.mark.slow
def test_config_defaults_are_used(
    env: Path, sb: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in (("stems", "drum,bass"), ("format", "both"), ("output_dir", "cfg-out")):
        assert run_cli(capsys, ["config", "set", name, value]).code == 0
    run = run_cli(capsys, ["-q", "separate", "song.wav"])
    assert run.code == 0, run
    assert files_under(env / "cfg-out") == [
        "song/bass.mp3",
        "song/bass.wav",
        "song/drum.mp3",
        "song/drum.wav",
    ]


@pytest.mark.slow
def test_force_overwrites_and_skip_existing_keeps(
    env: Path, sb: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    target = env / "song" / "vocal.wav"
    target.parent.mkdir()
    target.write_bytes(b"old")
    kept = run_cli(capsys, ["--json", "separate", "song.wav", "--skip-existing"])
    assert kept.code == 0, kept
    assert kept.json()["files"][0]["skipped"] is True
    assert target.read_bytes() == b"old"
    forced = run_cli(capsys, ["separate", "song.wav", "--force"])
    assert forced.code == 0, forced
    assert target.read_bytes()[:4] == b"RIFF"
    assert files_under(env / "song") == ["vocal.wav"]  # no temporary files left


# ---- help and version ---------------------------------------------------------------------
COMMANDS = [
    [],
    ["upload"],
    ["separate"],
    ["download"],
    ["job"],
    ["job", "create"],
    ["job", "status"],
    ["config"],
    ["config", "set-key"],
    ["config", "show"],
    ["config", "path"],
    ["config", "set"],
    ["config", "get"],
    ["sandbox"],
    ["sandbox", "serve"],
    ["sandbox", "example"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "gsep")
def test_every_command_has_help_with_an_example(
    capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    run = run_cli(capsys, [*command, "--help"])
    assert run.code == 0, run
    assert run.out.startswith("Usage: gsep")
    assert run.err == ""
    if command and command[0] in ("job", "config", "sandbox") and len(command) == 1:
        assert "Commands:" in run.out
    else:
        assert "Example" in run.out, run.out


def test_root_help_lists_exit_codes_and_global_options(
    capsys: pytest.CaptureFixture[str],
) -> None:
    text = run_cli(capsys, ["-h"]).out
    for option in ("--base-url", "--profile", "--json", "--quiet", "--verbose", "--no-progress"):
        assert option in text
    for needle in ("--sandbox", "--version", "130 interrupted", "7 job failed"):
        assert needle in text


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    run = run_cli(capsys, ["--version"])
    assert (run.code, run.out, run.err) == (0, f"gsep {__version__}\n", "")


def test_sandbox_example_prints_a_wav_path(capsys: pytest.CaptureFixture[str]) -> None:
    run = run_cli(capsys, ["sandbox", "example"])
    assert run.code == 0
    path = Path(run.out.strip())
    assert path.is_file() and path.read_bytes()[:4] == b"RIFF"


# ---- a real terminal (pseudo-tty): live progress, NO_COLOR, --no-progress, -q ---------------
SGR_COLOUR = re.compile(rb"\x1b\[[0-9;]*m")


def run_on_tty(
    args: list[str], env: dict[str, str], cwd: Path, timeout: float = 60
) -> tuple[int, str, bytes]:
    """Run gsep with stderr on a pty; return (exit code, stdout, stderr bytes)."""
    import pty

    import termtools

    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [clitools.gsep_exe(), *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=slave,
        env=env,
        cwd=cwd,
    )
    os.close(slave)
    try:
        err = termtools.read_pty(master, proc, timeout)
        out = proc.communicate(timeout=timeout)[0]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    return proc.returncode, out.decode(), err


pytestmark_tty = pytest.mark.skipif(
    sys.platform == "win32" or not hasattr(os, "openpty"), reason="needs a pty"
)


@pytest.mark.slow
@pytestmark_tty
@pytest.mark.parametrize("no_color", [False, True], ids=["colour", "NO_COLOR"])
def test_tty_shows_live_progress_and_honours_no_color(
    tmp_path: Path, sb: Sandbox, no_color: bool
) -> None:
    wav = make_wav(tmp_path / "song.wav", seconds=0.5)
    env = clitools.clean_env(
        tmp_path, GSEP_API_KEY=SECRET, GSEP_BASE_URL=sb.base_url, TERM="xterm-256color"
    )
    if no_color:
        env["NO_COLOR"] = "1"
    code, out, err = run_on_tty(["separate", str(wav), "-o", str(tmp_path / "o")], env, tmp_path)
    assert code == 0, err
    assert out == f"{tmp_path / 'o' / 'song' / 'vocal.wav'}\n"  # stdout is not the tty
    assert ESC.encode() in err  # live rendering on the terminal
    assert "song.wav · upload".encode() in err and b"success" in err  # rows name the input
    assert SECRET.encode() not in err
    assert bool(SGR_COLOUR.search(err)) is (not no_color)


@pytest.mark.slow
@pytestmark_tty
def test_tty_no_progress_and_quiet_draw_nothing(tmp_path: Path, sb: Sandbox) -> None:
    wav = make_wav(tmp_path / "song.wav", seconds=0.2)
    env = clitools.clean_env(
        tmp_path, GSEP_API_KEY=SECRET, GSEP_BASE_URL=sb.base_url, TERM="xterm-256color"
    )
    code, out, err = run_on_tty(
        ["--no-progress", "separate", str(wav), "-o", str(tmp_path / "a")], env, tmp_path
    )
    assert code == 0, err
    assert ESC.encode() not in err
    assert b"gsep: job" in err
    quiet = ["-q", "separate", str(wav), "-o", str(tmp_path / "b")]
    code, out, err = run_on_tty(quiet, env, tmp_path)
    assert code == 0
    assert err == b""
    assert out.strip().endswith("vocal.wav")
    dumb = {**env, "TERM": "dumb"}
    code, out, err = run_on_tty(["separate", str(wav), "-o", str(tmp_path / "c")], dumb, tmp_path)
    assert code == 0, err
    assert ESC.encode() not in err
    assert b"gsep: job" in err


def test_rate_limit_wait_is_shown_on_stderr(
    env: Path, sb: Sandbox, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GSEP_RATE_LIMIT_WAIT", "0.5")
    job_id = run_cli(capsys, ["separate", "song.wav", "--no-download"]).out.strip()
    sb.add_fault("api-429:1")
    run = run_cli(capsys, ["job", "status", job_id])
    assert run.code == 0, run
    assert run.out in ("waiting\n", "running\n", "success\n")
    assert "rate limited by the API (HTTP 429); waiting" in run.err
    quiet = run_cli(capsys, ["-q", "job", "status", job_id])
    assert quiet.err == ""


@pytest.mark.slow
def test_hostile_track_name_stays_inside_the_output_folder(
    env: Path, sb: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    job_id = run_cli(capsys, ["separate", "song.wav", "--no-download"]).out.strip()
    assert run_cli(capsys, ["-q", "job", "status", job_id, "--wait"]).code == 0
    for track, folder in (("../../evil", "evil"), ("/etc", "etc"), ("CON", "_CON")):
        run = run_cli(capsys, ["download", job_id, "-o", "out", "--track", track])
        assert run.code == 0, run
        assert run.lines == [os.path.join("out", folder, "vocal.wav")]
    assert files_under(env / "out") == ["_CON/vocal.wav", "etc/vocal.wav", "evil/vocal.wav"]
    assert not (env.parent / "evil").exists()
