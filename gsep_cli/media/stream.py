"""What every reader shares: the stream protocol, the error, exact reads."""

from __future__ import annotations

from typing import Protocol


class MediaError(ValueError):
    """A media file is malformed, truncated or uses an unsupported encoding."""


class ByteStream(Protocol):
    """What the readers here need: a seekable binary stream (a file, ``BytesIO``, the
    sandbox's ``UploadReader``)."""

    def read(self, size: int = ..., /) -> bytes: ...

    def seek(self, offset: int, whence: int = ..., /) -> int: ...

    def tell(self) -> int: ...


def read_at(fp: ByteStream, pos: int, size: int) -> bytes:
    """Up to ``size`` bytes at ``pos``."""
    fp.seek(pos)
    return read_exact(fp, size)


def read_exact(fp: ByteStream, size: int) -> bytes:
    """Read ``size`` bytes, looping over short reads; fewer only at end of file."""
    parts: list[bytes] = []
    while size > 0:
        chunk = fp.read(size)
        if not chunk:
            break
        parts.append(chunk)
        size -= len(chunk)
    return b"".join(parts)
