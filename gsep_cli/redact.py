"""Scrub secrets from any text that may reach a user, a log or a traceback.

Presigned-URL signatures and credentials, CDN signatures, and every API key registered
with :func:`register_secret` are replaced by ``<redacted>``.
"""

from __future__ import annotations

import re
import threading

_QUERY_SECRETS = re.compile(
    r"(?i)\b(X-Amz-Signature|X-Amz-Credential|X-Amz-Security-Token|Signature|Policy|"
    r"Key-Pair-Id)=([^&\s\"'<>]+)"
)
_lock = threading.Lock()
_secrets: set[str] = set()


def register_secret(value: str | None) -> None:
    """Remember a secret (the API key) so :func:`redact` removes it everywhere."""
    if value and len(value) >= 4:
        with _lock:
            _secrets.add(value)


def redact(text: object) -> str:
    """``text`` as a string with every known secret and URL signature replaced."""
    result = _QUERY_SECRETS.sub(lambda m: f"{m.group(1)}=<redacted>", str(text))
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        result = result.replace(secret, "<redacted>")
    return result
