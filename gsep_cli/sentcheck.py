"""Did the upload send the content that was hashed?

An input edited while it uploads can leave its size, mtime, ctime and inode as they were
(a write through ``mmap`` to pages already dirty), so comparing metadata is not enough.
Before an upload is completed — before any job can be paid for it — what was sent is
checked against the content the ledger matches jobs on (its SHA-256), in one of two ways:

* :func:`blocks_differ`, without reading anything: the block map of what each part sent
  (taken while sending) against the map taken when the file was hashed
  (:mod:`gsep_cli.blockmap`). It needs that map and every part on a block boundary.
* :func:`sent_differs` otherwise: the file is read once more. Its SHA-256 must still be
  the one hashed, and each part whose ETag is a plain MD5 (GSEP_API.md 2.2: the quoted
  hex MD5 of the chunk) must match the bytes now in the file at that part's place, and so
  must the MD5 of what each part sent (computed while sending, whatever the ETag looks
  like).

A mismatch means the upload may mix versions.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from .blockmap import aligned, part_differs, well_formed
from .inputfile import open_input

_MD5 = re.compile(r"[0-9a-f]{32}")
_BLOCK = 1 << 20


def sent_differs(
    path: Path,
    sha256: str,
    chunk_size: int,
    parts: Sequence[tuple[int, str]],
    sent_md5: Mapping[int, str] | None = None,
) -> str | None:
    """Why what was sent may differ from the content hashed as ``sha256``, else None.

    ``parts``: (part number from 1, ETag as the storage server answered) per part;
    ``sent_md5``: the hex MD5 of the bytes each part sent, as the uploader computed it
    (compared whatever the ETags look like: with server-side encryption they are not
    MD5s); ``chunk_size``: the plan's bytes per part. Reads the whole file once."""
    etags = {number: etag.strip().strip('"').lower() for number, etag in parts}
    etags.update({number: md5.lower() for number, md5 in (sent_md5 or {}).items()})
    whole = hashlib.sha256()
    number = 1
    part = hashlib.md5(usedforsecurity=False)
    left = chunk_size
    with open_input(path) as fh:
        while block := fh.read(min(_BLOCK, left)):
            whole.update(block)
            part.update(block)
            left -= len(block)
            if left == 0:
                if _differs(etags.get(number), part.hexdigest()):
                    return f"part {number} as sent differs from the file now"
                number, part, left = number + 1, hashlib.md5(usedforsecurity=False), chunk_size
    if left < chunk_size and _differs(etags.get(number), part.hexdigest()):
        return f"part {number} as sent differs from the file now"
    if whole.hexdigest() != sha256:
        return "its content is not what was hashed before the upload"
    return None


def blocks_checkable(block_map: bytes | None, size: int, chunk_size: int) -> bool:
    """Whether :func:`blocks_differ` can check an upload of a ``size``-byte file in
    ``chunk_size``-byte parts: ``block_map`` is a map of such a file, and every part
    starts on a block boundary (one part always does)."""
    return well_formed(block_map, size) and (chunk_size >= size or aligned(chunk_size))


def blocks_differ(
    block_map: bytes, size: int, chunk_size: int, sent_blocks: Mapping[int, bytes]
) -> str | None:
    """Why what was sent differs from the content whose map is ``block_map``, or None.

    ``sent_blocks``: part number (from 1) -> the block map of what it sent (a part
    missing from it counts as differing); ``chunk_size``: the plan's bytes per part.
    Reads nothing; see :func:`blocks_checkable` for when it applies."""
    for number in range(1, max(1, -(-size // chunk_size)) + 1):
        offset = (number - 1) * chunk_size
        length = max(0, min(chunk_size, size - offset))
        sent = sent_blocks.get(number)
        if sent is None or part_differs(block_map, offset, length, sent):
            return f"part {number} as sent differs from the content that was hashed"
    return None


def _differs(etag: str | None, md5: str) -> bool:
    return etag is not None and _MD5.fullmatch(etag) is not None and etag != md5
