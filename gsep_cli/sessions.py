"""Where gsep's HTTP sessions come from, and where they end.

:func:`make_session` makes a ``requests.Session`` with big send blocks, no automatic
retries and no API key, whose connections a deadline or stall guard can stop
(:mod:`gsep_cli.watchdog`). :class:`ThreadSessions` keeps one per thread for an owner (the
API transport, a part upload, the downloader) and closes them all when the owner closes:
a Session is not safe to share between threads (psf/requests#2766).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

from . import __version__, watchdog

USER_AGENT = f"gsep/{__version__} (+python-requests/{requests.__version__})"
DEFAULT_BLOCKSIZE = 1024 * 1024  # urllib3's 16 KiB default caps upload speed


class BlockSizeAdapter(HTTPAdapter):
    """An HTTPAdapter whose connections send bodies in ``blocksize`` blocks."""

    def __init__(self, blocksize: int = DEFAULT_BLOCKSIZE, **kwargs: Any) -> None:
        self._blocksize = blocksize
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["blocksize"] = self._blocksize
        super().init_poolmanager(*args, **kwargs)
        watchdog.install(self.poolmanager)  # connections a deadline or stall can stop

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        return watchdog.install(super().proxy_manager_for(proxy, **proxy_kwargs))


#: Origins (``scheme://host:port``) reached directly, never through a proxy from the
#: environment: emulators gsep itself started on this machine's loopback, which a proxy
#: (elsewhere) cannot reach. See :func:`reach_directly`.
_DIRECT: set[str] = set()
_DIRECT_LOCK = threading.Lock()


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


def reach_directly(base_url: str) -> Callable[[], None]:
    """Send every request to ``base_url``'s origin (API, presigned uploads, downloads)
    directly, whatever ``HTTP(S)_PROXY`` says, until the returned function is called.
    For the built-in emulator gsep starts on loopback (``--sandbox``, ``gsep mcp
    --sandbox``); an API at a base URL given by the user keeps the environment's proxy."""
    origin = _origin(base_url)
    with _DIRECT_LOCK:
        _DIRECT.add(origin)

    def forget() -> None:
        with _DIRECT_LOCK:
            _DIRECT.discard(origin)

    return forget


class ManualRedirectSession(requests.Session):
    """A Session that never works out a redirect's next request itself.

    gsep follows redirects by hand, after its own checks (:mod:`gsep_cli.origins`). Even
    with ``allow_redirects=False`` requests prepares ``Response.next`` from the
    ``Location`` header, and a hostile one (bytes that are not UTF-8, a broken IPv6
    literal) made that raise ``UnicodeDecodeError`` or ``ValueError`` out of the request:
    an internal error instead of an answer to judge."""

    def resolve_redirects(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
        return iter(())

    def merge_environment_settings(
        self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any
    ) -> Any:
        """requests' settings from the environment, without a proxy for an origin that
        :func:`reach_directly` names."""
        settings = super().merge_environment_settings(url, proxies, stream, verify, cert)
        if _DIRECT and isinstance(url, str) and _origin(url) in _DIRECT:
            settings["proxies"] = {}
        return settings


def make_session(pool_size: int = 10, blocksize: int = DEFAULT_BLOCKSIZE) -> requests.Session:
    """A requests Session with big send blocks, no automatic retries and no automatic
    redirects (:class:`ManualRedirectSession`).

    It honours ``HTTPS_PROXY``/``NO_PROXY`` and ``REQUESTS_CA_BUNDLE`` as requests does,
    and also ``SSL_CERT_FILE`` (which requests alone ignores: it uses certifi's bundle)
    when neither ``REQUESTS_CA_BUNDLE`` nor ``CURL_CA_BUNDLE`` is set. Carries no API key:
    the key is added per request, for the API only.
    """
    session = ManualRedirectSession()
    cert_file = os.environ.get("SSL_CERT_FILE", "").strip()
    if cert_file and not (os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")):
        session.verify = cert_file
    adapter = BlockSizeAdapter(blocksize, pool_connections=pool_size, pool_maxsize=pool_size)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = USER_AGENT
    return session


class ThreadSessions:
    """One session per thread, made by ``factory`` on the thread's first :meth:`get`.

    :meth:`close` closes every session made so far; a thread that asks again afterwards
    gets a new one (closed by the next :meth:`close`). Safe to use from many threads.
    """

    def __init__(self, factory: Callable[[], requests.Session]) -> None:
        self._factory = factory
        self._local = threading.local()
        self._made: list[requests.Session] = []
        self._lock = threading.Lock()

    def get(self) -> requests.Session:
        """This thread's session."""
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = self._factory()
            self._local.session = session
            with self._lock:
                self._made.append(session)
        return session

    def close(self) -> None:
        """Close every session made so far (connections in use end when their request does)."""
        with self._lock:
            made, self._made = self._made, []
            self._local = threading.local()
        for session in made:
            session.close()
