"""Reading a stretch of a file block by block, one block ahead, on a helper thread that
also hashes each block, so that hashing overlaps with what the caller does with the
previous block (send it, or feed it to another hash).

Each block is read with ``readinto`` into one of a few reused buffers and handed out as a
``memoryview`` of it (no copy between the file, the hashes and the socket). ``hashlib``
and ``zlib`` release the GIL for buffers this large, as file reads and socket sends do, so
on two or more cores the helper's hashing costs the caller almost no time.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from typing import BinaryIO

#: Bytes per block: the measured send block of :mod:`gsep_cli.sessions` (1 MiB).
BLOCK = 1024 * 1024
#: Buffers in turn: one with the caller while the helper fills and hashes the other.
#: Two, three and four measured alike (1 GiB into a discarding receiver, 2 cores), and
#: each costs a block of memory per part in flight (``--parallel`` up to 16).
BUFFERS = 2
#: How long :meth:`BlockReader.close` waits for the helper (seconds): it ends as soon as
#: its current ``readinto`` or hash returns, which a hung file system can delay.
CLOSE_WAIT = 5.0
#: How long one wait for the helper lasts before looking again (seconds).
_SLICE = 0.25

_END = object()


class ShortRead(Exception):
    """The file ended ``missing`` bytes before the stretch did (it got shorter)."""

    def __init__(self, missing: int) -> None:
        super().__init__(f"the file ended {missing} bytes early")
        self.missing = missing


class BlockReader:
    """Bytes ``[offset, offset + length)`` of ``fh``, in blocks of ``block`` bytes.

    ``ahead`` are called with each block (a ``memoryview``) on the helper thread, in file
    order, before the block is handed out: digests' ``update`` methods. The caller takes
    blocks with :meth:`next` from one thread; a block stays valid until the next call
    (its buffer is then reused). ``fh`` becomes the reader's: the helper closes it when
    it ends, which :meth:`close` asks it to do (a read in progress finishes first).
    """

    def __init__(
        self,
        fh: BinaryIO,
        offset: int,
        length: int,
        ahead: Sequence[Callable[[memoryview], object]] = (),
        *,
        block: int = BLOCK,
    ) -> None:
        self._fh = fh
        self._offset = offset
        self._length = length
        self._ahead = tuple(ahead)
        self._block = block
        self._free: queue.SimpleQueue[bytearray | None] = queue.SimpleQueue()
        # a block (its view, its buffer), _END, or what the helper raised
        self._ready: queue.SimpleQueue[tuple[memoryview, bytearray] | BaseException | object]
        self._ready = queue.SimpleQueue()
        self._held: bytearray | None = None
        self._stop = threading.Event()
        self._done = False
        for _ in range(BUFFERS if length > block else 1):
            self._free.put(bytearray(min(block, max(length, 1))))
        self._thread = threading.Thread(target=self._fill, name="gsep-read", daemon=True)
        self._thread.start()

    def next(self, timeout: float | None = None) -> memoryview | None:
        """The next block, or None after the last; raises what reading or a digest
        raised on the helper (:class:`ShortRead` when the file ended early), and
        ``TimeoutError`` when no block came within ``timeout`` seconds (a read that hangs:
        a stuck network file system), after which it may be called again. Without a
        timeout it waits in short slices, so signals are handled meanwhile."""
        if self._held is not None:  # the caller is done with the previous block
            self._free.put(self._held)
            self._held = None
        if self._done:
            return None
        if self._stop.is_set():
            raise ValueError("the block reader was closed before its end")
        item = self._take(timeout)
        if item is _END:
            self._done = True
            return None
        if isinstance(item, BaseException):
            self._done = True
            raise item
        assert isinstance(item, tuple)
        view: memoryview = item[0]
        self._held = item[1]
        return view

    def _take(self, timeout: float | None) -> object:
        waited = 0.0
        while True:
            wait = _SLICE if timeout is None else min(_SLICE, timeout - waited)
            try:
                return self._ready.get(timeout=max(wait, 0.0))
            except queue.Empty:
                waited += wait
                if timeout is not None and waited >= timeout:
                    raise TimeoutError(f"no block read within {timeout:g} s") from None

    def close(self, wait: float = CLOSE_WAIT) -> bool:
        """Stop the helper and wait for it (at most ``wait`` seconds); True when it ended
        (and closed the file). A helper still in a read that hangs is left to end (and
        close the file) when that read returns: it is a daemon thread."""
        self._stop.set()
        self._free.put(None)  # wakes a helper waiting for a buffer
        self._thread.join(wait)
        return not self._thread.is_alive()

    def _fill(self) -> None:
        try:
            self._fh.seek(self._offset)
            left = self._length
            while left > 0:
                buffer = self._free.get()
                if buffer is None or self._stop.is_set():
                    return
                want = min(len(buffer), left)
                view = memoryview(buffer)[:want]
                got = _read_fully(self._fh, view)
                if got < want:
                    raise ShortRead(left - got)
                for digest in self._ahead:
                    digest(view)
                left -= want
                self._ready.put((view, buffer))
            self._ready.put(_END)
        except BaseException as exc:  # handed to the caller's next()
            self._ready.put(exc)
        finally:
            try:
                self._fh.close()
            finally:
                self._ready.put(_END)  # whatever happened, a next() waiting wakes up


def _read_fully(fh: BinaryIO, view: memoryview) -> int:
    """Fill ``view`` from ``fh``; the bytes read (fewer only at the end of the file)."""
    got = 0
    while got < len(view):
        n = fh.readinto(view[got:])  # type: ignore[attr-defined]
        if not n:
            break
        got += n
    return got
