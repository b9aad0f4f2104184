"""The one place where an API response becomes data or a typed error: the client rule of
GSEP_API.md section 3 (the HTTP status and the ``resultCode`` in the body can disagree).
"""

from __future__ import annotations

from typing import Any

import requests

from .errors import (
    RESULT_CODES,
    RateLimited,
    RequestRejected,
    ServiceUnavailable,
    error_for_result_code,
    error_for_status,
)
from .redact import redact
from .retry import retry_after_seconds


def _message(payload: Any) -> str | None:
    if isinstance(payload, dict):
        for name in ("resultMessage", "message", "error"):
            value = payload.get(name)
            if isinstance(value, str) and value.strip():
                text = " ".join(value.split())
                return redact(text[:300])
    return None


def _result_code(value: Any) -> int | None:
    """A resultCode as an int: ints, integral floats and digit strings; else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def parse_envelope(response: requests.Response) -> dict[str, Any]:
    """Turn an API response into ``resultData`` or raise the typed error.

    The client rule of GSEP_API.md section 3, in one place (the HTTP status and the body
    can disagree; real servers put any code in a 401 body):

    1. HTTP 401 is always a key problem, whatever the body;
    2. 429 is always the rate limit;
    3. 5xx is always a server error;
    4. otherwise a known ``resultCode`` (not 1000, not the generic 1100) decides, with
       ``resultMessage``;
    5. otherwise — no code, a code not in the table, or 1100 — the HTTP status decides:
       400/403 key or permission, other 4xx rejected, 2xx rejected (a 2xx with code 1000
       is the one success).

    Never raises anything but :class:`GsepError`, whatever the body holds.
    """
    status = response.status_code
    try:
        payload: Any = response.json()
    except (ValueError, RecursionError):  # not JSON, or nested deeper than the parser goes
        payload = None
    raw_code: Any = payload.get("resultCode") if isinstance(payload, dict) else None
    code = _result_code(raw_code) if raw_code is not None else None
    message = _message(payload)
    if status == 401:
        raise error_for_status(status, _with_code(code, message))
    if status == 429:
        raise RateLimited(
            f"HTTP 429: rate limited by the API ({message or 'slow down'})",
            "Wait a minute and try again; the API allows 100 requests/minute",
            retry_after=retry_after_seconds(response),
        )
    if status >= 500:
        raise error_for_status(status, _with_code(code, message))
    if code is not None and code in RESULT_CODES and code != 1100:
        raise error_for_result_code(code, message, status)
    if 200 <= status < 300:
        if not isinstance(payload, dict):
            raise ServiceUnavailable(
                f"HTTP {status}: the API answered something that is not a JSON object",
                status=status,
            )
        if raw_code is None:
            said = f" ({message})" if message else ""
            raise RequestRejected(
                f"HTTP {status}: the API answer has no resultCode{said}", status=status
            )
        if code is None:
            raise RequestRejected(
                f"the API answered an unreadable resultCode {str(raw_code)[:40]!r}", status=status
            )
        if code != 1000:  # 1100 or a code this client does not know: rejected
            raise error_for_result_code(code, message, status)
        data = payload.get("resultData")
        return data if isinstance(data, dict) else {}
    raise error_for_status(status, _with_code(code, message))


def _with_code(code: int | None, message: str | None) -> str | None:
    """The body's own words for an error the HTTP status classifies."""
    if code is None or code == 1000:
        return message
    return f"API error {code}: {message}" if message else f"API error {code}"
