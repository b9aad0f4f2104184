"""What part uploads and result downloads share: how a transfer to or from a storage host
(presigned S3 PUTs, CDN GETs) is cancelled, broken off when it stalls, retried, and
described in a message.
"""

from __future__ import annotations

import requests

from .origins import origin_of as origin_of  # shared by part uploads and downloads
from .redact import redact
from .watchdog import Stall

#: A transfer moving less than 1 KiB/s over 30 s is broken off and resumed
#: (``GSEP_STALL_RATE``, ``GSEP_STALL_TIME``; curl's --speed-limit and --speed-time).
DEFAULT_STALL = Stall(rate=1024.0, window=30.0)


class Cancelled(Exception):
    """Raised inside a worker when the transfer was cancelled (Ctrl-C or another failure)."""


class Retryable(Exception):
    """A storage request that failed in a way worth trying again: ``reason`` says how,
    for messages; ``retry_after`` is the seconds the server asked to wait, if it did."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


def describe(exc: BaseException) -> str:
    """One readable reason for a failed transfer (never an exception's tuple repr)."""
    chain = _chain(exc)
    names = {type(e).__name__ for e in chain}
    text = " ".join(str(e) for e in chain).lower()
    if names & {"IncompleteRead", "ChunkedEncodingError", "InvalidChunkLength"}:
        return "the connection closed before the end"
    if isinstance(exc, requests.ConnectTimeout) or "ConnectTimeoutError" in names:
        return "timed out connecting"
    if isinstance(exc, requests.Timeout) or names & {"ReadTimeoutError", "TimeoutError"}:
        return "timed out"
    if "refused" in text:
        return "connection refused"
    if any(word in text for word in ("reset", "aborted", "broken pipe", "remotedisconnected")):
        return "connection lost"
    if isinstance(exc, requests.exceptions.SSLError) or "SSLError" in names:
        return "TLS error"
    if "NameResolutionError" in names or "name or service not known" in text:
        return "host name not found"
    root = chain[-1]
    message = str(root).splitlines()[0] if str(root) else ""
    if message.startswith("(") or not message:  # an args tuple: say what kind it was
        message = type(root).__name__
    return redact(message[:160])


def _chain(exc: BaseException) -> list[BaseException]:
    """An exception and its causes, deepest last (bounded)."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain and len(chain) < 10:
        chain.append(current)
        nested = next((a for a in current.args if isinstance(a, BaseException)), None)
        reason = getattr(current, "reason", None)
        current = (
            current.__cause__
            or nested
            or (reason if isinstance(reason, BaseException) else None)
            or current.__context__
        )
    return chain
