"""A tool call's arguments as an agent sends them: checked, explained and read the way
gsep reads a command line.

* :func:`refusal`: an unknown tool or an argument the tool does not take is refused in
  gsep's one line, with "did you mean" (a misspelt ``output`` for ``out_dir`` must not
  silently write to the default folder, nor a misspelt ``stem`` pay for the default
  stems).
* :func:`explain`: the SDK's argument validation error (many lines, a pydantic URL) as
  gsep's one line.
* :func:`names`: a list argument given as one string (``"vocal,drum"``) is that list,
  as ``--stems vocal,drum`` is.
* :func:`local_path`: a path as the server reads it: ``~`` expanded, relative to the
  server's working folder, refused when empty.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..suggest import with_suggestion

#: The hint of every refused argument.
SCHEMA_HINT = "Give the arguments the tool's input schema lists (tools/list)"


def refusal(
    tool: str, schemas: Mapping[str, dict[str, Any]], arguments: Mapping[str, Any]
) -> str | None:
    """The one-line error for a call to an unknown ``tool`` or with arguments its input
    schema does not list (``schemas``: each tool's input schema); None: nothing wrong."""
    if tool not in schemas:
        return _line(
            f"there is no tool {tool!r}",
            with_suggestion(tool, schemas, f"The tools: {', '.join(schemas)}"),
        )
    known = list(schemas[tool].get("properties", {}))
    unknown = [name for name in arguments if name not in known]
    if not unknown:
        return None
    name = unknown[0]
    listed = ", ".join(known) or "none"
    return _line(
        f"{tool} takes no argument {name!r}",
        with_suggestion(name, known, f"Its arguments: {listed}"),
    )


def explain(tool: str, errors: list[Any]) -> str:
    """The one-line error for arguments that fail the input schema (``errors``: pydantic's
    ``ValidationError.errors()``): each argument's problem, never the value given."""
    problems = []
    for error in errors[:3]:
        where = ".".join(str(part) for part in error.get("loc", ())) or "arguments"
        problems.append(f"{where}: {error.get('msg', 'invalid')}")
    more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
    return _line(f"invalid arguments for {tool}: {'; '.join(problems)}{more}", SCHEMA_HINT)


def names(value: list[str] | str | None) -> list[str] | None:
    """A list argument (stems, formats) as a list: one string is comma-separated names,
    or a JSON array written as a string; empty: None (the setting)."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                parsed = json.loads(text)
            except ValueError:
                parsed = None
            if isinstance(parsed, list) and all(isinstance(v, str) for v in parsed):
                return parsed or None
        value = [part for part in text.split(",")]
    found = [v.strip() for v in value or [] if v.strip()]
    return found or None


def paths(value: list[str] | str) -> list[str]:
    """``inputs`` as a list of paths: one string is one path (a path may hold a comma)."""
    return [value] if isinstance(value, str) else list(value)


def local_path(value: str, what: str) -> Path:
    """``value`` as a path on this machine: ``~`` expanded, a relative one made absolute
    against the server's working folder (so a message names what was looked for).
    Raises UsageError (exit 2) for an empty one: ``Path("")`` would be that folder."""
    if not value.strip():
        raise UsageError(f"the {what} is empty", f"Give an absolute path for the {what}")
    return Path(value).expanduser().absolute()


def _line(message: str, hint: str) -> str:
    return f"gsep: error: {message} — {hint}"
