"""Shared fixtures: env isolation, sandboxes (per test or per module), small WAV inputs,
a raw-HTTP API helper, a throwaway PostgreSQL server (``pg_cluster``, ``pg_url``).

The sandbox tests talk to :class:`gsep_cli.sandbox.Sandbox` over real HTTP with plain
``requests`` (never the project's client library), so a bug in one cannot hide the other.
"""

from __future__ import annotations

import http.client
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pgcluster
import pytest
import requests
from audio import wav_bytes as wav_bytes  # the one WAV writer, re-exported
from clitools import Run, clean_env, run_cli

from gsep_cli.sandbox import Sandbox

HQ = "gsep_music_hq_v1"
KEY = "sandbox-test-key"
TIMEOUT = 30  # seconds, for every HTTP call made by the tests


@pytest.fixture(autouse=True)
def _isolated_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Config and state in a temp dir; no fault list leaking in from the shell."""
    root = tmp_path_factory.mktemp("gsep-env")
    monkeypatch.setenv("GSEP_CONFIG_DIR", str(root / "config"))
    monkeypatch.setenv("GSEP_STATE_DIR", str(root / "state"))
    monkeypatch.delenv("GSEP_SANDBOX_FAULTS", raising=False)


@pytest.fixture(autouse=True)
def _secrets_stay_with_their_test() -> Iterator[None]:
    """What a test registers as a secret (a ledger URL's password, drawn at random by a
    property) is forgotten after it: ``redact`` is process-wide, and a worker's later
    tests would see ordinary words (``flac``, ``0000``) turned into ``<redacted>``."""
    from gsep_cli import redact

    with redact._lock:
        before = set(redact._secrets)
    yield
    with redact._lock:
        redact._secrets.intersection_update(before)


@pytest.fixture
def sandbox() -> Iterator[Callable[..., Sandbox]]:
    """Factory: ``sandbox(**kwargs)`` starts a Sandbox (fast defaults) stopped at teardown."""
    started: list[Sandbox] = []

    def make(**kwargs: Any) -> Sandbox:
        kwargs.setdefault("job_seconds", 0)
        kwargs.setdefault("chunk_size", 4096)
        sb = Sandbox(**kwargs).start()
        started.append(sb)
        return sb

    yield make
    for sb in started:
        sb.stop()


@pytest.fixture(scope="module")
def sandbox_options() -> dict[str, Any]:
    """Keywords of ``shared_sandbox``; a module overrides this fixture to change them."""
    return {"job_seconds": 0.3, "chunk_size": 4096, "rate_limit": 0}


@pytest.fixture(scope="module")
def shared_sandbox(sandbox_options: dict[str, Any]) -> Iterator[Sandbox]:
    """One Sandbox for all the tests of a module, stopped after the last one."""
    with Sandbox(**sandbox_options) as box:
        yield box


@pytest.fixture
def sb(shared_sandbox: Sandbox) -> Sandbox:
    """The module's ``shared_sandbox``, with no faults and an empty request log for this test.

    A module whose tests each need a sandbox of their own overrides ``sb`` with ``sandbox``.
    """
    shared_sandbox.faults.clear()
    shared_sandbox.clear_requests()
    return shared_sandbox


class Api:
    """The vendor's sample flow written with plain ``requests`` against one sandbox."""

    def __init__(
        self, sb: Sandbox, key: str | None = KEY, session: requests.Session | None = None
    ) -> None:
        self.sb = sb
        self.base = sb.base_url
        self.key = key
        self.http = session or requests.Session()

    def headers(self, **extra: str) -> dict[str, str]:
        """The API key header (when a key is set) plus ``extra``."""
        found = {"x-ga-apikey": self.key} if self.key is not None else {}
        found.update(extra)
        return found

    def post(self, path: str, body: Any = None, **kwargs: Any) -> requests.Response:
        """POST ``body`` as JSON to ``base + path`` with the key."""
        kwargs.setdefault("headers", self.headers())
        return self.http.post(self.base + path, json=body, timeout=TIMEOUT, **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        """GET ``base + path`` with the key."""
        kwargs.setdefault("headers", self.headers())
        return self.http.get(self.base + path, timeout=TIMEOUT, **kwargs)

    def create_upload(self, name: str, size: int) -> dict[str, Any]:
        """``resultData`` of a successful *create upload*."""
        r = self.post("/v1/files/upload-multipart/create", {"fileName": name, "fileSize": size})
        assert r.status_code == 200, r.text
        assert r.json()["resultCode"] == 1000, r.text
        return dict(r.json()["resultData"])

    def put_parts(self, plan: dict[str, Any], data: bytes) -> list[str]:
        """PUT every chunk to its presigned URL (no key); return the unquoted ETags."""
        chunk = plan["chunkSize"]
        etags = []
        for i, url in enumerate(plan["preSignedUrl"]):
            r = self.http.put(
                url,
                data=data[i * chunk : (i + 1) * chunk],
                headers={"Content-Type": "application/octet-stream"},
                timeout=TIMEOUT,
            )
            assert r.status_code == 200, r.text
            etags.append(r.headers["ETag"].strip('"'))
        return etags

    def complete(self, upload_id: str, etags: list[str]) -> requests.Response:
        """POST *complete* with parts numbered from 1."""
        parts = [{"awsETag": e, "partNumber": i} for i, e in enumerate(etags, 1)]
        return self.post(
            "/v1/files/upload-multipart/complete", {"uploadId": upload_id, "parts": parts}
        )

    def upload(self, data: bytes, name: str = "song.wav") -> str:
        """Create, PUT every part, complete; return the upload id."""
        plan = self.create_upload(name, len(data))
        r = self.complete(plan["uploadId"], self.put_parts(plan, data))
        assert r.status_code == 200 and r.json()["resultCode"] == 1000, r.text
        return str(plan["uploadId"])

    def create_job(self, model: str = HQ, **body: Any) -> requests.Response:
        """POST a job for ``model`` with ``body``."""
        return self.post(f"/v1/{model}/jobs", body)

    def job_id(self, model: str = HQ, **body: Any) -> str:
        """Create a job that must be accepted; return its id."""
        r = self.create_job(model, **body)
        assert r.status_code == 200 and r.json()["resultCode"] == 1000, r.text
        return str(r.json()["resultData"]["jobId"])

    def job(self, job_id: str, model: str = HQ) -> dict[str, Any]:
        """``resultData`` of a successful *get job*."""
        r = self.get(f"/v1/{model}/jobs/{job_id}")
        assert r.status_code == 200 and r.json()["resultCode"] == 1000, r.text
        return dict(r.json()["resultData"])

    def wait(self, job_id: str, model: str = HQ, polls: int = 400) -> dict[str, Any]:
        """Poll (bounded) until the job is ``success`` or ``failed``."""
        for _ in range(polls):
            data = self.job(job_id, model)
            if data["status"] in ("success", "failed"):
                return data
            time.sleep(0.02)
        raise AssertionError(f"job {job_id} did not finish after {polls} polls")


def business(r: requests.Response, code: int, status: int = 200) -> str:
    """Assert a business error answer; return its ``resultMessage``."""
    assert r.status_code == status, (r.status_code, r.text)
    body = r.json()
    assert body["resultCode"] == code, body
    assert body.get("resultData") is None, body
    assert isinstance(body["resultMessage"], str) and body["resultMessage"], body
    return str(body["resultMessage"])


def raw_request(url: str, payload: bytes, timeout: float = 10) -> tuple[int, dict[str, str], bytes]:
    """Write ``payload`` as-is to ``url``'s host and port; parse the one answer.

    For what ``requests`` will not send (no Content-Length, bad headers, garbage).
    """
    parts = urlsplit(url)
    assert parts.hostname in ("127.0.0.1", "::1")
    with socket.create_connection((parts.hostname, parts.port or 80), timeout=timeout) as sock:
        sock.sendall(payload)
        answer = http.client.HTTPResponse(sock)
        answer.begin()
        headers = {k.lower(): v for k, v in answer.getheaders()}
        return answer.status, headers, answer.read()


# ---- an environment with a key, and the CLI in-process (modules may define their own) ----
@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return clean_env(tmp_path, GSEP_API_KEY="edges-key-5150", GSEP_POLL_INTERVAL="0.05")


@pytest.fixture
def gsep(
    tmp_path: Path,
    env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Callable[..., Run]:
    """``gsep(args, **env)``: the CLI in-process (where no process boundary matters),
    with ``env`` and the current folder ``tmp_path``."""
    monkeypatch.chdir(tmp_path)

    def run(args: list[str], **extra: str) -> Run:
        for name, value in {**env, **extra}.items():
            monkeypatch.setenv(name, value)
        return run_cli(capsys, args)

    return run


# ---- a throwaway PostgreSQL server (tests/pgcluster.py) -------------------------------------
@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[pgcluster.Cluster]:
    """This worker's own PostgreSQL server: made and started on first use (about a second),
    stopped and its folder removed at the end of the session, whatever the tests did.

    One per xdist worker rather than one for the run: the workers' two start side by side in
    about the time of one, no worker has to find out it is the last one to stop it, and a
    test that breaks its server cannot fail the other worker's tests.

    Fails (never skips) when there is no server or no psycopg, saying how to get them.
    """
    try:
        import psycopg  # noqa: F401  (the client the databases are made with)
    except ImportError:
        pytest.fail(
            "psycopg is not installed: pip install -e '.[postgres]' (psycopg 3, with its libpq)",
            pytrace=False,
        )
    try:
        cluster = pgcluster.start_cluster()
    except pgcluster.ClusterError as error:
        pytest.fail(f"no PostgreSQL server for the tests: {error}", pytrace=False)
    with cluster:
        yield cluster


@pytest.fixture
def pg_url(pg_cluster: pgcluster.Cluster) -> Iterator[str]:
    """A URL (``postgresql://gsep@/test_N?host=<socket dir>&port=5432``) of a new, empty
    database of this test's own, dropped after it (sessions left connected are ended)."""
    name = pg_cluster.create_database()
    yield pg_cluster.url(name)
    pg_cluster.drop_database(name)


@pytest.fixture(params=["sqlite", "postgres"])
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A new, empty ledger on each backend, as a ledger URL: a SQLite file, and a fresh
    database of the throwaway PostgreSQL cluster (``pg_url``). Tests that take it are
    the one ledger suite both backends must pass."""
    if request.param == "sqlite":
        return f"sqlite://{tmp_path / 'ledger.sqlite3'}"
    return str(request.getfixturevalue("pg_url"))
