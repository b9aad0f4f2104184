"""The one place that maps HTTP status + resultCode to typed errors (errors.py, envelope.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st

from gsep_cli import errors
from gsep_cli.envelope import parse_envelope
from gsep_cli.errors import (
    AccountError,
    AuthError,
    ExitCode,
    GsepError,
    RateLimited,
    RequestRejected,
    ServiceUnavailable,
    error_for_result_code,
    error_for_status,
)
from gsep_cli.retry import retry_after_seconds

# Every business code of GSEP_API.md section 3 and the exit code the issue/README give it.
RESULT_CODE_EXITS = {
    1007: ExitCode.REJECTED,
    1008: ExitCode.REJECTED,
    1014: ExitCode.REJECTED,
    1015: ExitCode.REJECTED,
    1100: ExitCode.REJECTED,
    1102: ExitCode.ACCOUNT,
    1103: ExitCode.ACCOUNT,
    1104: ExitCode.REJECTED,
    1105: ExitCode.REJECTED,
    1106: ExitCode.REJECTED,
    1107: ExitCode.REJECTED,
    1108: ExitCode.REJECTED,
    1109: ExitCode.REJECTED,
    1110: ExitCode.REJECTED,
    1111: ExitCode.REJECTED,
    1112: ExitCode.REJECTED,
    1113: ExitCode.REJECTED,
    1114: ExitCode.ACCOUNT,
    1122: ExitCode.REJECTED,
}

# HTTP statuses without a resultCode: 400/401/403 auth, other 4xx rejected, 5xx/429 unavailable.
STATUS_EXITS = {
    400: ExitCode.AUTH,
    401: ExitCode.AUTH,
    403: ExitCode.AUTH,
    402: ExitCode.REJECTED,
    404: ExitCode.REJECTED,
    405: ExitCode.REJECTED,
    409: ExitCode.REJECTED,
    410: ExitCode.REJECTED,
    413: ExitCode.REJECTED,
    422: ExitCode.REJECTED,
    429: ExitCode.UNAVAILABLE,
    500: ExitCode.UNAVAILABLE,
    502: ExitCode.UNAVAILABLE,
    503: ExitCode.UNAVAILABLE,
    504: ExitCode.UNAVAILABLE,
    599: ExitCode.UNAVAILABLE,
}


def test_exit_code_values_are_the_documented_ones() -> None:
    assert {c.name: int(c) for c in ExitCode} == {
        "OK": 0,
        "INTERNAL": 1,
        "USAGE": 2,
        "AUTH": 3,
        "REJECTED": 4,
        "ACCOUNT": 5,
        "UNAVAILABLE": 6,
        "JOB_FAILED": 7,
        "TIMEOUT": 8,
        "PARTIAL": 9,
        "INTERRUPTED": 130,
    }


@pytest.mark.parametrize(
    ("cls", "code"),
    [
        (errors.UsageError, 2),
        (errors.ConfigError, 3),
        (AuthError, 3),
        (RequestRejected, 4),
        (AccountError, 5),
        (ServiceUnavailable, 6),
        (RateLimited, 6),
        (errors.JobFailed, 7),
        (errors.WaitTimeout, 8),
        (errors.Interrupted, 130),
        (GsepError, 1),
    ],
)
def test_error_classes_carry_their_exit_codes(cls: type[GsepError], code: int) -> None:
    assert int(cls("x").exit_code) == code


def test_every_documented_result_code_is_in_the_table() -> None:
    assert set(errors.RESULT_CODES) == set(RESULT_CODE_EXITS)


@pytest.mark.parametrize(("code", "exit_code"), sorted(RESULT_CODE_EXITS.items()))
def test_error_for_result_code(code: int, exit_code: ExitCode) -> None:
    exc = error_for_result_code(code, "server says why", 200)
    assert exc.exit_code == exit_code
    assert exc.result_code == code
    assert exc.status == 200
    assert str(code) in exc.message
    assert "server says why" in exc.message


def test_error_for_result_code_details() -> None:
    exc = error_for_result_code(1102, None)
    assert isinstance(exc, AccountError)
    assert exc.message == "API error 1102: not enough credits"
    assert exc.hint and "credits" in exc.hint
    same = error_for_result_code(1104, "job not found")  # no duplicated text
    assert same.message == "API error 1104: job not found"
    blank = error_for_result_code(1105, "   ")
    assert blank.message == "API error 1105: upload id not found"
    unknown = error_for_result_code(1999, "new code")
    assert isinstance(unknown, RequestRejected)
    assert unknown.exit_code == ExitCode.REJECTED
    assert "1999" in unknown.message and "new code" in unknown.message


@pytest.mark.parametrize(("status", "exit_code"), sorted(STATUS_EXITS.items()))
def test_error_for_status(status: int, exit_code: ExitCode) -> None:
    exc = error_for_status(status, "details")
    assert exc.exit_code == exit_code
    assert exc.status == status
    assert f"HTTP {status}" in exc.message
    assert "details" in exc.message


def test_auth_errors_tell_how_to_fix_the_key() -> None:
    for status in (400, 401, 403):
        hint = error_for_status(status).hint or ""
        assert "gsep config show" in hint and "gsep config set-key" in hint
    assert error_for_status(429).__class__ is RateLimited
    assert error_for_status(302).exit_code == ExitCode.UNAVAILABLE


# ---- parse_envelope on real and odd bodies ----------------------------------------------
def response(status: int, body: Any, headers: dict[str, str] | None = None) -> requests.Response:
    """A requests.Response as the transport would see it."""
    resp = requests.Response()
    resp.status_code = status
    if isinstance(body, bytes):
        resp._content = body
    elif isinstance(body, str):
        resp._content = body.encode()
    else:
        resp._content = json.dumps(body).encode()
    resp.headers.update(headers or {"Content-Type": "application/json"})
    resp.url = "http://127.0.0.1:1/developers/api/v1/x"
    resp.encoding = None
    return resp


@pytest.mark.parametrize(
    ("body", "data"),
    [
        ({"resultCode": 1000, "resultData": {"uploadId": "u1", "x": [1]}}, {"uploadId": "u1"}),
        ({"resultData": {"jobId": "j"}, "resultCode": 1000, "newField": 1}, {"jobId": "j"}),
        ({"resultCode": 1000}, {}),
        ({"resultCode": 1000, "resultData": None}, {}),
        ({"resultCode": 1000, "resultData": []}, {}),
        ({"resultCode": 1000, "resultData": "text"}, {}),
        ({"resultCode": "1000", "resultData": {"a": 1}}, {"a": 1}),
    ],
)
def test_parse_envelope_success(body: Any, data: dict[str, Any]) -> None:
    result = parse_envelope(response(200, body))
    assert {k: result[k] for k in data} == data


@pytest.mark.parametrize(
    ("status", "body", "cls", "exit_code", "fragment"),
    [
        # known business codes win over a 2xx or 4xx status (both emulator switches)
        (200, {"resultCode": 1102, "resultMessage": "no credits"}, AccountError, 5, "no credits"),
        (400, {"resultCode": 1107, "resultMessage": "bad format"}, RequestRejected, 4, "1107"),
        (400, {"resultCode": 1114}, AccountError, 5, "project deleted"),
        (404, {"resultCode": 1100, "resultMessage": "unknown model"}, RequestRejected, 4, "1100"),
        (200, {"resultCode": 1104, "message": "from message"}, RequestRejected, 4, "from message"),
        # 401, 429 and 5xx keep their meaning whatever code the body carries
        (500, {"resultCode": 1103, "resultMessage": "x"}, ServiceUnavailable, 6, "1103"),
        (
            401,
            {"resultCode": 401, "resultMessage": "Invalid API key: verification failed."},
            AuthError,
            3,
            "verification failed",
        ),
        (401, {"resultCode": 1107, "resultMessage": "odd"}, AuthError, 3, "401"),
        # 1100 is generic: the status decides (400 means key or request)
        (400, {"resultCode": 1100, "resultMessage": "bad type"}, AuthError, 3, "bad type"),
        # no resultCode: the HTTP status decides
        (400, {"resultMessage": "x-ga-apikey header is missing"}, AuthError, 3, "missing"),
        (401, {"message": "invalid API key"}, AuthError, 3, "invalid API key"),
        (403, {"resultMessage": "model not permitted"}, AuthError, 3, "not permitted"),
        (405, {"resultMessage": "model unavailable"}, RequestRejected, 4, "405"),
        (413, "", RequestRejected, 4, "413"),
        (429, {"error": "too_many_requests", "message": "slow"}, RateLimited, 6, "429"),
        (500, "<html><body>Internal Server Error</body></html>", ServiceUnavailable, 6, "500"),
        (502, b"", ServiceUnavailable, 6, "502"),
        (503, {"resultMessage": "sandbox fault"}, ServiceUnavailable, 6, "sandbox fault"),
        # odd bodies with a 200
        (200, "not json at all", ServiceUnavailable, 6, "not a JSON object"),
        (200, b"", ServiceUnavailable, 6, "not a JSON object"),
        (200, "[]", ServiceUnavailable, 6, "not a JSON object"),
        (200, "null", ServiceUnavailable, 6, "not a JSON object"),
        (200, '"text"', ServiceUnavailable, 6, "not a JSON object"),
        (200, b"\xff\xfe\x00garbage", ServiceUnavailable, 6, "not a JSON object"),
        (200, {}, RequestRejected, 4, "no resultCode"),
        (200, {"resultCode": None}, RequestRejected, 4, "no resultCode"),
        (200, {"resultCode": "abc"}, RequestRejected, 4, "unreadable resultCode"),
        (200, {"resultCode": [1000]}, RequestRejected, 4, "unreadable resultCode"),
        (200, {"resultCode": {"x": 1}}, RequestRejected, 4, "unreadable resultCode"),
        (200, '{"resultCode": NaN}', RequestRejected, 4, "unreadable resultCode"),
    ],
)
def test_parse_envelope_errors(
    status: int, body: Any, cls: type[GsepError], exit_code: int, fragment: str
) -> None:
    with pytest.raises(GsepError) as info:
        parse_envelope(response(status, body))
    assert type(info.value) is cls
    assert int(info.value.exit_code) == exit_code
    assert fragment.lower() in info.value.message.lower()


def test_parse_envelope_messages_are_one_short_line() -> None:
    body = {"resultCode": 1100, "resultMessage": "line one\nline two\t" + "x" * 5000}
    with pytest.raises(RequestRejected) as info:
        parse_envelope(response(200, body))
    assert "\n" not in info.value.message
    assert "line one line two" in info.value.message
    assert len(info.value.message) < 400


def test_parse_envelope_ignores_non_text_messages() -> None:
    with pytest.raises(RequestRejected) as info:
        parse_envelope(response(200, {"resultCode": 1105, "resultMessage": {"nested": 1}}))
    assert info.value.message == "API error 1105: upload id not found"


def test_parse_envelope_redacts_signatures_in_messages() -> None:
    text = "see https://s3/x?X-Amz-Signature=deadbeefcafe&X-Amz-Credential=AKIA123"
    with pytest.raises(RequestRejected) as info:
        parse_envelope(response(200, {"resultCode": 1100, "resultMessage": text}))
    assert "deadbeefcafe" not in info.value.message
    assert "AKIA123" not in info.value.message


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [({"Retry-After": "7"}, 7.0), ({"Retry-After": "0.5"}, 0.5), ({}, None)],
)
def test_429_retry_after(headers: dict[str, str], seconds: float | None) -> None:
    with pytest.raises(RateLimited) as info:
        parse_envelope(response(429, {"error": "too_many_requests"}, headers))
    assert info.value.retry_after == seconds


def test_retry_after_http_date_is_not_misread() -> None:
    resp = response(429, {}, {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})
    assert retry_after_seconds(resp) is None


@pytest.mark.parametrize(
    "body",
    [
        '{"resultCode": 1e400}',
        '{"resultCode": -Infinity}',
        '{"resultCode": true}',
        '{"resultCode": 1000.5}',
    ],
)
def test_parse_envelope_odd_result_codes_are_typed_errors(body: str) -> None:
    with pytest.raises(GsepError) as info:
        parse_envelope(response(200, body))
    assert info.value.exit_code == ExitCode.REJECTED


def test_parse_envelope_deeply_nested_body() -> None:
    with pytest.raises(GsepError):
        parse_envelope(response(502, b"[" * 100_000 + b"]" * 100_000))


# ---- the client rule of GSEP_API.md section 3, over every combination class ------------
_BODIES = {
    "known code": {"resultCode": 1107, "resultMessage": "said the body"},
    "account code": {"resultCode": 1102, "resultMessage": "said the body"},
    "unknown code": {"resultCode": 1999, "resultMessage": "said the body"},
    "generic 1100": {"resultCode": 1100, "resultMessage": "said the body"},
    "success code": {"resultCode": 1000, "resultData": {"ok": 1}},
    "no code": {"resultMessage": "said the body"},
    "no body": b"",
    "not JSON": b"<html>oops</html>",
}


def _expected_exit(status: int, kind: str) -> int:
    """The contract's rule, written independently of gsep_cli.envelope."""
    if status == 401:
        return 3
    if status == 429 or status >= 500:
        return 6
    if kind == "known code":
        return 4
    if kind == "account code":
        return 5
    if 200 <= status < 300:
        if kind == "success code":
            return 0
        return 6 if kind in ("no body", "not JSON") else 4
    if status in (400, 403):
        return 3
    if 400 <= status < 500:
        return 4
    return 6  # 1xx/3xx: not an answer the API gives


@given(
    status=st.sampled_from([200, 201, 204, 400, 401, 403, 404, 405, 409, 413, 429, 500, 502, 503])
    | st.integers(200, 599),
    kind=st.sampled_from(sorted(_BODIES)),
)
def test_status_and_body_follow_the_client_rule(status: int, kind: str) -> None:
    expected = _expected_exit(status, kind)
    if expected == 0:
        assert parse_envelope(response(status, _BODIES[kind])) == {"ok": 1}
        return
    with pytest.raises(GsepError) as info:
        parse_envelope(response(status, _BODIES[kind]))
    assert int(info.value.exit_code) == expected, (status, kind, info.value.message)
    assert "\n" not in info.value.message
    if kind != "no body" and kind != "not JSON" and kind != "success code" and status != 429:
        assert "said the body" in info.value.message  # the server's own words are kept
