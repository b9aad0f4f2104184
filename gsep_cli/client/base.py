"""What every part of the client shares: the API transport, the policies, the listener,
the downloader, and closing them."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from ..http import ApiTransport
from ..polling import DEFAULT_MAX_WAIT, PollPolicy
from ..progress import Listener, NullListener
from ..ratelimit import RateLimiter
from ..retry import RetryPolicy
from ..storage import DEFAULT_STALL
from ..watchdog import Stall

if TYPE_CHECKING:
    from ..download import Downloader
    from ..jobtimes import Pace


class ClientBase:
    """The client's settings and connections (see :class:`~gsep_cli.client.GsepClient`)."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        listener: Listener | None = None,
        timeout: tuple[float, float] = (10.0, 60.0),
        policy: RetryPolicy | None = None,
        poll: PollPolicy | None = None,
        limiter: RateLimiter | None = None,
        parallel: int = 4,
        log: Callable[[str], None] | None = None,
        sleep: Callable[[float], None] | None = None,
        stall: Stall | None = DEFAULT_STALL,
        max_wait: float = DEFAULT_MAX_WAIT,
    ) -> None:
        self.listener: Listener = listener or NullListener()
        self.policy = policy or RetryPolicy()
        self.poll = poll or PollPolicy()
        self.parallel = parallel
        self.timeout = timeout
        # stop_requests() ends the waits between polls and API retries at once; an injected
        # ``sleep`` (a test's fake clock) is used as given
        self._stopped = threading.Event()
        self.sleep = sleep if sleep is not None else self._sleep_unless_stopped
        self._paces: set[Pace] = set()  # the batch jobs waited on now (their sleeps end too)
        self._waits_lock = threading.Lock()
        self.api = ApiTransport(
            base_url,
            api_key,
            timeout=timeout,
            policy=self.policy,
            limiter=limiter,
            log=log,
            sleep=self.sleep,
            notify=self._notify_wait,
            stopped=self._stopped,
        )
        self.stall = stall
        self.max_wait = max_wait
        self._clock_told = False
        self._log = log
        self._downloader: Downloader | None = None
        self._downloader_lock = threading.Lock()

    @property
    def downloader(self) -> Downloader:
        """The one downloader of result files, made on first use (a status query never
        imports it); the configured read timeout and stall limit hold for every request:
        API, parts and results alike."""
        with self._downloader_lock:
            if self._downloader is None:
                from ..download import Downloader

                self._downloader = Downloader(
                    self.listener, self.policy, self.timeout, log=self._log, stall=self.stall
                )
            return self._downloader

    def close(self) -> None:
        """Release network connections: the API transport's and the downloader's."""
        self.api.close()
        if self._downloader is not None:
            self._downloader.close()

    def _notify_wait(self, reason: str, seconds: float) -> None:
        self.listener.notice(f"{reason} ({seconds:.0f} s)")

    def notice(self, text: str) -> None:
        """Tell the listener something worth a line (``Listener.notice``)."""
        self.listener.notice(text)

    def stop_requests(self) -> None:
        """Send no API request any more: those waiting for the rate limit's budget end
        unsent with :class:`~gsep_cli.errors.Interrupted` (Ctrl-C; see
        :meth:`gsep_cli.ratelimit.RateLimiter.close`). A wait between polls or before an
        API retry ends now too, and an API request waiting for its answer (a poll that
        hangs) is broken off, so a job's wait in another thread ends with that exception
        at once — except a job creation already sent: it may have cost credits, so it is
        answered and recorded. An upload in flight sends no further part and breaks off
        those on the wire (it raises Interrupted within a quarter second; its upload is
        never completed). Downloads go on: :meth:`cancel_downloads` stops them, a request
        waiting for its answer included."""
        self.api.limiter.close()
        with self._waits_lock:
            self._stopped.set()
            paces = list(self._paces)
        for pace in paces:
            pace.stop()

    @contextlib.contextmanager
    def _waiting(self, pace: Pace | None) -> Iterator[None]:
        """A job's wait in progress: :meth:`stop_requests` ends its sleeps too."""
        if pace is None:
            yield
            return
        with self._waits_lock:
            self._paces.add(pace)
            stopped = self._stopped.is_set()
        if stopped:
            pace.stop()
        try:
            yield
        finally:
            with self._waits_lock:
                self._paces.discard(pace)

    def _sleep_unless_stopped(self, seconds: float) -> None:
        self._stopped.wait(max(0.0, seconds))

    def cancel_downloads(self) -> None:
        """Stop every download in flight — one waiting for its answer or before a retry
        included — and remove its partial files (Ctrl-C)."""
        self.downloader.cancel()

    @property
    def read_timeout(self) -> float:
        """Seconds the client waits for an answer to start (the read timeout)."""
        return self.timeout[1]
