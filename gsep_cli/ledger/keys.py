"""The identities the ledger's records are keyed on: the API host and a fingerprint of the
API key (the key itself is never stored).

Uploads and jobs are only reusable on the same API host and with the same key, so both are
part of every match.
"""

from __future__ import annotations

import hashlib
from urllib.parse import urlsplit

from ..errors import UsageError

_FP_PREFIX = b"gsep-key-fingerprint:"

#: The API host that ``--sandbox`` work is recorded under. Each ``--sandbox`` command
#: starts its emulator on a new loopback port, so its real ``http://127.0.0.1:PORT`` would
#: make every run a stranger to the last; one stable name lets a re-run find what the
#: previous one did, exactly as a re-run against the real API does. It is not a URL, so it
#: can never match a real host (and it is only ever written to the sandbox's own ledger).
SANDBOX_HOST = "sandbox"


def key_fingerprint(api_key: str) -> str:
    """A short, one-way fingerprint of an API key (16 hex characters); the key is never stored."""
    return hashlib.sha256(_FP_PREFIX + api_key.encode("utf-8")).hexdigest()[:16]


def api_host(base_url: str) -> str:
    """``scheme://host[:port]`` of an API base URL, lower-cased, default ports dropped, a
    fully qualified name's final dot dropped (``example.com.`` is ``example.com``, RFC
    1034 section 3.1).

    Uploads and jobs are only reusable on the same API host. Different names of one
    server (``localhost`` and ``127.0.0.1``, a CNAME) count as different hosts: gsep cannot
    know they are one. Raises
    :class:`~gsep_cli.errors.UsageError` when ``base_url`` is not an http(s) URL with a host.
    """
    parts = urlsplit(base_url.strip())
    scheme = parts.scheme.lower()
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        host = port = None
    if scheme not in ("http", "https") or not host:
        raise UsageError(
            f"base URL {base_url!r} is not an http(s) URL",
            "Use e.g. https://restapi.gaudiolab.io/developers/api",
        )
    host = host.lower().rstrip(".") or host
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    if port is None or (scheme, port) in (("http", 80), ("https", 443)):
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"
