"""The API transport: every call under the API base URL, with the key, timeouts, redirects,
retries and the rate limit. Its parts have their own modules: sessions
(:mod:`gsep_cli.sessions`), which statuses are retried and how long to wait
(:mod:`gsep_cli.retry`), the limiter (:mod:`gsep_cli.ratelimit`) and what an answer means
(:mod:`gsep_cli.envelope`).

Rules this module keeps (GSEP_API.md, ../shared/research/reliability-anchors.md):

* every request has a (connect, read) timeout;
* ``x-ga-apikey`` is sent only to the configured API origin; redirects are never followed
  automatically, and one to another scheme, host or port is refused;
* GETs are retried on connection errors, timeouts, 429 and 5xx with capped, jittered
  exponential backoff (``Retry-After`` honoured up to a cap; a 429 without it waits the
  documented 60 s block). POSTs that create something are retried only when the request
  provably never reached the server (connection refused, DNS, connect timeout) or when the
  server said it did nothing (429, 503);
* one process stays under the API's 100 requests per minute (a shared limiter).
"""

from __future__ import annotations

import email.utils
import json
import threading
import time
from collections.abc import Callable
from typing import Any

import requests

from . import watchdog
from .envelope import parse_envelope
from .errors import (
    CreationUnconfirmed,
    DeadlineReached,
    GsepError,
    Interrupted,
    RequestRejected,
    ServiceUnavailable,
)
from .origins import UnsafeUrl, origin_of, redirect_target, same_origin
from .ratelimit import Notify, RateLimiter
from .redact import redact, register_secret
from .retry import RetryPolicy, api_retries, never_reached_server, retry_after_seconds
from .sessions import ThreadSessions, make_session

Log = Callable[[str], None]

#: The largest API answer body read (decoded bytes): every answer of the contract is a
#: small JSON document; a server sending more is broken (exit 6), never held in memory.
MAX_ANSWER = 16 * 1024 * 1024


class ApiTransport:
    """Calls under the API base URL, with the key, timeouts, retries and rate limit."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: tuple[float, float] = (10.0, 60.0),
        policy: RetryPolicy | None = None,
        limiter: RateLimiter | None = None,
        notify: Notify | None = None,
        log: Log | None = None,
        sleep: Callable[[float], None] = time.sleep,
        stopped: threading.Event | None = None,
    ) -> None:
        """``stopped``: once set (:meth:`gsep_cli.client.GsepClient.stop_requests`), a
        request waiting for its answer is broken off (Interrupted), except one that may
        cost credits (``call(..., paid=True)``, a job creation): that one must be
        answered and recorded, so it is let finish."""
        self.base_url = base_url.rstrip("/")
        self._key = api_key
        register_secret(api_key)
        self.timeout = timeout
        self.policy = policy or RetryPolicy()
        self.limiter = limiter or RateLimiter()
        self.notify = notify
        self.log = log
        self.sleep = sleep
        self.stopped = stopped
        self._sessions = ThreadSessions(make_session)
        self._sent = threading.local()  # when this thread's last request left the limiter
        self.calls = 0  # requests actually sent (for tests and benchmarks)
        #: Seconds this machine's clock is ahead of the API's (None until an answer says).
        self.clock_skew: float | None = None

    def __repr__(self) -> str:
        return f"ApiTransport(base_url={self.base_url!r})"

    def close(self) -> None:
        """Close every thread's session."""
        self._sessions.close()

    def sent_at(self) -> float | None:
        """When (``time.monotonic()``) this thread's last request was let go by the rate
        limiter: its own time on the wire starts there, its wait for the budget ends."""
        return getattr(self._sent, "at", None)

    def url(self, path: str) -> str:
        """The absolute URL of an API path such as ``/v1/key/info``."""
        return self.base_url + "/" + path.lstrip("/")

    def _wait(self, reason: str, seconds: float, deadline: float | None = None) -> None:
        """Wait before sending a request again; once stopped, no retry and no notice of
        one (its connection cut by the stop, or by an emulator stopping with it)."""
        if self.stopped is not None and self.stopped.is_set():
            raise Interrupted("stopped; the request is not sent again")
        if deadline is not None:  # never sleep past the caller's deadline
            seconds = min(seconds, max(0.0, deadline - time.monotonic()))
        if self.notify is not None and seconds >= 0.5:
            self.notify(reason, seconds)
        self.sleep(seconds)
        _check_deadline(deadline)

    def call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        creates: bool = False,
        deadline: float | None = None,
        urgent: bool = False,
        paid: bool = False,
    ) -> dict[str, Any]:
        """Send one API request and return its ``resultData``.

        ``creates=True`` marks a POST whose repetition could create a second upload or
        job: it is retried only when the server provably did not act on it. Each attempt
        must be answered in full within the connect plus read timeout, however slowly the
        answer arrives. ``deadline`` (a ``time.monotonic()`` instant) bounds the whole
        call, retries included, and interrupts a request in flight:
        :class:`~gsep_cli.errors.DeadlineReached` when it passes. ``urgent`` (a poll of a
        job expected to have finished) goes before other requests waiting for the budget.
        ``paid`` marks a request that may cost credits (a job creation): the stop
        (``stopped``) never breaks it off once sent.
        """
        url = self.url(path)
        policy = self.policy
        last_error: GsepError | None = None
        for attempt in range(1, policy.attempts + 1):
            _check_deadline(deadline)
            try:
                response = self._send(method, url, body, deadline, urgent, paid)
            except requests.RequestException as exc:
                last_error, retryable = self._network_error(exc, creates)
                if retryable and attempt < policy.attempts:
                    self._wait(
                        f"network error ({_short(exc)}); retrying",
                        policy.backoff(attempt),
                        deadline,
                    )
                    continue
                raise last_error from None
            status = response.status_code
            if api_retries(status, creates=creates) and attempt < policy.attempts:
                reason, wait = self._status_wait(response, attempt)
                self._wait(reason, wait, deadline)
                continue
            if creates and status >= 500 and status != 503:
                # a server (or gateway) error says nothing about whether the upload or job
                # was created before it broke: only 503 means "did nothing, try again"
                raise CreationUnconfirmed(
                    f"the API answered HTTP {status} to a request that creates something",
                    "It may have been created anyway (and a job may have cost credits): "
                    "check before repeating it",
                    status=status,
                )
            return parse_envelope(response)
        assert last_error is not None  # pragma: no cover - the loop always returns or raises
        raise last_error  # pragma: no cover

    def _network_error(
        self, exc: requests.RequestException, creates: bool
    ) -> tuple[GsepError, bool]:
        """The error a failed request stands for, and whether sending it again is safe: a
        request that creates something only when it provably never reached the server,
        and never after a certificate problem."""
        reached = not never_reached_server(exc)
        tls = isinstance(exc, requests.exceptions.SSLError)
        # a certificate problem comes before any byte of the request is sent and
        # does not go away by retrying
        retryable = not tls and not (creates and reached)
        if tls:
            hint = "Check the certificate settings, or --base-url"
        elif creates and reached:
            hint = (
                "The request may have reached the server: check before repeating it "
                "(gsep job status / the API dashboard) so you do not pay twice"
            )
        else:
            hint = "Check the network, proxy settings and --base-url, then try again"
        unconfirmed = creates and reached and not tls
        error = (CreationUnconfirmed if unconfirmed else ServiceUnavailable)(
            f"cannot reach the API at {self.base_url}: {_short(exc)}", hint
        )
        return error, retryable

    def _status_wait(self, response: requests.Response, attempt: int) -> tuple[str, float]:
        """Why and how long (seconds) to wait before sending again after a retried status:
        a 429 waits its Retry-After or the documented block, a 5xx its Retry-After (capped)
        or the backoff."""
        status = response.status_code
        retry_after = retry_after_seconds(response)
        if status == 429:  # the block holds for every request of the process
            wait = self.policy.wait_for_429(retry_after)
            self.limiter.hold(wait)
            return "rate limited by the API (HTTP 429); waiting", wait
        asked = None if retry_after is None else self.policy.capped(retry_after)
        return f"API server error (HTTP {status}); retrying", self.policy.delay(attempt, asked)

    def _send(
        self,
        method: str,
        url: str,
        body: dict[str, Any] | None,
        deadline: float | None = None,
        urgent: bool = False,
        paid: bool = False,
    ) -> requests.Response:
        """One request, following only same-origin redirects (at most 5), each answered
        in full within the connect plus read timeout and before ``deadline``."""
        for _ in range(6):
            # before this request's clock starts; its place in the budget lasts until one
            # window after its answer (ratelimit's policy)
            slot = self.limiter.acquire(self.notify, deadline, urgent=urgent)
            self._sent.at = time.monotonic()
            limit = time.monotonic() + self.timeout[0] + self.timeout[1]
            binding = deadline is not None and deadline <= limit
            cancel = None if paid else self.stopped  # a paid request is answered, recorded
            with watchdog.guarding(deadline=deadline if binding else limit, cancel=cancel) as guard:
                try:
                    _check_deadline(deadline)
                    response = self._send_once(method, url, body)
                    if guard.fired is not None:  # cut mid-answer: what came may look whole
                        raise requests.ConnectionError(f"stopped: {guard.fired}")
                except requests.RequestException:
                    if guard.fired == watchdog.CANCELLED:
                        raise Interrupted("stopped: the API request was broken off") from None
                    if guard.fired == watchdog.DEADLINE:
                        if binding:
                            raise DeadlineReached(
                                "the time limit passed while the API was answering"
                            ) from None
                        raise requests.ReadTimeout(  # a drip: as if the answer never came
                            f"the answer took longer than {self.timeout[1]:g} s"
                        ) from None
                    raise
                finally:
                    slot.done()
            if not response.is_redirect:
                return response
            location = response.headers.get("Location", "")
            try:
                target = redirect_target(url, location)
            except UnsafeUrl as exc:
                raise RequestRejected(
                    f"the API redirected to an unsafe URL ({exc}: {origin_of(location)}); "
                    "not following it, so the API key stays on the API host",
                    "Check --base-url / GSEP_BASE_URL",
                    status=response.status_code,
                ) from None
            if not same_origin(target, self.base_url):
                raise RequestRejected(
                    f"the API redirected to another host ({origin_of(target)}); "
                    "not following it, so the API key stays on the API host",
                    "Check --base-url / GSEP_BASE_URL",
                    status=response.status_code,
                )
            if response.status_code in (301, 302, 303):
                method, body = (
                    ("GET", None)
                    if method != "GET" and response.status_code == 303
                    else (method, body)
                )
            url = target
        raise RequestRejected("the API redirected too many times")

    def _send_once(self, method: str, url: str, body: dict[str, Any] | None) -> requests.Response:
        started = time.monotonic()
        if self.log:
            self.log(f"-> {method} {redact(url)}")
        data = json.dumps(body).encode() if body is not None else None
        headers = {"x-ga-apikey": self._key, "Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        self.calls += 1
        response = self._sessions.get().request(
            method,
            url,
            data=data,
            headers=headers,
            timeout=self.timeout,
            allow_redirects=False,
            stream=True,
        )
        _read_capped(response)
        if self.log:
            self.log(
                f"<- {response.status_code} {redact(url)} "
                f"({(time.monotonic() - started) * 1000:.0f} ms)"
            )
        self._note_clock(response.headers.get("Date"))
        return response

    def _note_clock(self, date: str | None) -> None:
        """Remember how far this machine's clock is from the API's (``Date``, RFC 9110
        6.6.1; whole seconds, so only skews of minutes mean anything)."""
        if not date or self.clock_skew is not None:
            return
        try:
            server = email.utils.parsedate_to_datetime(date).timestamp()
        except (TypeError, ValueError, OverflowError, IndexError):
            return
        self.clock_skew = time.time() - server


def _read_capped(response: requests.Response) -> None:
    """Read an answer's body into ``response.content``, at most :data:`MAX_ANSWER` bytes
    (decoded): more is a broken server, not something to hold in memory.

    Raises :class:`~gsep_cli.errors.ServiceUnavailable` over the cap (the connection is
    closed), and the requests errors of a body that breaks off."""
    body = bytearray()
    try:
        for block in response.iter_content(64 * 1024):
            body += block
            if len(body) > MAX_ANSWER:
                raise ServiceUnavailable(
                    f"the API sent an answer of more than {MAX_ANSWER // 2**20} MiB "
                    "(its answers are small JSON documents); not reading the rest",
                    "This is a server or proxy problem; try again later",
                    status=response.status_code,
                )
    except BaseException:
        response.close()
        raise
    response._content = bytes(body)


def _check_deadline(deadline: float | None) -> None:
    if deadline is not None and time.monotonic() >= deadline:
        raise DeadlineReached("the time limit passed before the API answered")


def _short(exc: BaseException) -> str:
    """A one-line, redacted description of a requests error."""
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if "Read timed out" in text or isinstance(exc, requests.ReadTimeout):
        return "timed out waiting for the answer"
    if isinstance(exc, requests.ConnectTimeout):
        return "timed out connecting"
    if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text:
        return (
            "the server's TLS certificate is not trusted (for a private CA set "
            "REQUESTS_CA_BUNDLE or SSL_CERT_FILE)"
        )
    if "Connection refused" in text:
        return "connection refused"
    if "Name or service not known" in text or "NameResolutionError" in text:
        return "host name not found"
    if "Connection reset" in text or "RemoteDisconnected" in text or "Connection aborted" in text:
        return "connection lost"
    return redact(text[:200])
