"""Safe path components and the file system's limits on them: bytes per name and per path,
whether a folder's file system ignores case, and temporary download names of a fixed length."""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from pathlib import Path

#: Bytes in a file name when ``pathconf`` cannot say (POSIX NAME_MAX on common systems).
NAME_MAX_FALLBACK = 255


#: Bytes in a whole path, the terminating NUL included, when ``pathconf`` cannot say
#: (Linux PATH_MAX).
PATH_MAX_FALLBACK = 4096


_TEMP_PREFIX = ".gsep-"


_TEMP_SUFFIX = ".part"


_TEMP_NAME_HASH_HEX = 16


_TEMP_RANDOM_HEX = 8


#: Length of every temporary name from :func:`temp_path` (ASCII, so bytes = characters).
TEMP_NAME_BYTES = len(_TEMP_PREFIX) + _TEMP_NAME_HASH_HEX + 1 + _TEMP_RANDOM_HEX + len(_TEMP_SUFFIX)


_WINDOWS_RESERVED = re.compile(r"^(con|prn|aux|nul|com[1-9]|lpt[1-9])(\..*)?$", re.IGNORECASE)


def safe_component(value: str, fallback: str = "_") -> str:
    """One path component that cannot escape a folder or upset Windows.

    Backslashes count as separators and only the last part is kept; control characters
    (and lone surrogates the file system cannot encode) are dropped; ``<>:"|?*`` become
    ``_``; ``.``/``..``/empty become ``fallback``; Windows reserved names get a leading
    ``_``; trailing dots and spaces are stripped. The length is not limited here: byte
    limits depend on the whole segment and the file system (see :func:`output_path`).
    """
    text = value.replace("\\", "/").split("/")[-1]
    text = "".join(ch for ch in text if ch >= " " and ch != "\x7f" and _encodable(ch))
    text = re.sub(r'[<>:"|?*]', "_", text).strip().rstrip(". ")
    if text in ("", ".", ".."):
        text = fallback
    if _WINDOWS_RESERVED.match(text):
        text = "_" + text
    return text


def _encodable(ch: str) -> bool:
    """False for a lone surrogate the file-system encoding cannot write (only the
    ``surrogateescape`` range of undecodable bytes in real file names round-trips)."""
    if not "\ud800" <= ch <= "\udfff":
        return True
    try:
        os.fsencode(ch)
    except UnicodeEncodeError:
        return False
    return True


def name_bytes(text: str) -> int:
    """Length of a name as the kernel counts it: bytes of ``os.fsencode`` (UTF-8)."""
    return len(os.fsencode(text))


def name_max(folder: Path) -> int:
    """Longest file name, in bytes, allowed in ``folder`` (or where it will be created):
    ``pathconf(PC_NAME_MAX)`` of its nearest existing folder, else 255."""
    return _pathconf(folder, "PC_NAME_MAX", NAME_MAX_FALLBACK)


def path_max(folder: Path) -> int:
    """``PATH_MAX`` in bytes for paths under ``folder`` (the terminating NUL included, so
    the longest usable path is one byte less): ``pathconf(PC_PATH_MAX)``, else 4096."""
    return _pathconf(folder, "PC_PATH_MAX", PATH_MAX_FALLBACK)


def _pathconf(folder: Path, name: str, fallback: int) -> int:
    pathconf = getattr(os, "pathconf", None)  # absent on Windows
    if pathconf is None:
        return fallback
    try:
        value = pathconf(_nearest_existing_folder(folder), name)
    except (OSError, ValueError):
        return fallback
    return value if isinstance(value, int) and value > 0 else fallback


def _nearest_existing_folder(path: Path) -> Path:
    """``path`` or its closest ancestor that exists: the file system a new folder joins."""
    absolute = Path(os.path.abspath(path))
    for candidate in (absolute, *absolute.parents):
        try:
            if candidate.is_dir():
                return candidate
        except OSError:
            continue
    return Path(absolute.anchor)


def case_insensitive(folder: Path) -> bool:
    """Whether names in ``folder`` (or where it will be created) ignore case, as on
    macOS and Windows by default: probed by looking up an existing folder's name with its
    case swapped. False when no folder on the way has a letter to swap."""
    start = _nearest_existing_folder(folder)
    for candidate in (start, *start.parents):
        swapped = candidate.with_name(candidate.name.swapcase()) if candidate.name else None
        if swapped is None or swapped.name == candidate.name:
            continue
        try:
            return swapped.exists() and os.path.samefile(candidate, swapped)
        except OSError:
            return False
    return False


def temp_path(dest: Path) -> Path:
    """A new hidden temporary name beside ``dest``: ``.gsep-<16 hex>-<8 hex>.part``, where
    the first part is a SHA-256 of ``dest.name`` (see :func:`leftover_temps`) and the
    second is random. Always :data:`TEMP_NAME_BYTES` bytes, so it fits wherever ``dest``'s
    folder can hold a file, however long ``dest.name`` is."""
    random_part = secrets.token_hex(_TEMP_RANDOM_HEX // 2)
    return dest.parent / f"{_TEMP_PREFIX}{_dest_hash(dest.name)}-{random_part}{_TEMP_SUFFIX}"


def leftover_temps(dest: Path) -> list[Path]:
    """Temporary files :func:`temp_path` made for ``dest`` that still exist (sorted);
    [] when the folder cannot be listed."""
    pattern = re.compile(
        re.escape(_TEMP_PREFIX + _dest_hash(dest.name))
        + rf"-[0-9a-f]{{{_TEMP_RANDOM_HEX}}}"
        + re.escape(_TEMP_SUFFIX)
    )
    try:
        names = os.listdir(dest.parent)
    except OSError:
        return []
    return sorted(dest.parent / name for name in names if pattern.fullmatch(name))


def _dest_hash(name: str) -> str:
    data = name.encode("utf-8", "surrogatepass")
    return hashlib.sha256(data).hexdigest()[:_TEMP_NAME_HASH_HEX]
