"""Parameter values without pydantic: typer 0.2x coerces every parsed value through a
pydantic ``TypeAdapter`` it builds on first use (``_TyperParameter.get_runtime_param``),
so any command given an option or argument imported pydantic (about 70 ms of a 270 ms
``gsep job status``). The kinds gsep declares are few (str, a list of str, int, float,
Path, a ``parser``); :func:`light_coercion` gives each such parameter a coercion that does
what typer's does for the plain values people type, and hands anything else (``1_000``,
`` 5``, an empty path, ``-``, a value that does not parse) to typer's own coercion, built
only then: results and error messages stay typer's (``tests/test_coerce.py`` holds the
two to the same answers).

On a typer without this machinery (click-based typer, which never imported pydantic)
:func:`light_coercion` does nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

try:  # typer >= 0.2x: parameters coerce through a RuntimeParam built on first use
    from typer._coercion import RuntimeParam, build_runtime_param
    from typer._param_types import coerce_cli_path
except ImportError:  # pragma: no cover - depends on the installed typer
    RuntimeParam = None  # type: ignore[assignment, misc, unused-ignore]

#: What typer's pydantic coercion turns into the number Python's int()/float() give.
_INT = re.compile(r"[+-]?[0-9]{1,18}", re.ASCII)
_FLOAT = re.compile(r"[+-]?[0-9]{1,15}(?:\.[0-9]{1,15})?", re.ASCII)
_UNSURE = object()  # "ask typer": the light coercion does not decide this value


def _plain_text(value: Any) -> bool:
    """A str pydantic takes as it is: UTF-8 encodable (no lone surrogate) and no NUL."""
    if not isinstance(value, str) or "\0" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _quick(annotation: Any, info: Any, value: Any, param: Any, ctx: Any) -> Any:
    """``value`` coerced as typer would, or :data:`_UNSURE`."""
    if info.parser is not None:
        if getattr(annotation, "__origin__", None) is not None:
            return _UNSURE  # typer parses each item of a list or tuple
        return info.parser(value)  # what typer's adapter does; a ValueError goes to typer
    if any(getattr(info, flag, None) is not None for flag in ("min", "max")):
        return _UNSURE
    if annotation is str:
        return value if _plain_text(value) else _UNSURE
    if getattr(annotation, "__origin__", None) is list and annotation.__args__ == (str,):
        items = list(value) if isinstance(value, (list, tuple)) else None
        return items if items is not None and all(map(_plain_text, items)) else _UNSURE
    if annotation is int:
        if type(value) is int:
            return value
        return int(value) if isinstance(value, str) and _INT.fullmatch(value) else _UNSURE
    if annotation is float:
        if type(value) is float:
            return value
        return float(value) if isinstance(value, str) and _FLOAT.fullmatch(value) else _UNSURE
    if annotation is Path and info.path_type is None:
        if isinstance(value, Path):
            value = str(value)
        if not _plain_text(value) or value in ("", "-"):
            return _UNSURE
        # typer's own checks (exists, readable, ...) on the Path typer's adapter makes
        return coerce_cli_path(Path(value), info, path_type=Path, param=param, ctx=ctx)
    return _UNSURE


if RuntimeParam is not None:

    class LightParam(RuntimeParam):  # a frozen dataclass, as typer's own
        """Typer's coercion for the plain values, without building a TypeAdapter."""

        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            try:
                quick = _quick(self.annotation, self.parameter_info, value, param, ctx)
            except (ValueError, AssertionError):  # a parser refusing: typer words it
                quick = _UNSURE
            if quick is not _UNSURE:
                return quick
            typers = build_runtime_param(param.type_descriptor)
            param._runtime_param = typers  # later values go straight to typer's
            return typers._coerce_value(value, param=param, ctx=ctx)


def light_coercion(params: Iterable[Any]) -> None:
    """Give each typer parameter in ``params`` that has no coercion yet a
    :class:`LightParam` (click's own parameters, such as ``--help``, are left as they
    are). Called before a command parses its part of the line."""
    if RuntimeParam is None:  # pragma: no cover - depends on the installed typer
        return
    try:
        _install(params)
    except Exception:  # typer's private parts moved: typer coerces (slower), as without this
        return


def _install(params: Iterable[Any]) -> None:
    for param in params:
        descriptor = getattr(param, "type_descriptor", None)
        if descriptor is None or getattr(param, "_runtime_param", False) is not None:
            continue
        if descriptor.file_annotation is not None:
            continue  # typer opens files itself, without pydantic
        param._runtime_param = LightParam(
            parameter_info=descriptor.parameter_info, annotation=descriptor.annotation
        )
