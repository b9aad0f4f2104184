"""The sandbox behind the emulated link (:mod:`linkemu`), in its own process.

Every URL the sandbox hands out (the base URL, presigned part URLs, result URLs) names
the sandbox's own ``host:port``, and ``gsep sandbox serve`` has no option to advertise
another address. So ``launcher.py``, a benchmark-side script, starts the same
``gsep_cli.sandbox.server.Sandbox`` advertising the proxy's origin: gsep, curl and the
vendor-like client then reach the API, the part uploads and the result downloads all
through the link, with gsep's client unchanged. The benchmark reads the request log from
the sandbox's real port (control calls, off the link).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from common import LaunchedSandbox, launched_sandbox
from linkemu import Link, Shape


@contextlib.contextmanager
def linked_sandbox(shape: Shape, **settings: Any) -> Iterator[tuple[LaunchedSandbox, Link]]:
    """A sandbox whose every URL goes through a fresh :class:`Link` shaped by ``shape``
    (both directions); yields (sandbox, link). Both are stopped on exit."""
    with Link(up=shape) as link, launched_sandbox(settings, advertise=link.origin) as box:
        link.target = ("127.0.0.1", box.port)
        yield box, link


@contextlib.contextmanager
def linked(url: str, shape: Shape) -> Iterator[str]:
    """``url`` (``http://127.0.0.1:PORT/path``) reached through a fresh :class:`Link`:
    yields the same URL on the link's port."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    with Link(("127.0.0.1", parts.port or 80), up=shape) as link:
        yield urlunsplit(parts._replace(netloc=f"127.0.0.1:{link.port}"))
