"""The reliability fault matrix: each case runs ``gsep separate`` against the sandbox.

For every fault: the outcome (recovered, or the documented exit code with one clear line),
the files on disk (byte-identical to the sandbox's results, or absent: never partial) and
the request log (no duplicate job, the key never sent off the API host).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from audio import make_wav

from gsep_cli.cli import run
from gsep_cli.sandbox import Sandbox

SECRET = "matrix-secret-key-9876"


@pytest.fixture()
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("GSEP_API_KEY", "GAUDIO_API_KEY", "GSEP_BASE_URL", "GSEP_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GSEP_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("GSEP_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("GSEP_API_KEY", SECRET)
    monkeypatch.setenv("GSEP_POLL_INTERVAL", "0.05")
    monkeypatch.setenv("GSEP_POLL_CAP", "0.1")
    monkeypatch.setenv("GSEP_RETRY_CAP", "0.05")
    monkeypatch.setenv("GSEP_RATE_LIMIT_WAIT", "0.6")  # >= 0.5 s waits are shown
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture()
def sandbox(sandbox: Callable[..., Sandbox]) -> Sandbox:
    """A fresh sandbox per case (the cases count its jobs and uploads), default rate limit."""
    return sandbox(job_seconds=0.2, chunk_size=8192)


def _separate(sb: Sandbox, song: Path, *extra: str) -> int:
    return run(
        [
            "--base-url",
            sb.base_url,
            "separate",
            str(song),
            "--stems",
            "vocal,drum",
            "--format",
            "both",
            "-o",
            "out",
            *extra,
        ]
    )


def _assert_identical_results(sb: Sandbox, out: Path) -> None:
    jobs = [
        e
        for e in sb.requests
        if e["kind"] == "api" and e["method"] == "GET" and "/jobs/" in e["path"]
    ]
    job_id = jobs[-1]["path"].rsplit("/", 1)[-1]
    job = sb.store.find_job(job_id)
    assert job is not None
    results = sb.store.results(job)
    for stem in ("vocal", "drum"):
        for fmt in ("wav", "mp3"):
            written = out / "song" / f"{stem}.{fmt}"
            assert written.read_bytes() == results[(stem, fmt)].path.read_bytes()
    assert not list(out.rglob(".*.part")), "a temporary file was left behind"


def _assert_key_only_on_api(sb: Sandbox) -> None:
    for entry in sb.requests:
        if entry["kind"] == "api" and entry["port"] == sb.port:
            assert entry["hasApiKey"], entry
        else:
            assert not entry["hasApiKey"], f"key sent off the API host: {entry}"


RECOVERED = [
    ("api-503:3", None),
    ("api-429:2:1", "rate limited"),
    ("api-429:1", "rate limited"),  # no Retry-After: waits GSEP_RATE_LIMIT_WAIT
    ("part-reset:2", "connection lost"),
    ("part-503:2", "HTTP 503"),
    ("part-bad-etag:1", "checksum mismatch"),
    ("part-expired:1", "expired"),
    ("download-truncate:2", "download interrupted"),
    ("download-reset:1", "download interrupted"),
    ("download-503:2", "download interrupted"),
    ("download-redirect:1", None),
]


@pytest.mark.parametrize(("fault", "notice"), RECOVERED, ids=[f for f, _ in RECOVERED])
def test_recovers(
    env: Path, sandbox: Sandbox, capsys: pytest.CaptureFixture[str], fault: str, notice: str | None
) -> None:
    song = make_wav(env / "song.wav", seconds=0.5, rate=22050)
    sandbox.add_fault(fault)
    code = _separate(sandbox, song)
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert captured.out.split() == [
        f"out/song/{s}.{f}" for s in ("vocal", "drum") for f in ("wav", "mp3")
    ]
    assert sandbox.store.job_count() == 1
    _assert_identical_results(sandbox, env / "out")
    _assert_key_only_on_api(sandbox)
    if notice:
        assert notice in captured.err
    assert SECRET not in captured.err + captured.out


def test_truncated_then_range_ignored_restarts_from_zero(
    env: Path, sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    song = make_wav(env / "song.wav", seconds=0.5, rate=22050)
    sandbox.add_fault("download-truncate:1")
    sandbox.add_fault("download-no-range:1")
    assert _separate(sandbox, song) == 0, capsys.readouterr().err
    _assert_identical_results(sandbox, env / "out")
    ranged = [e for e in sandbox.requests if e["kind"] == "cdn" and "range" in e["headers"]]
    assert ranged, "the interrupted download was not resumed with Range"


def test_expired_url_restarts_upload_once(env: Path, sandbox: Sandbox) -> None:
    song = make_wav(env / "song.wav", seconds=0.5, rate=22050)
    sandbox.add_fault("part-expired:1")
    assert _separate(sandbox, song) == 0
    assert sandbox.store.upload_count() == 2  # a fresh plan, once
    assert sandbox.store.job_count() == 1


def test_expired_twice_fails_clearly(
    env: Path, sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    song = make_wav(env / "song.wav", seconds=0.5, rate=22050)
    sandbox.add_fault("part-expired:*")
    assert _separate(sandbox, song) == 4
    err = capsys.readouterr().err
    assert err.count("gsep: error:") == 1 and "expired" in err
    assert sandbox.store.upload_count() == 2 and sandbox.store.job_count() == 0


def test_job_failure(env: Path, sandbox: Sandbox, capsys: pytest.CaptureFixture[str]) -> None:
    song = make_wav(env / "song.wav", seconds=0.5, rate=22050)
    sandbox.add_fault("job-fail:1:model exploded")
    assert _separate(sandbox, song) == 7
    err = capsys.readouterr().err
    assert "model exploded" in err and "Traceback" not in err
    assert not (env / "out" / "song").exists() or not any((env / "out" / "song").iterdir())


def test_redirect_to_another_port_is_not_followed(
    env: Path, sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    song = make_wav(env / "song.wav", seconds=0.5, rate=22050)
    sandbox.add_fault("redirect:1")
    assert _separate(sandbox, song) == 4
    err = capsys.readouterr().err
    assert "redirected to another host" in err
    alt_port = int(sandbox.alt_origin.rsplit(":", 1)[1])
    assert not [e for e in sandbox.requests if e["port"] == alt_port]
    assert sandbox.store.upload_count() == 0


def test_dropped_job_creation_is_not_repeated(
    env: Path, sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    song = make_wav(env / "song.wav", seconds=0.5, rate=22050)
    assert run(["--base-url", sandbox.base_url, "upload", str(song)]) == 0
    upload_id = capsys.readouterr().out.strip()
    sandbox.add_fault("api-drop:1")  # the job IS created, then the connection is reset
    code = run(["--base-url", sandbox.base_url, "job", "create", upload_id])
    err = capsys.readouterr().err
    assert code == 6
    assert "may have reached the server" in err
    assert sandbox.store.job_count() == 1
    posts = [e for e in sandbox.requests if e["method"] == "POST" and e["path"].endswith("/jobs")]
    assert len(posts) == 1, "the job creation was sent twice"


def test_reset_before_handling_create_is_not_retried(
    env: Path, sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    song = make_wav(env / "song.wav", seconds=0.5, rate=22050)
    sandbox.add_fault("api-reset:1")
    assert _separate(sandbox, song) == 6
    creates = [e for e in sandbox.requests if e["path"].endswith("/create")]
    assert len(creates) == 1
    assert "gsep: error:" in capsys.readouterr().err


def test_status_polls_retry_resets(env: Path, sandbox: Sandbox) -> None:
    song = make_wav(env / "song.wav", seconds=0.5, rate=22050)
    assert run(["--base-url", sandbox.base_url, "separate", str(song), "--no-download"]) == 0
    sandbox.add_fault("api-reset:2")
    sandbox.add_fault("api-502:1")
    job = [e for e in sandbox.requests if e["path"].endswith("/jobs")]
    assert job
    ids = [j.job_id for j in [sandbox.store.find_job(e) for e in _job_ids(sandbox)] if j]
    assert run(["--base-url", sandbox.base_url, "job", "status", ids[0], "--wait"]) == 0


def _job_ids(sb: Sandbox) -> list[str]:
    with sb.store._lock:  # test-only peek at the sandbox's state
        return list(sb.store._jobs)


def test_persistent_503_gives_exit_6(
    env: Path, sandbox: Sandbox, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GSEP_RETRIES", "3")
    song = make_wav(env / "song.wav", seconds=0.5, rate=22050)
    sandbox.add_fault("api-503:*")
    assert _separate(sandbox, song) == 6
    err = capsys.readouterr().err
    assert err.count("gsep: error:") == 1 and "503" in err
    assert len([e for e in sandbox.requests if e["kind"] == "api"]) == 3


def test_500_on_create_is_not_retried(
    env: Path, sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    song = make_wav(env / "song.wav", seconds=0.5, rate=22050)
    sandbox.add_fault("api-500:1")  # a 500 may come after the server acted: no blind retry
    assert _separate(sandbox, song) == 6
    assert "HTTP 500" in capsys.readouterr().err
    assert len([e for e in sandbox.requests if e["path"].endswith("/create")]) == 1
