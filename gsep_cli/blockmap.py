"""A file's block map: the CRC-32 of each 1 MiB block, taken in the same read as the
file's SHA-256, so that what an upload sent can be checked against the content the
ledger knows it by without reading the file again.

The ledger matches jobs on a file's SHA-256, hashed before the upload (and cached per
file version). An edit that leaves the file's metadata alone (a write through ``mmap``)
can change the bytes between that hash and the upload. The uploader takes the CRC-32 of
every block it sends; when they equal the map's, what was sent is the content that was
hashed. Each part must start on a block boundary for that (one part always does; several
do when the plan's ``chunkSize`` is a multiple of :data:`MAP_BLOCK`, as the API's 1 GiB
default is); otherwise the file is read again (:mod:`gsep_cli.sentcheck`).

CRC-32 (ISO 3309, as in gzip and PNG; ``zlib.crc32``) is a change detector, not a
cryptographic hash: a changed block keeps its CRC with probability 2**-32. Nothing is to
be gained by forging one (whoever can write the file chooses what is uploaded anyway), and
it costs a quarter of an MD5 here. What the storage server received is still checked
against the part's MD5 (its ETag).
"""

from __future__ import annotations

import zlib

#: Bytes per block of the map (the last block of a file may be shorter).
MAP_BLOCK = 1024 * 1024
_CRC_BYTES = 4


class BlockMapper:
    """Builds the map of a stretch that starts on a block boundary, from its bytes in
    order, in pieces of any size; :meth:`value` is the map so far (4 bytes a block,
    big-endian CRC-32s; a last partial block is counted). ``block``: bytes per block."""

    def __init__(self, block: int = MAP_BLOCK) -> None:
        self._block = block
        self._done = bytearray()
        self._crc = 0
        self._filled = 0

    def update(self, data: bytes | bytearray | memoryview) -> None:
        """Add the next bytes of the stretch."""
        view = memoryview(data).cast("B")
        while len(view):
            take = min(len(view), self._block - self._filled)
            self._crc = zlib.crc32(view[:take], self._crc)
            self._filled += take
            view = view[take:]
            if self._filled == self._block:
                self._done += self._crc.to_bytes(_CRC_BYTES, "big")
                self._crc, self._filled = 0, 0

    def value(self) -> bytes:
        """The map: the CRC-32 of each block seen, the partial last one included."""
        tail = self._crc.to_bytes(_CRC_BYTES, "big") if self._filled else b""
        return bytes(self._done) + tail


def aligned(offset: int) -> bool:
    """Whether a part starting at byte ``offset`` can be checked against a map."""
    return offset % MAP_BLOCK == 0


def part_differs(
    block_map: bytes, offset: int, length: int, sent: bytes, block: int = MAP_BLOCK
) -> bool:
    """Whether the ``length`` bytes of a part sent from ``offset`` (a block boundary),
    whose map is ``sent`` (from :class:`BlockMapper`), differ from the file's map there."""
    first = offset // block * _CRC_BYTES
    return block_map[first : first + blocks_in(length, block) * _CRC_BYTES] != sent


def blocks_in(size: int, block: int = MAP_BLOCK) -> int:
    """How many blocks a map of a ``size``-byte file holds."""
    return -(-size // block)


def well_formed(block_map: bytes | None, size: int) -> bool:
    """Whether ``block_map`` can be the map of a ``size``-byte file."""
    return block_map is not None and len(block_map) == blocks_in(size) * _CRC_BYTES
