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
from urllib.parse import parse_qsl, unquote, urlsplit

from ..errors import UsageError
from ..redact import register_secret

#: URL schemes that select the PostgreSQL backend (libpq accepts both).
POSTGRES_SCHEMES = ("postgresql", "postgres")
_EXAMPLE = "e.g. postgresql://gsep@db.example.com/gsep, or sqlite:///srv/gsep/ledger.sqlite3"
_PASSWORD_PARAM = re.compile(r"(?i)(\bpassword=)([^&]*)")


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


def masked(url: str) -> str:
    """``url`` with any password replaced by ``***`` (authority and ``password=``)."""
    text = _PASSWORD_PARAM.sub(r"\1***", url)
    try:
        parts = urlsplit(text)
    except ValueError:
        return "<a ledger URL that cannot be parsed>"
    if parts.password is None:
        return text
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    return parts._replace(netloc=f"{user}:***@{host}").geturl()


def parse_address(url: str, source: str = "the ledger URL") -> LedgerAddress:
    """Parse a ledger location (see the module docstring; surrounding blanks ignored).

    ``source`` names where it came from (``GSEP_LEDGER_URL``, ``--ledger``) for messages.
    Raises :class:`~gsep_cli.errors.UsageError` for anything else, never repeating a
    password. A password it holds is registered as a secret (see the module docstring).
    """
    text = url.strip()
    shown = masked(text)
    if not text.isprintable():
        raise UsageError(f"{source} holds control characters", f"Use {_EXAMPLE}")
    scheme, colon, rest = text.partition(":")
    scheme = scheme.lower()
    if colon and scheme in POSTGRES_SCHEMES:
        try:
            parts = urlsplit(text)
            parts.port  # noqa: B018  (a bad port raises here, not deep inside libpq)
        except ValueError:
            raise UsageError(f"{source} {shown} is not a valid URL", f"Use {_EXAMPLE}") from None
        for secret in (parts.password, *_query_passwords(parts.query)):
            if secret:
                register_secret(secret)
                register_secret(unquote(secret))
        return LedgerAddress("postgresql", text, shown)
    if colon and scheme == "sqlite":
        path = rest[2:] if rest.startswith("//") else rest  # sqlite:///abs -> /abs
        if not path or "\x00" in path:
            raise UsageError(f"{source} {shown} names no file", f"Use {_EXAMPLE}")
        return LedgerAddress("sqlite", unquote(path), shown)
    raise UsageError(
        f"{source} {shown[:80]!r} is not a ledger URL (postgresql://..., postgres://... or "
        "sqlite:///PATH)",
        f"Use {_EXAMPLE}; leave it unset for the ledger in the state folder",
    )


def _query_passwords(query: str) -> list[str]:
    return [value for name, value in parse_qsl(query) if name.lower() == "password"]
