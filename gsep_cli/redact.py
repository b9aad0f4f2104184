"""Scrub what must not reach a user, a log or a traceback.

* :func:`redact`: presigned-URL signatures and credentials, CDN signatures, and every API
  key registered with :func:`register_secret` become ``<redacted>``.
* :func:`printable`: control characters become visible escapes, so text that came from a
  server (a status, an error message, key information, a stem name) cannot retitle,
  clear or otherwise drive the terminal it is shown on (ECMA-48 escape sequences start
  with ESC or a C1 control; Unicode bidi controls can reorder what is displayed).
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
    """Remember a secret (the API key) so :func:`redact` removes it everywhere, also in
    the forms a server may echo it in: URL-encoded (``%2B``) and form-encoded (``+``)."""
    if value and len(value) >= 4:
        from urllib.parse import quote, quote_plus

        with _lock:
            _secrets.update({value, quote(value, safe=""), quote_plus(value)})


def redact_values(document: object) -> object:
    """A JSON-like value with :func:`redact` applied to every string in it (keys too):
    the document stays valid, and a key the server echoed is not printed."""
    if isinstance(document, str):
        return redact(document)
    if isinstance(document, dict):
        return {redact(str(k)): redact_values(v) for k, v in document.items()}
    if isinstance(document, list):
        return [redact_values(v) for v in document]
    return document


def printable_values(document: object, keep: frozenset[str] = frozenset()) -> object:
    """A JSON-like value with :func:`printable` applied to every string in it (keys too),
    except the values of the keys in ``keep`` (a local path must stay the path it is):
    a server's text in a result (an error message, a project name) stays one line and
    drives no terminal it is shown on."""
    if isinstance(document, str):
        return printable(document)
    if isinstance(document, dict):
        return {
            printable(k): v if k in keep and isinstance(v, str) else printable_values(v, keep)
            for k, v in document.items()
        }
    if isinstance(document, list):
        return [printable_values(v, keep) for v in document]
    return document


def redact(text: object) -> str:
    """``text`` as a string with every known secret and URL signature replaced."""
    result = _QUERY_SECRETS.sub(lambda m: f"{m.group(1)}=<redacted>", str(text))
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        result = result.replace(secret, "<redacted>")
    return result


#: C0 and C1 controls, DEL, the line and paragraph separators (U+2028, U+2029: a line
#: break to many terminals), the Unicode bidi controls (Trojan Source, CVE-2021-42574),
#: and the lone surrogates that stand for undecodable C1 bytes (os.fsdecode's
#: surrogateescape: written back as raw bytes, ``\udc9b`` would be an 8-bit CSI).
_CONTROLS = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\udc80-\udc9f]"
)


def printable(text: object) -> str:
    """``text`` with every control character escaped (``\\x1b``, ``\\u202e``; a line
    break too: a message stays one line); everything else is unchanged."""
    return _CONTROLS.sub(_escape, str(text))


def json_safe(document: str) -> str:
    """A JSON text with the controls JSON leaves raw (C1, DEL, bidi) written as ``\\u``
    escapes: the same value, and nothing a terminal would act on."""
    return _CONTROLS.sub(lambda m: f"\\u{ord(m.group()):04x}", document)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
