"""Bad input never crashes the sandbox, never answers a traceback or an HTML page, and the
server keeps serving afterwards."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

import pytest
import requests
from conftest import KEY, TIMEOUT, Api, business, raw_request, wav_bytes

CREATE = "/v1/files/upload-multipart/create"
JSON_HEADERS = {"x-ga-apikey": KEY, "Content-Type": "application/json"}


def _still_serves(sb) -> None:
    api = Api(sb)
    upload = api.upload(wav_bytes(frames=300))
    assert api.job_id(audioUploadId=upload, type="vocal")
    assert requests.get(sb.origin + "/_sandbox/health", timeout=TIMEOUT).json()["ok"] is True


def _clean(r: requests.Response) -> None:
    assert r.status_code < 500, (r.status_code, r.text)
    assert r.headers["Content-Type"].startswith("application/json"), r.headers
    assert "Traceback" not in r.text and "<html" not in r.text.lower()
    r.json()


@pytest.mark.parametrize(
    "raw",
    [
        b"{",
        b"{'fileName': 'a.wav'}",
        b"[1, 2]",
        b'"a string"',
        b"null",
        b"42",
        b"\xff\xfe\x00garbage",
        b"",
        b"   ",
        b"[" * 50_000 + b"]" * 50_000,
        b'{"fileName": "a.wav", "fileSize": NaN}',
        b'{"fileName": "a.wav", "fileSize": 1e999}',
    ],
)
def test_malformed_bodies_are_400(sandbox, raw: bytes) -> None:
    sb = sandbox()
    for path in (CREATE, "/v1/files/upload-multipart/complete", "/v1/gsep_music_hq_v1/jobs"):
        r = requests.post(sb.base_url + path, data=raw, headers=JSON_HEADERS, timeout=TIMEOUT)
        _clean(r)
        assert r.status_code in (200, 400), r.text
        assert r.json()["resultCode"] != 1000
    r = requests.post(sb.origin + "/_sandbox/faults", data=raw, timeout=TIMEOUT)
    assert r.status_code == 400
    _still_serves(sb)


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"fileName": "a.wav"},
        {"fileSize": 10},
        {"fileName": "a.wav", "fileSize": "12"},
        {"fileName": "a.wav", "fileSize": True},
        {"fileName": "a.wav", "fileSize": -1},
        {"fileName": "a.wav", "fileSize": 10**20},
        {"fileName": "a.wav", "fileSize": 12.0},
        {"fileName": "a.wav", "fileSize": 12.5},
        {"fileName": "a.wav", "fileSize": None},
        {"fileName": "a.wav", "fileSize": [12]},
        {"fileName": 5, "fileSize": 12},
        {"fileName": "", "fileSize": 12},
        {"fileName": ["a.wav"], "fileSize": 12},
    ],
)
def test_wrong_create_fields_are_1100(sandbox, body: dict) -> None:
    sb = sandbox()
    r = Api(sb).post(CREATE, body)
    _clean(r)
    business(r, 1100)
    assert sb.store.upload_count() == 0
    _still_serves(sb)


def test_wrong_job_fields(sandbox) -> None:
    sb = sandbox()
    api = Api(sb)
    upload = api.upload(wav_bytes(frames=300))
    for body in (
        {"audioUploadId": None, "type": "vocal"},
        {"audioUploadId": ["x"], "type": "vocal"},
        {"audioUploadId": {"id": upload}, "type": "vocal"},
        {"audioUploadId": upload, "type": 7},
        {"audioUploadId": upload, "type": {"vocal": True}},
    ):
        r = api.create_job(**body)
        _clean(r)
        assert r.json()["resultCode"] in (1100, 1105, 1122)
    assert sb.store.job_count() == 0
    _still_serves(sb)


def test_unknown_paths_are_404_json(sandbox) -> None:
    sb = sandbox()
    api = Api(sb)
    for r in (
        api.get("/v2/files/upload-multipart/create"),
        api.get("/v1/gsep_music_hq_v1/jobs/a/b"),
        api.get(""),
        api.get("/"),
        api.post("/v1/files/upload-multipart/create/extra", {"fileName": "a.wav"}),
        requests.get(sb.origin + "/", timeout=TIMEOUT),
        requests.post(sb.origin + "/developers", data=b"x" * 5000, timeout=TIMEOUT),
        requests.get(sb.origin + "/_sandbox/nothing", timeout=TIMEOUT),
        requests.post(sb.origin + "/_sandbox/health", data=b"{}", timeout=TIMEOUT),
        requests.get(sb.origin + "/cdn/results/x", timeout=TIMEOUT),
        requests.get(sb.origin + "/s3/gsep-sandbox-uploads/zz/1", timeout=TIMEOUT),
    ):
        assert r.status_code in (403, 404, 405), (r.url, r.status_code)
        assert "Traceback" not in r.text and "<html" not in r.text.lower()
    for r in (api.get("/v1/nothing/here"), requests.get(sb.origin + "/x", timeout=TIMEOUT)):
        assert r.status_code == 404
        _clean(r)
    _still_serves(sb)


def test_wrong_methods_are_405_json_with_allow(sandbox) -> None:
    sb = sandbox()
    api = Api(sb)
    cases = [
        ("GET", CREATE, "POST"),
        ("PUT", CREATE, "POST"),
        ("DELETE", "/v1/files/upload-multipart/complete", "POST"),
        ("POST", "/v1/key/info", "GET"),
        ("GET", "/v1/gsep_music_hq_v1/jobs", "POST"),
        ("DELETE", "/v1/gsep_music_hq_v1/jobs/abc", "GET"),
        ("PATCH", "/v1/gsep_music_hq_v1/jobs/abc", "GET"),
        ("OPTIONS", "/v1/key/info", "GET"),
    ]
    for method, path, allow in cases:
        r = api.http.request(
            method, sb.base_url + path, headers=api.headers(), data=b"{}", timeout=TIMEOUT
        )
        assert r.status_code == 405, (method, path)
        assert r.headers["Allow"] == allow
        _clean(r)
    r = api.http.head(sb.base_url + CREATE, headers=api.headers(), timeout=TIMEOUT)
    assert r.status_code == 405 and r.headers["Allow"] == "POST" and r.content == b""
    _still_serves(sb)


def test_huge_body_is_413_and_the_server_goes_on(sandbox) -> None:
    sb = sandbox()
    body = b'{"fileName": "' + b"a" * (2 * 1024 * 1024) + b'.wav", "fileSize": 1}'
    r = requests.post(sb.base_url + CREATE, data=body, headers=JSON_HEADERS, timeout=TIMEOUT)
    assert r.status_code == 413
    _clean(r)
    # a Content-Length far beyond what is sent: answered at once, connection closed
    status, headers, _ = raw_request(
        sb.origin,
        b"POST /developers/api/v1/files/upload-multipart/create HTTP/1.1\r\n"
        b"Host: x\r\nx-ga-apikey: k\r\nContent-Length: 999999999999\r\n\r\n{}",
    )
    assert status == 413 and headers.get("connection") == "close"
    _still_serves(sb)


def test_chunked_json_is_refused_cleanly(sandbox) -> None:
    sb = sandbox()
    r = requests.post(
        sb.base_url + CREATE,
        data=iter([b'{"fileName": "a.wav", ', b'"fileSize": 1}']),
        headers=JSON_HEADERS,
        timeout=TIMEOUT,
    )
    assert r.status_code == 411
    _clean(r)
    _still_serves(sb)


@pytest.mark.parametrize(
    "payload",
    [
        b"GARBAGE\r\n\r\n",
        b"\x00\x01\x02\x03\xff\xfe\r\n\r\n",
        b"GET\r\n\r\n",
        b"GET /developers/api/v1/key/info\r\n\r\n",  # HTTP/0.9
        b"BREW /developers/api/v1/key/info HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /developers/api/v1/key/info HTTP/9.9\r\nHost: x\r\n\r\n",
        b"GET / HTTP/1.1\r\nBad Header Line\r\n\r\n",
        b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n",
        b"POST /developers/api/v1/files/upload-multipart/create HTTP/1.1\r\nHost: x\r\n"
        b"x-ga-apikey: k\r\nContent-Length: -5\r\n\r\n{}",
        b"POST /developers/api/v1/files/upload-multipart/create HTTP/1.1\r\nHost: x\r\n"
        b"x-ga-apikey: k\r\nContent-Length: 10\r\n\r\n{}",  # body shorter: peer hangs up
        b"PUT /s3/gsep-sandbox-uploads/abc/1?X-Amz-Signature=zz HTTP/1.1\r\n"
        b"Transfer-Encoding: chunked\r\n\r\nzz\r\n",
    ],
)
def test_garbage_on_the_socket(sandbox, payload: bytes) -> None:
    sb = sandbox()
    parts = urlsplit(sb.origin)
    for _ in range(3):
        with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
            sock.sendall(payload)
            sock.shutdown(socket.SHUT_WR)
            received = b""
            while len(received) < 1_000_000:
                try:
                    block = sock.recv(65536)
                except OSError:
                    break
                if not block:
                    break
                received += block
        assert b"Traceback" not in received
        assert b"<html" not in received.lower() and b"<!DOCTYPE" not in received
        if received:
            assert received.startswith(b"HTTP/1."), received[:100]
    _still_serves(sb)


def test_half_open_connections_do_not_block_others(sandbox) -> None:
    sb = sandbox()
    parts = urlsplit(sb.origin)
    idle = [socket.create_connection((parts.hostname, parts.port), timeout=10) for _ in range(10)]
    try:
        idle[0].sendall(b"POST /developers/api/v1/key/info HTTP/1.1\r\nContent-Length: 50\r\n")
        _still_serves(sb)
    finally:
        for sock in idle:
            sock.close()


def test_every_answer_to_bad_input_is_logged_without_errors(sandbox) -> None:
    sb = sandbox()
    requests.post(sb.base_url + CREATE, data=b"{", headers=JSON_HEADERS, timeout=TIMEOUT)
    requests.get(sb.base_url + "/nope", headers=JSON_HEADERS, timeout=TIMEOUT)
    log = requests.get(sb.origin + "/_sandbox/requests", timeout=TIMEOUT).json()["requests"]
    assert [e["status"] for e in log] == [400, 404]
    assert all("error" not in e for e in log)
