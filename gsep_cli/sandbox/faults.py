"""Fault injection for the sandbox: a tiny, documented syntax and a thread-safe book.

A fault is written ``KIND[@ROUTE][:COUNT][:ARG]``. ``COUNT`` is how many matching requests
it affects (default 1; ``*`` means every one). Several faults may be given; a request takes
the first fault of its target (and route) that still has a count left, in the order they
were added.

``@ROUTE`` narrows an API fault (``api-*`` and ``redirect``) to one endpoint, so a test can
say "only the job creation": ``upload-create`` (POST .../upload-multipart/create),
``upload-complete`` (POST .../upload-multipart/complete), ``job-create`` (POST
/v1/{model}/jobs), ``job-get`` (GET /v1/{model}/jobs/{id}), ``key-info`` (GET /v1/key/info).
Without it an API fault hits the next API request, whatever it is (even an unknown path).

A text ARG (``job-fail``, ``job-status``, ``key-info-text``, the MESSAGE of ``api-NNN``) is
kept exactly as given: ``:`` ``@`` ``;``, control characters and escape sequences included.

========================== ===============================================================
kind                       effect
========================== ===============================================================
``api-NNN``                API call answered with HTTP NNN (e.g. ``api-503``, ``api-500``).
                           ``api-429:N:SECONDS`` adds ``Retry-After: SECONDS``. Any other
                           NNN takes ``CODE[:MESSAGE]``: the body is then ``{"resultCode":
                           CODE, "resultMessage": MESSAGE}`` (default MESSAGE ``sandbox
                           fault: HTTP NNN``; ``CODE:`` sends an empty one), e.g.
                           ``api-401:1:401:Invalid API key: verification failed.``
``api-reset``              API connection reset before the request is handled (nothing done).
``api-drop``               API request handled (an upload or job *is* created), then the
                           connection is reset instead of answering.
``api-delay:N:SEC``        SEC seconds (default 2) pass *before* the API request is handled.
``api-jitter:N:SEC``       a random delay between 0 and SEC seconds (default 1) passes
                           before the API request is counted by the rate limit and handled,
                           and another one before its answer goes out: a network whose
                           latency varies from request to request (``api-jitter:*:2``).
``api-late:N:SEC``         API request handled at once (an upload or job *is* created,
                           credits charged), its answer sent only SEC seconds (default 5)
                           later: the answer that arrives after the client gave up. Dropped
                           quietly if the client has left by then.
``api-hang``               API request read but *not* handled (nothing created, no credit
                           charged, not counted by the rate limit: a client that times out
                           and retries is safe), and never answered: the connection stays
                           open until the client closes it or the sandbox stops (closed
                           after 10 minutes at most).
``api-drip:N:BPS``         API request handled as usual; the answer's headers go out at
                           once, then its body one small piece at a time, BPS bytes a second
                           (default 1; fractions allowed), then the connection is closed.
                           Dripping stops when the client leaves or the sandbox stops.
``api-retry-after:N:VALUE`` API call answered ``429`` with ``Retry-After: VALUE``, VALUE
                           any text (``nan``, ``-1``, ``inf``, ``1e999``...; required).
``api-huge:N:BYTES``        API call answered ``200`` with a success envelope padded to
                           BYTES (default 32 MiB) more bytes (nothing handled).
``redirect``               API call answered ``302`` to the same path on the sandbox's second
                           loopback port (which serves the same API and logs what arrives).
``api-redirect-backslash`` API call answered ``302`` to ``ALT\\@MAIN/same/path`` (nothing
                           handled): Python's ``urlsplit`` reads the main listener, urllib3
                           (which makes the connection) the second one, which logs what
                           arrives: a client checking with one parser and connecting with
                           the other sends the key there.
``api-redirect-http``      API call answered ``302`` to the same path on a *plain http*
                           listener (nothing handled). With TLS on, that is a listener of its
                           own (:attr:`Sandbox.plain_origin`, same API, logs what arrives),
                           so a test can check that nothing was sent over plain http.
``part-reset``             part upload: connection reset after half of the body was read.
``part-NNN``               part upload answered with HTTP NNN (S3-style XML error body).
``part-expired``           part upload answered ``403 Request has expired``.
``part-delay:N:SEC``       part upload: SEC seconds (default 2) pass before the body is read.
``part-slow:N:SEC``        part upload: the body is read in small pieces with pauses between,
                           over about SEC seconds (default 2), so a test can change the input
                           while the upload is in flight; the part is then stored as usual.
                           (Loopback socket buffers take several MiB at once: the sender only
                           feels the pace with a part well above that, e.g. 32 MiB.)
``part-answer-drip:N:BPS`` part stored, then the answer's status line and headers (a long
                           padding header among them) go out BPS bytes a second (default 1),
                           as ``api-drip``: an answer that never ends, however patient the
                           socket timeouts.
``part-bad-etag``          part stored, but the ``ETag`` returned is not the part's MD5.
``part-etag-upper``        as ``part-bad-etag``, the wrong MD5 in upper-case hex.
``part-etag-opaque``       part stored, its ``ETag`` an opaque string, not an MD5 (as S3 sends
                           with SSE-KMS encryption): the client cannot check a part by it.
``part-hang``              part upload: the body is read (up to 64 MiB) but not stored, and
                           no answer is sent, as ``api-hang``.
``part-redirect-http``     part upload answered ``302`` to the same URL on the plain-http
                           listener (the body is read, not stored).
``download-truncate``      result download: full ``Content-Length``, half the body, then close.
``download-delay``         ``download-delay:N:SEC``: SEC seconds (default 2) before the answer.
``download-reset``         result download: connection reset before any byte.
``download-no-range``      result download ignores ``Range`` and sends the whole file (200).
                           Only requests with a ``Range`` header spend it.
``download-range-slice``   to a request *with* ``Range``: ``200`` (not 206) with only the
                           requested bytes, ``Content-Length`` their count, no
                           ``Content-Range``. Requests without ``Range`` do not spend it (a
                           range the server ignores or refuses is answered as usual).
``download-gzip``          result sent with ``Content-Encoding: gzip`` (whatever the request's
                           ``Accept-Encoding``): the whole file compressed, ``Content-Length``
                           the compressed size, status 200 even to a ``Range`` request.
``download-gzip-truncated`` as ``download-gzip``, but only the first half of the compressed
                           stream is sent (``Content-Length`` that half's size).
``download-gzip-trailing`` as ``download-gzip``, then 160 bytes that are not gzip
                           (``Content-Length`` counts them).
``download-hang``          result download: request read, no answer ever (as ``api-hang``).
``download-drip:N:BPS``    result download: headers at once (the true ``Content-Length``),
                           then the body BPS bytes a second (default 1), as ``api-drip``.
``download-nolength-drip`` ``download-nolength-drip:N:BPS``: result answered (200, or 206
                           to a ``Range``) *without* ``Content-Length`` (the body ends when
                           the connection closes): half at once, then BPS bytes a second.
``download-206-unasked``   result download answered ``206`` with the first half of the file
                           (``Content-Range: bytes 0-H/SIZE``) whatever the request asked
                           for, a request without ``Range`` too.
``download-NNN``           result download answered with HTTP NNN.
``download-redirect``      result download answered ``302`` to the second loopback port.
``download-redirect-http`` result download answered ``302`` to the same URL on the
                           plain-http listener.
``download-backslash``     result download answered ``302`` to the same URL written as
                           ``api-redirect-backslash`` does (urllib3 reads the second port).
``download-retry-after``   ``download-retry-after:N:VALUE``: result download answered
                           ``503`` with ``Retry-After: VALUE`` (any text; required).
``download-no-head``       result URL answers ``HEAD`` with ``501 Not Implemented`` (as CDNs
                           and presigned GET URLs do: the signature covers the method); GET
                           works. Only HEADs spend it (they spend no other download fault).
``job-fail:N:MSG``         the next N jobs created end ``failed`` with ``errorMessage`` MSG.
``job-url-string``         ``downloadUrl`` is sent as a JSON *string* (seen from one app).
``job-expired``            the next N jobs created succeed with an ``expireAt`` already past
                           (a second before they finished); their result URLs answer 403.
``job-status:N:VALUE``     the next N job GETs answer with ``status`` replaced by VALUE,
                           JSON text (``"cancelled"`` with its quotes, ``null``, ``5``,
                           ``{}``...), or the word ``missing`` to leave the field out. Only
                           ``status`` changes: ``errorMessage``, ``expireAt`` and
                           ``downloadUrl`` follow the job's real state. VALUE is required.
``key-info-text:N:TEXT``   the next N key-info answers carry TEXT as ``projectName`` and
                           ``description``. TEXT is required.
========================== ===============================================================

Hangs and drips never hold a connection for more than 10 minutes, and end within a
fraction of a second of :meth:`Sandbox.stop`.

The same list can come from ``--fault`` (repeatable) or ``GSEP_SANDBOX_FAULTS`` (``;``
between faults), or be posted at run time to ``/_sandbox/faults``. In the ``;`` form, a
``;`` followed by anything but a fault kind (or the end) belongs to the ARG before it, so
``job-fail:1:ESC]0;PWNED BEL`` (an xterm title sequence) is one fault, its ARG whole.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

TARGETS = ("api", "part", "download", "job", "key")

_FIXED_KINDS = {
    "api-reset": "api",
    "api-drop": "api",
    "api-delay": "api",
    "api-jitter": "api",
    "api-late": "api",
    "api-hang": "api",
    "api-drip": "api",
    "api-redirect-http": "api",
    "api-retry-after": "api",
    "api-huge": "api",
    "redirect": "api",
    "api-redirect-backslash": "api",
    "part-reset": "part",
    "part-expired": "part",
    "part-delay": "part",
    "part-slow": "part",
    "part-hang": "part",
    "part-redirect-http": "part",
    "part-answer-drip": "part",
    "download-delay": "download",
    "part-bad-etag": "part",
    "part-etag-upper": "part",
    "part-etag-opaque": "part",
    "download-truncate": "download",
    "download-reset": "download",
    "download-no-range": "download",
    "download-range-slice": "download",
    "download-gzip": "download",
    "download-gzip-truncated": "download",
    "download-gzip-trailing": "download",
    "download-hang": "download",
    "download-drip": "download",
    "download-206-unasked": "download",
    "download-nolength-drip": "download",
    "download-redirect": "download",
    "download-redirect-http": "download",
    "download-backslash": "download",
    "download-no-head": "download",
    "download-retry-after": "download",
    "job-fail": "job",
    "job-url-string": "job",
    "job-expired": "job",
    "job-status": "job",
    "key-info-text": "key",
}
# Kinds whose ARG is a number of seconds (validated here, so the server never sees junk).
_SECONDS_KINDS = (
    "api-delay",
    "api-jitter",
    "api-late",
    "part-delay",
    "part-slow",
    "download-delay",
)
# Kinds whose ARG is a rate in bytes per second.
_RATE_KINDS = ("api-drip", "download-drip", "part-answer-drip", "download-nolength-drip")
# Kinds whose ARG is text handed to the client: kept exactly, whitespace included.
_TEXT_KINDS = ("job-fail", "job-status", "key-info-text", "api-retry-after", "download-retry-after")
# Kinds that mean nothing without their ARG.
_ARG_REQUIRED = ("job-status", "key-info-text", "api-retry-after", "download-retry-after")
_STATUS_KIND = re.compile(r"^(api|part|download)-([1-5]\d\d)$")
# Route names for ``@ROUTE``: one per API endpoint (method and path), see server._API_ROUTES.
API_ROUTES = ("upload-create", "upload-complete", "job-create", "job-get", "key-info")
# ``job-status:N:missing`` leaves the field out (any other VALUE is JSON text).
MISSING = "missing"
DEFAULT_DRIP_RATE = 1.0  # bytes per second


class FaultSyntaxError(ValueError):
    """A fault string that does not follow ``KIND[@ROUTE][:COUNT][:ARG]``."""


@dataclass
class Fault:
    """One parsed fault with its remaining count (``None`` = unlimited)."""

    kind: str
    target: str
    remaining: int | None
    arg: str | None = None
    status: int | None = None
    route: str | None = None  # API faults only: the one endpoint it applies to

    def describe(self) -> str:
        """The fault written back in its own syntax, with what is left of its count."""
        count = "*" if self.remaining is None else str(self.remaining)
        selector = f"@{self.route}" if self.route is not None else ""
        arg = f":{self.arg}" if self.arg is not None else ""
        return f"{self.kind}{selector}:{count}{arg}"

    def applies_to(self, route: str | None) -> bool:
        """Whether a request on ``route`` (None: no known endpoint) may take this fault."""
        return self.route is None or self.route == route

    def drip_rate(self) -> float:
        """``api-drip`` / ``download-drip``: bytes per second (checked by the parser)."""
        return float(self.arg) if self.arg is not None else DEFAULT_DRIP_RATE


def result_code_arg(arg: str) -> tuple[int, str | None]:
    """``api-NNN``'s ``CODE[:MESSAGE]`` → (code, message or None for the default text).

    ``CODE:`` gives an empty message (a hostile case of its own); MESSAGE is kept as is.
    """
    code_text, colon, message = arg.partition(":")
    try:
        code = int(code_text.strip())
    except ValueError:
        raise FaultSyntaxError(f"resultCode must be an integer, got {code_text!r}") from None
    return code, message if colon else None


def status_value(arg: str) -> tuple[bool, Any]:
    """``job-status``'s VALUE → (present, value): ``missing`` or one JSON value."""
    if arg.strip() == MISSING:
        return False, None
    try:
        return True, json.loads(arg)
    except ValueError:
        raise FaultSyntaxError(
            f"job-status needs JSON text or {MISSING!r}, got {arg!r} "
            '(a string keeps its quotes: "cancelled")'
        ) from None


def _parse_route(selector: str, target: str, spec: str) -> str:
    """The ``ROUTE`` of ``KIND@ROUTE``, checked against the API's endpoints."""
    if target != "api":
        raise FaultSyntaxError(f"only API faults take an @ROUTE selector, not {spec!r}")
    route = selector.strip().lower()
    if route not in API_ROUTES:
        raise FaultSyntaxError(
            f"unknown route {route!r} in {spec!r}; known: {', '.join(API_ROUTES)}"
        )
    return route


#: The longest wait a fault takes (about 11.5 days): a timed wait much longer overflows
#: (``Event.wait(1e10)``: "timestamp too large") mid-request; forever is a hang fault.
MAX_FAULT_SECONDS = 1e6


def _check_seconds(kind: str, text: str) -> None:
    """A number of seconds from 0 to :data:`MAX_FAULT_SECONDS`, checked when the fault is
    read (the emulator's waits refuse the rest mid-request, as an internal error)."""
    try:
        seconds = float(text)
    except ValueError as exc:
        raise FaultSyntaxError(f"{kind} needs seconds, got {text!r}") from exc
    if not 0 <= seconds <= MAX_FAULT_SECONDS:
        raise FaultSyntaxError(
            f"{kind} needs seconds from 0 to {MAX_FAULT_SECONDS:g} (a hang fault waits "
            f"forever), got {text!r}"
        )


def _check_rate(kind: str, text: str) -> None:
    """A finite rate above zero (a zero rate would be a hang: there is a fault for that)."""
    try:
        rate = float(text)
    except ValueError as exc:
        raise FaultSyntaxError(f"{kind} needs bytes per second, got {text!r}") from exc
    if not (rate > 0 and math.isfinite(rate)):
        raise FaultSyntaxError(f"{kind} needs bytes per second > 0, got {text!r}")


def _kind_and_target(kind: str, spec: str) -> tuple[str, int | None]:
    """The target of ``kind`` and, for ``*-NNN``, its HTTP status."""
    match = _STATUS_KIND.match(kind)
    if match:
        return match.group(1), int(match.group(2))
    if kind in _FIXED_KINDS:
        return _FIXED_KINDS[kind], None
    known = ", ".join([*sorted(_FIXED_KINDS), "api-NNN", "part-NNN", "download-NNN"])
    raise FaultSyntaxError(f"unknown fault kind {kind!r} in {spec!r}; known: {known}")


def _parse_count(text: str, spec: str) -> int | None:
    if text == "":
        return 1
    if text == "*":
        return None
    if text.isdigit() and int(text) > 0:
        return int(text)
    raise FaultSyntaxError(f"bad count {text!r} in fault {spec!r} (use N >= 1 or *)")


def _check_arg(kind: str, arg: str | None) -> str | None:
    """The ARG as stored: text kinds exactly as given, the others stripped and checked."""
    if arg is None:
        if kind in _ARG_REQUIRED:
            raise FaultSyntaxError(f"{kind} needs an ARG: {kind}[:COUNT]:VALUE")
        return None
    if kind in _TEXT_KINDS:
        if kind == "job-status":
            status_value(arg)
        return arg
    if _STATUS_KIND.match(kind) and kind.startswith("api-") and kind != "api-429":
        result_code_arg(arg)  # CODE[:MESSAGE]: the MESSAGE is text, kept as given
        return arg
    arg = arg.strip()
    if kind in _SECONDS_KINDS:
        _check_seconds(kind, arg)
    if kind in _RATE_KINDS:
        _check_rate(kind, arg)
    if kind == "api-huge" and not arg.isdigit():
        raise FaultSyntaxError(f"api-huge needs a number of bytes, got {arg!r}")
    if kind == "api-429" and not arg.isdigit():
        raise FaultSyntaxError(f"api-429 Retry-After must be whole seconds, got {arg!r}")
    return arg


def parse_fault(spec: str) -> Fault:
    """Parse ``KIND[@ROUTE][:COUNT][:ARG]`` into a :class:`Fault`; raise FaultSyntaxError.

    Blanks around KIND, ROUTE and COUNT are ignored; a text ARG is kept exactly.
    """
    head, _, rest = spec.partition(":")  # ARG may hold ':' and '@': split the head first
    kind, at, selector = head.partition("@")
    kind = kind.strip().lower()
    count_text, colon, arg = rest.partition(":")
    target, status = _kind_and_target(kind, spec)
    route = _parse_route(selector, target, spec) if at else None
    remaining = _parse_count(count_text.strip(), spec)
    arg_value = _check_arg(kind, arg if colon and arg != "" else None)
    return Fault(
        kind=kind, target=target, remaining=remaining, arg=arg_value, status=status, route=route
    )


# In the ``;``-separated form, a ``;`` separates two faults only when a fault kind (or
# nothing) follows it: any other ``;`` is part of an ARG, as in ``ESC]0;title BEL``.
_KIND_NAMES = "|".join(
    [re.escape(k) for k in sorted(_FIXED_KINDS, key=len, reverse=True)]
    + [r"(?:api|part|download)-\d+"]
)
_NEXT_FAULT = re.compile(rf"[\s;]*(?:\Z|(?:{_KIND_NAMES})[ \t]*(?:[@:;]|\s*\Z))", re.I)


def _split_list(text: str) -> list[str]:
    pieces, start = [], 0
    for separator in re.finditer(";", text):
        if _NEXT_FAULT.match(text, separator.end()):
            pieces.append(text[start : separator.start()])
            start = separator.end()
    pieces.append(text[start:])
    return pieces


def parse_fault_list(text: str) -> list[Fault]:
    """Parse a ``;``-separated list (the ``GSEP_SANDBOX_FAULTS`` form).

    The spaces and tabs around each fault are dropped; an ARG keeps any other character.
    """
    return [parse_fault(part.strip(" \t")) for part in _split_list(text) if part.strip()]
