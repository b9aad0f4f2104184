"""Every fault switch of ``gsep_cli/sandbox/faults.py``, its counts and ordering, the list
syntax and the run-time control endpoint."""

from __future__ import annotations

import http.client
import json
import signal
import socket
from urllib.parse import urlsplit

import pytest
import requests
from conftest import HQ, TIMEOUT, Api, business, wav_bytes
from test_sandbox_cli import _read_line, _serve

from gsep_cli.sandbox import Fault, FaultSyntaxError, Sandbox, parse_fault, parse_fault_list
from gsep_cli.sandbox.api import _API_ROUTES
from gsep_cli.sandbox.faults import API_ROUTES

CREATE = "/v1/files/upload-multipart/create"


def _create(api: Api, **kwargs) -> requests.Response:
    return api.post(CREATE, {"fileName": "a.wav", "fileSize": 10}, **kwargs)


def _finished(api: Api) -> dict:
    upload = api.upload(wav_bytes(frames=1500))
    return api.wait(api.job_id(audioUploadId=upload, type="vocal"))


def _wav_url(done: dict) -> str:
    return str(done["downloadUrl"]["vocal"]["wav"])


def _raw_get(url: str) -> tuple[int, int, bytes]:
    """GET with http.client: (status, Content-Length, the bytes that arrived)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=TIMEOUT)
    try:
        conn.request("GET", f"{parts.path}?{parts.query}")
        answer = conn.getresponse()
        declared = int(answer.headers["Content-Length"])
        try:
            body = answer.read()
        except http.client.IncompleteRead as exc:
            body = exc.partial
        except ConnectionResetError:
            body = b""
        return answer.status, declared, body
    finally:
        conn.close()


# ---- syntax -------------------------------------------------------------------------------
def test_parse_fault_forms() -> None:
    assert parse_fault("api-503") == Fault("api-503", "api", 1, None, 503)
    assert parse_fault(" API-500:3 ") == Fault("api-500", "api", 3, None, 500)
    assert parse_fault("api-429:2:30") == Fault("api-429", "api", 2, "30", 429)
    assert parse_fault("part-reset:*").remaining is None
    assert parse_fault("download-416:1").target == "download"
    assert parse_fault("job-fail:2:out of memory: try again").arg == "out of memory: try again"
    assert parse_fault("job-fail::why").remaining == 1 and parse_fault("job-fail::why").arg == "why"
    assert parse_fault("api-delay:1:0.25").arg == "0.25"
    assert parse_fault("job-fail:*:x").describe() == "job-fail:*:x"
    assert parse_fault("redirect").describe() == "redirect:1"


def test_parse_route_selectors() -> None:
    fault = parse_fault("api-503@job-create:2")
    assert fault == Fault("api-503", "api", 2, None, 503, "job-create")
    assert fault.describe() == "api-503@job-create:2"
    assert parse_fault(" API-500@Key-Info ").route == "key-info"
    assert parse_fault("api-429@job-get:1:9").describe() == "api-429@job-get:1:9"
    assert parse_fault("redirect@upload-complete:*").describe() == "redirect@upload-complete:*"
    assert parse_fault("api-503").route is None  # no selector: any API request, as before
    late = parse_fault("api-late@job-create:1:5")
    assert (late.kind, late.target, late.route, late.arg) == ("api-late", "api", "job-create", "5")
    assert late.describe() == "api-late@job-create:1:5"
    # the arg may hold '@' and ':' without being read as a selector
    assert parse_fault("job-fail:1:mail ops@x: now").describe() == "job-fail:1:mail ops@x: now"
    for route in API_ROUTES:
        assert parse_fault(f"api-reset@{route}").route == route


def test_server_routes_are_the_selector_routes() -> None:
    assert sorted(route for *_, route in _API_ROUTES) == sorted(API_ROUTES)


def test_unknown_route_lists_the_known_ones() -> None:
    with pytest.raises(FaultSyntaxError) as info:
        parse_fault("api-503@jobs:2")
    assert "'jobs'" in str(info.value)
    assert all(route in str(info.value) for route in API_ROUTES)


@pytest.mark.parametrize(
    "spec",
    [
        "api-late@job-create:1:3",
        "api-late:*",
        "api-503@upload-create:2",
        "api-429@key-info:1:4",
        "download-no-head",
        "job-expired:3",
        "part-slow:2:0.5",
        "redirect@job-get",
    ],
)
def test_describe_round_trips(spec: str) -> None:
    """``gsep sandbox serve`` passes env faults on as ``describe()`` text: nothing is lost."""
    fault = parse_fault(spec)
    assert parse_fault(fault.describe()) == fault


def test_parse_fault_list_takes_the_new_kinds() -> None:
    faults = parse_fault_list("api-late@job-create:1:3;download-no-head")
    assert [f.describe() for f in faults] == ["api-late@job-create:1:3", "download-no-head:1"]
    assert [f.target for f in faults] == ["api", "download"]


def test_serve_takes_selectors_from_the_option_and_the_env() -> None:
    env = {"GSEP_SANDBOX_FAULTS": "api-late@job-create:1:3;download-no-head"}
    with _serve("--fault", "api-503@upload-create:2", env=env) as proc:
        base = _read_line(proc).strip()
        origin = base.removesuffix("/developers/api")
        faults = requests.get(origin + "/_sandbox/faults", timeout=TIMEOUT).json()["faults"]
        assert faults == [
            "api-503@upload-create:2",
            "api-late@job-create:1:3",
            "download-no-head:1",
        ]
        headers = {"x-ga-apikey": "k"}
        assert requests.get(base + "/v1/key/info", headers=headers, timeout=TIMEOUT).ok
        statuses = [
            requests.post(
                base + CREATE,
                json={"fileName": "a.wav", "fileSize": 5},
                headers=headers,
                timeout=TIMEOUT,
            ).status_code
            for _ in range(3)
        ]
        assert statuses == [503, 503, 200]
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 0 and "Traceback" not in err


def test_parse_fault_list_is_the_env_form() -> None:
    faults = parse_fault_list("api-503:2; part-reset ;;job-fail:1:a:b; ")
    assert [f.kind for f in faults] == ["api-503", "part-reset", "job-fail"]
    assert [f.remaining for f in faults] == [2, 1, 1]
    assert faults[2].arg == "a:b"
    assert parse_fault_list("") == [] and parse_fault_list(" ; ") == []


@pytest.mark.parametrize(
    "spec",
    [
        "",
        "nope",
        "api-99",
        "api-600",
        "api-",
        "part-abc",
        "job-503",
        "api-503:0",
        "api-503:-1",
        "api-503:x",
        "api-503:1.5",
        "api-delay:1:abc",
        "api-429:1:1.5",
        "api-429:1:-3",
        "download-truncate:two",
        "api-late:1:soon",
        "api-late:1:-1",
        "api-delay:1:nan",
        "part-delay:1:inf",
        "api-503@",
        "api-503@job",
        "api-503@job-create@job-get",
        "part-reset@job-create",
        "download-503@job-get",
        "job-fail@job-create",
        "nope@job-create",
    ],
)
def test_bad_fault_syntax(spec: str) -> None:
    with pytest.raises(FaultSyntaxError):
        parse_fault(spec)
    with pytest.raises(ValueError):  # FaultSyntaxError is a ValueError
        parse_fault_list(f"api-503;{spec}" if spec else "api-503;x")


def test_sandbox_refuses_bad_faults() -> None:
    with pytest.raises(FaultSyntaxError):
        Sandbox(faults=["api-503", "bogus"])


def test_runtime_fault_endpoint(sandbox) -> None:
    sb = sandbox()
    control = sb.origin + "/_sandbox/faults"
    r = requests.post(control, json={"fault": "api-503:2"}, timeout=TIMEOUT)
    assert r.status_code == 200 and r.json() == {"ok": True, "fault": "api-503:2"}
    r = requests.post(control, json={"fault": "api-500@job-get:*"}, timeout=TIMEOUT)
    assert r.status_code == 200 and r.json() == {"ok": True, "fault": "api-500@job-get:*"}
    r = requests.post(control, json={"fault": "api-500@jobs"}, timeout=TIMEOUT)
    assert r.status_code == 400 and "job-create" in r.json()["error"]
    assert requests.delete(control, timeout=TIMEOUT).json() == {"ok": True}
    assert requests.post(control, json={"fault": "api-503:2"}, timeout=TIMEOUT).ok
    r = requests.post(control, json={"fault": "what-is-this"}, timeout=TIMEOUT)
    assert r.status_code == 400 and r.json()["ok"] is False and "unknown fault" in r.json()["error"]
    assert requests.post(control, json={}, timeout=TIMEOUT).status_code == 400
    assert requests.post(control, json={"fault": 5}, timeout=TIMEOUT).status_code == 400
    assert requests.get(control, timeout=TIMEOUT).json() == {"faults": ["api-503:2"]}
    api = Api(sb)
    assert _create(api).status_code == 503
    assert requests.get(control, timeout=TIMEOUT).json() == {"faults": ["api-503:1"]}
    assert requests.delete(control, timeout=TIMEOUT).json() == {"ok": True}
    assert requests.get(control, timeout=TIMEOUT).json() == {"faults": []}
    assert _create(api).status_code == 200
    sb.add_fault("api-500")
    assert _create(api).status_code == 500
    # control endpoints themselves never take faults
    sb.add_fault("api-503:*")
    assert requests.get(sb.origin + "/_sandbox/health", timeout=TIMEOUT).status_code == 200
    assert requests.get(sb.origin + "/_sandbox/stats", timeout=TIMEOUT).status_code == 200


# ---- api-* --------------------------------------------------------------------------------
def test_api_status_faults_count_and_order(sandbox) -> None:
    sb = sandbox(faults=["api-503:1", "api-500:2"])
    api = Api(sb)
    statuses = [_create(api).status_code for _ in range(4)]
    assert statuses == [503, 500, 500, 200]
    assert sb.store.upload_count() == 1  # faulted calls did nothing
    assert [e.get("fault") for e in sb.requests] == ["api-503", "api-500", "api-500", None]
    assert sb.faults.describe() == ["api-503:0", "api-500:0"]


def test_api_fault_with_a_selector_hits_only_its_route(sandbox) -> None:
    sb = sandbox(faults=["api-503@job-create:2"])
    api = Api(sb)
    upload = api.upload(wav_bytes(frames=300))  # create, parts, complete: untouched
    assert api.get("/v1/key/info").status_code == 200
    assert api.create_job(audioUploadId=upload, type="vocal").status_code == 503
    assert api.create_job(audioUploadId=upload, type="vocal").status_code == 503
    assert sb.store.job_count() == 0
    job_id = api.job_id(audioUploadId=upload, type="vocal")
    assert api.job(job_id)["jobId"] == job_id
    assert sb.faults.describe() == ["api-503@job-create:0"]
    # a wrong method on the jobs path is not "job-create"
    sb.add_fault("api-500@job-create")
    assert api.get(f"/v1/{HQ}/jobs").status_code == 405
    assert api.create_job(audioUploadId=upload, type="vocal").status_code == 500


def test_routed_and_plain_api_faults_keep_the_given_order(sandbox) -> None:
    sb = sandbox(faults=["api-500@job-get", "api-503:2", "api-502@upload-create"])
    api = Api(sb)
    # not job-get: the first fault is skipped, the plain one applies (twice)
    assert _create(api).status_code == 503
    assert api.get(f"/v1/{HQ}/jobs/x").status_code == 500  # job-get: its own fault first
    assert api.get("/v1/key/info").status_code == 503
    assert _create(api).status_code == 502  # the plain one is spent; the routed one is next
    assert _create(api).status_code == 200
    assert api.get("/v1/no/such/path").status_code == 404  # no route: no routed fault
    assert sb.faults.describe() == ["api-500@job-get:0", "api-503:0", "api-502@upload-create:0"]
    # an unknown path still takes a plain fault, as before selectors existed
    sb.add_fault("api-503")
    assert api.get("/v1/no/such/path").status_code == 503


def test_routed_redirect_and_reset(sandbox) -> None:
    sb = sandbox(faults=["redirect@key-info", "api-reset@upload-complete"])
    api = Api(sb)
    data = wav_bytes(frames=300)
    plan = api.create_upload("a.wav", len(data))
    etags = api.put_parts(plan, data)
    with pytest.raises(requests.ConnectionError):
        api.complete(plan["uploadId"], etags)
    assert api.complete(plan["uploadId"], etags).json()["resultCode"] == 1000
    r = api.get("/v1/key/info", allow_redirects=False)
    assert r.status_code == 302 and r.headers["Location"].startswith(sb.alt_origin)
    assert [e["fault"] for e in sb.requests if e["fault"]] == ["api-reset", "redirect"]


def test_api_status_fault_body(sandbox) -> None:
    sb = sandbox(faults=["api-502"])
    r = Api(sb).get("/v1/key/info")
    assert r.status_code == 502
    assert r.json()["resultMessage"]
    assert r.json().get("resultCode") in (None, 1100)


def test_api_star_count_is_every_request(sandbox) -> None:
    sb = sandbox(faults=["api-503:*"])
    api = Api(sb)
    assert all(_create(api).status_code == 503 for _ in range(12))
    sb.faults.clear()
    assert _create(api).status_code == 200


def test_api_429_fault_with_and_without_retry_after(sandbox) -> None:
    sb = sandbox(faults=["api-429:1:7", "api-429"])
    api = Api(sb)
    r = _create(api)
    assert r.status_code == 429 and r.headers["Retry-After"] == "7"
    assert r.json()["error"] == "too_many_requests"
    r = _create(api)
    assert r.status_code == 429 and "Retry-After" not in r.headers
    assert _create(api).status_code == 200
    assert sb.store.upload_count() == 1


def test_api_reset_does_nothing(sandbox) -> None:
    sb = sandbox(faults=["api-reset"])
    api = Api(sb)
    with pytest.raises(requests.ConnectionError):
        _create(api)
    assert sb.store.upload_count() == 0
    assert sb.requests[-1]["status"] == "reset" and sb.requests[-1]["fault"] == "api-reset"
    assert _create(api).status_code == 200


def test_api_reset_is_a_tcp_reset(sandbox) -> None:
    sb = sandbox(faults=["api-reset"])
    parts = urlsplit(sb.origin)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(
            b"GET /developers/api/v1/key/info HTTP/1.1\r\nHost: x\r\nx-ga-apikey: k\r\n\r\n"
        )
        with pytest.raises(ConnectionResetError):
            for _ in range(100):
                if not sock.recv(1024):
                    break
            raise AssertionError("connection closed without a reset")


def test_api_drop_processes_then_resets(sandbox) -> None:
    sb = sandbox()
    api = Api(sb)
    upload = api.upload(wav_bytes(frames=300))
    sb.add_fault("api-drop:2")
    with pytest.raises(requests.ConnectionError):
        _create(api)
    assert sb.store.upload_count() == 2  # the upload *was* created
    with pytest.raises(requests.ConnectionError):
        api.create_job(audioUploadId=upload, type="vocal")
    assert sb.store.job_count() == 1  # and so was the job
    assert [e["fault"] for e in sb.requests[-2:]] == ["api-drop", "api-drop"]
    api.job_id(audioUploadId=upload, type="vocal")
    assert sb.store.job_count() == 2


def test_api_delay_still_answers(sandbox) -> None:
    sb = sandbox(faults=["api-delay:2:0.05"])
    api = Api(sb)
    assert _create(api).status_code == 200
    assert _create(api).status_code == 200
    assert [e["fault"] for e in sb.requests] == ["api-delay", "api-delay"]
    assert sb.store.upload_count() == 2


def test_redirect_goes_to_the_alt_port_which_serves_the_api(sandbox) -> None:
    sb = sandbox(faults=["redirect"])
    api = Api(sb)
    alt_port = urlsplit(sb.alt_origin).port
    assert alt_port != sb.port
    r = _create(api, allow_redirects=False)
    assert r.status_code == 302
    assert r.headers["Location"] == sb.alt_origin + "/developers/api" + CREATE
    assert sb.store.upload_count() == 0
    r = requests.post(
        r.headers["Location"],
        json={"fileName": "a.wav", "fileSize": 10},
        headers=api.headers(),
        timeout=TIMEOUT,
    )
    assert r.status_code == 200 and r.json()["resultCode"] == 1000
    assert sb.store.upload_count() == 1
    # a followed GET redirect, with its query string
    sb.add_fault("redirect")
    r = api.get("/v1/key/info?x=1")
    assert r.status_code == 200 and r.json()["resultCode"] == 1000
    assert r.history[0].status_code == 302
    assert urlsplit(r.url).port == alt_port and urlsplit(r.url).query == "x=1"
    ports = [(e["port"], e["status"]) for e in sb.requests]
    assert ports == [(sb.port, 302), (alt_port, 200), (sb.port, 302), (alt_port, 200)]
    assert _create(api, allow_redirects=False).status_code == 200


# ---- part-* -------------------------------------------------------------------------------
def test_part_reset(sandbox) -> None:
    sb = sandbox(faults=["part-reset"])
    api = Api(sb)
    data = b"p" * 200_000
    plan = api.create_upload("a.wav", len(data))
    sb_upload = sb.store.get_upload(plan["uploadId"])
    url = plan["preSignedUrl"][0]
    with pytest.raises(requests.ConnectionError):
        requests.put(url, data=data[:4096], timeout=TIMEOUT)
    assert sb_upload.parts == {}
    assert sb.requests[-1]["fault"] == "part-reset"
    assert requests.put(url, data=data[:4096], timeout=TIMEOUT).status_code == 200
    assert set(sb_upload.parts) == {1}


def test_part_status_faults(sandbox) -> None:
    sb = sandbox(faults=["part-503", "part-500:1", "part-400"])
    api = Api(sb)
    plan = api.create_upload("a.wav", 10)
    url = plan["preSignedUrl"][0]
    for status in (503, 500, 400):
        r = requests.put(url, data=b"0123456789", timeout=TIMEOUT)
        assert r.status_code == status
        assert r.headers["Content-Type"] == "application/xml" and "<Error>" in r.text
        assert "ETag" not in r.headers
    assert sb.store.get_upload(plan["uploadId"]).parts == {}
    assert requests.put(url, data=b"0123456789", timeout=TIMEOUT).status_code == 200
    # API calls are not affected by part faults, nor part uploads by API faults
    sb.add_fault("part-503")
    assert _create(api).status_code == 200


def test_part_expired(sandbox) -> None:
    sb = sandbox(faults=["part-expired"])
    api = Api(sb)
    plan = api.create_upload("a.wav", 10)
    r = requests.put(plan["preSignedUrl"][0], data=b"0123456789", timeout=TIMEOUT)
    assert r.status_code == 403 and "Request has expired" in r.text
    assert requests.put(plan["preSignedUrl"][0], data=b"0123456789", timeout=TIMEOUT).ok


def test_part_bad_etag(sandbox) -> None:
    sb = sandbox(faults=["part-bad-etag"])
    api = Api(sb)
    data = wav_bytes(frames=500)
    plan = api.create_upload("a.wav", len(data))
    etags = api.put_parts(plan, data)
    import hashlib

    real = [hashlib.md5(data[i * 4096 : (i + 1) * 4096]).hexdigest() for i in range(len(etags))]
    assert etags[0] != real[0] and etags[1:] == real[1:]
    assert len(etags[0]) == 32
    business(api.complete(plan["uploadId"], etags), 1100)
    assert api.complete(plan["uploadId"], real).json()["resultCode"] == 1000  # part stored


# ---- download-* ---------------------------------------------------------------------------
def test_download_truncate(sandbox) -> None:
    sb = sandbox()
    api = Api(sb)
    url = _wav_url(_finished(api))
    full = requests.get(url, timeout=TIMEOUT).content
    sb.add_fault("download-truncate:2")
    with pytest.raises(requests.RequestException):
        requests.get(url, timeout=TIMEOUT)
    status, declared, body = _raw_get(url)
    assert status == 200 and declared == len(full)
    assert len(body) < declared and full.startswith(body)
    assert requests.get(url, timeout=TIMEOUT).content == full


def test_download_reset(sandbox) -> None:
    sb = sandbox()
    api = Api(sb)
    url = _wav_url(_finished(api))
    sb.add_fault("download-reset")
    with pytest.raises(requests.ConnectionError):
        requests.get(url, timeout=TIMEOUT)
    assert sb.requests[-1]["fault"] == "download-reset"
    assert requests.get(url, timeout=TIMEOUT).status_code == 200


def test_download_no_range_spends_only_on_ranged_requests(sandbox) -> None:
    sb = sandbox()
    api = Api(sb)
    url = _wav_url(_finished(api))
    full = requests.get(url, timeout=TIMEOUT).content
    sb.add_fault("download-no-range")
    assert requests.get(url, timeout=TIMEOUT).status_code == 200  # not ranged: not spent
    r = requests.get(url, headers={"Range": "bytes=100-"}, timeout=TIMEOUT)
    assert r.status_code == 200 and r.content == full
    r = requests.get(url, headers={"Range": "bytes=100-"}, timeout=TIMEOUT)
    assert r.status_code == 206 and r.content == full[100:]


def test_download_status_faults(sandbox) -> None:
    sb = sandbox()
    api = Api(sb)
    url = _wav_url(_finished(api))
    for status in (503, 404, 500):
        sb.add_fault(f"download-{status}")
        r = requests.get(url, timeout=TIMEOUT)
        assert r.status_code == status and "<Error>" in r.text
    assert requests.get(url, timeout=TIMEOUT).status_code == 200
    # HEAD does not spend download faults
    sb.add_fault("download-503")
    assert requests.head(url, timeout=TIMEOUT).status_code == 200
    assert requests.get(url, timeout=TIMEOUT).status_code == 503


def test_download_redirect(sandbox) -> None:
    sb = sandbox()
    api = Api(sb)
    url = _wav_url(_finished(api))
    full = requests.get(url, timeout=TIMEOUT).content
    sb.add_fault("download-redirect")
    r = requests.get(url, allow_redirects=False, timeout=TIMEOUT)
    assert r.status_code == 302
    assert r.headers["Location"].startswith(sb.alt_origin + "/cdn/")
    sb.add_fault("download-redirect")
    r = requests.get(url, timeout=TIMEOUT)
    assert r.status_code == 200 and r.content == full
    assert sb.requests[-1]["port"] == urlsplit(sb.alt_origin).port
    assert sb.requests[-1]["kind"] == "cdn"


# ---- job-* --------------------------------------------------------------------------------
def test_job_fail(sandbox) -> None:
    sb = sandbox(faults=["job-fail:1:GPU on fire", "job-fail"])
    api = Api(sb)
    upload = api.upload(wav_bytes(frames=300))
    business(api.create_job(audioUploadId=upload), 1122)  # invalid: the fault is not spent
    first = api.wait(api.job_id(audioUploadId=upload, type="vocal"))
    assert first["status"] == "failed"
    assert first["errorMessage"] == "GPU on fire"
    assert "downloadUrl" not in first or not first["downloadUrl"]
    second = api.wait(api.job_id(audioUploadId=upload, type="vocal"))
    assert second["status"] == "failed" and second["errorMessage"]
    third = api.wait(api.job_id(audioUploadId=upload, type="vocal"))
    assert third["status"] == "success" and third["errorMessage"] is None


def test_job_fail_follows_the_schedule(sandbox) -> None:
    sb = sandbox(job_seconds=50, faults=["job-fail:1:nope"])
    api = Api(sb)
    job_id = api.job_id(audioUploadId=api.upload(wav_bytes(frames=300)), type="vocal")
    assert api.job(job_id)["status"] == "waiting"
    sb.advance(20)
    assert api.job(job_id)["status"] == "running"
    sb.advance(40)
    assert api.job(job_id)["status"] == "failed"


def test_job_url_string(sandbox) -> None:
    sb = sandbox(faults=["job-url-string"])
    api = Api(sb)
    upload = api.upload(wav_bytes(frames=300))
    done = api.wait(api.job_id(audioUploadId=upload, type="vocal,drum"))
    assert isinstance(done["downloadUrl"], str)
    urls = json.loads(done["downloadUrl"])
    assert set(urls) == {"vocal", "drum", "others"}
    assert requests.get(urls["drum"]["mp3"], timeout=TIMEOUT).status_code == 200
    normal = api.wait(api.job_id(audioUploadId=upload, type="vocal"))
    assert isinstance(normal["downloadUrl"], dict)


def test_faults_of_each_target_are_independent(sandbox) -> None:
    sb = sandbox(faults=["download-503", "job-fail:1:x", "part-500", "api-503"])
    api = Api(sb)
    assert _create(api).status_code == 503
    data = wav_bytes(frames=300)
    plan = api.create_upload("a.wav", len(data))
    assert (
        requests.put(plan["preSignedUrl"][0], data=data[:4096], timeout=TIMEOUT).status_code == 500
    )
    api.complete(plan["uploadId"], api.put_parts(plan, data))
    assert api.wait(api.job_id(audioUploadId=plan["uploadId"], type="vocal"))["status"] == "failed"
    done = api.wait(api.job_id(audioUploadId=plan["uploadId"], type="vocal"))
    assert requests.get(_wav_url(done), timeout=TIMEOUT).status_code == 503
    assert requests.get(_wav_url(done), timeout=TIMEOUT).status_code == 200
    assert all(d.split(":")[1] == "0" for d in sb.faults.describe())
    assert api.get(f"/v1/{HQ}/jobs/x").json()["resultCode"] == 1104
