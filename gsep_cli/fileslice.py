"""One part of an input as a request body: read from its place in the file one block
ahead and hashed (MD5, for the part's ETag) on a helper thread while the previous block
is on the wire; counted (and, when asked, block-mapped) as it is sent; refused when the
file ends early (it got shorter while uploading)."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from pathlib import Path

from . import watchdog
from .blockmap import BlockMapper
from .blockread import BLOCK, BlockReader, ShortRead
from .errors import InputChanged
from .inputfile import open_input
from .storage import Cancelled

#: How often a wait for the next block looks at cancellation and the request's guard (s).
_LOOK_EVERY = 0.25


class FileSlice:
    """Bytes ``[offset, offset + length)`` of a file as a request body, never in memory
    whole: :meth:`read` hands out blocks (``memoryview``, at most 1 MiB) that a helper
    thread read and hashed ahead (:class:`~gsep_cli.blockread.BlockReader`).

    ``len()`` and a slice-relative ``tell()`` let requests compute the exact
    Content-Length (a wrong ``tell()`` silently turns the body chunked, which S3 refuses).
    ``md5`` is the MD5 of the bytes handed out, complete once :meth:`read` returned
    ``b""``; with ``map_blocks`` (``offset`` on a block boundary), :meth:`block_map` is
    their block map (:mod:`gsep_cli.blockmap`). ``block``: bytes read ahead at a time
    (two such buffers are held). Call :meth:`close` when done.
    """

    def __init__(
        self,
        path: Path,
        offset: int,
        length: int,
        on_read: Callable[[int], None] | None = None,
        cancel: threading.Event | None = None,
        *,
        map_blocks: bool = False,
        block: int = BLOCK,
    ) -> None:
        self._path = path
        self._length = length
        self._pos = 0
        self._on_read = on_read
        self._cancel = cancel
        self.md5 = hashlib.md5(usedforsecurity=False)
        self._mapper = BlockMapper() if map_blocks else None
        # never blocks on a FIFO swapped in; the reader closes it. The MD5, the larger
        # cost, is the helper's; the block map is taken here, beside the sending
        self._reader = BlockReader(open_input(path), offset, length, [self.md5.update], block=block)
        self._view: memoryview | None = None

    def __len__(self) -> int:
        return self._length

    def tell(self) -> int:
        """Position inside the slice (not the file)."""
        return self._pos

    def read(self, size: int = -1) -> bytes | memoryview:
        """Up to ``size`` bytes of the slice (all that is left when negative); a view of
        a buffer that stays valid until the next call."""
        if self._cancel is not None and self._cancel.is_set():
            raise Cancelled
        if size == 0:
            return b""
        if size is None or size < 0:
            return b"".join(bytes(piece) for piece in iter(lambda: self.read(1 << 30), b""))
        if not self._view:
            self._view = self._next_block()
            if self._view is None:  # all of it was handed over: the answer may take a while
                guard = watchdog.current()
                if guard is not None:
                    guard.body_sent()
                return b""
        piece, self._view = self._view[:size], self._view[size:]
        self._pos += len(piece)
        if piece and self._on_read is not None:
            self._on_read(len(piece))
        return piece

    def _next_block(self) -> memoryview | None:
        """The next block, waiting for the helper in short slices: a read that never
        returns (a stuck network file system) leaves this request to the bounds on it
        (the stall rule or deadline, which end it through its guard) and to Ctrl-C."""
        try:
            while True:
                try:
                    block = self._reader.next(timeout=_LOOK_EVERY)
                    break
                except TimeoutError:
                    if self._cancel is not None and self._cancel.is_set():
                        raise Cancelled from None
                    guard = watchdog.current()
                    if guard is not None and guard.fired is not None:
                        raise OSError(f"reading the input stopped: {guard.fired}") from None
        except ShortRead:
            raise InputChanged(
                f"{self._path} changed while it was being uploaded (it got shorter); the "
                "upload was not completed and nothing was paid for",
                "Wait until nothing writes to the file, then run the command again",
            ) from None
        if block is not None and self._mapper is not None:
            self._mapper.update(block)
        return block

    def block_map(self) -> bytes | None:
        """The block map of what was handed out, or None without ``map_blocks``."""
        return self._mapper.value() if self._mapper is not None else None

    def close(self) -> None:
        """Stop the helper thread, without waiting for it: it closes the file when it
        ends (at once, unless it is in a read that hangs, which must not hold up a retry
        or the end of the process)."""
        self._view = None
        self._reader.close(wait=0.0)
