"""Output names: the ``--name-template``, safe path components, and where each output
of a job goes inside the output folder."""

from __future__ import annotations

import re
from pathlib import Path

from .errors import UsageError

_WINDOWS_RESERVED = re.compile(r"^(con|prn|aux|nul|com[1-9]|lpt[1-9])(\..*)?$", re.IGNORECASE)


def safe_component(value: str, fallback: str = "_") -> str:
    """One path component that cannot escape a folder or upset Windows.

    Backslashes count as separators and only the last part is kept; control characters
    are dropped; ``.``/``..``/empty become ``fallback``; Windows reserved names get a
    leading ``_``; trailing dots and spaces are stripped; at most 150 characters.
    """
    text = value.replace("\\", "/").split("/")[-1]
    text = "".join(ch for ch in text if ch >= " " and ch != "\x7f")
    text = re.sub(r'[<>:"|?*]', "_", text).strip()[:150].rstrip(". ")  # cut, then strip
    if text in ("", ".", ".."):
        text = fallback
    if _WINDOWS_RESERVED.match(text):
        text = ("_" + text)[:150].rstrip(". ")
    return text


DEFAULT_TEMPLATE = "{track}/{stem}.{ext}"
TEMPLATE_FIELDS = ("track", "stem", "ext", "model", "job")


def check_template(template: str) -> str:
    """Validate a ``--name-template``: known fields only, relative, no ``..``."""
    absolute = template.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", template)
    example = "Example: --name-template '{track}/{stem}.{ext}'"
    if not template.strip() or absolute:
        raise UsageError(f"--name-template {template!r} must be a relative path", example)
    for segment in re.split(r"[/\\]", template):
        if segment.strip() in ("", ".", ".."):
            raise UsageError(
                f"--name-template {template!r} has an empty, '.' or '..' part", example
            )
    for field_name in re.findall(r"{([^{}]*)}", template):
        if field_name not in TEMPLATE_FIELDS:
            raise UsageError(
                f"--name-template: unknown field {{{field_name}}}",
                "Fields: " + ", ".join(f"{{{f}}}" for f in TEMPLATE_FIELDS),
            )
    return template


def output_path(out_dir: Path, template: str, fields: dict[str, str]) -> Path:
    """Render the template field by field into a path proven to stay inside ``out_dir``."""
    parts = []
    for segment in re.split(r"[/\\]", template):
        rendered = segment
        for name in TEMPLATE_FIELDS:
            rendered = rendered.replace("{" + name + "}", safe_component(fields.get(name, "")))
        parts.append(safe_component(rendered))
    path = out_dir.joinpath(*parts)
    root = out_dir.resolve()
    resolved = path.resolve()
    if resolved != root and root not in resolved.parents:
        raise UsageError(f"output name {path} would leave the output folder {out_dir}")
    return path
