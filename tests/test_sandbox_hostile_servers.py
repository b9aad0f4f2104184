"""Servers and networks that misbehave: answers that never come or come a byte at a time,
statuses and text outside the contract, bodies that lie about their length or encoding,
redirects to plain http; and a sandbox that still stops at once around all of them.

Like the other sandbox tests, these speak plain HTTP (``requests``, raw sockets), never
the project's client library, and no test waits more than a second or two.
"""

from __future__ import annotations

import gzip
import json
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest
import requests
from conftest import HQ, KEY, TIMEOUT, Api, wav_bytes
from test_sandbox_cli import _read_line, _serve

from gsep_cli.sandbox import FaultSyntaxError, Sandbox, exchange, parse_fault, parse_fault_list

KEY_INFO = "/developers/api/v1/key/info"
CREATE = "/v1/files/upload-multipart/create"


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


# ---- syntax -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "spec",
    [
        "api-hang@job-create:2",
        "part-hang:*",
        "download-hang",
        "api-drip@key-info:1:0.5",
        "api-drip:3",
        "download-drip:1:2048",
    ],
)
def test_new_kinds_round_trip(spec: str) -> None:
    fault = parse_fault(spec)
    assert parse_fault(fault.describe()) == fault


def test_drip_rates() -> None:
    assert parse_fault("api-drip").drip_rate() == 1.0
    assert parse_fault("download-drip:1: 0.5 ").drip_rate() == 0.5
    assert parse_fault("api-drip@job-get:1:300").route == "job-get"


@pytest.mark.parametrize(
    "spec",
    ["api-drip:1:0", "api-drip:1:-2", "api-drip:1:fast", "download-drip:1:inf", "api-drip:1:nan"],
)
def test_bad_drip_rates(spec: str) -> None:
    with pytest.raises(FaultSyntaxError):
        parse_fault(spec)


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
    monkeypatch.setattr(exchange, "HOLD_LIMIT", 0.3)  # 10 minutes in real life
    sb = sandbox(faults=["api-hang"])
    with _connect(sb.origin) as held:
        started = time.monotonic()
        held.sendall(_get_request(KEY_INFO))
        assert _closed_within(held, 2.0)  # closed, never answered
        assert 0.25 < time.monotonic() - started < 1.5


# ---- drips --------------------------------------------------------------------------------
def _read_for(sock: socket.socket, seconds: float) -> bytes:
    """Whatever arrives on ``sock`` within ``seconds`` (less if the server closes it)."""
    got = b""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            break
        if not chunk:
            break
        got += chunk
    return got


def _head_and_body(answer: bytes) -> tuple[dict[str, str], bytes]:
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return {"status": lines[0], **headers}, body


def test_api_drip_sends_the_headers_at_once_then_a_byte_a_second(sandbox) -> None:
    sb = sandbox(faults=["api-drip@key-info"])
    before = _handler_threads()
    with _connect(sb.origin) as sock:
        sock.sendall(_get_request(KEY_INFO))
        headers, body = _head_and_body(_read_for(sock, 0.6))
        dripping = _handler_threads() - before
        assert headers["status"].startswith("HTTP/1.1 200")
        assert int(headers["Content-Length"]) > 100
        assert headers["Connection"] == "close"  # a dripped answer ends its connection
        assert body == b"{"  # one byte, the next one a second later
    # the client left: the drip notices at its next look, not at its next byte
    assert len(dripping) == 1
    assert _until(lambda: not any(t.is_alive() for t in dripping), 0.5)
    assert sb.requests[-1]["fault"] == "api-drip" and sb.requests[-1]["status"] == 200


def test_api_drip_handles_the_request_at_once_and_sends_it_all(sandbox) -> None:
    sb = sandbox(faults=["api-drip@job-create:1:200"])
    api = Api(sb)
    upload = api.upload(wav_bytes(frames=300))
    with _connect(sb.origin) as sock:
        started = time.monotonic()
        body = json.dumps({"audioUploadId": upload, "type": "vocal"}).encode()
        sock.sendall(
            f"POST /developers/api/v1/{HQ}/jobs HTTP/1.1\r\nHost: sandbox\r\n"
            f"x-ga-apikey: {KEY}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        assert _until(lambda: sb.store.job_count() == 1, 0.2)  # handled as usual
        headers, answer = _head_and_body(_read_for(sock, 3.0))  # until the server closes
    elapsed = time.monotonic() - started
    assert len(answer) == int(headers["Content-Length"])  # ~90 bytes, 10 a tick
    assert 0.25 < elapsed < 2
    assert json.loads(answer)["resultData"]["jobId"]
    assert sb.store.job_count() == 1
    assert api.get("/v1/key/info").status_code == 200  # the count is spent


@pytest.mark.slow
def test_download_drip_keeps_the_true_length(sandbox) -> None:
    sb = sandbox()
    url = _finished_wav_url(sb)
    full = requests.get(url, timeout=TIMEOUT).content
    rate = len(full) / 0.5  # the whole file in about half a second
    sb.add_fault(f"download-drip:1:{rate:g}")
    started = time.monotonic()
    with requests.get(url, stream=True, timeout=TIMEOUT) as r:
        assert time.monotonic() - started < 0.3  # the headers, at once
        assert r.status_code == 200 and int(r.headers["Content-Length"]) == len(full)
        assert r.raw.read(decode_content=False) == full
    assert 0.4 < time.monotonic() - started < 2
    assert sb.requests[-1]["fault"] == "download-drip"
    # a range drips too, with its own length
    sb.add_fault(f"download-drip:1:{rate:g}")
    r = requests.get(url, headers={"Range": "bytes=100-"}, timeout=TIMEOUT)
    assert r.status_code == 206 and r.content == full[100:]


def test_stop_is_prompt_with_a_hang_and_a_drip_in_progress() -> None:
    before = _handler_threads()
    sb = Sandbox(job_seconds=0, faults=["api-hang@key-info", "api-drip@key-info:1:1"]).start()
    try:
        hung, dripped = _connect(sb.origin), _connect(sb.origin)
        hung.sendall(_get_request(KEY_INFO))
        assert _until(lambda: [e["status"] for e in sb.requests] == ["hang"])
        dripped.sendall(_get_request(KEY_INFO))
        assert b"\r\n\r\n{" in _read_for(dripped, 0.3)  # the drip has begun
    finally:
        started = time.monotonic()
        sb.stop()
        stopped_in = time.monotonic() - started
    assert stopped_in < 2
    with hung, dripped:
        assert _closed_within(hung, 1.0)
        assert _closed_within(dripped, 1.0)  # no second byte: closed
    assert not [t for t in _handler_threads() - before if t.is_alive()]


# ---- hostile text -------------------------------------------------------------------------
# An xterm title change, a screen clear, colours, a right-to-left override, a carriage
# return and a newline: what a terminal must never receive raw from a server.
HOSTILE = "\x1b]0;PWNED\x07\x1b[2J\x1b[31mred\x1b[0m: done; ok @x \u202egpj.exe\r\n"
# A terminal hyperlink: ';;' inside, then a URL whose 'https:' looks like a KIND:COUNT
LINK = "\x1b]8;;https://evil.example/\x1b\\click\x1b]8;;\x1b\\"


@pytest.mark.parametrize("text", [HOSTILE, LINK, " padded\t", "a:b:c", "x;redirect-ish"])
def test_text_args_are_kept_whole(text: str) -> None:
    for kind in ("job-fail", "key-info-text"):
        fault = parse_fault(f"{kind}:2:{text}")
        assert fault.arg == text and fault.remaining == 2
        assert parse_fault(fault.describe()) == fault


def test_the_list_form_keeps_semicolons_that_do_not_start_a_fault() -> None:
    faults = parse_fault_list(f"job-fail:1:{HOSTILE};key-info-text:*:{LINK}; API-503@job-get:2")
    assert [f.kind for f in faults] == ["job-fail", "key-info-text", "api-503"]
    assert [f.arg for f in faults] == [HOSTILE, LINK, None]
    assert faults[2].route == "job-get"
    faults = parse_fault_list("job-fail:1:disk full; retry later;redirect;;job-fail:1:x;")
    assert [f.describe() for f in faults] == [
        "job-fail:1:disk full; retry later",
        "redirect:1",
        "job-fail:1:x",
    ]
    with pytest.raises(FaultSyntaxError):  # a kind with no text ARG takes no ';' either
        parse_fault_list("api-503;no-such-kind")


def test_key_info_text_needs_its_text() -> None:
    for spec in ("key-info-text", "key-info-text:2", "key-info-text:1:"):
        with pytest.raises(FaultSyntaxError):
            parse_fault(spec)


def test_job_fail_and_key_info_send_the_text_unchanged(sandbox) -> None:
    sb = sandbox(faults=[f"job-fail:1:{HOSTILE}", f"key-info-text:2:{LINK}"])
    api = Api(sb)
    for _ in range(2):
        r = api.get("/v1/key/info")
        data = r.json()["resultData"]
        assert data["projectName"] == data["description"] == LINK
        assert "\\u001b" in r.text  # JSON escapes control characters: the client decodes them
    assert api.get("/v1/key/info").json()["resultData"]["projectName"] == "gsep sandbox"
    upload = api.upload(wav_bytes(frames=300))
    failed = api.wait(api.job_id(audioUploadId=upload, type="vocal"))
    assert failed["status"] == "failed" and failed["errorMessage"] == HOSTILE
    # the same through the run-time control endpoint
    r = requests.post(
        sb.origin + "/_sandbox/faults", json={"fault": f"job-fail:1:{LINK}"}, timeout=TIMEOUT
    )
    assert r.json()["fault"] == f"job-fail:1:{LINK}"
    assert api.wait(api.job_id(audioUploadId=upload, type="vocal"))["errorMessage"] == LINK


def test_text_that_is_not_utf8_goes_out_as_given(sandbox) -> None:
    """Bytes from argv or the environment that are not UTF-8 arrive as surrogate escapes:
    they are sent as those bytes (invalid UTF-8 in a JSON body), not as a 500."""
    sb = sandbox(faults=["key-info-text:1:bad \udcff byte", "key-info-text:1:lone \ud800"])
    api = Api(sb)
    r = api.get("/v1/key/info")
    assert r.status_code == 200 and b'"projectName": "bad \xff byte"' in r.content
    r = api.get("/v1/key/info")  # not from a byte: a JSON \u escape
    assert r.status_code == 200 and r.json()["resultData"]["projectName"] == "lone \ud800"


def test_serve_keeps_hostile_text_from_the_option_and_the_env() -> None:
    env = {"GSEP_SANDBOX_FAULTS": f"job-fail:1:{HOSTILE};api-503@upload-create"}
    with _serve("--fault", f"key-info-text:1:{LINK}", env=env) as proc:
        base = _read_line(proc).strip()
        origin = base.removesuffix("/developers/api")
        faults = requests.get(origin + "/_sandbox/faults", timeout=TIMEOUT).json()["faults"]
        assert faults == [
            f"key-info-text:1:{LINK}",
            f"job-fail:1:{HOSTILE}",
            "api-503@upload-create:1",
        ]
        api = Api(SimpleNamespace(base_url=base))
        assert api.get("/v1/key/info").json()["resultData"]["description"] == LINK
        assert api.post(CREATE, {"fileName": "a.wav", "fileSize": 5}).status_code == 503
        upload = api.upload(wav_bytes(frames=300))
        assert api.wait(api.job_id(audioUploadId=upload, type="vocal"))["errorMessage"] == HOSTILE
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 0 and "Traceback" not in err


# ---- codes in any body --------------------------------------------------------------------
def test_api_status_faults_carry_any_code_and_message(sandbox) -> None:
    sb = sandbox(
        faults=[
            "api-401@key-info:1:401:Invalid API key: verification failed.",
            "api-400:1:1100",
            "api-200@job-create:1:1102:not enough credits",
            "api-403:1:1104:",
            f"api-500:1:-7:{HOSTILE}",
        ]
    )
    api = Api(sb)
    r = api.get("/v1/key/info")
    assert r.status_code == 401
    assert r.json() == {"resultCode": 401, "resultMessage": "Invalid API key: verification failed."}
    r = api.get("/v1/key/info")  # the routed one is spent: the next one applies
    assert r.status_code == 400
    assert r.json() == {"resultCode": 1100, "resultMessage": "sandbox fault: HTTP 400"}
    r = api.get("/v1/key/info")  # not job-create: skipped, the one after it applies
    assert r.status_code == 403 and r.json() == {"resultCode": 1104, "resultMessage": ""}
    r = api.post(CREATE, {"fileName": "a.wav", "fileSize": 3})
    assert r.status_code == 500 and r.json() == {"resultCode": -7, "resultMessage": HOSTILE}
    upload = api.upload(wav_bytes(frames=300))
    r = api.create_job(audioUploadId=upload, type="vocal")
    assert r.status_code == 200  # a business code with HTTP 200, and nothing created
    assert r.json() == {"resultCode": 1102, "resultMessage": "not enough credits"}
    assert sb.store.job_count() == 0
    assert api.job_id(audioUploadId=upload, type="vocal")


@pytest.mark.parametrize("spec", ["api-400:1:abc", "api-400:1:1.5:x", "api-401:1::msg"])
def test_bad_result_codes(spec: str) -> None:
    with pytest.raises(FaultSyntaxError):
        parse_fault(spec)


def test_result_code_args_round_trip() -> None:
    for spec in ("api-401@job-get:2:401:Invalid: key", "api-400:1:1100", "api-403:*:1104:"):
        fault = parse_fault(spec)
        assert fault.describe() == spec and parse_fault(spec) == fault
    assert parse_fault("api-429:1:7").arg == "7"  # 429's ARG stays Retry-After


# ---- statuses outside the contract --------------------------------------------------------
def test_job_status_replaces_only_the_status(sandbox) -> None:
    sb = sandbox()
    api = Api(sb)
    upload = api.upload(wav_bytes(frames=300))
    job_id = api.job_id(audioUploadId=upload, type="vocal")
    real = api.wait(job_id)
    for spec in ('job-status:1:"cancelled"', "job-status:2:null", "job-status:1:5"):
        sb.add_fault(spec)
    for spec in ("job-status:1:{}", "job-status:1: true ", "job-status:1:missing"):
        sb.add_fault(spec)
    assert api.get(f"/v1/{HQ}/jobs/nope").json()["resultCode"] == 1104  # not spent
    assert api.job_id(audioUploadId=upload, type="vocal")  # nor by a job creation
    seen = [api.job(job_id) for _ in range(7)]
    assert [d.get("status", "<missing>") for d in seen] == [
        "cancelled",
        None,
        None,
        5,
        {},
        True,
        "<missing>",
    ]
    for data in seen[:6]:  # the rest of the answer is the real one, in the same order
        assert list(data) == list(real) and data == {**real, "status": data["status"]}
    assert seen[6] == {k: v for k, v in real.items() if k != "status"}
    assert api.job(job_id) == real
    assert [e["fault"] for e in sb.requests[-8:]] == ["job-status"] * 7 + [None]


def test_job_status_on_an_unfinished_job_has_no_urls(sandbox) -> None:
    sb = sandbox(job_seconds=50, faults=['job-status:1:"success"'])
    api = Api(sb)
    job_id = api.job_id(audioUploadId=api.upload(wav_bytes(frames=300)), type="vocal")
    data = api.job(job_id)  # says success, but the job is still waiting: no URL, no expiry
    assert data["status"] == "success" and "downloadUrl" not in data
    assert data["expireAt"] is None and data["errorMessage"] is None
    assert api.job(job_id)["status"] == "waiting"


def test_job_status_on_a_failed_job_keeps_its_message(sandbox) -> None:
    sb = sandbox(faults=["job-fail:1:out of memory", 'job-status:1:"running"'])
    api = Api(sb)
    job_id = api.job_id(audioUploadId=api.upload(wav_bytes(frames=300)), type="vocal")
    assert _until(lambda: sb.store.find_job(job_id).status_at(sb.now()) == "failed")
    data = api.job(job_id)
    assert data["status"] == "running" and data["errorMessage"] == "out of memory"


@pytest.mark.parametrize(
    "spec", ["job-status", "job-status:2", "job-status:1:cancelled", "job-status:1:Missing"]
)
def test_job_status_needs_json_or_missing(spec: str) -> None:
    with pytest.raises(FaultSyntaxError):
        parse_fault(spec)


def test_job_status_round_trips_in_the_list_form() -> None:
    faults = parse_fault_list('job-status:2:"can;celled";job-status:*:{"a": [1, 2]};api-503')
    assert [f.arg for f in faults] == ['"can;celled"', '{"a": [1, 2]}', None]
    assert all(parse_fault(f.describe()) == f for f in faults)


# ---- lying bodies on results --------------------------------------------------------------
def test_download_range_slice_answers_200_with_only_the_slice(sandbox) -> None:
    sb = sandbox()
    url = _finished_wav_url(sb)
    full = requests.get(url, timeout=TIMEOUT).content
    sb.add_fault("download-range-slice:2")
    r = requests.get(url, timeout=TIMEOUT)  # no Range: untouched, not spent
    assert r.status_code == 200 and r.content == full
    assert sb.faults.describe() == ["download-range-slice:2"]
    for asked, part in (("bytes=100-199", full[100:200]), ("bytes=-50", full[-50:])):
        r = requests.get(url, headers={"Range": asked}, timeout=TIMEOUT)
        assert r.status_code == 200 and r.content == part
        assert int(r.headers["Content-Length"]) == len(part) < len(full)
        assert "Content-Range" not in r.headers
    r = requests.get(url, headers={"Range": "bytes=100-199"}, timeout=TIMEOUT)
    assert r.status_code == 206 and r.headers["Content-Range"] == f"bytes 100-199/{len(full)}"


def test_download_gzip_compresses_whatever_was_asked(sandbox) -> None:
    sb = sandbox()
    url = _finished_wav_url(sb)
    full = requests.get(url, timeout=TIMEOUT).content
    sb.add_fault("download-gzip:2")
    assert requests.head(url, timeout=TIMEOUT).headers.get("Content-Encoding") is None
    for headers in ({"Accept-Encoding": "identity"}, {"Range": "bytes=100-"}):
        with requests.get(url, headers=headers, stream=True, timeout=TIMEOUT) as r:
            assert r.status_code == 200 and r.headers["Content-Encoding"] == "gzip"
            packed = r.raw.read(decode_content=False)
        assert int(r.headers["Content-Length"]) == len(packed) != len(full)
        assert gzip.decompress(packed) == full  # the whole file, even to a Range
    r = requests.get(url, timeout=TIMEOUT)
    assert "Content-Encoding" not in r.headers and r.content == full
    assert [e["fault"] for e in sb.requests[-3:]] == ["download-gzip", "download-gzip", None]


# ---- redirects to plain http --------------------------------------------------------------
def test_redirect_http_faults_point_at_plain_http(sandbox) -> None:
    sb = sandbox()
    url = _finished_wav_url(sb)
    assert sb.plain_origin == sb.alt_origin and sb.plain_origin.startswith("http://")
    sb.add_fault("api-redirect-http@upload-create")
    api = Api(sb)
    r = api.post(CREATE, {"fileName": "a.wav", "fileSize": 3}, allow_redirects=False)
    assert (
        r.status_code == 302
        and r.headers["Location"] == sb.plain_origin + "/developers/api" + CREATE
    )
    uploads = sb.store.upload_count()
    sb.add_fault("download-redirect-http")
    r = requests.get(url, allow_redirects=False, timeout=TIMEOUT)
    assert r.status_code == 302
    assert r.headers["Location"] == sb.plain_origin + url.removeprefix(sb.origin)
    plan = api.create_upload("b.wav", 10)
    assert sb.store.upload_count() == uploads + 1  # the redirected create did nothing
    sb.add_fault("part-redirect-http")
    part_url = plan["preSignedUrl"][0]
    r = requests.put(part_url, data=b"0123456789", allow_redirects=False, timeout=TIMEOUT)
    assert r.status_code == 302 and "<Error>" in r.text
    assert r.headers["Location"] == sb.plain_origin + part_url.removeprefix(sb.origin)
    assert sb.store.get_upload(plan["uploadId"]).parts == {}  # read, not stored
    assert requests.put(part_url, data=b"0123456789", timeout=TIMEOUT).status_code == 200
    faults = [e["fault"] for e in sb.requests if e["fault"]]
    assert faults == ["api-redirect-http", "download-redirect-http", "part-redirect-http"]


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1 (as in test_tls.py)."""
    if shutil.which("openssl") is None:
        pytest.skip("needs openssl")
    folder = tmp_path_factory.mktemp("tls")
    key, crt = folder / "key.pem", folder / "cert.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes"),
            *("-keyout", str(key), "-out", str(crt), "-days", "2", "-subj", "/CN=127.0.0.1"),
            *("-addext", "subjectAltName=IP:127.0.0.1"),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return str(crt), str(key)


def _trusting(ca_file: str) -> requests.Session:
    """A session that trusts ``ca_file`` whatever the environment says (REQUESTS_CA_BUNDLE
    would otherwise win over ``session.verify``)."""
    session = requests.Session()
    session.trust_env = False
    session.verify = ca_file
    return session


def test_with_tls_the_downgrade_target_is_a_plain_listener_of_its_own(sandbox, cert) -> None:
    sb = sandbox(tls_cert=cert[0], tls_key=cert[1])
    plain = urlsplit(sb.plain_origin)
    assert sb.origin.startswith("https://") and sb.alt_origin.startswith("https://")
    assert plain.scheme == "http" and plain.port not in (sb.port, urlsplit(sb.alt_origin).port)
    session = _trusting(cert[0])
    api = Api(sb, session=session)
    upload = api.upload(wav_bytes(frames=300))
    url = str(
        api.wait(api.job_id(audioUploadId=upload, type="vocal"))["downloadUrl"]["vocal"]["wav"]
    )
    full = session.get(url, timeout=TIMEOUT).content
    # a careful client reads the 302 and stops: nothing reaches the plain listener
    sb.add_fault("api-redirect-http@key-info")
    sb.add_fault("download-redirect-http")
    r = api.get("/v1/key/info", allow_redirects=False)
    assert r.status_code == 302 and r.headers["Location"] == sb.plain_origin + KEY_INFO
    r = session.get(url, allow_redirects=False, timeout=TIMEOUT)
    assert r.status_code == 302
    assert r.headers["Location"] == sb.plain_origin + url.removeprefix(sb.origin)
    assert not [e for e in sb.requests if e["port"] == plain.port]
    # a naive one follows: the key and the request go out in clear, and the log shows it
    sb.add_fault("api-redirect-http@key-info")
    sb.add_fault("download-redirect-http")
    r = api.get("/v1/key/info")
    assert r.status_code == 200 and r.url.startswith("http://")  # it serves the same API
    assert session.get(url, timeout=TIMEOUT).content == full  # ...and the same results
    clear = [e for e in sb.requests if e["port"] == plain.port]
    assert [(e["scheme"], e["kind"], e["hasApiKey"]) for e in clear] == [
        ("http", "api", True),
        ("http", "cdn", False),
    ]
    assert {e["scheme"] for e in sb.requests if e["port"] != plain.port} == {"https"}


def test_with_tls_a_part_redirect_goes_to_plain_http_too(sandbox, cert) -> None:
    sb = sandbox(tls_cert=cert[0], tls_key=cert[1], faults=["part-redirect-http"])
    session = _trusting(cert[0])
    plan = Api(sb, session=session).create_upload("a.wav", 10)
    part_url = plan["preSignedUrl"][0]
    r = session.put(part_url, data=b"0123456789", allow_redirects=False, timeout=TIMEOUT)
    assert r.status_code == 302
    assert r.headers["Location"] == sb.plain_origin + part_url.removeprefix(sb.origin)
    assert sb.store.get_upload(plan["uploadId"]).parts == {}
    assert not [e for e in sb.requests if e["scheme"] == "http"]


def test_stop_closes_the_plain_listener_too(cert) -> None:
    sb = Sandbox(job_seconds=0, tls_cert=cert[0], tls_key=cert[1]).start()
    plain = sb.plain_origin
    assert requests.get(plain + "/_sandbox/health", timeout=TIMEOUT).json()["ok"] is True
    sb.stop()
    with pytest.raises(requests.ConnectionError):
        requests.get(plain + "/_sandbox/health", timeout=2)


def test_with_tls_hangs_and_drips_end_at_stop_too(cert) -> None:
    before = _handler_threads()
    sb = Sandbox(
        job_seconds=0,
        tls_cert=cert[0],
        tls_key=cert[1],
        faults=["api-hang@key-info", "api-drip@key-info:1:1"],
    ).start()
    context = ssl.create_default_context(cafile=cert[0])
    try:
        hung = context.wrap_socket(_connect(sb.origin), server_hostname="127.0.0.1")
        dripped = context.wrap_socket(_connect(sb.origin), server_hostname="127.0.0.1")
        hung.sendall(_get_request(KEY_INFO))
        assert _until(lambda: [e["status"] for e in sb.requests] == ["hang"])
        dripped.sendall(_get_request(KEY_INFO))
        assert b"\r\n\r\n{" in _read_for(dripped, 0.3)
        assert not _closed_within(hung, 0.2)  # held, unanswered
        r = _trusting(cert[0]).get(sb.base_url + "/v1/key/info", headers={"x-ga-apikey": KEY})
        assert r.status_code == 200  # served meanwhile
    finally:
        started = time.monotonic()
        sb.stop()
        stopped_in = time.monotonic() - started
    assert stopped_in < 2
    with hung, dripped:
        assert _closed_within(hung, 1.0)
        assert _closed_within(dripped, 1.0)
    assert not [t for t in _handler_threads() - before if t.is_alive()]
