"""Output names: the ``--name-template``, safe path components, byte limits, temporary
names, and collisions refused before any request.

Rules and where they come from:

* A template is a relative path of ``/``-separated segments; each segment mixes literal
  text and fields (:data:`TEMPLATE_FIELDS`). ``{track}``, ``{stem}``, ``{ext}`` come from
  the first versions of gsep; ``{trackext}`` (the input's extension) is named after
  demucs' ``--filename`` fields, which users already know; ``{dir}`` is the input's folder.
* Every value and every rendered segment passes :func:`safe_component`, so no name can
  leave the output folder, hold a control character or be a Windows device name.
* Limits are in bytes of the file-system encoding (``os.fsencode``, UTF-8 on every
  supported system), the unit the kernel counts: a file name at most POSIX ``NAME_MAX``
  and a whole path under ``PATH_MAX``, both asked of the file system with
  ``os.pathconf`` (255 and 4096 where it cannot answer, e.g. on Windows, where 255
  UTF-8 bytes is never more than the 255 UTF-16 units NTFS allows).
* Only what ``{track}`` contributed to a segment is ever shortened; ``{stem}``, ``{ext}``
  and the template's own text are never cut. A segment that cannot fit is refused.
* Temporary download names have a fixed length (:data:`TEMP_NAME_BYTES`), whatever the
  final name's length.
* Two outputs are one file when their resolved paths are equal or, where the output
  folder's file system ignores case (:func:`case_insensitive`, probed, not assumed from
  the platform), equal once NFC-normalised and case-folded. A batch whose outputs meet is
  refused as a whole before any request (:func:`plan_outputs`).
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import shlex
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .errors import UsageError

DEFAULT_TEMPLATE = "{track}/{stem}.{ext}"
TEMPLATE_FIELDS = ("track", "stem", "ext", "model", "job", "dir", "trackext")

#: Bytes in a file name when ``pathconf`` cannot say (POSIX NAME_MAX on common systems).
NAME_MAX_FALLBACK = 255
#: Bytes in a whole path, the terminating NUL included, when ``pathconf`` cannot say
#: (Linux PATH_MAX).
PATH_MAX_FALLBACK = 4096
#: Hex digits of the track hash appended to a shortened ``{track}``.
TRACK_HASH_HEX = 6
#: The shortest ``{track}`` can become: ``~`` and the hash, nothing of the name.
MIN_TRACK_BYTES = 1 + TRACK_HASH_HEX

_TEMP_PREFIX = ".gsep-"
_TEMP_SUFFIX = ".part"
_TEMP_NAME_HASH_HEX = 16
_TEMP_RANDOM_HEX = 8
#: Length of every temporary name from :func:`temp_path` (ASCII, so bytes = characters).
TEMP_NAME_BYTES = len(_TEMP_PREFIX) + _TEMP_NAME_HASH_HEX + 1 + _TEMP_RANDOM_HEX + len(_TEMP_SUFFIX)

_WINDOWS_RESERVED = re.compile(r"^(con|prn|aux|nul|com[1-9]|lpt[1-9])(\..*)?$", re.IGNORECASE)
_SEPARATORS = re.compile(r"[/\\]")
_FIELD = re.compile(r"({[^{}]*})")
_EXAMPLE = "Example: --name-template '{track}/{stem}.{ext}'"


# ---- components ------------------------------------------------------------------------
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


# ---- file-system limits ------------------------------------------------------------------
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


# ---- templates ---------------------------------------------------------------------------
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


# ---- rendering ---------------------------------------------------------------------------
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
            parts.extend(_fitting_folder(part, limit) for part in _dir_parts(fields))
        else:
            parts.append(_render_segment(segment, values, fields.get("track", ""), limit))
    path = out_dir.joinpath(*parts)
    _check_path_length(path, out_dir)
    _check_inside(path, out_dir)
    return path


def _safe_values(fields: Mapping[str, str]) -> dict[str, str]:
    values = {name: safe_component(fields.get(name, "")) for name in TEMPLATE_FIELDS}
    values["trackext"] = safe_component(fields.get("trackext", ""), fallback="")
    values["dir"] = "_".join(_dir_parts(fields))
    return values


def _dir_parts(fields: Mapping[str, str]) -> list[str]:
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


# ---- temporary names ----------------------------------------------------------------------
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


# ---- collisions --------------------------------------------------------------------------
def output_paths(
    out_dir: Path,
    template: str,
    source: InputFields,
    outputs: Sequence[tuple[str, str]],
    *,
    model: str,
    job: str,
    label: str | None = None,
) -> list[Path]:
    """The paths of one input's outputs, ``outputs`` being ``(stem, ext)`` pairs, in
    order. Raises UsageError (exit 2) when two of them would be one file; the hint names
    exactly the fields the template lacks to tell them apart. ``label`` names the input
    in that message."""
    fold = case_insensitive(out_dir)
    paths = _render_input(out_dir, template, source, outputs, model, job)
    _refuse_shared_paths(paths, outputs, template, label, fold)
    return paths


def _render_input(
    out_dir: Path,
    template: str,
    source: InputFields,
    outputs: Sequence[tuple[str, str]],
    model: str,
    job: str,
) -> list[Path]:
    return [
        output_path(
            out_dir, template, template_values(source, stem=stem, ext=ext, model=model, job=job)
        )
        for stem, ext in outputs
    ]


def _refuse_shared_paths(
    paths: Sequence[Path],
    outputs: Sequence[tuple[str, str]],
    template: str,
    label: str | None,
    fold: bool,
) -> None:
    seen: dict[str, int] = {}
    clashes: list[tuple[int, int]] = []
    for index, path in enumerate(paths):
        key = path_key(path, fold)
        if key in seen:
            clashes.append((seen[key], index))
        else:
            seen[key] = index
    if not clashes:
        return
    first, second = clashes[0]
    (stem_a, ext_a), (stem_b, ext_b) = outputs[first], outputs[second]
    of = f" of {label}" if label else ""
    raise UsageError(
        f"the name template maps two outputs{of} ({stem_a}.{ext_a} and {stem_b}.{ext_b}) "
        f"to the same file {paths[first]}",
        _outputs_hint(template, [(outputs[a], outputs[b]) for a, b in clashes]),
    )


def _outputs_hint(template: str, pairs: Iterable[tuple[tuple[str, str], tuple[str, str]]]) -> str:
    """The fields (``{stem}`` before ``{ext}``) that would tell every clashing pair apart,
    or (when the template has them all) the honest reason: the names differ only in
    characters a file name drops."""
    clashes = list(pairs)
    missing = []
    for position, token in enumerate(("{stem}", "{ext}")):
        if token not in template and any(a[position] != b[position] for a, b in clashes):
            missing.append(token)
    if missing:
        return "Include " + " and ".join(missing) + " in --name-template"
    return "Their names differ only in characters a file name cannot keep"


def refuse_collisions(paths: Sequence[Path]) -> None:
    """Refuse two outputs on one path (compared resolved). Prefer :func:`output_paths`,
    whose hint can name the missing field; this one knows only the paths."""
    fold = bool(paths) and case_insensitive(paths[0].parent)
    keys = [path_key(path, fold) for path in paths]
    if len(set(keys)) != len(keys):
        raise UsageError(
            "the name template maps two outputs to the same file",
            "Give each output its own name with --name-template",
        )


def path_key(path: Path, fold_case: bool = False) -> str:
    """What makes two output paths one file: the resolved path, and when the file system
    ignores case (:func:`case_insensitive`) its NFC case-folded form too. Case folding is
    close to, not exactly, what APFS and NTFS do; it errs towards refusing."""
    key = str(path.resolve())
    return unicodedata.normalize("NFC", key).casefold() if fold_case else key


def plan_outputs(
    inputs: Sequence[Path],
    out_dir: Path,
    template: str,
    outputs: Sequence[tuple[str, str]],
    model: str,
    *,
    jobs: Sequence[str] | None = None,
    cwd: Path | None = None,
) -> list[list[Path]]:
    """Every input's output paths, before any request: ``result[i]`` lists the paths of
    ``inputs[i]`` in the order of ``outputs`` (``(stem, ext)`` pairs the model will give).

    ``{job}`` is not known before the jobs exist: ``jobs[i]`` stands in for input ``i``
    (pass an identity of the work, so identical inputs share it); by default
    ``job-<n>``, distinct for every input. Raises UsageError (exit 2) when two outputs of
    one input, or of two inputs, would be one file (see :func:`path_key`); the message
    names both inputs and the path, the hint the field that tells them apart
    (``{track}``, ``{dir}``, ``{trackext}``) with a template using it, or "rename one of
    them". Also raises what :func:`output_path` raises.
    """
    fold = case_insensitive(out_dir)
    owners: dict[str, tuple[int, InputFields]] = {}
    planned: list[list[Path]] = []
    sources = {path_key(Path(p), fold): p for p in inputs}
    for index, path in enumerate(inputs):
        source = InputFields.of(path, cwd)
        job = jobs[index] if jobs is not None else f"job-{index + 1}"
        paths = _render_input(out_dir, template, source, outputs, model, job)
        _refuse_shared_paths(paths, outputs, template, str(path), fold)
        for target in paths:
            key = path_key(target, fold)
            if key in sources:  # --force would replace the audio it came from
                raise UsageError(
                    f"{path}'s output {target} would be the input {sources[key]} itself",
                    "Choose another -o DIR or --name-template (e.g. '{track}/{stem}.{ext}')",
                )
            if key in owners and owners[key][0] != index:
                other, other_source = owners[key]
                raise UsageError(
                    f"{inputs[other]} and {path} would both write {target}",
                    _inputs_hint(template, other_source, source, fold),
                )
            owners[key] = (index, source)
        planned.append(paths)
    _refuse_files_over_folders(planned, inputs, fold)
    return planned


def _refuse_files_over_folders(
    planned: Sequence[Sequence[Path]], inputs: Sequence[Path], fold: bool
) -> None:
    """Refuse a plan in which one output is a file where another needs a folder
    (``{dir}/{track}`` writing ``out/p`` for ``p.wav`` and ``out/p/q`` for ``p/q.wav``):
    the second could never be written, after both were paid for."""
    files = {
        path_key(target, fold): index for index, paths in enumerate(planned) for target in paths
    }
    for index, paths in enumerate(planned):
        for target in paths:
            for parent in target.parents:
                owner = files.get(path_key(parent, fold))
                if owner is not None:
                    raise UsageError(
                        f"{inputs[owner]} would write the file {parent}, where {inputs[index]} "
                        f"needs a folder for {target}",
                        "Add {stem} or {ext} to --name-template so every output is a file "
                        "inside a folder of its own, e.g. '{dir}/{track}/{stem}.{ext}'",
                    )


def _inputs_hint(template: str, first: InputFields, second: InputFields, fold: bool) -> str:
    """The first field that differs between two inputs and that the template lacks, with
    the template that uses it; else "rename one of them" (which helps only through
    ``{track}``, so a template without it is told to add it)."""
    for name in ("track", "dir", "trackext"):
        token = "{" + name + "}"
        if token not in template and _field_key(first, name, fold) != _field_key(
            second, name, fold
        ):
            return f"Add {token}: --name-template {shlex.quote(_with_field(template, name))}"
    if "{track}" not in template:
        return "Rename one of them and add {track}: --name-template " + shlex.quote(
            _with_field(template, "track")
        )
    return "Rename one of them"


def _field_key(source: InputFields, name: str, fold: bool) -> str:
    """A field as it ends up in a name, so a hint never offers a field whose values
    become equal once made safe (``a:b`` and ``a_b``) or equal but for case."""
    if name == "dir":
        value = "/".join(_dir_parts({"dir": source.dir}))
    else:
        value = safe_component(getattr(source, name), fallback="")
    return unicodedata.normalize("NFC", value).casefold() if fold else value


def _with_field(template: str, name: str) -> str:
    if name == "trackext" and "{track}" in template:
        return template.replace("{track}", "{track}_{trackext}", 1)
    return "{" + name + "}/" + template


__all__ = [
    "DEFAULT_TEMPLATE",
    "MIN_TRACK_BYTES",
    "NAME_MAX_FALLBACK",
    "PATH_MAX_FALLBACK",
    "TEMPLATE_FIELDS",
    "TEMP_NAME_BYTES",
    "InputFields",
    "case_insensitive",
    "check_template",
    "leftover_temps",
    "name_bytes",
    "name_max",
    "output_path",
    "output_paths",
    "path_key",
    "path_max",
    "plan_outputs",
    "refuse_collisions",
    "safe_component",
    "temp_path",
    "template_values",
]
