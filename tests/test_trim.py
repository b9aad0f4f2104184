"""A line that plainly names one root command runs a copy of the app holding only that
command (gsep_cli.cli._trim: typer builds only what it runs); every line gives the same
output and exit code as with the whole app."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from clitools import clean_env, run_cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gsep_cli import cli
from gsep_cli.cli._trim import app_for, command_named


@pytest.mark.parametrize(
    ("args", "name"),
    [
        (["job", "status", "x"], "job"),
        (["--json", "-q", "download", "x"], "download"),
        (["--profile", "p", "--base-url", "http://h", "ledger", "list"], "ledger"),
        (["--profile", "job", "status"], "status"),  # "job" is --profile's value
        (["--profile=p", "job"], None),
        (["-qv", "job"], None),
        (["--", "job"], None),
        (["--help"], None),
        (["--version", "job"], None),
        (["--json"], None),
        ([], None),
    ],
)
def test_the_command_a_line_names(args: list[str], name: str | None) -> None:
    assert command_named(args) == name


def test_a_trimmed_app_holds_one_command_and_leaves_the_app_whole() -> None:
    commands, groups = len(cli.app.registered_commands), len(cli.app.registered_groups)
    job = app_for(cli.app, ["--json", "job", "status", "x"])
    assert (len(job.registered_commands), [g.name for g in job.registered_groups]) == (0, ["job"])
    separate = app_for(cli.app, ["separate", "a.wav"])
    assert [c.callback.__name__ for c in separate.registered_commands] == ["separate"]
    assert separate.registered_groups == []
    assert app_for(cli.app, ["seperate"]) is cli.app  # a mistyped name: the whole app
    assert (len(cli.app.registered_commands), len(cli.app.registered_groups)) == (
        commands,
        groups,
    )


# Lines made of gsep's own words: none makes a request (no key is set) or starts a server.
WORDS = st.sampled_from(
    [
        "job", "status", "create", "download", "upload", "ledger", "jobs", "list", "models",
        "config", "show", "key", "info", "separate", "completion", "bash", "seperate",
        "--json", "-q", "-v", "--no-progress", "--profile", "p", "--base-url",
        "http://127.0.0.1:9/developers/api", "--help", "-h", "--version", "--bogus", "--",
        "-s", "vocal", "--model", "gsep_music_hq_v1", "--format", "flac", "missing.wav",
        "2c5f3a9e-8f1b-11ef-b864-0242ac120002", "", "-o", "-", "--timeout", "nan", "--wait",
    ]
)  # fmt: skip


@pytest.mark.slow
@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(args=st.lists(WORDS, max_size=6))
def test_a_trimmed_app_answers_as_the_whole_app(
    args: list[str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """Whatever the line, running only the command it names gives the output, errors and
    exit code of the whole app (each run in the same fresh folders: a first run may say
    so, and messages may name the folders)."""
    home = tmp_path / "run"
    for name, value in clean_env(home).items():
        monkeypatch.setenv(name, value)
    for name in ("GSEP_API_KEY", "GAUDIO_API_KEY"):
        monkeypatch.delenv(name, raising=False)

    def fresh() -> None:
        shutil.rmtree(home, ignore_errors=True)
        home.mkdir()
        monkeypatch.chdir(home)

    fresh()
    trimmed = run_cli(capsys, args)
    fresh()
    with monkeypatch.context() as whole:
        whole.setattr(cli, "app_for", lambda app, _args: app)
        full = run_cli(capsys, args)
    assert (trimmed.code, trimmed.out, trimmed.err) == (full.code, full.out, full.err), args
