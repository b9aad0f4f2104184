"""Every error class through the CLI (in-process, against the sandbox over real HTTP):
one ``gsep: error:`` line naming the problem and the fix, the documented exit code, no
traceback, the key never shown, and for local problems no request at all."""

from __future__ import annotations

import os
from pathlib import Path

import clitools
import pytest
from clitools import SECRET, assert_clean_error, assert_no_secret, files_under, make_wav, run_cli

from gsep_cli.client import GsepClient
from gsep_cli.errors import ExitCode
from gsep_cli.polling import PollPolicy
from gsep_cli.retry import RetryPolicy
from gsep_cli.sandbox import Sandbox


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sb: Sandbox) -> Path:
    """cwd = tmp_path holding song.wav and a few bad inputs; key and base URL in the env."""
    clitools.set_env(monkeypatch, tmp_path, GSEP_API_KEY=SECRET, GSEP_BASE_URL=sb.base_url)
    monkeypatch.chdir(tmp_path)
    make_wav(tmp_path / "song.wav", seconds=0.2)
    (tmp_path / "folder.wav").mkdir()
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("not audio")
    (tmp_path / "clip.mov").write_bytes(b"\0" * 64)
    (tmp_path / "noise.wav").write_bytes(os.urandom(4096))
    make_wav(tmp_path / "low.wav", seconds=0.1, rate=8000)
    with open(tmp_path / "huge.wav", "wb") as sparse:
        sparse.truncate(1000**3 + 1)  # over the 1 GB limit, without using the disk
    existing = tmp_path / "taken" / "song" / "vocal.wav"
    existing.parent.mkdir(parents=True)
    existing.write_bytes(b"keep me")
    (tmp_path / "blocker").mkdir()
    (tmp_path / "blocker" / "song").write_text("a file where the track folder must go")
    return tmp_path


def job_id_of(sb: Sandbox, tmp_path: Path, stems: tuple[str, ...] = ("vocal",)) -> str:
    """A finished job made through the library (fast, no CLI involved)."""
    client = GsepClient(
        sb.base_url,
        SECRET,
        policy=RetryPolicy(attempts=2, cap=0.05),
        poll=PollPolicy(initial=0.05, cap=0.2),
    )
    wav = make_wav(tmp_path / "for-job.wav", seconds=0.2)
    job_id = client.create_job(client.upload_file(wav), stems=list(stems))
    client.wait(job_id, timeout=30)
    client.close()
    return job_id


JOB = "2f1c3a10-e786-11f1-8e10-02fc00000001"

# (args, exit code, fragment of the error line); none of these may send a request.
LOCAL_ERRORS = [
    (["separate", "missing.wav"], 2, "file not found"),
    (["separate", "folder.wav"], 2, "is a directory"),
    (["separate", "empty.wav"], 2, "is empty"),
    (["separate", "notes.txt"], 2, "unsupported file type '.txt'"),
    (["separate", "clip.mov"], 2, "unsupported file type '.mov'"),
    (["separate", "huge.wav"], 2, "over gsep_music_hq_v1's limit"),
    (["upload", "missing.wav"], 2, "file not found"),
    (["upload", "empty.wav"], 2, "is empty"),
    (["upload", "huge.wav"], 2, "limit"),
    (["separate", "noise.wav"], 2, "no supported audio format"),
    (["separate", "low.wav"], 2, "sample rate of 8000 Hz"),
    (["upload", "low.wav"], 2, "sample rate of 8000 Hz"),
    (["separate", "song.wav", "--stems", "guitar"], 2, "unknown stem 'guitar'"),
    (["separate", "song.wav", "--stems", "vocal,vocal"], 2, "given twice"),
    (["separate", "song.wav", "--stems", "vocal", "--stems", "vocal"], 2, "given twice"),
    (["separate", "song.wav", "--stems", "others"], 2, "besides 'others'"),
    (["separate", "song.wav", "--stems", ","], 2, "no stems"),
    (["separate", "song.wav", "--model", "nope"], 2, "unknown model 'nope'"),
    (["separate", "song.wav", "--model", "gsep_music_shq_v1", "-s", "drum"], 2, "unknown stem"),
    (["separate", "song.wav", "--format", "flack"], 2, "unknown format 'flack'"),
    (["separate", "song.wav", "--format", "m4a"], 2, "m4a (AAC) is not offered"),
    (["separate", "song.wav", "--format", "flac", "--bit-depth", "32f"], 2, "does not fit"),
    (["separate", "song.wav", "--format", "opus", "--sample-rate", "44100"], 2, "Opus cannot"),
    (["separate", "song.wav", "--mix", "x=vocal"], 2, "names one stem"),
    (["separate", "song.wav", "--mix", "x=vocal+nope"], 2, "unknown stem 'nope'"),
    (["separate", "song.wav", "--mix", "others=vocal+drum"], 2, "is a stem's"),
    (["separate", "song.wav", "-s", "vocal", "--mix", "drum=bass+others"], 2, "is a stem's"),
    (["separate", "song.wav", "--mix", "a=vocal+drum", "--mix", "A=bass+drum"], 2, "another mix"),
    (["separate", "song.wav", "--mix", "-x=vocal+drum"], 2, "not a plain name"),
    (
        ["separate", "song.wav", "-f", "mp3", "--sample-rate", "22050", "--bitrate", "320"],
        2,
        "no 320 kbps rate at 22050 Hz",
    ),
    (["separate", "song.wav", "--format", "lrc"], 2, "is for the lyrics model"),
    (["separate", "song.wav", "-o", "song.wav"], 2, "is a file"),
    (["separate", "song.wav", "-o", "taken"], 2, "already exists"),
    (["separate", "song.wav", "-o", "blocker"], 2, "a file has that name"),
    (["separate", "song.wav", "--force", "--skip-existing"], 2, "cannot be used together"),
    (["separate", "song.wav", "-s", "vocal,drum", "--name-template", "{track}.{ext}"], 2, "same"),
    (["separate", "song.wav", "--name-template", "../{stem}.{ext}"], 2, "--name-template"),
    (["separate", "song.wav", "--name-template", "/tmp/{stem}.{ext}"], 2, "relative"),
    (["separate", "song.wav", "--name-template", "{artist}.{ext}"], 2, "unknown field"),
    (["job", "create", " "], 2, "upload id is empty"),
    (["job", "create", "up1", "--stems", "guitar"], 2, "unknown stem"),
    (["job", "create", "up1", "--model", "nope"], 2, "unknown model"),
    (["job", "status", "a/b"], 2, "malformed job id"),
    (["job", "status", ".."], 2, "malformed job id"),
    (["job", "status", "a b"], 2, "malformed job id"),
    (["job", "status", JOB, "--model", "nope"], 2, "unknown model"),
    (["download", "../etc"], 2, "malformed job id"),
    (["download", JOB, "--stems", "guitar"], 2, "unknown stem"),
    (["download", JOB, "--stems", "vocal,vocal"], 2, "twice"),
    (["download", JOB, "--format", "ogx"], 2, "unknown format"),
    (["download", JOB, "-o", "song.wav"], 2, "is a file"),
    (["download", JOB, "--force", "--skip-existing"], 2, "cannot be used together"),
    (["download", JOB, "--name-template", "{nope}"], 2, "unknown field"),
    (["--base-url", "ftp://127.0.0.1/x", "job", "status", JOB], 2, "not an http(s) URL"),
    (["--base-url", "http://example.com/api", "job", "status", JOB], 2, "plain http"),
    (["--base-url", "https://x.example/api?k=1", "job", "status", JOB], 2, "query"),
]


@pytest.mark.parametrize(("args", "code", "fragment"), LOCAL_ERRORS)
def test_local_problem_is_one_line_and_sends_nothing(
    env: Path,
    sb: Sandbox,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    code: int,
    fragment: str,
) -> None:
    run = run_cli(capsys, args)
    assert_clean_error(run, code, fragment)
    assert_no_secret(run)
    assert run.err_lines[-1].startswith("gsep: error:")
    assert sb.requests == []  # not even one request reached the sandbox
    assert (env / "taken" / "song" / "vocal.wav").read_bytes() == b"keep me"


@pytest.mark.parametrize(("args", "code", "fragment"), LOCAL_ERRORS)
def test_local_problem_names_the_fix(
    env: Path,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    code: int,
    fragment: str,
) -> None:
    line = assert_clean_error(run_cli(capsys, args), code, fragment)
    _what, sep, fix = line.partition(" — ")
    assert sep and fix.strip(), line


def test_missing_key_is_exit_3_and_says_how_to_set_one(
    env: Path, sb: Sandbox, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GSEP_API_KEY")
    for args in (["separate", "song.wav"], ["upload", "song.wav"], ["job", "status", JOB]):
        run = run_cli(capsys, args)
        assert_clean_error(run, ExitCode.AUTH, "no API key", "GSEP_API_KEY", "config set-key")
    assert sb.requests == []


def test_output_folder_where_no_file_can_be_made_is_refused_before_any_request(
    env: Path, sb: Sandbox, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read-only mount, an ACL or /proc: whatever ``os.access`` says, the probe file
    cannot be made there (simulated by refusing it in a folder named ``locked``)."""
    import tempfile

    (env / "locked").mkdir()
    real_mkstemp = tempfile.mkstemp

    def mkstemp(*args: object, **kwargs: object) -> tuple[int, str]:
        if Path(str(kwargs.get("dir", ""))).name == "locked":
            raise PermissionError(13, "Permission denied")
        return real_mkstemp(*args, **kwargs)  # type: ignore[call-overload,no-any-return]

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
    for args in (["separate", "song.wav", "-o", "locked"], ["download", JOB, "-o", "locked/x"]):
        run = run_cli(capsys, args)
        assert_clean_error(run, ExitCode.USAGE, "cannot write in", "locked", "-o DIR")
    assert sb.requests == []


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root can write anywhere")
def test_non_writable_output_folder_for_real(
    env: Path, sb: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    locked = env / "locked"
    locked.mkdir(mode=0o500)
    try:
        run = run_cli(capsys, ["separate", "song.wav", "-o", str(locked)])
    finally:
        locked.chmod(0o700)
    assert_clean_error(run, ExitCode.USAGE, "cannot write in")
    assert sb.requests == []


def test_click_usage_errors_are_exit_2(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for args in (
        ["upload", "song.wav", "--parallel", "0"],
        ["upload"],
        ["nosuch"],
        ["separate", "song.wav", "--timeout", "-1"],
        ["--json"],
    ):
        run = run_cli(capsys, args)
        assert run.code == ExitCode.USAGE, run
        assert run.out == ""
        assert "Traceback" not in run.err


# ---- errors from the API ------------------------------------------------------------------
def test_unknown_key_is_exit_3(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with Sandbox(job_seconds=0.2, chunk_size=4096, api_keys=["good"]) as strict:
        run = run_cli(capsys, ["--base-url", strict.base_url, "upload", "song.wav"])
        log = strict.requests
    assert_clean_error(run, ExitCode.AUTH, "HTTP 401", "gsep config show")
    assert_no_secret(run)
    assert [e["kind"] for e in log] == ["api"]  # nothing went on to S3


def test_model_not_permitted_is_exit_3(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with Sandbox(job_seconds=0.2, chunk_size=4096, permitted_models=["gsep_music_shq_v1"]) as box:
        run = run_cli(capsys, ["--base-url", box.base_url, "separate", "song.wav"])
        jobs = box.store.job_count()
    assert_clean_error(run, ExitCode.AUTH, "HTTP 403", "not permitted")
    assert jobs == 0


@pytest.mark.parametrize("business_status", [200, 400])
def test_credits_exhausted_is_exit_5(
    env: Path, capsys: pytest.CaptureFixture[str], business_status: int
) -> None:
    with Sandbox(
        job_seconds=0.2, chunk_size=4096, credits=0, business_status=business_status
    ) as poor:
        run = run_cli(capsys, ["--base-url", poor.base_url, "separate", "song.wav"])
        jobs = poor.store.job_count()
    assert_clean_error(run, ExitCode.ACCOUNT, "1102", "credits")
    assert jobs == 0
    assert files_under(env / "song") == []


def test_unknown_upload_id_is_exit_4(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = run_cli(capsys, ["job", "create", "no-such-upload"])
    assert_clean_error(run, ExitCode.REJECTED, "1105", "gsep upload")


def test_unknown_job_is_exit_4(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for args in (["job", "status", JOB], ["download", JOB], ["job", "status", JOB, "--wait"]):
        assert_clean_error(run_cli(capsys, args), ExitCode.REJECTED, "1104", "--model")


# A WAV whose header cannot be read, or that holds no frames: refused before any request
# (the API would answer 1107 / 1108); through the library's upload_file, which does no
# preflight, the API's own refusal still comes out as exit 4.
@pytest.mark.parametrize(
    ("make", "local", "api"),
    [
        (
            lambda p: p.write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunk\x04\x00\x00\x00abcd"),
            "not a readable WAV file",
            "1107",
        ),
        (lambda p: make_wav(p, seconds=0.0), "no audio", "1108"),
    ],
)
def test_broken_audio_is_refused_locally_and_by_the_api(
    env: Path,
    sb: Sandbox,
    capsys: pytest.CaptureFixture[str],
    make: object,
    local: str,
    api: str,
) -> None:
    bad = env / "odd.wav"
    make(bad)  # type: ignore[operator]
    for extra in ([], ["--dry-run"]):
        run = run_cli(capsys, ["separate", str(bad), "-o", "out", *extra])
        assert_clean_error(run, ExitCode.USAGE, local)
    assert sb.requests == [] and files_under(env / "out") == []
    client = GsepClient(sb.base_url, SECRET, policy=RetryPolicy(attempts=2, cap=0.05))
    upload_id = client.upload_file(bad)
    client.close()
    run = run_cli(capsys, ["job", "create", upload_id, "--stems", "vocal"])
    assert_clean_error(run, ExitCode.REJECTED, api)


def test_sample_rate_refused_by_the_api_is_exit_4(
    env: Path, sb: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    """The library's upload_file does no preflight, so the API is the one to refuse."""
    client = GsepClient(sb.base_url, SECRET, policy=RetryPolicy(attempts=2, cap=0.05))
    upload_id = client.upload_file(make_wav(env / "low.wav", seconds=0.1, rate=8000))
    client.close()
    run = run_cli(capsys, ["job", "create", upload_id, "--stems", "vocal"])
    assert_clean_error(run, ExitCode.REJECTED, "1014")


def test_job_failure_is_exit_7_with_the_message(
    env: Path, sb: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    sb.add_fault("job-fail:1:boom")
    run = run_cli(capsys, ["separate", "song.wav", "-o", "out"])
    assert_clean_error(run, ExitCode.JOB_FAILED, "failed: boom")
    assert files_under(env / "out") == []


def test_job_status_wait_on_a_failed_job(
    env: Path, sb: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    sb.add_fault("job-fail:1:bad input")
    job_id = run_cli(capsys, ["separate", "song.wav", "--no-download"]).out.strip()
    plain = run_cli(capsys, ["job", "status", job_id, "--wait"])
    assert plain.code == ExitCode.JOB_FAILED
    assert plain.out == "failed\n"
    assert "failed: bad input" in plain.err_lines[-1]
    doc = run_cli(capsys, ["--json", "job", "status", job_id, "--wait"])
    assert doc.code == ExitCode.JOB_FAILED
    assert doc.json()["status"] == "failed"
    assert doc.json()["errorMessage"] == "bad input"
    # without --wait the status is printed and the exit code is 0
    nowait = run_cli(capsys, ["job", "status", job_id])
    assert (nowait.code, nowait.out) == (0, "failed\n")


def test_timeouts_are_exit_8_and_say_how_to_resume(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with Sandbox(job_seconds=120, chunk_size=4096) as slow:
        base = ["--base-url", slow.base_url]
        run = run_cli(capsys, [*base, "separate", "song.wav", "--timeout", "0.3", "-o", "out"])
        line = assert_clean_error(run, ExitCode.TIMEOUT, "still")
        job_id = next(w for w in line.split() if w.count("-") == 4)
        assert f"gsep job status {job_id}" in line
        assert f"gsep download {job_id}" in line
        wait = run_cli(capsys, [*base, "job", "status", job_id, "--wait", "--timeout", "0.2"])
        assert_clean_error(wait, ExitCode.TIMEOUT, "gsep job status")
        zero = run_cli(capsys, [*base, "job", "status", job_id, "--wait", "--timeout", "0"])
        assert_clean_error(zero, ExitCode.TIMEOUT, "gsep job status")
    assert files_under(env / "out") == []


@pytest.mark.parametrize("fault", ["api-503:*", "api-500:*", "api-502:*", "api-429:*"])
def test_server_errors_after_retries_are_exit_6(
    env: Path, sb: Sandbox, capsys: pytest.CaptureFixture[str], fault: str
) -> None:
    sb.add_fault(fault)
    run = run_cli(capsys, ["job", "status", JOB])
    assert_clean_error(run, ExitCode.UNAVAILABLE, "HTTP " + fault[4:7])
    assert len(sb.requests) == 3  # GSEP_RETRIES=3 attempts, then give up


def test_connection_refused_is_exit_6(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = run_cli(capsys, ["--base-url", "http://127.0.0.1:9/api", "upload", "song.wav"])
    assert_clean_error(run, ExitCode.UNAVAILABLE, "cannot reach the API", "--base-url")


def test_redirect_to_another_host_is_refused(
    env: Path, sb: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    sb.add_fault("redirect:1")
    run = run_cli(capsys, ["job", "status", JOB])
    assert_clean_error(run, ExitCode.REJECTED, "redirected to another host")
    assert all(e["port"] == sb.port for e in sb.requests)


def test_failed_download_leaves_no_partial_file(
    env: Path, sb: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    job_id = job_id_of(sb, env, ("vocal", "drum"))
    sb.add_fault("download-500:*")
    run = run_cli(capsys, ["download", job_id, "-o", "out"])
    assert_clean_error(run, ExitCode.UNAVAILABLE, "download failed", "gsep download")
    assert files_under(env / "out") == []
    sb.faults.clear()
    sb.add_fault("download-404:1")
    run = run_cli(capsys, ["download", job_id, "-o", "out"])
    assert_clean_error(run, ExitCode.REJECTED, "HTTP 404")
    assert files_under(env / "out") == []


def test_download_of_an_unfinished_job(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with Sandbox(job_seconds=120, chunk_size=4096) as slow:
        base = ["--base-url", slow.base_url]
        job_id = run_cli(capsys, [*base, "separate", "song.wav", "--no-download"]).out.strip()
        run = run_cli(capsys, [*base, "download", job_id, "-o", "out"])
    assert_clean_error(run, ExitCode.REJECTED, "no results yet", "--wait")
    assert files_under(env / "out") == []


def test_interrupted_download_leaves_no_partial_file(
    env: Path, sb: Sandbox, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from gsep_cli import download as transfer

    job_id = job_id_of(sb, env)

    def interrupted(self: object, url: str, out: object, key: str) -> int:
        out.write(b"RIFF partial bytes")  # type: ignore[attr-defined]
        raise KeyboardInterrupt

    monkeypatch.setattr(transfer.Downloader, "_download_into", interrupted)
    run = run_cli(capsys, ["download", job_id, "-o", "out"])
    assert_clean_error(run, ExitCode.INTERRUPTED, "interrupted")
    assert files_under(env / "out") == []


def test_ctrl_c_while_waiting_is_exit_130(
    env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from gsep_cli.client import GsepClient as Client

    def interrupted(self: object, *args: object, **kwargs: object) -> object:
        raise KeyboardInterrupt

    monkeypatch.setattr(Client, "get_job", interrupted)
    run = run_cli(capsys, ["job", "status", JOB, "--wait"])
    assert run.code == ExitCode.INTERRUPTED
    assert run.out == ""
    assert "interrupted" in run.err and "Traceback" not in run.err


def test_internal_error_is_exit_1_one_line_no_traceback(
    env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from gsep_cli import preflight

    def broken(*args: object, **kwargs: object) -> int:
        raise RuntimeError(f"boom with {SECRET}")

    monkeypatch.setattr(preflight, "preflight", broken)
    run = run_cli(capsys, ["upload", "song.wav"])
    assert run.code == ExitCode.INTERNAL
    assert run.out == ""
    assert run.err_lines == [run.err_lines[0]]
    assert run.err.startswith("gsep: internal error: RuntimeError")
    assert "GSEP_DEBUG" in run.err and "Traceback" not in run.err
    assert_no_secret(run)
    monkeypatch.setenv("GSEP_DEBUG", "1")
    with pytest.raises(RuntimeError):
        run_cli(capsys, ["upload", "song.wav"])


def test_eof_at_a_prompt_is_a_clean_exit(
    env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import getpass
    import io

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    def eof(prompt: str = "") -> str:
        raise EOFError

    monkeypatch.setattr(getpass, "getpass", eof)
    monkeypatch.setattr("sys.stdin", Tty())
    run = run_cli(capsys, ["config", "set-key"])
    assert run.code == ExitCode.USAGE, run
    assert "Traceback" not in run.err


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("GSEP_RETRIES", "abc"),
        ("GSEP_RETRIES", "0"),
        ("GSEP_RETRIES", "2.5"),
        ("GSEP_POLL_INTERVAL", "soon"),
        ("GSEP_POLL_CAP", "0"),
        ("GSEP_READ_TIMEOUT", "-1"),
        ("GSEP_CONNECT_TIMEOUT", "nan"),
        ("GSEP_RETRY_CAP", "inf"),
        ("GSEP_RATE_LIMIT_WAIT", "-5"),
    ],
)
def test_bad_numbers_in_the_environment_are_config_errors(
    env: Path,
    sb: Sandbox,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    value: str,
) -> None:
    monkeypatch.setenv(name, value)
    run = run_cli(capsys, ["job", "status", JOB])
    assert_clean_error(run, ExitCode.AUTH, name, repr(value), f"unset {name}")
    assert sb.requests == []


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("GSEP_SANDBOX_CHUNK_SIZE", "lots"),
        ("GSEP_SANDBOX_CHUNK_SIZE", "0"),
        ("GSEP_SANDBOX_JOB_SECONDS", "-3"),
    ],
)
def test_bad_sandbox_settings_are_config_errors(
    env: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    value: str,
) -> None:
    monkeypatch.setenv(name, value)
    run = run_cli(capsys, ["--sandbox", "job", "status", JOB])
    assert_clean_error(run, ExitCode.AUTH, name)
