"""Proxies and logging: API, S3 and CDN traffic honour HTTP(S)_PROXY / NO_PROXY, and the
verbose HTTP log never shows the key or a presigned signature."""

from __future__ import annotations

import http.client
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from audio import make_wav

from gsep_cli.cli import run
from gsep_cli.sandbox import Sandbox

SECRET = "proxy-secret-key-5555"


class _Proxy(BaseHTTPRequestHandler):
    """A tiny forwarding HTTP proxy that logs what passes through it."""

    log: list[tuple[str, str, bool]]

    def log_message(self, format: str, *args: object) -> None:
        return None

    def _forward(self) -> None:
        target = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        self.server.log.append(  # type: ignore[attr-defined]
            (self.command, self.path, "x-ga-apikey" in {k.lower() for k in self.headers})
        )
        headers = {
            k: v
            for k, v in self.headers.items()
            if not k.lower().startswith("proxy-") and k.lower() != "connection"
        }
        conn = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
        try:
            path = target.path + (f"?{target.query}" if target.query else "")
            conn.request(self.command, path, body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
        finally:
            conn.close()
        self.send_response(response.status)
        for key, value in response.getheaders():
            if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_HEAD = _forward


@pytest.fixture()
def proxy() -> Iterator[tuple[str, list[tuple[str, str, bool]]]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Proxy)
    server.daemon_threads = True
    server.log = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", server.log  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture()
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in (
        "GSEP_BASE_URL",
        "GAUDIO_API_KEY",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "NO_PROXY",
        "http_proxy",
        "https_proxy",
        "no_proxy",
        "ALL_PROXY",
        "all_proxy",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GSEP_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("GSEP_API_KEY", SECRET)
    monkeypatch.setenv("GSEP_POLL_INTERVAL", "0.05")
    monkeypatch.setenv("GSEP_POLL_CAP", "0.1")
    monkeypatch.chdir(tmp_path)
    make_wav(tmp_path / "song.wav", seconds=1.0, rate=16000, channels=1)
    return tmp_path


def test_all_traffic_goes_through_the_proxy(
    env: Path, proxy: tuple[str, list], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, log = proxy
    monkeypatch.setenv("HTTP_PROXY", url)
    with Sandbox(job_seconds=0, chunk_size=8192) as sb:
        assert run(["--base-url", sb.base_url, "separate", "song.wav", "-o", "out"]) == 0
        kinds = {urlsplit(path).path.split("/")[1] for _, path, _ in log}
        assert {"developers", "s3", "cdn"} <= kinds  # API, upload parts and downloads
        assert len(log) == len(sb.requests)  # nothing went around the proxy
        for _, path, has_key in log:
            assert has_key == path.startswith(sb.base_url), path


def test_no_proxy_bypasses_it(
    env: Path, proxy: tuple[str, list], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, log = proxy
    monkeypatch.setenv("HTTP_PROXY", url)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    with Sandbox(job_seconds=0, chunk_size=8192) as sb:
        assert run(["--base-url", sb.base_url, "separate", "song.wav", "-o", "out"]) == 0
    assert log == []


def test_verbose_log_redacts_key_and_signatures(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with Sandbox(job_seconds=0, chunk_size=8192) as sb:
        assert run(["-v", "--base-url", sb.base_url, "separate", "song.wav", "-o", "out"]) == 0
    err = capsys.readouterr().err
    assert "-> POST" in err and "<- 200" in err
    assert "-> PUT" in err and "-> GET" in err  # part uploads and downloads are logged too
    assert "X-Amz-Signature=<redacted>" in err and "Signature=<redacted>" in err
    assert SECRET not in err
    for line in err.splitlines():
        for name in ("X-Amz-Signature=", "Signature="):
            if name in line:
                assert f"{name}<redacted>" in line, line
