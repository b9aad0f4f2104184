"""The sandbox's active faults: a thread-safe book that each request consumes from (the
syntax and the table of kinds: :mod:`gsep_cli.sandbox.faults`)."""

from __future__ import annotations

import threading

from .faults import Fault, parse_fault


class FaultBook:
    """The active faults; ``take(target)`` consumes and returns the next one that applies."""

    def __init__(self, faults: list[Fault] | None = None) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = list(faults or [])

    def add(self, fault: Fault | str) -> Fault:
        """Add a fault (parsed or in its text form) after the existing ones."""
        parsed = parse_fault(fault) if isinstance(fault, str) else fault
        with self._lock:
            self._faults.append(parsed)
        return parsed

    def clear(self) -> None:
        """Remove every fault."""
        with self._lock:
            self._faults.clear()

    def take(
        self,
        target: str,
        kinds: tuple[str, ...] | None = None,
        exclude: tuple[str, ...] = (),
        route: str | None = None,
    ) -> Fault | None:
        """Consume one use of the first live fault for ``target``.

        ``kinds`` limits the search to those kinds; ``exclude`` skips some kinds. ``route``
        is the API endpoint of the request (None when it is none of them): a fault with a
        selector only matches its own route, one without matches any.
        """
        with self._lock:
            for fault in self._faults:
                if fault.target != target or fault.kind in exclude:
                    continue
                if not fault.applies_to(route):
                    continue
                if kinds is not None and fault.kind not in kinds:
                    continue
                if fault.remaining is None:
                    return fault
                if fault.remaining > 0:
                    fault.remaining -= 1
                    return fault
        return None

    def describe(self) -> list[str]:
        """Every fault in its text form, with its remaining count."""
        with self._lock:
            return [fault.describe() for fault in self._faults]
