"""Servers and networks that misbehave: answers that never come or come a byte at a time,
statuses and text outside the contract, bodies that lie about their length or encoding,
redirects to plain http; and a sandbox that still stops at once around all of them.

Like the other sandbox tests, these speak plain HTTP (``requests``, raw sockets), never
the project's client library, and no test waits more than a second or two.
"""

from __future__ import annotations

import socket
import threading
import time
from urllib.parse import urlsplit

import pytest
import requests
from conftest import HQ, KEY, TIMEOUT, Api, wav_bytes

from gsep_cli.sandbox import Sandbox, server

KEY_INFO = "/developers/api/v1/key/info"


# ---- helpers ------------------------------------------------------------------------------
def _handler_threads() -> set[threading.Thread]:
    """The live threads that serve one connection each (socketserver names them so)."""
    return {t for t in threading.enumerate() if "process_request_thread" in t.name}


def _until(condition, seconds: float = 1.0) -> bool:
    """Poll ``condition`` for up to ``seconds`` (for work done on a server thread)."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def _connect(origin: str, timeout: float = TIMEOUT) -> socket.socket:
    parts = urlsplit(origin)
    return socket.create_connection((parts.hostname, parts.port), timeout=timeout)


def _get_request(path: str, *headers: str) -> bytes:
    lines = [f"GET {path} HTTP/1.1", "Host: sandbox", f"x-ga-apikey: {KEY}", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _finished_wav_url(sb: Sandbox) -> str:
    api = Api(sb)
    upload = api.upload(wav_bytes(frames=300))
    return str(
        api.wait(api.job_id(audioUploadId=upload, type="vocal"))["downloadUrl"]["vocal"]["wav"]
    )


def _closed_within(sock: socket.socket, seconds: float) -> bool:
    """Whether the server closes ``sock`` (EOF or reset) within ``seconds``, nothing else
    arriving first."""
    sock.settimeout(seconds)
    try:
        return sock.recv(65536) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


# ---- stop() with connections open ---------------------------------------------------------
def test_stop_ends_a_waiting_fault_and_idle_connections_at_once() -> None:
    before = _handler_threads()
    sb = Sandbox(job_seconds=0, faults=["api-late@key-info:1:30"]).start()
    try:
        late = _connect(sb.origin)
        late.sendall(_get_request(KEY_INFO))
        idle = _connect(sb.alt_origin)  # connected, sends nothing
        assert _until(lambda: any(e["fault"] == "api-late" for e in sb.requests))
    finally:
        started = time.monotonic()
        sb.stop()
        stopped_in = time.monotonic() - started
    assert stopped_in < 2
    with late, idle:
        assert _closed_within(late, 1.0)  # the late answer is never sent
        assert _closed_within(idle, 1.0)
    assert not [t for t in _handler_threads() - before if t.is_alive()]


# ---- hangs --------------------------------------------------------------------------------
def test_api_hang_reads_but_never_handles_nor_answers(sandbox) -> None:
    sb = sandbox(faults=["api-hang@job-create"])
    api = Api(sb)
    upload = api.upload(wav_bytes(frames=300))  # other routes: untouched
    started = time.monotonic()
    with pytest.raises(requests.ReadTimeout):
        api.http.post(
            f"{api.base}/v1/{HQ}/jobs",
            json={"audioUploadId": upload, "type": "vocal"},
            headers=api.headers(),
            timeout=(TIMEOUT, 0.4),
        )
    assert time.monotonic() - started < 2
    assert sb.store.job_count() == 0 and sb.store.credits_used == 0  # nothing was done
    assert _until(lambda: sb.requests[-1]["status"] == "hang")
    assert sb.requests[-1]["fault"] == "api-hang"
    assert api.job_id(audioUploadId=upload, type="vocal")  # so the retry is safe
    assert sb.store.job_count() == 1
    assert sb.faults.describe() == ["api-hang@job-create:0"]


def test_a_hang_holds_its_connection_while_others_are_served(sandbox) -> None:
    sb = sandbox(faults=["api-hang@key-info"])
    before = _handler_threads()
    with _connect(sb.origin) as held:
        held.sendall(_get_request(KEY_INFO))
        assert _until(lambda: sb.requests and sb.requests[-1]["status"] == "hang")
        holding = _handler_threads() - before
        assert len(holding) == 1
        r = requests.get(sb.base_url + "/v1/key/info", headers={"x-ga-apikey": KEY}, timeout=2)
        assert r.status_code == 200  # served meanwhile, by another thread
        assert not _closed_within(held, 0.3)  # still open, still no answer
    # the client closed it: the handler notices within a tick or two
    assert _until(lambda: not any(t.is_alive() for t in holding), 1.0)


def test_part_hang_reads_the_body_and_stores_nothing(sandbox) -> None:
    sb = sandbox(faults=["part-hang"])
    api = Api(sb)
    data = wav_bytes(frames=300)[:4096]
    plan = api.create_upload("a.wav", len(data))
    with pytest.raises(requests.ReadTimeout):
        requests.put(plan["preSignedUrl"][0], data=data, timeout=(TIMEOUT, 0.4))
    assert sb.store.get_upload(plan["uploadId"]).parts == {}
    assert [e["status"] for e in sb.requests if e["kind"] == "s3"] == ["hang"]
    assert requests.put(plan["preSignedUrl"][0], data=data, timeout=TIMEOUT).status_code == 200
    assert set(sb.store.get_upload(plan["uploadId"]).parts) == {1}


def test_download_hang_spends_on_gets_only(sandbox) -> None:
    sb = sandbox()
    url = _finished_wav_url(sb)
    sb.add_fault("download-hang")
    assert requests.head(url, timeout=TIMEOUT).status_code == 200  # a HEAD does not spend it
    with pytest.raises(requests.ReadTimeout):
        requests.get(url, timeout=(TIMEOUT, 0.4))
    assert sb.requests[-1]["fault"] == "download-hang"
    assert requests.get(url, timeout=TIMEOUT).status_code == 200
    assert sb.faults.describe() == ["download-hang:0"]


def test_a_hang_is_closed_after_the_hold_limit(sandbox, monkeypatch) -> None:
    monkeypatch.setattr(server, "HOLD_LIMIT", 0.3)  # 10 minutes in real life
    sb = sandbox(faults=["api-hang"])
    with _connect(sb.origin) as held:
        started = time.monotonic()
        held.sendall(_get_request(KEY_INFO))
        assert _closed_within(held, 2.0)  # closed, never answered
        assert 0.25 < time.monotonic() - started < 1.5
