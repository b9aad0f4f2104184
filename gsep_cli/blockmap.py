"""A file's block map: a digest of each 1 MiB block (the first 16 bytes of its SHA-256),
taken in the same read as the file's SHA-256, so that what an upload sent can be checked
against the content the ledger knows it by without reading the file again.

The ledger matches jobs on a file's SHA-256, hashed before the upload (and cached per
file version). An edit that leaves the file's metadata alone (a write through ``mmap``)
can change the bytes between that hash and the upload. The uploader takes the digest of
every block it sends; when they equal the map's, what was sent is the content that was
hashed. Each part must start on a block boundary for that (one part always does; several
do when the plan's ``chunkSize`` is a multiple of :data:`MAP_BLOCK`, as the API's 1 GiB
default is); otherwise the file is read again (:mod:`gsep_cli.sentcheck`).

SHA-256 (FIPS 180-4), not a checksum: a CRC-32 map was cheaper (0.42 against 0.74 CPU s
per GiB here, with the CPU's SHA instructions), but an edit can be made to keep each
block's CRC-32 (a changed byte and four more), and the upload would then be on record
under the hash of content it did not carry. 128 bits of it leave no such edit to find.
"""

from __future__ import annotations

import hashlib

#: Bytes per block of the map (the last block of a file may be shorter).
MAP_BLOCK = 1024 * 1024
#: Bytes of each block's digest kept in the map: the first half of its SHA-256.
DIGEST_BYTES = 16


class BlockMapper:
    """Builds the map of a stretch that starts on a block boundary, from its bytes in
    order, in pieces of any size; :meth:`value` is the map so far (:data:`DIGEST_BYTES`
    a block; a last partial block is counted). ``block``: bytes per block."""

    def __init__(self, block: int = MAP_BLOCK) -> None:
        self._block = block
        self._done = bytearray()
        self._digest = hashlib.sha256()
        self._filled = 0

    def update(self, data: bytes | bytearray | memoryview) -> None:
        """Add the next bytes of the stretch."""
        view = memoryview(data).cast("B")
        while len(view):
            take = min(len(view), self._block - self._filled)
            self._digest.update(view[:take])
            self._filled += take
            view = view[take:]
            if self._filled == self._block:
                self._done += self._digest.digest()[:DIGEST_BYTES]
                self._digest, self._filled = hashlib.sha256(), 0

    def value(self) -> bytes:
        """The map: the digest of each block seen, the partial last one included."""
        tail = self._digest.digest()[:DIGEST_BYTES] if self._filled else b""
        return bytes(self._done) + tail


def aligned(offset: int) -> bool:
    """Whether a part starting at byte ``offset`` can be checked against a map."""
    return offset % MAP_BLOCK == 0


def part_differs(
    block_map: bytes, offset: int, length: int, sent: bytes, block: int = MAP_BLOCK
) -> bool:
    """Whether the ``length`` bytes of a part sent from ``offset`` (a block boundary),
    whose map is ``sent`` (from :class:`BlockMapper`), differ from the file's map there."""
    first = offset // block * DIGEST_BYTES
    return block_map[first : first + blocks_in(length, block) * DIGEST_BYTES] != sent


def blocks_in(size: int, block: int = MAP_BLOCK) -> int:
    """How many blocks a map of a ``size``-byte file holds."""
    return -(-size // block)


def well_formed(block_map: bytes | None, size: int) -> bool:
    """Whether ``block_map`` can be the map of a ``size``-byte file."""
    return block_map is not None and len(block_map) == blocks_in(size) * DIGEST_BYTES
