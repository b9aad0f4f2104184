"""The sandbox's request handler: every request is sent to its route family (control,
API, part upload, download), and whatever goes wrong becomes an answer, never a
traceback page or a dead server thread.
"""

from __future__ import annotations

import contextlib
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from .api import BASE_PATH, ApiRoutes
from .control import CONTROL_PREFIX, ControlRoutes
from .downloads import CDN_PREFIX, DownloadRoutes
from .exchange import BadRequest, ConnectionAborted
from .parts import S3_PREFIX, PartRoutes


class Handler(ControlRoutes, ApiRoutes, PartRoutes, DownloadRoutes):
    """One connection's handler: the routes of every family, and the dispatch to them."""

    def _dispatch(self) -> None:
        sandbox = self.server.sandbox
        url = urlsplit(self.path)
        self._url_path = url.path
        self._query = dict(parse_qsl(url.query, keep_blank_values=True))
        self._entry = sandbox._log_request(self, url.path, url.query)
        self._body_done = False
        self._drip_rate: float | None = None  # *-drip: the answer's body, bytes per second
        try:
            if url.path.startswith(CONTROL_PREFIX):
                self._control(url.path[len(CONTROL_PREFIX) :])
            elif url.path == BASE_PATH or url.path.startswith(BASE_PATH + "/"):
                self._api(url.path[len(BASE_PATH) :])
            elif url.path.startswith(S3_PREFIX):
                self._part_upload(url.path)
            elif url.path.startswith(CDN_PREFIX):
                self._download(url.path)
            else:
                self._json(404, {"resultCode": 1100, "resultMessage": f"no route {url.path}"})
        except BadRequest as exc:
            payload: dict[str, Any] = {"resultMessage": exc.message}
            if exc.result_code is not None:
                payload = {"resultCode": exc.result_code, **payload}
            try:
                self._json(exc.status, payload)
            except (ConnectionAborted, OSError):
                self.close_connection = True
        except ConnectionAborted:
            self.close_connection = True
        except (ConnectionError, TimeoutError) as exc:  # the peer went away or stalled
            self._entry["error"] = f"{type(exc).__name__}: {exc}"
            self.close_connection = True
        except Exception as exc:  # never a traceback page, never a dead server thread
            self._entry["error"] = f"{type(exc).__name__}: {exc}"
            if sandbox.verbose:
                import traceback

                traceback.print_exc()
            with contextlib.suppress(Exception):
                self._json(500, {"resultCode": 1100, "resultMessage": "sandbox internal error"})
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = _dispatch
