"""The hostile-behaviour faults a client must survive: an answer that comes after the client
gave up (``api-late``), result URLs that refuse HEAD (``download-no-head``), jobs whose
results have already expired (``job-expired``) and part uploads read slowly (``part-slow``).

Like the other sandbox tests, these speak plain HTTP (``requests``, sockets), never the
project's client library, and keep every wait under two seconds.
"""

from __future__ import annotations

import hashlib
import json
import re
import socket
import threading
import time
from datetime import datetime, timezone
from urllib.parse import urlsplit

import pytest
import requests
from conftest import HQ, KEY, TIMEOUT, Api, business, wav_bytes

from gsep_cli.sandbox import Sandbox


def _uploaded(sb: Sandbox) -> tuple[Api, str]:
    api = Api(sb)
    return api, api.upload(wav_bytes(frames=300))


def _raw_job_request(sb: Sandbox, upload_id: str) -> bytes:
    """A job creation written by hand, to be sent on a socket we control."""
    body = json.dumps({"audioUploadId": upload_id, "type": "vocal"}).encode()
    head = (
        f"POST /developers/api/v1/{HQ}/jobs HTTP/1.1\r\n"
        f"Host: {urlsplit(sb.origin).netloc}\r\n"
        f"x-ga-apikey: {KEY}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode() + body


def _until(condition, seconds: float = 1.0) -> bool:
    """Poll ``condition`` for up to ``seconds`` (for work done on a server thread)."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def _logged(sb: Sandbox, seq: int) -> dict:
    """The request-log entry ``seq`` as it is now (``sb.requests`` hands out copies)."""
    return next(entry for entry in sb.requests if entry["seq"] == seq)


# ---- api-late -----------------------------------------------------------------------------
@pytest.mark.slow
def test_api_late_creates_the_job_before_the_client_gives_up(sandbox, capfd) -> None:
    sb = sandbox(verbose=True, faults=["api-late@job-create:1:1.5"])
    api, upload = _uploaded(sb)
    capfd.readouterr()  # the verbose request lines so far
    started = time.monotonic()
    with pytest.raises(requests.ReadTimeout):
        api.http.post(
            f"{api.base}/v1/{HQ}/jobs",
            json={"audioUploadId": upload, "type": "vocal"},
            headers=api.headers(),
            timeout=(TIMEOUT, 0.5),
        )
    assert time.monotonic() - started < 1.4  # the client gave up before the answer
    assert sb.store.job_count() == 1  # ...yet the job exists, and was charged
    assert sb.store.credits_used == 1
    seq = sb.requests[-1]["seq"]
    assert sb.requests[-1]["fault"] == "api-late"
    # the late answer meets a closed connection: dropped quietly, the server goes on
    assert _until(lambda: _logged(sb, seq)["status"] == 200, 3.0)  # the answer was tried
    time.sleep(0.05)
    # usually EPIPE or a reset, unless the peer's reset came after the last write
    error = _logged(sb, seq).get("error", "BrokenPipeError")
    assert error.startswith(("BrokenPipeError", "ConnectionResetError")), error
    assert api.job_id(audioUploadId=upload, type="vocal")
    assert sb.store.job_count() == 2
    assert "Traceback" not in capfd.readouterr().err


@pytest.mark.slow
def test_api_late_answer_still_arrives_on_an_open_connection(sandbox) -> None:
    sb = sandbox(faults=["api-late@job-create:1:1.2"])
    api, upload = _uploaded(sb)
    parts = urlsplit(sb.origin)
    with socket.create_connection((parts.hostname, parts.port), timeout=TIMEOUT) as sock:
        started = time.monotonic()
        sock.sendall(_raw_job_request(sb, upload))
        assert _until(lambda: sb.store.job_count() == 1, 0.8)  # handled at once
        sock.settimeout(0.2)
        with pytest.raises(socket.timeout):
            sock.recv(1)  # ...but not answered yet
        sock.settimeout(TIMEOUT)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    elapsed = time.monotonic() - started
    assert 1.1 < elapsed < 5
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ")
    job_id = json.loads(body)["resultData"]["jobId"]
    assert api.job(job_id)["jobId"] == job_id
    assert sb.store.job_count() == 1


@pytest.mark.slow
def test_api_late_holds_error_answers_too_and_only_its_count(sandbox) -> None:
    sb = sandbox(faults=["api-late@upload-create:2:0.5"])
    api = Api(sb)
    started = time.monotonic()
    business(api.post("/v1/files/upload-multipart/create", {"fileName": "a.wav"}), 1100)
    r = api.post("/v1/files/upload-multipart/create", {"fileName": "a.wav", "fileSize": 3})
    assert r.status_code == 200 and time.monotonic() - started >= 1.0
    started = time.monotonic()  # the count is spent: no more waiting
    assert api.create_upload("a.wav", 3)["uploadId"]
    assert api.get("/v1/key/info").status_code == 200
    assert time.monotonic() - started < 0.5
    assert sb.store.upload_count() == 2
    assert sb.faults.describe() == ["api-late@upload-create:0:0.5"]


@pytest.mark.slow
def test_api_delay_waits_before_handling_unlike_api_late(sandbox) -> None:
    sb = sandbox(faults=["api-delay@job-create:1:0.8"])
    _, upload = _uploaded(sb)
    parts = urlsplit(sb.origin)
    with socket.create_connection((parts.hostname, parts.port), timeout=TIMEOUT) as sock:
        sock.sendall(_raw_job_request(sb, upload))
        time.sleep(0.4)
        assert sb.store.job_count() == 0  # not handled yet
        with sock.makefile("rb") as answer:
            assert answer.readline().startswith(b"HTTP/1.1 200")
    assert sb.store.job_count() == 1


# ---- download-no-head ---------------------------------------------------------------------
def _finished_wav_url(sb: Sandbox) -> str:
    api, upload = _uploaded(sb)
    done = api.wait(api.job_id(audioUploadId=upload, type="vocal"))
    return str(done["downloadUrl"]["vocal"]["wav"])


def test_download_no_head_refuses_head_only(sandbox) -> None:
    sb = sandbox()
    url = _finished_wav_url(sb)
    full = requests.get(url, timeout=TIMEOUT).content
    sb.add_fault("download-no-head:2")
    r = requests.get(url, timeout=TIMEOUT)  # a GET neither fails nor spends it
    assert r.status_code == 200 and r.content == full
    r = requests.get(url, headers={"Range": "bytes=10-"}, timeout=TIMEOUT)
    assert r.status_code == 206 and r.content == full[10:]
    assert sb.faults.describe() == ["download-no-head:2"]
    r = requests.head(url, timeout=TIMEOUT)
    assert r.status_code == 501 and r.headers["Content-Type"] == "application/xml"
    assert "ETag" not in r.headers and "Accept-Ranges" not in r.headers
    assert requests.head(url, headers={"Range": "bytes=0-9"}, timeout=TIMEOUT).status_code == 501
    assert sb.requests[-1]["fault"] == "download-no-head"
    r = requests.head(url, timeout=TIMEOUT)
    assert r.status_code == 200 and int(r.headers["Content-Length"]) == len(full)
    assert sb.faults.describe() == ["download-no-head:0"]


def test_download_no_head_and_get_faults_do_not_spend_each_other(sandbox) -> None:
    sb = sandbox()
    url = _finished_wav_url(sb)
    sb.add_fault("download-503")
    sb.add_fault("download-no-head:*")
    assert requests.head(url, timeout=TIMEOUT).status_code == 501  # skips the GET fault
    assert requests.head(url, timeout=TIMEOUT).status_code == 501
    assert requests.get(url, timeout=TIMEOUT).status_code == 503  # skips the HEAD fault
    assert requests.get(url, timeout=TIMEOUT).status_code == 200
    assert requests.head(url, timeout=TIMEOUT).status_code == 501
    # a keep-alive connection goes on after a refused HEAD (its answer has no body)
    with requests.Session() as session:
        assert session.head(url, timeout=TIMEOUT).status_code == 501
        assert session.get(url, timeout=TIMEOUT).status_code == 200


# ---- job-expired --------------------------------------------------------------------------
def _epoch(iso: str) -> float:
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", iso), iso  # the emulator's form
    return datetime.strptime(iso, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp()


def test_job_expired_succeeds_with_results_already_gone(sandbox) -> None:
    sb = sandbox(faults=["job-expired"])
    api, upload = _uploaded(sb)
    business(api.create_job(audioUploadId=upload), 1122)  # invalid: the fault is not spent
    job_id = api.job_id(audioUploadId=upload, type="vocal,drum")
    done = api.wait(job_id)
    assert done["status"] == "success" and done["errorMessage"] is None
    finished = sb.store.find_job(job_id).finished_at
    assert _epoch(done["expireAt"]) == int(finished - 1) < sb.now()
    urls = [url for formats in done["downloadUrl"].values() for url in formats.values()]
    assert len(urls) == 6  # vocal, drum, others; mp3 and wav
    for url in urls:
        r = requests.get(url, timeout=TIMEOUT)
        assert r.status_code == 403 and "expired" in r.text, r.text
    assert requests.head(urls[0], timeout=TIMEOUT).status_code == 403
    assert api.job(job_id)["status"] == "success"  # the job itself is still returned
    # the next job is a normal one: 48 h to download
    fresh = api.wait(api.job_id(audioUploadId=upload, type="vocal"))
    assert _epoch(fresh["expireAt"]) > sb.now() + 47 * 3600
    assert requests.get(fresh["downloadUrl"]["vocal"]["wav"], timeout=TIMEOUT).status_code == 200
    assert sb.faults.describe() == ["job-expired:0"]


def test_job_expired_mixes_with_the_other_job_faults(sandbox) -> None:
    sb = sandbox(faults=["job-expired:2", "job-fail:1:boom", "job-url-string:2"])
    api, upload = _uploaded(sb)
    failed = api.wait(api.job_id(audioUploadId=upload, type="vocal"))
    assert failed["status"] == "failed" and failed["expireAt"] is None  # all three spent
    done = api.wait(api.job_id(audioUploadId=upload, type="vocal"))
    assert _epoch(done["expireAt"]) < sb.now()
    url = json.loads(done["downloadUrl"])["vocal"]["mp3"]
    assert requests.get(url, timeout=TIMEOUT).status_code == 403
    assert api.wait(api.job_id(audioUploadId=upload, type="vocal"))["status"] == "success"
    assert sb.faults.describe() == ["job-expired:0", "job-fail:0:boom", "job-url-string:0"]


# ---- part-slow ----------------------------------------------------------------------------
@pytest.mark.slow
def test_part_slow_spreads_the_read_then_stores_the_part(sandbox) -> None:
    sb = sandbox(faults=["part-slow:2:0.6"])
    api = Api(sb)
    data = wav_bytes(frames=500)[:4096]
    plan = api.create_upload("a.wav", len(data))
    upload = sb.store.get_upload(plan["uploadId"])
    url = urlsplit(plan["preSignedUrl"][0])
    head = (
        f"PUT {url.path}?{url.query} HTTP/1.1\r\nHost: {url.netloc}\r\n"
        f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n"
    )
    started = time.monotonic()
    with socket.create_connection((url.hostname, url.port), timeout=TIMEOUT) as sock:
        sock.sendall(head.encode() + data)
        time.sleep(0.3)
        assert upload.parts == {}  # still being read
        with sock.makefile("rb") as answer:
            status = answer.readline()
            headers = dict(
                line.decode().strip().split(": ", 1) for line in iter(answer.readline, b"\r\n")
            )
    assert 0.55 < time.monotonic() - started < 5
    assert status.startswith(b"HTTP/1.1 200")
    assert headers["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'
    assert upload.parts[1].size == len(data)
    assert (
        api.complete(plan["uploadId"], [hashlib.md5(data).hexdigest()]).json()["resultCode"] == 1000
    )
    assert sb.requests[-2]["fault"] == "part-slow"
    # an empty part has nothing to spread: it waits the whole time, then is stored
    empty = api.create_upload("b.wav", 0)
    started = time.monotonic()
    r = requests.put(empty["preSignedUrl"][0], data=b"", timeout=TIMEOUT)
    assert r.status_code == 200 and time.monotonic() - started > 0.55
    started = time.monotonic()
    r = requests.put(empty["preSignedUrl"][0], data=b"", timeout=TIMEOUT)  # the count is spent
    assert r.status_code == 200 and time.monotonic() - started < 0.5


@pytest.mark.slow
def test_part_slow_lets_the_input_change_while_it_is_sent(sandbox, tmp_path) -> None:
    """The reason for the fault: a client that streams its file sees it change mid-upload.

    The part is larger than the bytes the loopback link buffers at once (several MiB of
    socket buffers), so the sender is still reading the file when it is changed.
    """
    size = 32 * 1024 * 1024
    sb = sandbox(chunk_size=size, faults=["part-slow:1:1.5"])
    song = tmp_path / "song.wav"
    song.write_bytes(b"\0" * size)
    original = hashlib.md5(song.read_bytes()).hexdigest()
    plan = Api(sb).create_upload("song.wav", size)

    def change_the_tail() -> None:
        time.sleep(0.2)
        with open(song, "r+b") as fh:
            fh.seek(size - 1024 * 1024)
            fh.write(b"\1" * 1024 * 1024)

    changer = threading.Thread(target=change_the_tail)
    started = time.monotonic()
    with open(song, "rb") as body:
        changer.start()
        r = requests.put(plan["preSignedUrl"][0], data=body, timeout=TIMEOUT)
    changer.join()
    assert r.status_code == 200 and time.monotonic() - started > 1.2
    changed = hashlib.md5(song.read_bytes()).hexdigest()
    assert changed != original
    assert r.headers["ETag"].strip('"') == changed  # the server got the changed bytes
    assert sb.store.get_upload(plan["uploadId"]).parts[1].md5 == changed
