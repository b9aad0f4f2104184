"""When a failed request is sent again, and how long to wait first: the one retry vocabulary
of the API transport (:mod:`gsep_cli.http`), part uploads (:mod:`gsep_cli.upload_parts`)
and result downloads (:mod:`gsep_cli.resume`).

Storage hosts (presigned S3 PUTs, CDN GETs) and the API share one list of transient
statuses, :data:`RETRY_STATUSES`. The API differs in named ways, all in
:func:`api_retries`: every 5xx is retried (GSEP_API.md section 3: "5xx is always a
server error", a temporary one), 408 is not (an API 4xx is an answer, section 3 rule 5),
and a request that creates something is retried only when the server said it did
nothing (429, 503) or provably never got it (:func:`never_reached_server`).
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass

import requests

#: HTTP statuses after which asking again may well succeed: curl ``--retry``'s transient
#: set (timeout, throttling, 500/502/503/504), which botocore's standard mode also retries
#: (../shared/research/reliability-anchors.md). No other 4xx: a 403 from S3 means an
#: expired or refused URL (GSEP_API.md section 2.2), and 501 a request S3 will never take.
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry (every loop here is bounded by these).

    ``attempts`` counts the first try (GSEP_RETRIES); ``base`` and ``cap`` (seconds,
    GSEP_RETRY_CAP) shape the backoff; ``retry_after_cap`` bounds a server's
    ``Retry-After``; ``rate_limit_wait`` is the documented block after a 429 without one
    (GSEP_API.md section 1, GSEP_RATE_LIMIT_WAIT).
    """

    attempts: int = 5
    base: float = 1.0
    cap: float = 20.0
    retry_after_cap: float = 120.0
    rate_limit_wait: float = 60.0  # the documented block after a 429 without Retry-After

    def backoff(self, attempt: int) -> float:
        """Full-jitter exponential delay before retry number ``attempt`` (1-based)."""
        return random.uniform(0, min(self.cap, self.base * 2 ** (attempt - 1)))

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait before retry number ``attempt``: what the server asked for
        (``retry_after``, from :func:`retry_after_seconds`), else :meth:`backoff`.

        Not capped here: the API transport caps only ``Retry-After``; a storage transfer
        caps whatever it sleeps at ``retry_after_cap`` (:meth:`capped`).
        """
        return retry_after if retry_after is not None else self.backoff(attempt)

    def capped(self, seconds: float) -> float:
        """``seconds``, but never more than ``retry_after_cap``."""
        return min(seconds, self.retry_after_cap)

    def wait_for_429(self, retry_after: float | None) -> float:
        """Seconds to wait after a 429: its Retry-After (capped) or the documented block."""
        if retry_after is None:
            return self.rate_limit_wait
        return min(max(retry_after, 0.0), self.retry_after_cap)


def api_retries(status: int, *, creates: bool) -> bool:
    """Whether the API transport sends a request again after HTTP ``status``.

    429 always (the rate limit, GSEP_API.md section 1); any 5xx (section 3, a temporary
    server error), except that a request that creates something (an upload, a paid job)
    is sent again only after 503, the one 5xx that says nothing was done. Unlike a
    storage host's, an API 408 is final.
    """
    return status == 429 or (status >= 500 and (not creates or status == 503))


#: RFC 9110 10.2.3's delay-seconds (1*DIGIT), with a decimal fraction tolerated.
_DELAY_SECONDS = re.compile(r"[0-9]+(\.[0-9]+)?", re.ASCII)


def retry_after_seconds(response: requests.Response) -> float | None:
    """The ``Retry-After`` header in seconds (delta form only, RFC 9110 10.2.3), or None.

    Anything but a finite number of seconds from zero up (``nan``, ``inf``, ``-5``,
    ``1e999``, a date) counts as no header at all: ``time.sleep`` refuses some of them
    mid-run. How long a value is honoured is capped where it is used
    (:attr:`RetryPolicy.retry_after_cap`)."""
    value = response.headers.get("Retry-After", "").strip()
    if not _DELAY_SECONDS.fullmatch(value):  # ASCII digits (a fraction tolerated) only:
        return None  # float() would also take "1_0", "1e2", other scripts' digits
    seconds = float(value)
    return seconds if math.isfinite(seconds) else None


def never_reached_server(exc: BaseException) -> bool:
    """True when a requests error proves the request was not sent (refused, DNS, connect)."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        item = todo.pop()
        if item is None or id(item) in seen:
            continue
        seen.add(id(item))
        name = type(item).__name__
        if name in (
            "NewConnectionError",
            "NameResolutionError",
            "ConnectTimeoutError",
            "ConnectionRefusedError",
        ):
            return True
        reason = getattr(item, "reason", None)  # an exception, or a plain string (SSLError)
        todo.extend([item.__cause__, item.__context__])
        if isinstance(reason, BaseException):
            todo.append(reason)
        todo.extend(arg for arg in item.args if isinstance(arg, BaseException))
    return False
