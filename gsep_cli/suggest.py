"""Did you mean ...?: the close matches of a mistyped name (a command, a stem, a model, a
format), for the hint of the error that refuses it. The one place gsep guesses."""

from __future__ import annotations

from collections.abc import Iterable


def close_matches(word: str, choices: Iterable[str], *, limit: int = 3) -> list[str]:
    """Up to ``limit`` of ``choices`` that look like ``word`` (best first; difflib's ratio
    of at least 0.6, compared case-insensitively). Empty when none is close."""
    import difflib

    by_folded: dict[str, str] = {}
    for choice in choices:
        by_folded.setdefault(choice.lower(), choice)
    found = difflib.get_close_matches(word.lower(), list(by_folded), n=limit, cutoff=0.6)
    return [by_folded[match] for match in found]


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """``"Did you mean 'vocal'?"`` (or ``'a' or 'b'``) for the close matches of ``word``
    among ``choices``; ``""`` when none is close, so it can prefix any hint."""
    matches = close_matches(word, choices)
    if not matches:
        return ""
    quoted = [repr(m) for m in matches]
    listed = quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]
    return f"Did you mean {listed}?"


def with_suggestion(word: str, choices: Iterable[str], hint: str) -> str:
    """``hint`` preceded by :func:`did_you_mean` when something is close."""
    guess = did_you_mean(word, choices)
    return f"{guess} {hint}" if guess else hint
