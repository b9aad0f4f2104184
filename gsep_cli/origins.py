"""Where a URL really goes: the scheme, host and port requests connects to, read with the
parser the connection uses (requests' own preparation of the URL, then urllib3's
``parse_url``), never with a second one that may read the same text differently.

Python's ``urllib.parse.urlsplit`` and urllib3 disagree on some URLs: in
``http://evil:1\\@api:2/`` urlsplit sees host ``api`` (``evil:1\\`` is userinfo) while
urllib3, like browsers (WHATWG), ends the authority at the backslash and connects to
``evil``. A check made with one parser and a connection made with the other would send
the API key to ``evil``. Hence :func:`redirect_target` refuses any target with a
backslash, a control character, a space or userinfo, and any on which the two parsers
disagree, and :func:`same_origin` compares what urllib3 reads.
"""

from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit

import requests
from urllib3.exceptions import LocationParseError
from urllib3.util import parse_url

from .redact import redact

_DEFAULT_PORTS = {"http": 80, "https": 443}
# a backslash, ASCII controls and spaces: read differently by different URL parsers
_AMBIGUOUS = re.compile(r"[\\\x00-\x20\x7f]")

Origin = tuple[str, str, int | None]


class UnsafeUrl(ValueError):
    """A URL (a redirect's target) that parsers may read as two different hosts."""


def prepared(url: str) -> str:
    """``url`` as requests will send it (requests' own ``prepare_url``).

    Raises :class:`UnsafeUrl` when requests refuses it."""
    request = requests.PreparedRequest()
    try:
        request.prepare_url(url, None)
    except (requests.RequestException, ValueError) as exc:
        raise UnsafeUrl(str(exc)) from None
    return str(request.url)


def origin(url: str) -> Origin:
    """(scheme, host, port) of the connection requests makes for ``url``: host lower case
    without IPv6 brackets, port filled in for http and https. Raises :class:`UnsafeUrl`
    when no connection could be made of it."""
    try:
        parts = parse_url(prepared(url))
    except ValueError as exc:  # urllib3's LocationParseError is one
        raise UnsafeUrl(str(exc)) from None
    scheme = (parts.scheme or "").lower()
    host = (parts.host or "").lower().strip("[]")
    return scheme, host, parts.port or _DEFAULT_PORTS.get(scheme)


def same_origin(a: str, b: str) -> bool:
    """True when two URLs lead to the same scheme, host and port as requests connects
    (the key may travel between them); False for a URL no connection could be made of."""
    try:
        return origin(a) == origin(b)
    except UnsafeUrl:
        return False


def redirect_target(current: str, location: str) -> str:
    """The absolute URL a redirect from ``current`` to ``location`` leads to.

    Raises :class:`UnsafeUrl` for a target with a backslash, a control character or a
    space, userinfo (``user@`` in the authority), or one on which Python's parser and
    urllib3's disagree about scheme, host or port.
    """
    if _AMBIGUOUS.search(location):
        raise UnsafeUrl("a backslash, space or control character in the redirect target")
    target = urljoin(current, location)
    if _AMBIGUOUS.search(target):
        raise UnsafeUrl("a backslash, space or control character in the redirect target")
    try:  # a target no connection could be made of is refused, never a crash
        sent = prepared(target)
        theirs = parse_url(sent)
        ours = urlsplit(sent)
        our_port = ours.port
    except (ValueError, LocationParseError) as exc:
        raise UnsafeUrl(f"the redirect target cannot be read ({exc})") from None
    if theirs.auth is not None or "@" in ours.netloc:
        raise UnsafeUrl("userinfo (user@) in the redirect target")
    if (ours.hostname or "", our_port) != (
        (theirs.host or "").lower().strip("[]"),
        theirs.port,
    ) or ours.scheme.lower() != (theirs.scheme or "").lower():
        raise UnsafeUrl("URL parsers disagree about the redirect target's host")
    return target


def origin_of(url: str) -> str:
    """``scheme://host:port`` of a URL as the connection reads it (never its path, signed
    query or userinfo), for messages; ``?`` when it has none."""
    try:
        parts = parse_url(url.strip())
    except ValueError:
        return "?"
    if not parts.scheme:
        return "?"
    host = parts.host or ""
    port = f":{parts.port}" if parts.port is not None else ""
    return redact(f"{parts.scheme}://{host}{port}")
