"""Usage errors (issue 15, command 5), through the installed entry point: every parser
error is one ``gsep: error: WHAT — see gsep COMMAND --help`` line naming the command
whose part of the line was wrong; mistyped names get a "did you mean"; ``--sandbox``
starts nothing before the local checks pass; a busy port says what to do."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from clitools import assert_clean_error, clean_env, make_wav, run_cli, run_gsep
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gsep_cli.suggest import close_matches, did_you_mean


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    make_wav(tmp_path / "song.wav", seconds=0.2)
    return clean_env(tmp_path)


PARSER_ERRORS = [
    (["separate"], "Missing argument 'FILE...'", "gsep separate"),
    (["upload"], "Missing argument", "gsep upload"),
    (["ledger", "show"], "Missing argument", "gsep ledger show"),
    (["separate", "song.wav", "--nosuch"], "No such option: --nosuch", "gsep separate"),
    (["separate", "song.wav", "--jobs", "99"], "Invalid value for '--jobs'", "gsep separate"),
    (["separate", "song.wav", "--jobs", "many"], "Invalid value for '--jobs'", "gsep separate"),
    (["separate", "song.wav", "--stems"], "'--stems' requires an argument", "gsep separate"),
    (["job", "status", "J", "--profile"], "'--profile' requires an argument", "gsep job status"),
    (["--profile"], "'--profile' requires an argument", "gsep"),
    (["config", "get", "a", "b"], "unexpected extra argument", "gsep config get"),
    (["models", "extra"], "unexpected extra argument", "gsep models"),
    (["job"], "Missing command (one of: create, status)", "gsep job"),
    (["ledger"], "Missing command (one of: list, show, forget, prune)", "gsep ledger"),
    (["job", "--json"], "Missing command (one of: create, status)", "gsep job"),
    (["--json"], "Missing command (one of: separate, upload, job, download, models", "gsep"),
    (["-q"], "Missing command (one of: separate, upload, job, download, models", "gsep"),
    (
        ["ledger", "-v", "--no-progress"],
        "Missing command (one of: list, show, forget",
        "gsep ledger",
    ),
    (["job", "--nosuch", "status"], "No such option: --nosuch", "gsep job"),
    (["seperate", "song.wav"], "Did you mean 'separate'?", "gsep"),
    (["job", "stauts", "J"], "Did you mean 'status'?", "gsep job"),
    (["ledgr", "list"], "Did you mean 'ledger'?", "gsep"),
    (["nothing-like-it"], "No such command 'nothing-like-it'", "gsep"),
]


@pytest.mark.parametrize("argv,what,command", PARSER_ERRORS, ids=lambda v: str(v))
def test_every_parser_error_is_one_house_line(
    argv: list[str], what: str, command: str, env: dict[str, str], tmp_path: Path
) -> None:
    run = run_gsep(argv, env, cwd=tmp_path)
    line = assert_clean_error(run, 2, what, f"— see {command} --help")
    assert run.err_lines == [line], run  # no usage block, nothing else
    assert line.endswith(" --help"), line
    assert " — see gsep" in line, line


def test_the_hidden_alias_is_never_suggested(env: dict[str, str], tmp_path: Path) -> None:
    line = assert_clean_error(run_gsep(["jobz"], env, cwd=tmp_path), 2, "No such command")
    assert "'jobs'" not in line, line


def test_a_bare_gsep_still_shows_its_help(env: dict[str, str], tmp_path: Path) -> None:
    run = run_gsep([], env, cwd=tmp_path)
    assert run.code == 2 and run.out == "", run
    assert run.err.startswith("Usage: gsep") and "Commands:" in run.err, run


GLOBAL_FLAGS = ["--json", "-q", "-v", "--no-progress", "--sandbox", "--profile=p"]


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    group=st.sampled_from([(), ("job",), ("ledger",), ("config",), ("sandbox",), ("key",)]),
    flags=st.lists(st.sampled_from(GLOBAL_FLAGS), min_size=1, max_size=3),
    before=st.booleans(),
)
def test_a_group_given_only_global_options_names_its_commands(
    group: tuple[str, ...], flags: list[str], before: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    """Whatever global options come with it, a group without a command is one line
    naming its (visible) commands, as a bare group is."""
    import typer.main

    from gsep_cli.cli import app

    command = typer.main.get_command(app)
    for name in group:
        command = command.commands[name]  # type: ignore[attr-defined]
    visible = [n for n, c in command.commands.items() if not c.hidden]  # type: ignore[attr-defined]
    argv = [*flags, *group] if before and group else [*group, *flags]
    run = run_cli(capsys, argv)
    assert run.code == 2 and run.out == "", run
    assert len(run.err_lines) == 1, run
    line = run.err_lines[0]
    assert line.startswith("gsep: error: Missing command (one of: "), line
    listed = line.split("(one of: ", 1)[1].split(")", 1)[0].split(", ")
    assert sorted(listed) == sorted(visible), line
    assert "jobs" not in listed


@pytest.mark.parametrize(
    "argv,what,guess",
    [
        (["--stems", "vocals"], "unknown stem 'vocals'", "did you mean 'vocal'?"),
        (["--stems", "vocal,drums"], "unknown stem 'drums'", "did you mean 'drum'?"),
        (["-m", "gsep_speech_hq"], "unknown model 'gsep_speech_hq'", "'gsep_speech_hq_v1'"),
        (["--format", "mp4"], "unknown format 'mp4'", "did you mean 'mp3'?"),
    ],
)
def test_unknown_names_get_a_did_you_mean(
    argv: list[str], what: str, guess: str, env: dict[str, str], tmp_path: Path
) -> None:
    run = run_gsep(["separate", "song.wav", *argv], env, cwd=tmp_path)
    assert_clean_error(run, 2, what, guess)


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_a_swapped_pair_of_letters_in_a_command_is_guessed(data: st.DataObject) -> None:
    """What the root group answers (parsed in-process): every visible command, two
    neighbouring letters swapped."""
    import typer.main

    from gsep_cli.cli import app
    from gsep_cli.cli._globals import UsageError

    root = typer.main.get_command(app)
    name = data.draw(
        st.sampled_from(["upload", "download", "separate", "models", "completion", "config"])
    )
    at = data.draw(st.integers(0, len(name) - 2))
    typo = name[:at] + name[at + 1] + name[at] + name[at + 2 :]
    if typo == name:
        return
    with root.make_context("gsep", [typo]) as ctx, pytest.raises(UsageError) as info:
        root.resolve_command(ctx, [typo])  # type: ignore[attr-defined]
    message = info.value.message
    assert message.startswith(f"No such command {typo!r}"), message
    assert f"'{name}'" in message.split("Did you mean", 1)[1], message


@given(word=st.text(min_size=1, max_size=12), choices=st.lists(st.text(max_size=12), max_size=8))
def test_suggestions_come_from_the_choices(word: str, choices: list[str]) -> None:
    found = close_matches(word, choices)
    assert len(found) <= 3 and all(m in choices for m in found)
    assert bool(did_you_mean(word, choices)) == bool(found)
    if word in choices:
        assert found[0].lower() == word.lower()


# ---- --sandbox: nothing starts before the local checks pass -----------------------------------
@pytest.mark.parametrize(
    "argv",
    [
        ["--sandbox", "separate", "nosuch.wav"],
        ["separate", "nosuch.wav", "--sandbox"],
        ["--sandbox", "upload", "nosuch.wav"],
        ["--sandbox", "job", "create", "up-1", "--stems", "vocals"],
        ["--sandbox", "job", "status", "bad/id"],
        ["--sandbox", "download", "bad/id"],
    ],
    ids=" ".join,
)
def test_sandbox_starts_only_after_the_local_checks(
    argv: list[str], env: dict[str, str], tmp_path: Path
) -> None:
    run = run_gsep(argv, env, cwd=tmp_path)
    line = assert_clean_error(run, 2)
    assert run.err_lines == [line], run  # no "using the built-in sandbox" banner


def test_a_lone_missing_input_is_named_before_the_missing_key(
    env: dict[str, str], tmp_path: Path
) -> None:
    run = run_gsep(["separate", "nosuch.wav"], env, cwd=tmp_path)
    assert_clean_error(run, 2, "file not found: nosuch.wav")


# ---- sandbox serve on a busy port ---------------------------------------------------------------
def test_sandbox_serve_on_a_busy_port(env: dict[str, str], tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        run = run_gsep(["sandbox", "serve", "--port", str(port)], env, cwd=tmp_path, timeout=30)
    line = assert_clean_error(run, 2, f"port {port} on 127.0.0.1 is already in use", "--port 0")
    assert run.err_lines == [line], run
