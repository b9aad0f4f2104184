"""Never hang, never crash, never leak: servers and networks that misbehave (issue 13).

Each test runs the installed ``gsep`` against a sandbox fault over real HTTP with small
timeouts, and checks the outcome, the exit code, the wall time and the files on disk.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from clitools import assert_clean_error, make_wav, run_gsep
from hostiletools import hostile_env, make_cert, timed
from hostiletools import job_on as hostile_job

from gsep_cli.sandbox import Sandbox

KEY = "hostile-key-4711"
ESC = "\x1b"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return hostile_env(tmp_path, KEY)


def job_on(sb: Sandbox, song: Path) -> str:
    return hostile_job(sb, song, KEY)


# ---- A1: the read timeout holds for every request --------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("fault", ["part-delay:1:30", "download-delay:1:30"])
def test_the_read_timeout_holds_for_parts_and_results(
    tmp_path: Path, env: dict[str, str], fault: str
) -> None:
    make_wav(tmp_path / "song.wav", seconds=0.3)
    # the read timeout alone: the stall detector (1 s here) could fire first on a loaded
    # machine and hide whether the timeout holds
    env["GSEP_STALL_RATE"] = "0"
    with Sandbox(job_seconds=0, chunk_size=1 << 20, faults=[fault]) as sb:
        env["GSEP_BASE_URL"] = sb.base_url
        run, took = timed(["separate", "song.wav"], env, tmp_path)
    assert run.code == 0, str(run)
    assert took < 15  # one 1 s read timeout, one retry; not the fixed 120 or 300 s
    assert "timed out" in run.err
    assert (tmp_path / "song" / "vocal.wav").is_file()


# ---- B5: a retry says why in words ---------------------------------------------------------
def test_download_retries_give_a_readable_reason(tmp_path: Path, env: dict[str, str]) -> None:
    make_wav(tmp_path / "song.wav", seconds=0.3)
    with Sandbox(job_seconds=0, chunk_size=1 << 20, faults=["download-truncate:2"]) as sb:
        env["GSEP_BASE_URL"] = sb.base_url
        run = run_gsep(["separate", "song.wav"], env, cwd=tmp_path)
    assert run.code == 0, str(run)
    notices = [line for line in run.err_lines if "download interrupted" in line]
    assert len(notices) == 2
    readable = ("the connection closed before the end", "connection lost", "got ")
    for line in notices:
        assert any(f"({reason}" in line for reason in readable), line
        assert "IncompleteRead" not in line and "('" not in line and "Error" not in line


# ---- B6: the storage server decides whether a URL expired, not this machine's clock --------
def test_a_clock_a_day_ahead_still_uploads(tmp_path: Path, env: dict[str, str]) -> None:
    make_wav(tmp_path / "song.wav", seconds=0.3)
    behind = 25 * 3600.0  # the sandbox's clock (and the URLs it signs) a day behind ours
    with Sandbox(job_seconds=0, chunk_size=8192, clock=lambda: time.time() - behind) as sb:
        env["GSEP_BASE_URL"] = sb.base_url
        run = run_gsep(["upload", "song.wav"], env, cwd=tmp_path)
        assert run.code == 0, str(run)
        assert [e for e in sb.requests if e["kind"] == "s3"]  # the parts were sent
    assert "clock is 1500 min ahead" in run.err


# ---- C1: server text never drives the terminal ----------------------------------------------
HOSTILE = f"{ESC}]0;PWNED\x07{ESC}[2Jbad\u202eevil\x9b31m"


@pytest.mark.slow
def test_control_characters_from_the_server_are_escaped(
    tmp_path: Path, env: dict[str, str]
) -> None:
    make_wav(tmp_path / "song.wav", seconds=0.3)
    with Sandbox(job_seconds=0, chunk_size=8192, faults=[f"job-fail:1:{HOSTILE}"]) as sb:
        env["GSEP_BASE_URL"] = sb.base_url
        plain = run_gsep(["separate", "song.wav"], env, cwd=tmp_path)
        listed = json.loads(run_gsep(["--json", "ledger", "list"], env, cwd=tmp_path).out)
        job = listed["jobs"][0]["jobId"]
        shown = run_gsep(["job", "status", job], env, cwd=tmp_path)
        as_json = run_gsep(["--json", "job", "status", job], env, cwd=tmp_path)
    line = assert_clean_error(plain, 7, "failed")
    for run in (plain, shown, as_json):
        for raw in (ESC, "\x07", "\u202e", "\x9b"):
            assert raw not in run.err and raw not in run.out, str(run)
    assert "\\x1b]0;PWNED\\x07\\x1b[2Jbad\\u202eevil\\x9b31m" in line
    assert shown.out == "failed\n"
    assert json.loads(as_json.out)["errorMessage"] == HOSTILE  # JSON keeps the exact text


# ---- A1/A2: hangs and drips end within the documented bounds -------------------------------
@pytest.mark.slow
@pytest.mark.parametrize(
    ("fault", "args"),
    [
        ("download-hang:*", ["download", "{job}"]),
        ("api-hang@job-get:*", ["job", "status", "{job}"]),
        ("part-hang:*", ["upload", "song.wav"]),
    ],
)
def test_a_server_that_never_answers_ends_in_bounded_time(
    tmp_path: Path, env: dict[str, str], fault: str, args: list[str]
) -> None:
    song = make_wav(tmp_path / "song.wav", seconds=0.3)
    env.update(GSEP_RETRIES="2", GSEP_READ_TIMEOUT="0.5")
    with Sandbox(job_seconds=0, chunk_size=1 << 20) as sb:
        job = job_on(sb, song)
        sb.add_fault(fault)
        env["GSEP_BASE_URL"] = sb.base_url
        run, took = timed([a.replace("{job}", job) for a in args], env, tmp_path)
    assert_clean_error(run, 6, "timed out")
    assert took < 10  # two attempts of a 0.5 s read timeout (and for results five), not 609 s
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".part")]


@pytest.mark.slow
def test_a_dripping_download_is_broken_off_and_resumed(tmp_path: Path, env: dict[str, str]) -> None:
    song = make_wav(tmp_path / "song.wav", seconds=0.3)
    with Sandbox(job_seconds=0, chunk_size=1 << 20, faults=["download-drip:1:500"]) as sb:
        job = job_on(sb, song)
        env["GSEP_BASE_URL"] = sb.base_url
        run, took = timed(["download", job, "-o", "out"], env, tmp_path)
    assert run.code == 0, str(run)
    assert took < 10
    assert "stalled (less than 2000 bytes/s for 1 s)" in run.err
    assert (tmp_path / "out" / job / "vocal.wav").stat().st_size > 44


@pytest.mark.slow
def test_timeout_interrupts_an_answer_that_drips(tmp_path: Path, env: dict[str, str]) -> None:
    song = make_wav(tmp_path / "song.wav", seconds=0.3)
    env["GSEP_READ_TIMEOUT"] = "60"  # the answer would be allowed a minute: --timeout wins
    with Sandbox(job_seconds=30, chunk_size=1 << 20) as sb:
        from conftest import Api

        api = Api(sb, key=KEY)
        upload = api.upload(song.read_bytes(), name="song.wav")
        job = api.job_id(audioUploadId=upload, type="vocal")
        sb.add_fault("api-drip@job-get:*:1")
        env["GSEP_BASE_URL"] = sb.base_url
        run, took = timed(["job", "status", job, "--wait", "--timeout", "1"], env, tmp_path)
    assert_clean_error(run, 8, job, "--timeout")
    assert took < 5


# ---- A3: statuses outside the contract --------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "shown"),
    [("missing", "no status"), ("5", "status 5"), ("null", "status null"), ('""', 'status ""')],
)
def test_a_job_without_a_usable_status_is_a_broken_answer(
    tmp_path: Path, env: dict[str, str], value: str, shown: str
) -> None:
    make_wav(tmp_path / "song.wav", seconds=0.3)
    with Sandbox(job_seconds=0, chunk_size=8192, faults=[f"job-status:*:{value}"]) as sb:
        env["GSEP_BASE_URL"] = sb.base_url
        run, took = timed(["separate", "song.wav"], env, tmp_path)
    assert_clean_error(run, 6, shown, "not a job status")
    assert took < 10


@pytest.mark.slow
def test_an_unknown_status_is_said_once_and_waited_on_within_the_bound(
    tmp_path: Path, env: dict[str, str]
) -> None:
    make_wav(tmp_path / "song.wav", seconds=0.3)
    env["GSEP_MAX_WAIT"] = "1"
    with Sandbox(job_seconds=0, chunk_size=8192, faults=['job-status:*:"cancelled"']) as sb:
        env["GSEP_BASE_URL"] = sb.base_url
        run, took = timed(["separate", "song.wav"], env, tmp_path)
        polls = [e for e in sb.requests if e["method"] == "GET" and e["kind"] == "api"]
    line = assert_clean_error(run, 8, "still cancelled", "GSEP_MAX_WAIT", "gsep job status")
    assert "--wait" in line
    assert 1 <= took < 6
    assert len(polls) > 3  # polled on, not stopped at the first unknown answer
    assert run.err.count("a status gsep does not know") == 1


# ---- B1: a 401 is the key, whatever its body says ----------------------------------------------
def test_a_401_with_a_result_code_is_a_key_problem(tmp_path: Path, env: dict[str, str]) -> None:
    fault = "api-401@key-info:1:401:Invalid API key: verification failed."
    with Sandbox(job_seconds=0, faults=[fault]) as sb:
        env["GSEP_BASE_URL"] = sb.base_url
        run = run_gsep(["key", "info"], env, cwd=tmp_path)
    assert_clean_error(run, 3, "HTTP 401", "verification failed", "gsep config")


# ---- B2/B3: bodies that lie -------------------------------------------------------------------
@pytest.mark.parametrize(
    "faults",
    [["download-truncate:1", "download-range-slice:1"], ["download-gzip:1"]],
    ids=["range-answered-with-a-slice", "gzip"],
)
def test_results_that_lie_about_their_body_end_exact_or_not_at_all(
    tmp_path: Path, env: dict[str, str], faults: list[str]
) -> None:
    song = make_wav(tmp_path / "song.wav", seconds=0.5)
    with Sandbox(job_seconds=0, chunk_size=1 << 20) as sb:
        job = job_on(sb, song)
        from conftest import Api

        wav_url = Api(sb, key=KEY).job(job)["downloadUrl"]["vocal"]["wav"]
        import requests

        expected = requests.get(wav_url, timeout=30).content
        for fault in faults:
            sb.add_fault(fault)
        env["GSEP_BASE_URL"] = sb.base_url
        run = run_gsep(["download", job, "-o", "out"], env, cwd=tmp_path)
    assert run.code == 0, str(run)
    assert (tmp_path / "out" / job / "vocal.wav").read_bytes() == expected


# ---- B4: no downgrade from https to http, anywhere ------------------------------------------
@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    import shutil

    if shutil.which("openssl") is None:
        pytest.skip("needs openssl")
    return make_cert(tmp_path_factory.mktemp("tls"))


@pytest.mark.parametrize(
    ("fault", "args", "fragment"),
    [
        ("download-redirect-http", ["download", "{job}"], "from https to http://"),
        ("api-redirect-http@key-info", ["key", "info"], "another host (http://"),
        ("part-redirect-http", ["upload", "song.wav"], "redirected a part"),
    ],
)
def test_no_redirect_from_https_to_http_is_followed(
    tmp_path: Path,
    env: dict[str, str],
    cert: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
    fault: str,
    args: list[str],
    fragment: str,
) -> None:
    from conftest import Api

    song = make_wav(tmp_path / "song.wav", seconds=0.3)
    crt, key = cert
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE"):
        env[name] = str(crt)  # this test's CA, for gsep and for the helper below
        monkeypatch.setenv(name, str(crt))
    with Sandbox(job_seconds=0, chunk_size=1 << 20, tls_cert=crt, tls_key=key) as sb:
        api = Api(sb, key=KEY)
        upload = api.upload(song.read_bytes(), name="song.wav")
        job = api.job_id(audioUploadId=upload, type="vocal")
        api.wait(job)
        sb.add_fault(fault)
        env["GSEP_BASE_URL"] = sb.base_url
        run = run_gsep([a.replace("{job}", job) for a in args], env, cwd=tmp_path)
        downgraded = [e for e in sb.requests if e.get("scheme") == "http"]
    assert_clean_error(run, 4, fragment, "not following")
    assert downgraded == []  # nothing was sent in the clear
    assert not [
        p
        for p in tmp_path.rglob("*")
        if p.is_file() and p.suffix in (".wav", ".part") and p.name != "song.wav"
    ]  # nothing saved


def test_key_information_with_control_characters_is_escaped(
    tmp_path: Path, env: dict[str, str]
) -> None:
    with Sandbox(job_seconds=0, faults=[f"key-info-text:2:{HOSTILE}"]) as sb:
        env["GSEP_BASE_URL"] = sb.base_url
        plain = run_gsep(["key", "info"], env, cwd=tmp_path)
        as_json = run_gsep(["--json", "key", "info"], env, cwd=tmp_path)
    assert plain.code == 0 and as_json.code == 0
    for run in (plain, as_json):
        for raw in (ESC, "\x07", "\u202e", "\x9b"):
            assert raw not in run.out and raw not in run.err
    assert "projectName: \\x1b]0;PWNED\\x07" in plain.out
    assert json.loads(as_json.out)["projectName"] == HOSTILE
