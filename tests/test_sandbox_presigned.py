"""Presigned part URLs behave like S3's, and *complete* checks the part list
(GSEP_API.md sections 2.2, 2.3 and 5)."""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
import requests
from conftest import TIMEOUT, Api, business, raw_request, wav_bytes


def _plan(api: Api, data: bytes, name: str = "song.wav") -> dict[str, Any]:
    return api.create_upload(name, len(data))


def _with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query.update(changes)
    return parts._replace(query=urlencode(query)).geturl()


def _stored_parts(sb, upload_id: str) -> dict[int, Any]:
    return dict(sb.store.get_upload(upload_id).parts)


def _xml_code(r: requests.Response) -> str:
    text = r.text
    return text.split("<Code>", 1)[1].split("</Code>", 1)[0]


def test_etag_is_the_quoted_md5_and_urls_need_no_key(sandbox) -> None:
    sb = sandbox(chunk_size=1000)
    api = Api(sb)
    data = wav_bytes(frames=1000)
    plan = _plan(api, data)
    for i, url in enumerate(plan["preSignedUrl"]):
        chunk = data[i * 1000 : (i + 1) * 1000]
        r = requests.put(url, data=chunk, timeout=TIMEOUT)
        assert r.status_code == 200
        assert r.headers["ETag"] == f'"{hashlib.md5(chunk).hexdigest()}"'
    last = len(plan["preSignedUrl"])
    assert _stored_parts(sb, plan["uploadId"])[last].size == len(data) - (last - 1) * 1000
    query = dict(parse_qsl(urlsplit(plan["preSignedUrl"][0]).query))
    assert query["X-Amz-Expires"] == str(24 * 3600)
    assert {"X-Amz-Signature", "X-Amz-Date", "X-Amz-Credential"} <= set(query)


def test_missing_content_length_is_411(sandbox) -> None:
    sb = sandbox()
    api = Api(sb)
    plan = _plan(api, b"x" * 100, "a.wav")
    parts = urlsplit(plan["preSignedUrl"][0])
    request = f"PUT {parts.path}?{parts.query} HTTP/1.1\r\nHost: {parts.netloc}\r\n\r\n"
    status, _, body = raw_request(sb.origin, request.encode())
    assert status == 411
    assert b"MissingContentLength" in body
    assert _stored_parts(sb, plan["uploadId"]) == {}


def test_chunked_body_is_501(sandbox) -> None:
    sb = sandbox()
    api = Api(sb)
    data = b"y" * 3000
    plan = _plan(api, data, "a.wav")
    r = requests.put(
        plan["preSignedUrl"][0], data=iter([data[:1000], data[1000:3000]]), timeout=TIMEOUT
    )
    assert r.status_code == 501
    assert _xml_code(r) == "NotImplemented"
    assert _stored_parts(sb, plan["uploadId"]) == {}
    # the URL still works with a proper body
    assert requests.put(plan["preSignedUrl"][0], data=data, timeout=TIMEOUT).status_code == 200


@pytest.mark.parametrize(
    "header",
    [
        {"x-ga-apikey": "sandbox-test-key"},
        {"Content-MD5": "1B2M2Y8AsgTpgAmY7PhCfg=="},
        {"x-amz-meta-foo": "bar"},
        {"X-Amz-Content-Sha256": "UNSIGNED-PAYLOAD"},
        {"Authorization": "Bearer x"},
    ],
)
def test_unsigned_extra_headers_are_403(sandbox, header: dict[str, str]) -> None:
    sb = sandbox()
    api = Api(sb)
    plan = _plan(api, b"z" * 10, "a.wav")
    r = requests.put(plan["preSignedUrl"][0], data=b"z" * 10, headers=header, timeout=TIMEOUT)
    assert r.status_code == 403
    assert "not signed" in r.text
    assert next(iter(header)).lower() in r.text
    assert _stored_parts(sb, plan["uploadId"]) == {}


def test_usual_headers_are_allowed(sandbox) -> None:
    sb = sandbox()
    plan = _plan(Api(sb), b"z" * 10, "a.wav")
    headers = {"Content-Type": "audio/wav", "User-Agent": "x", "Expect": "100-continue"}
    r = requests.put(plan["preSignedUrl"][0], data=b"z" * 10, headers=headers, timeout=TIMEOUT)
    assert r.status_code == 200, r.text


def test_tampered_urls_are_403(sandbox) -> None:
    sb = sandbox()
    api = Api(sb)
    data = b"q" * 9000
    plan = _plan(api, data, "a.wav")
    url = plan["preSignedUrl"][0]
    signature = dict(parse_qsl(urlsplit(url).query))["X-Amz-Signature"]
    flipped = signature[:-1] + ("0" if signature[-1] != "0" else "1")
    other = api.create_upload("b.wav", 10)["uploadId"]
    tampered = [
        _with_query(url, **{"X-Amz-Signature": flipped}),
        _with_query(url, **{"X-Amz-Signature": "é" * 64}),
        _with_query(url, **{"X-Amz-Signature": ""}),
        _with_query(url, **{"X-Amz-Expires": "999999999"}),
        _with_query(url, partNumber="2"),
        url.replace(f"/{plan['uploadId']}/1?", f"/{plan['uploadId']}/2?"),
        url.replace(plan["uploadId"], other),
        url.split("?")[0],
    ]
    for bad in tampered:
        r = requests.put(bad, data=data[:4096], timeout=TIMEOUT)
        assert r.status_code == 403, (bad, r.status_code, r.text)
        assert _xml_code(r) in ("SignatureDoesNotMatch", "AccessDenied")
    assert _stored_parts(sb, plan["uploadId"]) == {}
    assert all(e["status"] == 403 for e in sb.requests if e["kind"] == "s3")


@pytest.mark.parametrize("url_ttl", [None, 60.0])
def test_expired_urls_are_403(sandbox, url_ttl: float | None) -> None:
    sb = sandbox() if url_ttl is None else sandbox(url_ttl=url_ttl)
    ttl = url_ttl or 24 * 3600
    api = Api(sb)
    data = b"e" * 5000
    plan = _plan(api, data, "a.wav")
    sb.advance(ttl - 2)
    assert requests.put(plan["preSignedUrl"][0], data=data[:4096], timeout=TIMEOUT).ok
    sb.advance(3)
    r = requests.put(plan["preSignedUrl"][1], data=data[4096:], timeout=TIMEOUT)
    assert r.status_code == 403
    assert "Request has expired" in r.text
    assert set(_stored_parts(sb, plan["uploadId"])) == {1}


def test_re_put_replaces_the_part(sandbox) -> None:
    sb = sandbox()
    api = Api(sb)
    data = wav_bytes(frames=3000, channels=1)
    plan = _plan(api, data)
    etags = api.put_parts(plan, data)
    wrong = bytes(4096)
    r = requests.put(plan["preSignedUrl"][0], data=wrong, timeout=TIMEOUT)
    wrong_etag = r.headers["ETag"].strip('"')
    business(api.complete(plan["uploadId"], etags), 1100)  # part 1 is now the zeros
    r = requests.put(plan["preSignedUrl"][0], data=data[:4096], timeout=TIMEOUT)
    assert r.headers["ETag"].strip('"') == etags[0]
    assert api.complete(plan["uploadId"], etags).json()["resultCode"] == 1000
    assert wrong_etag != etags[0]
    done = api.wait(api.job_id(audioUploadId=plan["uploadId"], type="vocal"))
    assert done["status"] == "success"


def test_complete_checks_the_part_list(sandbox) -> None:
    sb = sandbox(chunk_size=1000)
    api = Api(sb)
    data = wav_bytes(frames=1200, channels=1)  # 2444 bytes: 3 parts
    plan = _plan(api, data)
    upload_id = plan["uploadId"]
    assert len(plan["preSignedUrl"]) == 3
    etags = api.put_parts(plan, data)

    def complete(parts: Any) -> requests.Response:
        return api.post(
            "/v1/files/upload-multipart/complete", {"uploadId": upload_id, "parts": parts}
        )

    good = [{"awsETag": e, "partNumber": n} for n, e in enumerate(etags, 1)]
    business(complete([{**good[0], "awsETag": "0" * 32}, *good[1:]]), 1100)  # wrong ETag
    business(complete(good[:2]), 1100)  # missing part
    business(complete([good[1], good[0], good[2]]), 1100)  # wrong order
    business(complete([*good, {"awsETag": etags[0], "partNumber": 4}]), 1100)  # extra part
    business(complete([good[0], good[0], good[2]]), 1100)  # duplicate number
    business(complete([]), 1100)
    business(complete("parts"), 1100)
    business(complete([{"awsETag": etags[0]}, *good[1:]]), 1100)
    business(complete([{**good[0], "partNumber": True}, *good[1:]]), 1100)
    business(complete([{**good[0], "partNumber": "1"}, *good[1:]]), 1100)
    business(complete([{**good[0], "awsETag": 5}, *good[1:]]), 1100)
    business(complete([None, *good[1:]]), 1100)
    business(api.post("/v1/files/upload-multipart/complete", {"parts": good}), 1100)

    # wrong part size: a short part 2 with its own (correct) ETag
    short = data[1000:1500]
    r = requests.put(plan["preSignedUrl"][1], data=short, timeout=TIMEOUT)
    short_tag = r.headers["ETag"].strip('"')
    assert "500 bytes" in business(
        complete([good[0], {"awsETag": short_tag, "partNumber": 2}, good[2]]), 1100
    )
    business(api.create_job(audioUploadId=upload_id, type="vocal"), 1105)  # not completed
    requests.put(plan["preSignedUrl"][1], data=data[1000:2000], timeout=TIMEOUT)

    # quoted / upper-case ETags are the same ETags
    quoted = [{**good[0], "awsETag": f'"{etags[0].upper()}"'}, *good[1:]]
    assert complete(quoted).json()["resultCode"] == 1000
    assert complete(good).json()["resultCode"] == 1000  # repeated identical: success
    assert complete(good).json()["resultCode"] == 1000
    business(complete(good[:2]), 1100)  # repeated with another list

    # after complete the upload takes no more parts
    r = requests.put(plan["preSignedUrl"][0], data=data[:1000], timeout=TIMEOUT)
    assert r.status_code == 404
    assert _xml_code(r) == "NoSuchUpload"
    api.job_id(audioUploadId=upload_id, type="vocal")


def test_part_urls_only_take_put(sandbox) -> None:
    sb = sandbox()
    plan = _plan(Api(sb), b"a" * 10, "a.wav")
    for method in ("GET", "POST", "DELETE"):
        r = requests.request(method, plan["preSignedUrl"][0], timeout=TIMEOUT)
        assert r.status_code == 405, method
    assert requests.put(plan["preSignedUrl"][0], data=b"a" * 10, timeout=TIMEOUT).ok


def test_create_plans(sandbox) -> None:
    sb = sandbox(chunk_size=1000)
    api = Api(sb)
    for size, count in ((0, 1), (1, 1), (999, 1), (1000, 1), (1001, 2), (10_000, 10)):
        plan = api.create_upload("a.wav", size)
        assert len(plan["preSignedUrl"]) == count, size
        assert len(set(plan["preSignedUrl"])) == count
    # S3 allows at most 10 000 parts
    business(
        api.post(
            "/v1/files/upload-multipart/create", {"fileName": "a.wav", "fileSize": 10_001 * 1000}
        ),
        1100,
    )
    ids = {api.create_upload("a.wav", 5)["uploadId"] for _ in range(5)}
    assert len(ids) == 5
