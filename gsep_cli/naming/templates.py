"""The ``--name-template``: its fields, what an input gives them, and rendering one output
path within the file system's limits (only ``{track}`` is ever shortened)."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import UsageError
from .components import (
    TEMP_NAME_BYTES,
    name_bytes,
    name_max,
    path_max,
    safe_component,
)

DEFAULT_TEMPLATE = "{track}/{stem}.{ext}"


TEMPLATE_FIELDS = ("track", "stem", "ext", "model", "job", "dir", "trackext")


#: Hex digits of the track hash appended to a shortened ``{track}``.
TRACK_HASH_HEX = 6


#: The shortest ``{track}`` can become: ``~`` and the hash, nothing of the name.
MIN_TRACK_BYTES = 1 + TRACK_HASH_HEX


_SEPARATORS = re.compile(r"[/\\]")


_FIELD = re.compile(r"({[^{}]*})")


_EXAMPLE = "Example: --name-template '{track}/{stem}.{ext}'"


def check_template(template: str) -> str:
    """Validate a ``--name-template``: relative, no empty/``.``/``..`` part, known fields
    only, and a file name that is not ``{dir}`` alone. Returns it; raises UsageError."""
    absolute = template.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", template)
    if not template.strip() or absolute:
        raise UsageError(f"--name-template {template!r} must be a relative path", _EXAMPLE)
    segments = _SEPARATORS.split(template)
    for segment in segments:
        if segment.strip() in ("", ".", ".."):
            raise UsageError(
                f"--name-template {template!r} has an empty, '.' or '..' part", _EXAMPLE
            )
    for field_name in re.findall(r"{([^{}]*)}", template):
        if field_name not in TEMPLATE_FIELDS:
            raise UsageError(
                f"--name-template: unknown field {{{field_name}}}",
                "Fields: " + ", ".join(f"{{{f}}}" for f in TEMPLATE_FIELDS),
            )
    if segments[-1] == "{dir}":  # {dir} alone may vanish: nothing would name the file
        raise UsageError(
            f"--name-template {template!r} ends in {{dir}}, a folder, not a file name",
            _EXAMPLE,
        )
    return template


@dataclass(frozen=True)
class InputFields:
    """What one input contributes to its output names.

    ``track``: the file name without its extension. ``trackext``: the extension without
    the dot ("" if none). ``dir``: the input's folder as ``/``-separated components,
    relative to the current folder when inside it ("" for the current folder itself),
    otherwise the absolute folder without its root or drive. ``gsep download`` with no
    input on record uses ``InputFields(job_id)``: ``{dir}`` and ``{trackext}`` empty.
    """

    track: str
    trackext: str = ""
    dir: str = ""

    @classmethod
    def of(cls, path: Path, cwd: Path | None = None) -> InputFields:
        """The fields of the input file ``path`` (relative paths are taken from ``cwd``,
        default the current folder). Lexical: the file need not exist."""
        here = Path(os.path.abspath(cwd if cwd is not None else Path.cwd()))
        full = Path(os.path.normpath(here / path))
        return cls(full.stem, full.suffix[1:], "/".join(_folder_parts(full.parent, here)))


def _folder_parts(folder: Path, here: Path) -> tuple[str, ...]:
    try:
        return folder.relative_to(here).parts
    except ValueError:
        pass
    try:  # the same folder reached through a symlink (macOS: /tmp is /private/tmp)
        return folder.resolve().relative_to(here.resolve()).parts
    except (ValueError, OSError, RuntimeError):  # RuntimeError: a symlink loop (< 3.13)
        return folder.parts[1:]  # outside the current folder: drop the root or drive


def template_values(
    source: InputFields, *, stem: str, ext: str, model: str, job: str
) -> dict[str, str]:
    """Every field's raw value for one output of one input (for :func:`output_path`)."""
    return {
        "track": source.track,
        "trackext": source.trackext,
        "dir": source.dir,
        "stem": stem,
        "ext": ext,
        "model": model,
        "job": job,
    }


def output_path(out_dir: Path, template: str, fields: Mapping[str, str]) -> Path:
    """Render ``template`` with raw ``fields`` into a path inside ``out_dir``.

    Each field value and each rendered segment passes :func:`safe_component`; a missing
    field renders as ``_`` (``{dir}``/``{trackext}``: empty). A segment that is exactly
    ``{dir}`` becomes zero or more folders; elsewhere ``{dir}``'s components are joined
    with ``_``. Every component must fit :func:`name_max` bytes: when one does not, what
    ``{track}`` contributed is cut at a character boundary and given ``~`` plus a hash
    (see :func:`_shortened_track`). Raises UsageError (exit 2) when a component cannot
    fit even then, when the whole path (or its temporary sibling) reaches
    :func:`path_max` bytes, or when a symlink would lead it out of ``out_dir``.
    """
    limit = name_max(out_dir)
    values = _safe_values(fields)
    parts: list[str] = []
    for segment in _SEPARATORS.split(template):
        if segment == "{dir}":
            parts.extend(_fitting_folder(part, limit) for part in dir_parts(fields))
        else:
            parts.append(_render_segment(segment, values, fields.get("track", ""), limit))
    path = out_dir.joinpath(*parts)
    _check_path_length(path, out_dir)
    _check_inside(path, out_dir)
    return path


def _safe_values(fields: Mapping[str, str]) -> dict[str, str]:
    values = {name: safe_component(fields.get(name, "")) for name in TEMPLATE_FIELDS}
    values["trackext"] = safe_component(fields.get("trackext", ""), fallback="")
    values["dir"] = "_".join(dir_parts(fields))
    return values


def dir_parts(fields: Mapping[str, str]) -> list[str]:
    """``{dir}`` as safe folder names: ``..`` cannot climb, ``.`` and empty parts vanish."""
    raw = _SEPARATORS.split(fields.get("dir", ""))
    return [safe_component(part) for part in raw if part not in ("", ".")]


def _pieces(segment: str) -> list[str]:
    """A segment split into literal text and ``{field}`` tokens, in order."""
    return [piece for piece in _FIELD.split(segment) if piece]


def _join(pieces: Sequence[str], values: Mapping[str, str]) -> str:
    """Fields replaced in one pass (a value that looks like ``{stem}`` stays text)."""
    text = "".join(
        values.get(piece[1:-1], piece) if _is_field(piece) else piece for piece in pieces
    )
    return safe_component(text)


def _is_field(piece: str) -> bool:
    return piece.startswith("{") and piece.endswith("}") and piece[1:-1] in TEMPLATE_FIELDS


def _render_segment(segment: str, values: Mapping[str, str], raw_track: str, limit: int) -> str:
    pieces = _pieces(segment)
    rendered = _join(pieces, values)
    if name_bytes(rendered) <= limit:
        return rendered
    tracks = pieces.count("{track}")
    if not tracks:
        raise _too_long(segment, rendered, limit)
    fixed = name_bytes("".join(values[p[1:-1]] if _is_field(p) else p for p in pieces))
    fixed -= tracks * name_bytes(values["track"])
    budget = (limit - fixed) // tracks
    while budget >= MIN_TRACK_BYTES:
        short = _shortened_track(values["track"], raw_track, budget)
        candidate = _join(pieces, {**values, "track": short})
        if name_bytes(candidate) <= limit:  # safe_component may add "_" or strip: check
            return candidate
        budget -= 1
    raise _too_long(segment, rendered, limit, shortest=fixed + tracks * MIN_TRACK_BYTES)


def _shortened_track(track: str, raw_track: str, budget: int) -> str:
    """``track`` in at most ``budget`` bytes: its start, cut at a character boundary and
    stripped of trailing dots and spaces, then ``~`` and 6 hex digits of a SHA-256 of the
    full raw value, so long names sharing a start stay apart. The hash also covers the
    budget: two outputs whose other fields differ in length cut the track at different
    places, and ``"a" + T[:n]`` must not meet ``"ab" + T[:n-1]``."""
    head = _cut_to_bytes(track, budget - MIN_TRACK_BYTES).rstrip(". ")
    data = f"{budget}:".encode() + raw_track.encode("utf-8", "surrogatepass")
    return f"{head}~{hashlib.sha256(data).hexdigest()[:TRACK_HASH_HEX]}"


def _cut_to_bytes(text: str, room: int) -> str:
    kept: list[str] = []
    used = 0
    for ch in text:
        size = name_bytes(ch)
        if used + size > room:
            break
        kept.append(ch)
        used += size
    return "".join(kept)


def _fitting_folder(name: str, limit: int) -> str:
    if name_bytes(name) > limit:
        raise _too_long("{dir}", name, limit)
    return name


def _too_long(segment: str, rendered: str, limit: int, shortest: int | None = None) -> UsageError:
    size = name_bytes(rendered)
    how = ""
    if shortest is not None and shortest < size:
        how = f" (still {shortest} with {{track}} shortened)"
    return UsageError(
        f"--name-template part {_preview(segment)!r} gives a {size}-byte name{how}, over "
        f"the {limit}-byte limit for a file name here: {_preview(rendered)}",
        "Use shorter text in --name-template, or split that part into folders with /",
    )


def _preview(text: str, keep: int = 60) -> str:
    """A long name shortened for a message: its start and its end."""
    if len(text) <= keep:
        return text
    half = (keep - 3) // 2
    return text[:half] + "..." + text[-half:]


def _check_path_length(path: Path, out_dir: Path) -> None:
    """Refuse a path the kernel would refuse (ENAMETOOLONG), its temporary sibling
    (:func:`temp_path`) included, before anything is paid for."""
    folder = name_bytes(os.path.abspath(path.parent))
    longest = folder + 1 + max(name_bytes(path.name), TEMP_NAME_BYTES)
    limit = path_max(out_dir)
    if longest >= limit:  # PATH_MAX counts the terminating NUL
        raise UsageError(
            f"output path {_preview(str(path), 100)} is too long: {longest} bytes, over "
            f"this system's limit of {limit - 1}",
            "Use a shorter -o DIR or --name-template",
        )


def _check_inside(path: Path, out_dir: Path) -> None:
    root = out_dir.resolve()
    resolved = path.resolve()
    if resolved != root and root not in resolved.parents:
        raise UsageError(f"output name {path} would leave the output folder {out_dir}")
