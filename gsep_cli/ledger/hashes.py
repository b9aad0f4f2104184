"""Content hashes of local files, each version of a file hashed once.

Matching an input to an upload or a job needs the SHA-256 of its bytes; reading a large
file for it on every run would be slow, so the ledger's ``file_hashes`` table remembers
the hash per file version (path, size, mtime, inode, ctime).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from ..claims import this_process
from ..errors import InputChanged
from ..fileid import FileIdentity
from ..inputfile import open_input
from ..records import path_key
from .database import Database
from .engine import Sql, upsert

#: Hash-cache rows older than this are dropped by :meth:`Ledger.prune` (rehash is cheap).
HASH_CACHE_LIFE = 30 * 86400.0
_BLOCK = 1 << 20  # 1 MiB
#: A path names another file on another machine: the cache is keyed by host too.
_HASH_COLUMNS = ("host", "path", "size", "mtime_ns", "inode", "sha256", "hashed_at", "ctime_ns")


def _hash_file(path: Path) -> tuple[str, FileIdentity]:
    """Hex SHA-256 of a file's content (1 MiB blocks, one read) and the version hashed.

    The file is opened without blocking and must be a regular file
    (:func:`gsep_cli.inputfile.open_input`); it must not change while it is read. Raises
    :class:`~gsep_cli.errors.UsageError` when it cannot be read or is not a regular file,
    :class:`~gsep_cli.errors.InputChanged` when it changed meanwhile.
    """
    with open_input(path) as fh:
        before = FileIdentity.from_stat(os.fstat(fh.fileno()))
        digest = hashlib.sha256()
        while block := fh.read(_BLOCK):
            digest.update(block)
    changed = before.changed(path)
    if changed is not None:
        raise InputChanged(
            f"{path} changed while gsep was reading it: {changed}",
            "Wait until nothing writes to the file, then run the command again",
        )
    return digest.hexdigest(), before


class HashCache(Database):
    """The ledger's part that hashes files and remembers their hashes."""

    def file_sha256(self, path: Path) -> str:
        """Hex SHA-256 of a file, hashed once per file version (see :meth:`file_digest`)."""
        return self.file_digest(path)[0]

    def file_digest(self, path: Path) -> tuple[str, FileIdentity]:
        """Hex SHA-256 of a file and the version it belongs to, hashed once per version.

        The cache is keyed on the absolute path, size, mtime_ns, inode and ctime_ns: an
        unchanged file is not read again. Raises OSError (missing or unreadable file) and
        :class:`~gsep_cli.errors.InputChanged` (not a regular file, or it changed while
        it was read).
        """
        where = str(Path(path).resolve())
        current = FileIdentity.of(where)

        def lookup(conn: Sql) -> str | None:
            row = conn.execute(
                "SELECT sha256 FROM file_hashes WHERE host = ? AND path = ? AND size = ? "
                "AND mtime_ns = ? AND inode = ? AND ctime_ns = ?",
                (
                    this_process().host,
                    path_key(where),
                    current.size,
                    current.mtime_ns,
                    current.inode,
                    current.ctime_ns,
                ),
            ).fetchone()
            return None if row is None else str(row[0])

        cached = self._run(lookup, write=False)
        if cached is not None:
            return cached, current
        digest, version = _hash_file(Path(where))
        self._cache_hash(where, version, digest)
        return digest, version

    def cache_hash(self, path: Path, sha256: str) -> None:
        """Remember the hash of a file gsep just wrote (so checking it later reads nothing).

        The file's current version is what is remembered; OSError when it is gone.
        """
        where = str(Path(path).resolve())
        self._cache_hash(where, FileIdentity.of(where), sha256)

    def _cache_hash(self, where: str, version: FileIdentity, digest: str) -> None:
        if self.read_only:  # a dry run leaves no trace: hashed again next time
            return
        now = self._clock()
        self._run(
            lambda conn: conn.execute(
                upsert("file_hashes", _HASH_COLUMNS, ("host", "path")),
                (
                    this_process().host,
                    path_key(where),
                    version.size,
                    version.mtime_ns,
                    version.inode,
                    digest,
                    now,
                    version.ctime_ns,
                ),
            ),
            write=True,
        )
