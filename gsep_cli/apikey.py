"""The API key itself: what a key may hold before it is ever sent (a header value), and
how it is shown (masked). It is never printed, logged or accepted as an argument."""

from __future__ import annotations


def mask_key(key: str) -> str:
    """Show at most the last 4 characters of a key (all of it hidden when short)."""
    if len(key) <= 8:
        return "*" * 8
    return "*" * 8 + key[-4:]


#: Characters an API key may hold: visible ASCII (it travels in an HTTP header).
_KEY_CHARS = frozenset(chr(c) for c in range(0x21, 0x7F))


MAX_KEY_LENGTH = 512


def key_problem(key: str) -> str | None:
    """Why ``key`` cannot be an API key (it never shows the key), or None.

    A key travels in the ``x-ga-apikey`` header (GSEP_API.md 1), so it must be visible
    ASCII: a line break would split the header, a non-ASCII character cannot be encoded.
    """
    if not key:
        return "it is empty"
    if len(key) > MAX_KEY_LENGTH:
        return f"it is longer than {MAX_KEY_LENGTH} characters"
    for ch in key:
        if ch in _KEY_CHARS:
            continue
        if ch in "\r\n":
            return "it holds a line break"
        if ch.isspace():
            return "it holds a space"
        if not ch.isascii():
            return "it holds a character that is not ASCII"
        return "it holds a control character"
    return None
