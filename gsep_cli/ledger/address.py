"""Where the ledger lives, as a user writes it: ``GSEP_LEDGER_URL``, ``--ledger URL`` or
the ``ledger_url`` setting.

* empty (the default): the SQLite file in the state folder (:mod:`.location`);
* ``sqlite:///ABSOLUTE/PATH`` (or ``sqlite:RELATIVE/PATH``): a SQLite file elsewhere, such
  as one on a disk several containers of one machine share;
* ``postgresql://`` or ``postgres://``: a PostgreSQL database (libpq's connection URI,
  https://www.postgresql.org/docs/current/libpq-connect.html#LIBPQ-CONNSTRING-URIS),
  shared by runners on many machines; through the ``gsep-cli[postgres]`` extra.

A URL's password is never shown: :func:`masked` replaces it (in the authority and in a
``password=`` query parameter) with ``***``, and it is registered with
:func:`gsep_cli.redact.register_secret` so that no message, log or traceback repeats it.
Prefer libpq's own ways to keep it out of the URL: ``PGPASSWORD`` or ``~/.pgpass``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote

from ..errors import UsageError
from ..redact import register_secret

#: URL schemes that select the PostgreSQL backend (libpq accepts both).
POSTGRES_SCHEMES = ("postgresql", "postgres")
_EXAMPLE = "e.g. postgresql://gsep@db.example.com/gsep, or sqlite:///srv/gsep/ledger.sqlite3"
#: ``password=VALUE`` in a URL's query or libpq's keyword form (blanks around ``=``, a
#: quoted value): what it sets, up to the next ``&`` (or blank, unquoted).
_PASSWORD_PARAM = re.compile(r"(?i)(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|[^&\s]*)")


@dataclass(frozen=True)
class LedgerAddress:
    """A parsed ledger location: ``kind`` is ``"sqlite"`` or ``"postgresql"``; ``target``
    the file (SQLite) or the URL libpq is given (PostgreSQL); ``shown`` what messages
    print (never a password)."""

    kind: str
    target: str = field(repr=False)
    shown: str

    @property
    def path(self) -> Path | None:
        """The SQLite file, or None for a database server."""
        return Path(self.target).expanduser() if self.kind == "sqlite" else None


def _split_userinfo(url: str) -> tuple[str, str, str] | None:
    """``(before, password, after)`` of a URL's ``user:password@`` part, or None when it
    names no password. Read wider than libpq reads it, never narrower: up to the *last*
    ``@`` of the URL, across ``/``, ``#`` and ``?`` (a base64 password holds ``/``, a
    typed one may hold ``@``; libpq would read those URLs as something else, and say so
    with the URL in its message)."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return None
    userinfo = rest.rsplit("@", 1)[0]
    if ":" not in userinfo:
        return None
    user, password = userinfo.split(":", 1)
    head = f"{scheme}://{user}:"
    return head, password, url[len(head) + len(password) :]


def _query_passwords(url: str) -> list[tuple[int, int]]:
    """Where (start, end) each ``password`` value sits in a URL's query: its keyword as
    libpq reads it, percent-decoded (``passwor%64=`` is ``password=`` to it)."""
    if "?" not in url:
        return []
    spans = []
    offset = url.index("?") + 1
    for item in url[offset:].split("&"):
        name, equals, _value = item.partition("=")
        if equals and unquote(name).strip().lower() == "password":
            start = offset + len(name) + 1
            spans.append((start, offset + len(item)))
        offset += len(item) + 1
    return spans


def masked(url: str) -> str:
    """``url`` with any password replaced by ``***``: in ``user:password@`` (read wider
    than libpq does) and in every ``password=`` (a URL's query, percent-encoded keyword
    included; libpq's keyword form)."""
    text = url
    for start, end in reversed(_query_passwords(text)):
        text = text[:start] + "***" + text[end:]
    parts = _split_userinfo(text)
    if parts is not None and parts[1]:
        text = f"{parts[0]}***{parts[2]}"
    return _PASSWORD_PARAM.sub(r"\1***", text)


def passwords(url: str) -> list[str]:
    """Every password ``url`` may hold (as written and percent-decoded; libpq's reading
    and the wider one), for :func:`gsep_cli.redact.register_secret`."""
    found = [m.group(2).strip("'") for m in _PASSWORD_PARAM.finditer(url)]
    found += [url[start:end] for start, end in _query_passwords(url)]
    parts = _split_userinfo(url)
    if parts is not None:
        found.append(parts[1])
        found += parts[1].split("@")  # libpq ends the user part at the first '@'
    return [p for secret in found if secret for p in dict.fromkeys((secret, unquote(secret)))]


def parse_address(url: str, source: str = "the ledger URL") -> LedgerAddress:
    """Parse a ledger location (see the module docstring; surrounding blanks ignored).

    ``source`` names where it came from (``GSEP_LEDGER_URL``, ``--ledger``) for messages.
    Raises :class:`~gsep_cli.errors.UsageError` for anything else, never repeating a
    password (a value that is not a ledger URL is not repeated at all). A password it
    holds is registered as a secret (see the module docstring). Whether libpq can use a
    ``postgresql://`` URL is libpq's to say, when gsep connects.
    """
    text = url.strip()
    for secret in passwords(text):
        register_secret(secret)
    shown = masked(text)
    if not text.isprintable():
        raise UsageError(
            f"{source} holds control characters (not repeated here)", f"Use {_EXAMPLE}"
        )
    scheme, colon, rest = text.partition(":")
    scheme = scheme.lower()
    if colon and scheme in POSTGRES_SCHEMES and rest.startswith("//"):
        return LedgerAddress("postgresql", text, shown)
    if colon and scheme == "sqlite":
        path = unquote(rest[2:] if rest.startswith("//") else rest)  # sqlite:///abs -> /abs
        if not path or "\x00" in path:
            raise UsageError(f"{source} names no file (not repeated here)", f"Use {_EXAMPLE}")
        return LedgerAddress("sqlite", path, shown)
    raise UsageError(
        f"{source} is not a ledger URL (postgresql://..., postgres://... or sqlite:///PATH; "
        "the value is not repeated here)",
        f"Use {_EXAMPLE}; leave it unset for the ledger in the state folder",
    )
