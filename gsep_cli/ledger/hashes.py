"""Content hashes of local files, each version of a file hashed once.

Matching an input to an upload or a job needs the SHA-256 of its bytes; reading a large
file for it on every run would be slow, so the ledger's ``file_hashes`` table remembers
the hash per file version (path, size, mtime, inode, ctime).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path

from ..blockmap import BlockMapper, well_formed
from ..blockread import BlockReader, ShortRead
from ..claims import this_process
from ..errors import InputChanged, LedgerError
from ..fileid import FileIdentity
from ..inputfile import open_input
from ..records import path_key
from .database import Database
from .engine import Sql, upsert

#: Hash-cache rows older than this are dropped by :meth:`Ledger.prune` (rehash is cheap).
HASH_CACHE_LIFE = 30 * 86400.0
#: A path names another file on another machine: the cache is keyed by host too.
_HASH_COLUMNS = (
    "host",
    "path",
    "size",
    "mtime_ns",
    "inode",
    "sha256",
    "hashed_at",
    "ctime_ns",
    "blocks",
)
_VERSION_MATCHES = (
    "host = ? AND path = ? AND size = ? AND mtime_ns = ? AND inode = ? AND ctime_ns = ?"
)


def _hash_file(path: Path) -> tuple[str, FileIdentity, bytes]:
    """Hex SHA-256 of a file's content, the version hashed, and its block map
    (:mod:`gsep_cli.blockmap`), all from one read: a helper thread reads ahead and takes
    the block map while this thread takes the SHA-256.

    The file is opened without blocking and must be a regular file
    (:func:`gsep_cli.inputfile.open_input`); it must not change while it is read. Raises
    :class:`~gsep_cli.errors.UsageError` when it cannot be read or is not a regular file,
    :class:`~gsep_cli.errors.InputChanged` when it changed meanwhile.
    """
    fh = open_input(path)
    try:
        before = FileIdentity.from_stat(os.fstat(fh.fileno()))
    except BaseException:
        fh.close()
        raise
    digest = hashlib.sha256()
    mapper = BlockMapper()
    reader = BlockReader(fh, 0, before.size, [mapper.update])
    changed = None
    try:
        while (block := reader.next()) is not None:
            digest.update(block)
    except ShortRead:
        changed = "it got shorter"
    finally:
        reader.close()
    changed = before.changed(path) or changed
    if changed is not None:
        raise InputChanged(
            f"{path} changed while gsep was reading it: {changed}",
            "Wait until nothing writes to the file, then run the command again",
        )
    return digest.hexdigest(), before, mapper.value()


def _version_key(where: str, version: FileIdentity) -> tuple[object, ...]:
    return (
        this_process().host,
        path_key(where),
        version.size,
        version.mtime_ns,
        version.inode,
        version.ctime_ns,
    )


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
                f"SELECT sha256 FROM file_hashes WHERE {_VERSION_MATCHES}",
                _version_key(where, current),
            ).fetchone()
            return None if row is None else str(row[0])

        cached = self._run(lookup, write=False)
        if cached is not None:
            return cached, current
        digest, version, block_map = _hash_file(Path(where))
        self._cache_hash(where, version, digest, block_map)
        return digest, version

    def block_map(self, path: Path, version: FileIdentity) -> bytes | None:
        """The block map (:mod:`gsep_cli.blockmap`) taken when this version of the file
        was hashed, or None: none was taken (an older gsep hashed it; gsep wrote it), or
        the cache holds another version now, or the ledger cannot say (a map only spares
        a read: the upload is checked by reading the file again instead)."""
        where = str(Path(path).resolve())

        def lookup(conn: Sql) -> bytes | None:
            row = conn.execute(
                f"SELECT blocks FROM file_hashes WHERE {_VERSION_MATCHES}",
                _version_key(where, version),
            ).fetchone()
            return None if row is None or row[0] is None else bytes(row[0])

        try:
            found = self._run(lookup, write=False)
        except LedgerError:
            return None
        return found if well_formed(found, version.size) else None

    def forget_hash(self, path: Path) -> None:
        """Forget the cached hash (and block map) of ``path`` on this host, so the next
        :meth:`file_digest` reads the file again: for content found to differ from its
        hash behind unchanged metadata (an edit through ``mmap``). Best effort: a ledger
        that cannot take it (read-only, unreachable) is left as it is."""
        if self.read_only:
            return
        key = (this_process().host, path_key(str(Path(path).resolve())))
        with contextlib.suppress(LedgerError):
            self._run(
                lambda conn: conn.execute(
                    "DELETE FROM file_hashes WHERE host = ? AND path = ?", key
                ),
                write=True,
            )

    def cache_hash(self, path: Path, sha256: str) -> None:
        """Remember the hash of a file gsep just wrote (so checking it later reads nothing).

        The file's current version is what is remembered; OSError when it is gone.
        """
        where = str(Path(path).resolve())
        self._cache_hash(where, FileIdentity.of(where), sha256, None)

    def _cache_hash(
        self, where: str, version: FileIdentity, digest: str, block_map: bytes | None
    ) -> None:
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
                    block_map,
                ),
            ),
            write=True,
        )
