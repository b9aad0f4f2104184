"""The sandbox behind the emulated link (:mod:`linkemu`), in its own process.

Every URL the sandbox hands out (the base URL, presigned part URLs, result URLs) names
the sandbox's own ``host:port``, and ``gsep sandbox serve`` has no option to advertise
another address. So this launcher, a benchmark-side script, starts the same
``gsep_cli.sandbox.server.Sandbox`` with its ``origin`` property answering the proxy's
origin: gsep, curl and the vendor-like client then reach the API, the part uploads and the
result downloads all through the link, with gsep's client unchanged. The benchmark reads
the request log from the sandbox's real port (control calls, off the link).
"""

from __future__ import annotations

import contextlib
import json
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from common import SandboxProcess
from linkemu import Link, Shape

LAUNCHER = r"""
import json, sys, time
from gsep_cli.sandbox.server import Sandbox

public, settings = sys.argv[1], json.loads(sys.argv[2])

class Behind(Sandbox):
    @property
    def origin(self):  # what the sandbox advertises: the link's address
        return public

box = Behind(**settings).start()
print(box.base_url, box.port, flush=True)
try:
    while True:
        time.sleep(3600)
except KeyboardInterrupt:
    pass
finally:
    box.stop()
"""


class LinkedSandbox(SandboxProcess):
    """A sandbox advertising ``public`` (the link's origin); ``origin`` stays its own
    address, for the control calls (request log) that must not cross the link.

    ``settings`` are :class:`Sandbox` keyword arguments (``job_seconds``, ``chunk_size``
    in bytes, ``rate_limit``, ``rate_window`` in seconds...). Raises ``RuntimeError`` if
    the sandbox does not start."""

    def __init__(self, public: str, settings: dict[str, Any], *, tmpdir: Path) -> None:
        command = [sys.executable, "-c", LAUNCHER, public, json.dumps(settings)]
        words = self._launch(command, tmpdir).split()
        if len(words) != 2 or not words[0].startswith(public):
            self.stop()
            raise RuntimeError(f"sandbox did not start: {words!r}")
        self.base_url = words[0]
        self.port = int(words[1])
        self.origin = f"http://127.0.0.1:{self.port}"


@contextlib.contextmanager
def linked_sandbox(shape: Shape, **settings: Any) -> Iterator[tuple[LinkedSandbox, Link]]:
    """A sandbox whose every URL goes through a fresh :class:`Link` shaped by ``shape``
    (both directions); yields (sandbox, link). Both are stopped on exit."""
    with tempfile.TemporaryDirectory(prefix="gsep-bench-sb-") as tmp, Link(up=shape) as link:
        box = LinkedSandbox(link.origin, settings, tmpdir=Path(tmp))
        link.target = ("127.0.0.1", box.port)
        try:
            yield box, link
        finally:
            box.stop()


@contextlib.contextmanager
def linked(url: str, shape: Shape) -> Iterator[str]:
    """``url`` (``http://127.0.0.1:PORT/path``) reached through a fresh :class:`Link`:
    yields the same URL on the link's port."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    with Link(("127.0.0.1", parts.port or 80), up=shape) as link:
        yield urlunsplit(parts._replace(netloc=f"127.0.0.1:{link.port}"))
