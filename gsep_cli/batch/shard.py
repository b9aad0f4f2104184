"""``--shard I/N``: this runner's share of an input list, chosen by content, so that N
runners given the same list (a CI matrix, a Kubernetes Indexed Job) each take a disjoint
part with no shared database and no re-planning, and two copies of one work (the same
content under two names) always fall to the same runner, which pays for it once.

An input falls to shard ``1 + int(key[:16], 16) % N``, where ``key`` is its work's content
key (:func:`~gsep_cli.records.job_key`: the audio's SHA-256, with the lyrics' and the
language for the lyrics model). An input that cannot be read falls by its path instead,
so exactly one runner reports it. Shards are numbered from 1, as Playwright's and Jest's
``--shard`` are (a Kubernetes Indexed Job's ``JOB_COMPLETION_INDEX`` starts at 0: give
``$((JOB_COMPLETION_INDEX + 1))``).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import UsageError
from ..ledger import Ledger
from .plan import BatchOptions, content_key

_SHARD = re.compile(r"\s*(\d{1,6})\s*/\s*(\d{1,6})\s*")
_HINT = "Give --shard I/N with 1 <= I <= N, e.g. --shard 1/3 (shards count from 1)"


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` (1 to ``count``) of ``count``."""

    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        """``"I/N"``; UsageError (exit 2) for anything else, or I outside 1..N."""
        match = _SHARD.fullmatch(text)
        if match is None:
            raise UsageError(f"--shard {text!r} is not I/N", _HINT)
        index, count = int(match[1]), int(match[2])
        if not 1 <= index <= count:
            raise UsageError(f"--shard {index}/{count}: the shard must be 1 to {count}", _HINT)
        return cls(index, count)

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def takes(self, key: str) -> bool:
        """Whether the input with this key (hex, 16 digits or more) is this shard's."""
        return int(key[:16], 16) % self.count == self.index - 1


def shard_inputs(
    options: BatchOptions, paths: Sequence[Path], shard: Shard, ledger: Ledger | None
) -> list[Path]:
    """The inputs of ``paths`` that fall to ``shard``, in their order (hashed through the
    ledger's cache when there is one; nothing else is read or written)."""
    taken = []
    for path in paths:
        key = content_key(options, path, ledger)
        if key is None:  # unreadable: its own checks will say why, on one runner only
            key = hashlib.sha256(str(path).encode("utf-8", "surrogateescape")).hexdigest()
        if shard.takes(key):
            taken.append(path)
    return taken
