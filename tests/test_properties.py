"""Property-based tests: name sanitising never escapes, any API answer becomes data or a
typed error (never a crash)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gsep_cli.envelope import parse_envelope
from gsep_cli.errors import GsepError, UsageError
from gsep_cli.models import parse_download_urls
from gsep_cli.naming import TEMPLATE_FIELDS, name_bytes, name_max, output_path, safe_component

RESERVED = {
    "con",
    "prn",
    "aux",
    "nul",
    *(f"com{i}" for i in range(1, 10)),
    *(f"lpt{i}" for i in range(1, 10)),
}
HOSTILE = st.one_of(
    st.text(),
    st.sampled_from(
        [
            "..",
            ".",
            "../../x",
            "..\\..\\x",
            "/etc/passwd",
            "C:\\x",
            "CON.wav",
            "a/../../b",
            "\x00\x01name",
            " ",
            "nul",
            "x" * 400,
        ]
    ),
    st.lists(st.sampled_from(["..", "/", "\\", ".", "a", "CON", ":", "\n"]), max_size=8).map(
        "".join
    ),
)


@given(HOSTILE)
def test_safe_component_is_one_harmless_name(value: str) -> None:
    name = safe_component(value)
    assert name and name not in (".", "..")
    assert "/" not in name and "\\" not in name
    assert all(ch >= " " and ch != "\x7f" for ch in name)
    assert name.split(".")[0].lower() not in RESERVED
    assert len(name) <= len(value) + 1  # no cut any more, at most a "_" for a reserved name
    assert not name.endswith((" ", "."))


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=200)
@given(fields=st.fixed_dictionaries({f: HOSTILE for f in TEMPLATE_FIELDS}))
def test_output_path_stays_inside(tmp_path: Path, fields: dict[str, str]) -> None:
    out = tmp_path / "out"
    stem_and_ext = safe_component(
        safe_component(fields["stem"]) + "." + safe_component(fields["ext"])
    )
    if name_bytes(stem_and_ext) > name_max(out):  # {stem} and {ext} are never cut: refused
        with pytest.raises(UsageError, match="byte name"):
            output_path(out, "{track}/{stem}.{ext}", fields)
        return
    path = output_path(out, "{track}/{stem}.{ext}", fields)
    resolved = path.resolve()
    assert out.resolve() in resolved.parents
    assert all(name_bytes(part) <= name_max(out) for part in path.relative_to(out).parts)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5)
    ),
    max_leaves=20,
)
ENVELOPE = st.fixed_dictionaries(
    {},
    optional={
        "resultCode": st.one_of(st.just(1000), st.integers(), st.text(max_size=5), st.none()),
        "resultData": JSON,
        "resultMessage": JSON,
        "message": JSON,
        "error": JSON,
    },
)


def _response(status: int, body: bytes) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = body
    response.headers["Content-Type"] = "application/json"
    return response


@given(
    status=st.sampled_from([200, 201, 204, 302, 400, 401, 403, 404, 405, 429, 500, 503]),
    payload=st.one_of(ENVELOPE, JSON),
)
def test_any_json_answer_is_data_or_typed_error(status: int, payload: object) -> None:
    try:
        data = parse_envelope(_response(status, json.dumps(payload).encode()))
    except GsepError as exc:
        assert exc.exit_code in (3, 4, 5, 6)
        assert "\n" not in exc.message
    else:
        assert isinstance(data, dict)
        assert isinstance(payload, dict) and float(payload["resultCode"]) == 1000


@given(st.binary(max_size=200))
def test_any_bytes_answer_is_data_or_typed_error(body: bytes) -> None:
    try:
        data = parse_envelope(_response(200, body))
    except GsepError as exc:
        assert exc.exit_code in (4, 5, 6)
    else:
        assert isinstance(data, dict)
        assert float(json.loads(body)["resultCode"]) == 1000


@given(JSON | st.text())
def test_download_urls_parse_anything(value: object) -> None:
    for output in parse_download_urls(value):
        assert isinstance(output.url, str) and output.url
        assert isinstance(output.name, str) and isinstance(output.format, str)
