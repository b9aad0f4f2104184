"""One part of an input as a request body: read in blocks from its place in the file,
hashed (MD5, for the part's ETag) and counted as it is sent, and refused when the file
ends early (it got shorter while uploading)."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from pathlib import Path

from . import watchdog
from .errors import InputChanged
from .inputfile import open_input
from .storage import Cancelled


class FileSlice:
    """Bytes ``[offset, offset + length)`` of a file, read lazily, hashed as they are read.

    ``len()`` and a slice-relative ``tell()`` let requests compute the exact
    Content-Length (a wrong ``tell()`` silently turns the body chunked, which S3 refuses).
    """

    def __init__(
        self,
        path: Path,
        offset: int,
        length: int,
        on_read: Callable[[int], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> None:
        self._path = path
        self._fh = open_input(path)  # never blocks on a FIFO swapped in; closed by close()
        self._fh.seek(offset)
        self._length = length
        self._pos = 0
        self._on_read = on_read
        self._cancel = cancel
        self.md5 = hashlib.md5(usedforsecurity=False)

    def __len__(self) -> int:
        return self._length

    def tell(self) -> int:
        """Position inside the slice (not the file)."""
        return self._pos

    def read(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes of the slice (all that is left when negative)."""
        if self._cancel is not None and self._cancel.is_set():
            raise Cancelled
        left = self._length - self._pos
        size = left if size is None or size < 0 else min(size, left)
        data = self._fh.read(size) if size > 0 else b""
        if size > 0 and not data:  # the file ended early: it got shorter while uploading
            raise InputChanged(
                f"{self._path} changed while it was being uploaded (it got shorter); the "
                "upload was not completed and nothing was paid for",
                "Wait until nothing writes to the file, then run the command again",
            )
        if not data:  # all of it is on the wire: the server's answer may take a moment
            guard = watchdog.current()
            if guard is not None:
                guard.awaiting_answer()
        self._pos += len(data)
        if data:
            self.md5.update(data)
            if self._on_read is not None:
                self._on_read(len(data))
        return data

    def close(self) -> None:
        """Close the underlying file."""
        self._fh.close()
