"""Result downloads behave like a CDN/S3 GET: ranges, HEAD, If-Range, expiry, signatures
(GSEP_API.md sections 2.5 and 5)."""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
import requests
from conftest import TIMEOUT, Api, raw_request, wav_bytes


def _finished(sandbox: Any, **kwargs: Any) -> tuple[Any, Api, str, dict[str, Any]]:
    sb = sandbox(**kwargs)
    api = Api(sb)
    upload = api.upload(wav_bytes(frames=2000))
    job_id = api.job_id(audioUploadId=upload, type="vocal")
    return sb, api, job_id, api.wait(job_id)


def _url(done: dict[str, Any], name: str = "vocal", fmt: str = "wav") -> str:
    return str(done["downloadUrl"][name][fmt])


def _with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query.update(changes)
    return parts._replace(query=urlencode(query)).geturl()


def test_full_download_headers(sandbox) -> None:
    _, _, _, done = _finished(sandbox)
    r = requests.get(_url(done), timeout=TIMEOUT)
    assert r.status_code == 200
    assert r.headers["Accept-Ranges"] == "bytes"
    assert r.headers["ETag"] == f'"{hashlib.md5(r.content).hexdigest()}"'
    assert int(r.headers["Content-Length"]) == len(r.content)
    assert "Content-Range" not in r.headers


@pytest.mark.parametrize(
    ("header", "first", "last"),
    [
        ("bytes=0-99", 0, 99),
        ("bytes=100-", 100, None),
        ("bytes=-50", -50, None),
        ("bytes=10-10", 10, 10),
        ("bytes=0-", 0, None),
        ("bytes=7-999999999", 7, None),
        ("bytes=-999999999", 0, None),
    ],
)
def test_ranges(sandbox, header: str, first: int, last: int | None) -> None:
    _, _, _, done = _finished(sandbox)
    url = _url(done)
    full = requests.get(url, timeout=TIMEOUT).content
    size = len(full)
    start = first % size if first < 0 else first
    end = size - 1 if last is None else last
    r = requests.get(url, headers={"Range": header}, timeout=TIMEOUT)
    assert r.status_code == 206
    assert r.headers["Content-Range"] == f"bytes {start}-{end}/{size}"
    assert int(r.headers["Content-Length"]) == end - start + 1
    assert r.content == full[start : end + 1]


def test_unsatisfiable_range_is_416(sandbox) -> None:
    _, _, _, done = _finished(sandbox)
    url = _url(done)
    size = len(requests.get(url, timeout=TIMEOUT).content)
    for header in (f"bytes={size}-", f"bytes={size + 10}-{size + 20}", "bytes=-0"):
        r = requests.get(url, headers={"Range": header}, timeout=TIMEOUT)
        assert r.status_code == 416, header
        assert r.headers["Content-Range"] == f"bytes */{size}"


def test_invalid_range_syntax_is_ignored(sandbox) -> None:
    # RFC 9110 14.2: a Range the server does not understand is ignored (200, full body)
    _, _, _, done = _finished(sandbox)
    url = _url(done)
    full = requests.get(url, timeout=TIMEOUT).content
    for header in ("bytes=abc", "items=0-5", "bytes=5-2", "bytes=-"):
        r = requests.get(url, headers={"Range": header}, timeout=TIMEOUT)
        assert r.status_code == 200, header
        assert r.content == full


def test_head_gives_the_length(sandbox) -> None:
    _, _, _, done = _finished(sandbox)
    url = _url(done, fmt="mp3")
    size = len(requests.get(url, timeout=TIMEOUT).content)
    r = requests.head(url, timeout=TIMEOUT)
    assert r.status_code == 200
    assert int(r.headers["Content-Length"]) == size
    assert r.content == b""
    r = requests.head(url, headers={"Range": "bytes=0-9"}, timeout=TIMEOUT)
    assert r.status_code == 206 and r.headers["Content-Length"] == "10"


def test_if_range(sandbox) -> None:
    _, _, _, done = _finished(sandbox)
    url = _url(done)
    full = requests.get(url, timeout=TIMEOUT)
    etag = full.headers["ETag"]
    r = requests.get(url, headers={"Range": "bytes=5-", "If-Range": '"0000"'}, timeout=TIMEOUT)
    assert r.status_code == 200
    assert r.content == full.content
    r = requests.get(url, headers={"Range": "bytes=5-", "If-Range": etag}, timeout=TIMEOUT)
    assert r.status_code == 206
    assert r.content == full.content[5:]


def test_results_expire_but_the_job_stays(sandbox) -> None:
    sb, api, job_id, done = _finished(sandbox)
    url = _url(done)
    sb.advance(48 * 3600 - 5)
    assert requests.get(url, timeout=TIMEOUT).status_code == 200
    sb.advance(10)
    r = requests.get(url, timeout=TIMEOUT)
    assert r.status_code == 403
    assert "expired" in r.text
    again = api.job(job_id)
    assert again["status"] == "success"
    assert again["expireAt"] == done["expireAt"]
    assert requests.get(_url(again, "others", "mp3"), timeout=TIMEOUT).status_code == 403


def test_result_ttl_knob(sandbox) -> None:
    sb, _, _, done = _finished(sandbox, result_ttl=30)
    sb.advance(31)
    assert requests.get(_url(done), timeout=TIMEOUT).status_code == 403


def test_tampered_download_urls_are_403(sandbox) -> None:
    _, _, _, done = _finished(sandbox)
    url = _url(done)
    signature = dict(parse_qsl(urlsplit(url).query))["Signature"]
    expires = dict(parse_qsl(urlsplit(url).query))["Expires"]
    for bad in (
        _with_query(url, Signature=signature[::-1]),
        _with_query(url, Signature="ü"),
        _with_query(url, Expires=str(int(expires) + 3600)),
        _with_query(url, Expires="soon"),
        url.replace("vocal.wav", "others.wav"),
        url.replace("vocal.wav", "../vocal.wav"),
        url.split("?")[0],
    ):
        r = requests.get(bad, timeout=TIMEOUT)
        assert r.status_code == 403, bad
        assert "<Code>AccessDenied</Code>" in r.text


def test_download_urls_take_no_key_and_no_writes(sandbox) -> None:
    sb, _, _, done = _finished(sandbox)
    url = _url(done)
    for method in ("PUT", "POST", "DELETE"):
        assert requests.request(method, url, data=b"x", timeout=TIMEOUT).status_code == 405
    assert requests.get(url, timeout=TIMEOUT).status_code == 200
    assert not any(e["hasApiKey"] for e in sb.requests if e["kind"] == "cdn")


def test_keep_alive_ranged_downloads_on_one_connection(sandbox) -> None:
    _, _, _, done = _finished(sandbox)
    url = _url(done)
    full = requests.get(url, timeout=TIMEOUT).content
    with requests.Session() as http:
        got = b""
        while len(got) < len(full):
            r = http.get(
                url, headers={"Range": f"bytes={len(got)}-{len(got) + 999}"}, timeout=TIMEOUT
            )
            assert r.status_code == 206
            got += r.content
    assert got == full


def test_raw_range_request(sandbox) -> None:
    sb, _, _, done = _finished(sandbox)
    parts = urlsplit(_url(done))
    status, headers, body = raw_request(
        sb.origin,
        f"GET {parts.path}?{parts.query} HTTP/1.1\r\nHost: x\r\nRange: bytes=0-3\r\n"
        "Connection: close\r\n\r\n".encode(),
    )
    assert status == 206 and body == b"RIFF" and headers["content-range"].startswith("bytes 0-3/")
