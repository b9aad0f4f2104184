"""Outputs that would be one file, refused before any request: two outputs of one input,
two inputs of a batch, an output on an input, a file where a folder must be."""

from __future__ import annotations

import os
import shlex
import unicodedata
from collections.abc import Iterable, Sequence
from pathlib import Path

from ..errors import UsageError
from .components import case_insensitive, safe_component
from .templates import InputFields, dir_parts, output_path, template_values


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
        value = "/".join(dir_parts({"dir": source.dir}))
    else:
        value = safe_component(getattr(source, name), fallback="")
    return unicodedata.normalize("NFC", value).casefold() if fold else value


def _with_field(template: str, name: str) -> str:
    if name == "trackext" and "{track}" in template:
        return template.replace("{track}", "{track}_{trackext}", 1)
    return "{" + name + "}/" + template


def check_output_paths(paths: Sequence[Path], out_dir: Path) -> None:
    """Refuse output paths that cannot be written because a file or folder is in the way.

    Checked before anything is downloaded (and, for ``separate``, before paying for a job).
    """
    # os.path's checks, not pathlib's: they answer False where the OS refuses to look
    # (a folder without permission, a name too long) instead of raising
    for path in paths:
        if os.path.isdir(path):
            raise UsageError(
                f"{path} is a folder, not a file", "Move it away, or choose another -o DIR"
            )
        for parent in path.parents:
            if parent == out_dir:
                break
            if os.path.lexists(parent) and not os.path.isdir(parent):
                raise UsageError(
                    f"cannot create the folder {parent}: a file has that name",
                    "Move the file away, or choose another -o DIR or --name-template",
                )


def check_planned_outputs(paths: Sequence[Path], out_dir: Path, *, refuse_existing: bool) -> None:
    """Refuse a set of output paths that cannot be written as asked: two outputs on one
    path, something in the way, or (``refuse_existing``) a file already there."""
    refuse_collisions(paths)
    check_output_paths(paths, out_dir)
    if refuse_existing:
        for path in paths:
            if os.path.lexists(path):
                raise UsageError(
                    f"{path} already exists", "Use --force to overwrite, or --skip-existing"
                )
