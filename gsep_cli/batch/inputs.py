"""The inputs of ``gsep separate``: files, folders (recursive, globs) and paths on stdin."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TextIO

from .. import media
from ..errors import (
    UsageError,
)


def collect_inputs(
    args: Sequence[str],
    *,
    recursive: bool = False,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    kinds: Iterable[str] = ("wav", "flac", "mp3", "mp4", "mov"),
    stdin: TextIO | None = None,
) -> list[Path]:
    """Expand the command line into input files, in order, without duplicates.

    ``-`` reads one path per line from ``stdin`` (spaces and any characters kept, empty
    lines skipped). A directory contributes its supported files (sorted; with
    ``recursive``, from every level), filtered by the ``include``/``exclude`` globs,
    matched against the file name and the path relative to that directory (a lone string:
    one glob). A file named
    explicitly is always taken: its own checks will say if it is unusable.
    """
    wanted = {ext for ext, kind in media.EXTENSION_KINDS.items() if kind in set(kinds)}
    # a lone glob is one glob, never its characters (one of which, "*", matches all)
    include = (include,) if isinstance(include, str) else include
    exclude = (exclude,) if isinstance(exclude, str) else exclude
    paths: list[Path] = []
    for arg in args:
        if arg == "-":
            if stdin is None:
                raise UsageError("'-' given but there is no standard input")
            paths.extend(Path(line.rstrip("\r\n")) for line in stdin if line.strip())
            continue
        if not arg:  # Path("") is ".": an unset variable must not mean the whole folder
            raise UsageError(
                "an input path is empty",
                "Give an audio file or folder (for the current folder: '.')",
            )
        path = Path(arg)
        if path.is_dir():
            found = path.rglob("*") if recursive else path.glob("*")
            before = len(paths)
            for candidate in sorted(found):
                relative = candidate.relative_to(path).as_posix()
                if not candidate.is_file() or candidate.suffix.lower() not in wanted:
                    continue
                if include and not _matches(include, candidate.name, relative):
                    continue
                if exclude and _matches(exclude, candidate.name, relative):
                    continue
                paths.append(candidate)
            if len(paths) == before:
                raise UsageError(
                    f"{path} is a directory with no supported audio files"
                    + ("" if recursive else " (subfolders not searched)"),
                    "Use --recursive for subfolders, check --include/--exclude, or name files",
                )
            continue
        paths.append(path)
    seen: set[Path] = set()
    unique = []
    for path in paths:
        key = path.resolve() if path.exists() else path.absolute()
        if key not in seen:
            seen.add(key)
            unique.append(path)
    if not unique:
        raise UsageError(
            "no input files",
            "Name files or folders, or '-' to read paths "
            "from stdin; folders need supported files (use --recursive for "
            "subfolders)",
        )
    return unique


def _matches(globs: Sequence[str], name: str, relative: str) -> bool:
    return any(fnmatch.fnmatch(name, g) or fnmatch.fnmatch(relative, g) for g in globs)
