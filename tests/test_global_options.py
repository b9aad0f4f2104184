"""Global options before or after the command (issue 15, commands 1 and 4): what users
type through the installed entry point; the placement rule as a property of the parser.

The property parses without running anything: it walks the command line level by level
as click does (``gsep``, ``gsep job``, ``gsep job status``) and compares the State the
levels built with the State of the same options placed before the command."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from pathlib import Path

import pytest
from clitools import assert_clean_error, clean_env, make_wav, run_cli, run_gsep
from hypothesis import given, settings
from hypothesis import strategies as st

from gsep_cli.cli import app
from gsep_cli.cli._context import State
from gsep_cli.cli._globals import GLOBAL_OPTIONS, SECTION, GsepGroup

GLOBAL_OPTS = [opt for option in GLOBAL_OPTIONS for opt in option.opts]


def _root() -> object:
    import typer.main

    return typer.main.get_command(app)


def parsed_state(argv: Sequence[str]) -> State:
    """The State that parsing ``argv`` builds (nothing is invoked)."""
    with contextlib.ExitStack() as stack:
        command = _root()
        ctx = stack.enter_context(command.make_context("gsep", list(argv)))  # type: ignore[attr-defined]
        while isinstance(ctx.command, GsepGroup):
            protected = getattr(ctx, "_protected_args", None)
            rest = [*(protected if protected is not None else ctx.protected_args), *ctx.args]
            name, sub, rest = ctx.command.resolve_command(ctx, rest)
            ctx = stack.enter_context(sub.make_context(name, rest, parent=ctx))
        state = ctx.find_root().obj
        assert isinstance(state, State)
        return state


def _commands(command: object, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], object]]:
    """Every command and group of the app (hidden aliases too), with its path."""
    found = [(path, command)]
    for name, sub in getattr(command, "commands", {}).items():
        found += _commands(sub, (*path, name))
    return found


# ---- the property: anywhere equals before ---------------------------------------------------
#: Command lines as units (an option and its value stay together); no "--" in them.
BASES: list[list[tuple[str, ...]]] = [
    [("separate",), ("a.wav",), ("--stems", "vocal"), ("b.wav",), ("-o", "out"), ("-r",)],
    [("job",), ("status",), ("5f1c-9a",), ("--wait",), ("--timeout", "9")],
    [("job",), ("create",), ("up-1",), ("-s", "drum")],
    [("ledger",), ("list",), ("-n", "5")],
    [("jobs",), ("show",), ("5f1c-9a",)],
    [("config",), ("show",)],
    [("download",), ("5f1c-9a",), ("-f", "wav"), ("--name-template", "{stem}.{ext}")],
    [("sandbox",), ("serve",), ("--port", "0")],
    [("upload",), ("song.wav",), ("--parallel", "2")],
]
#: Values that look like options must stay values.
VALUES = st.sampled_from(["work", "--json", "-q", "http://127.0.0.1:9/api", "-", "x y"])
GLOBAL_UNIT = st.one_of(
    st.sampled_from([("--json",), ("-q",), ("--quiet",), ("-v",), ("--verbose",)]),
    st.sampled_from([("--no-progress",), ("--sandbox",)]),
    st.tuples(st.just("--profile"), VALUES),
    st.tuples(st.just("--base-url"), VALUES),
)


@settings(max_examples=150, deadline=None)
@given(base=st.sampled_from(BASES), units=st.lists(GLOBAL_UNIT, max_size=6), data=st.data())
def test_global_options_anywhere_give_the_state_of_before(
    base: list[tuple[str, ...]], units: list[tuple[str, ...]], data: st.DataObject
) -> None:
    slots = sorted(
        data.draw(st.lists(st.integers(0, len(base)), min_size=len(units), max_size=len(units)))
    )  # sorted: the globals keep their own order (a valued option given twice: the later)
    placed: list[str] = []
    pending = list(zip(slots, units, strict=True))
    for index in range(len(base) + 1):
        while pending and pending[0][0] == index:
            placed += pending.pop(0)[1]
        if index < len(base):
            placed += base[index]
    before = [token for unit in units for token in unit] + [t for u in base for t in u]
    assert parsed_state(placed) == parsed_state(before), placed


def test_given_twice_the_later_value_wins_and_flags_add_up() -> None:
    state = parsed_state(["--profile", "a", "-q", "job", "status", "J", "--profile", "b", "-v"])
    assert (state.profile, state.quiet, state.verbose, state.json) == ("b", True, True, False)
    state = parsed_state(["--base-url", "http://a/", "ledger", "--base-url", "http://b/", "list"])
    assert state.base_url == "http://b/"
    assert not parsed_state(["--no-progress", "config", "show"]).progress


def test_after_double_dash_nothing_is_an_option() -> None:
    state = parsed_state(["separate", "--", "--json", "--sandbox"])
    assert not state.json and not state.sandbox


def test_no_command_defines_an_option_of_its_own_that_a_global_option_has() -> None:
    for path, command in _commands(_root()):
        own = {opt for p in getattr(command, "params", []) for opt in getattr(p, "opts", [])}
        assert not own & set(GLOBAL_OPTS), (path, own & set(GLOBAL_OPTS))


def test_every_help_lists_the_global_options(capsys: pytest.CaptureFixture[str]) -> None:
    paths = [path for path, _ in _commands(_root())]
    assert ("job", "status") in paths and ("ledger", "list") in paths
    for path in paths:
        run = run_cli(capsys, [*path, "--help"])
        assert run.code == 0, (path, run)
        section = run.out.split(SECTION, 1)
        assert len(section) == 2, (path, run.out)
        own = [ln.split()[0].rstrip(",") for ln in section[0].splitlines() if ln.startswith("  -")]
        for option in GLOBAL_OPTIONS:  # listed once, in their own section
            assert option.opts[-1] in section[1], (path, option.opts)
            assert option.opts[0] not in own, (path, option.opts)


# ---- what users type ------------------------------------------------------------------------
@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return clean_env(tmp_path)


@pytest.mark.parametrize("argv", [["ledger", "list", "--json"], ["jobs", "list", "--json"]])
def test_json_after_the_ledger_command(
    argv: list[str], env: dict[str, str], tmp_path: Path
) -> None:
    run = run_gsep(argv, env, cwd=tmp_path)
    assert run.code == 0, run
    assert run.json() == {"jobs": []}


def test_profile_and_json_after_a_subcommand(env: dict[str, str], tmp_path: Path) -> None:
    run = run_gsep(["config", "show", "--profile", "a", "--json", "--profile", "work"], env)
    assert run.code == 0, run
    assert run.json()["profile"] == "work"


def test_verbose_and_profile_after_job_status(env: dict[str, str], tmp_path: Path) -> None:
    """Accepted after the command: the run gets as far as the missing key."""
    run = run_gsep(["job", "status", "5f1c-9a", "-v", "--profile", "x"], env, cwd=tmp_path)
    assert_clean_error(run, 3, "no API key")


def test_a_file_named_like_an_option_after_double_dash(env: dict[str, str], tmp_path: Path) -> None:
    run = run_gsep(["separate", "--sandbox", "--", "--json"], env, cwd=tmp_path)
    assert_clean_error(run, 2, "file not found: --json")
    assert run.err_lines == [run.err_lines[0]]  # no sandbox banner: nothing was sent


@pytest.mark.slow
@pytest.mark.parametrize("where", ["after", "before"])
def test_separate_with_sandbox_and_json_after_the_file(
    where: str, env: dict[str, str], tmp_path: Path
) -> None:
    make_wav(tmp_path / "song.wav", seconds=0.3)
    options = ["--sandbox", "--json"]
    args = ["separate", "song.wav", "-o", "out"]
    run = run_gsep([*args, *options] if where == "after" else [*options, *args], env, cwd=tmp_path)
    assert run.code == 0, run
    document = json.loads(run.lines[-1])
    assert document["status"] == "success" and document["model"] == "gsep_music_hq_v1"
    assert (tmp_path / "out" / "song" / "vocal.wav").is_file()


def test_the_old_group_name_is_hidden(capsys: pytest.CaptureFixture[str]) -> None:
    text = run_cli(capsys, ["--help"]).out
    commands = text.split("Commands:", 1)[1].split(SECTION, 1)[0]
    names = [line.split()[0] for line in commands.splitlines() if line.strip()]
    assert "ledger" in names and "jobs" not in names
