"""One version of one local file: how gsep notices an input that changes under it.

A job is paid for the bytes that were uploaded, and the ledger remembers them by their
SHA-256. Both are only true if the file did not change between hashing it and sending
its last byte. :class:`FileIdentity` is the evidence: device, inode, size, and the
modification and status-change times in nanoseconds. Any write to the file changes its
ctime, which, unlike mtime, no unprivileged program can set back (POSIX ``stat``); a file
replaced by a rename has another inode. Comparing the identity taken before hashing with
the one after the upload therefore catches every edit a user or another program makes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["FileIdentity"]


@dataclass(frozen=True)
class FileIdentity:
    """What identifies one version of a file (``os.stat`` fields; times in ns)."""

    device: int
    inode: int
    size: int
    mtime_ns: int
    ctime_ns: int

    @classmethod
    def of(cls, path: Path | str) -> FileIdentity:
        """The identity of the file at ``path`` now (follows symlinks; OSError if gone)."""
        return cls.from_stat(os.stat(path))

    @classmethod
    def from_stat(cls, st: os.stat_result) -> FileIdentity:
        """The identity in an ``os.stat`` result."""
        return cls(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)

    def changed(self, path: Path | str) -> str | None:
        """None when ``path`` is still this version, else what changed (for a message)."""
        try:
            now = FileIdentity.of(path)
        except OSError as exc:
            return f"it can no longer be read ({exc.strerror or exc})"
        if (now.device, now.inode) != (self.device, self.inode):
            return "it was replaced by another file"
        if now.size != self.size:
            return f"its size changed from {self.size} to {now.size} bytes"
        if (now.mtime_ns, now.ctime_ns) != (self.mtime_ns, self.ctime_ns):
            return "it was modified"
        return None
