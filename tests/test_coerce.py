"""Option values coerce without pydantic (gsep_cli.cli._coerce), to exactly what typer's
own coercion gives: the same value and type, or the same error, for every parameter of
every gsep command and any text a user could type."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import pytest
import typer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gsep_cli.cli import _coerce, app
from gsep_cli.cli._globals import GLOBAL_OPTIONS

# collected everywhere (every shipped test module collects), run where typer coerces
# through pydantic (typer 0.2x; click-based typer never imported it)
pytestmark = pytest.mark.skipif(
    _coerce.RuntimeParam is None, reason="click-based typer: no pydantic"
)

Context = type(typer.Context(typer.main.get_command(app)))


def _params() -> Iterator[tuple[str, Any, Any]]:
    """(command path, click command, parameter) for every typed parameter of gsep."""

    def walk(command: Any, path: str) -> Iterator[tuple[str, Any, Any]]:
        for param in [*command.params, *GLOBAL_OPTIONS]:
            if getattr(param, "type_descriptor", None) is not None:
                yield path, command, param
        for name, sub in getattr(command, "commands", {}).items():
            yield from walk(sub, f"{path} {name}")

    yield from walk(typer.main.get_command(app), "gsep")


def _kind(param: Any) -> tuple[Any, ...]:
    info = param.type_descriptor.parameter_info
    flags = ("exists", "readable", "writable", "resolve_path", "allow_dash", "path_type")
    parser = getattr(info.parser, "__qualname__", None)
    own = tuple(repr(getattr(info, flag, None)) for flag in flags)
    return (repr(param.type_descriptor.annotation), parser, param.multiple, param.nargs, *own)


ALL = [p for p in _params() if p[2].type_descriptor.annotation is not bool]
KINDS = list({_kind(param): (path, command, param) for path, command, param in ALL}.values())

# what people type: numbers in every spelling, paths, dashes, odd text
TYPED = st.one_of(
    st.from_regex(r"[+-]?[0-9_]{0,20}(\.[0-9]{0,20})?([eE][+-]?[0-9]{1,3})?", fullmatch=True),
    st.sampled_from(["-", "", " 5", "5 ", "nan", "inf", "-inf", "1e3", "٣", "0x10", ".5", "5."]),
    st.text(max_size=12),
    st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\0"), max_size=12),
)


def _outcome(runtime: Any, value: Any, param: Any, ctx: Any) -> tuple[str, Any]:
    """What coercing ``value`` gives: ("ok", value and its type) or ("error", its text)."""
    try:
        result = runtime.coerce(value, param=param, ctx=ctx)
    except Exception as exc:  # the same kind and words, whatever it is
        return "error", (type(exc).__name__, str(exc))
    if isinstance(result, float) and math.isnan(result):
        return "ok", ("nan", float)
    if isinstance(result, list):
        return "ok", ([(r, type(r)) for r in result], list)
    return "ok", (result, type(result))


def _same(command: Any, param: Any, value: Any) -> None:
    ctx = Context(command)
    saved = param._runtime_param
    try:
        descriptor = param.type_descriptor
        light = _coerce.LightParam(
            parameter_info=descriptor.parameter_info, annotation=descriptor.annotation
        )
        mine = _outcome(light, value, param, ctx)
        theirs = _outcome(_coerce.build_runtime_param(descriptor), value, param, ctx)
    finally:
        param._runtime_param = saved
    assert mine == theirs, (value, mine, theirs)


@pytest.mark.parametrize(
    ("path", "command", "param"), KINDS, ids=[f"{p}:{q.name}" for p, _, q in KINDS]
)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_light_coercion_agrees_with_typers(path: str, command: Any, param: Any, data: Any) -> None:
    """For every kind of parameter gsep declares (type, parser, path flags, repeated or
    not: one of each), the light coercion gives what typer's pydantic-based one gives
    (value and type, or the error), for any typed text."""
    multi = param.multiple or param.nargs == -1
    value = data.draw(st.lists(TYPED, max_size=3).map(tuple) if multi else TYPED)
    _same(command, param, value)


@pytest.mark.parametrize(
    ("path", "command", "param"), ALL, ids=[f"{p}:{q.name}" for p, _, q in ALL]
)
def test_light_coercion_agrees_on_defaults(path: str, command: Any, param: Any) -> None:
    """A parameter's default (None, "wav", 4, 0.5 ...) goes through coercion too."""
    _same(command, param, param.default)


def test_a_value_only_typer_understands_is_left_to_typer() -> None:
    """``1_000`` is an int to typer (pydantic): the light coercion hands it over, and so
    gives 1000; a word gets typer's own error."""
    command = typer.main.get_command(app).commands["upload"]  # type: ignore[attr-defined]
    parallel = next(p for p in command.params if p.name == "parallel")
    info = parallel.type_descriptor.parameter_info
    light = _coerce.LightParam(parameter_info=info, annotation=int)
    ctx = Context(command)
    saved = parallel._runtime_param
    try:
        assert light.coerce("1_000", param=parallel, ctx=ctx) == 1000
        assert light.coerce("12", param=parallel, ctx=ctx) == 12
        with pytest.raises(typer.BadParameter, match="valid integer"):
            light.coerce("four", param=parallel, ctx=ctx)
    finally:
        parallel._runtime_param = saved


def test_when_typers_private_parts_move_typer_coerces_as_before(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The light coercion leans on typer's private parts: if a later typer changes them,
    gsep must fall back to typer's own coercion (slower), never fail a command."""
    from gsep_cli.__main__ import main

    def moved(*args: Any, **kwargs: Any) -> Any:
        raise TypeError("RuntimeParam.__init__() got an unexpected keyword argument")

    monkeypatch.setattr(_coerce, "LightParam", moved)
    assert main(["config", "get", "format", "--profile", "default"]) == 0
    assert capsys.readouterr().out.strip()
