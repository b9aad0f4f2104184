"""An option given an empty value is refused, never read as "not given" (issue 15,
breaker 3): ``--base-url ""`` sent the key to the environment's or the default host.
An empty environment variable counts as unset (the common convention, documented)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from clitools import SECRET, assert_clean_error, assert_no_secret, clean_env, run_gsep
from hypothesis import given
from hypothesis import strategies as st

from gsep_cli.config import load_settings, write_config
from gsep_cli.errors import UsageError
from gsep_cli.sandbox import Sandbox


@pytest.mark.parametrize("where", ["before", "after"])
@pytest.mark.parametrize("value", ["", " "])
def test_an_empty_base_url_flag_is_refused_and_nothing_is_sent(
    where: str, value: str, sandbox: Callable[..., Sandbox], tmp_path: Path
) -> None:
    other = sandbox()  # where GSEP_BASE_URL points: the key must not go there either
    env = clean_env(tmp_path, GSEP_API_KEY=SECRET, GSEP_BASE_URL=other.base_url)
    argv = ["key", "info"]
    argv = ["--base-url", value, *argv] if where == "before" else [*argv, f"--base-url={value}"]
    run = run_gsep(argv, env)
    assert_clean_error(run, 2, "--base-url was given an empty value")
    assert other.requests == []
    assert_no_secret(run)


def test_an_empty_profile_flag_is_refused_and_nothing_is_sent(
    sandbox: Callable[..., Sandbox], tmp_path: Path
) -> None:
    other = sandbox()  # the default profile's host and key
    env = clean_env(tmp_path, GSEP_PROFILE="work")
    profiles = {"default": {"base_url": other.base_url, "api_key": SECRET}, "work": {}}
    write_config({"profiles": profiles}, tmp_path / "config" / "config.json")
    for argv in (["key", "info", "--profile", ""], ["--profile=", "config", "show"]):
        run = run_gsep(argv, env)
        assert_clean_error(run, 2, "--profile was given an empty value")
        assert_no_secret(run)
    assert other.requests == []


def test_an_empty_environment_variable_counts_as_unset(tmp_path: Path) -> None:
    env = clean_env(tmp_path, GSEP_BASE_URL="", GSEP_PROFILE="")
    run = run_gsep(["config", "show", "--json"], env)
    assert run.code == 0, run
    shown = run.json()
    assert shown["profile"] == "default"
    assert shown["sources"]["base_url"] == "default", shown


@given(st.sampled_from(["", " ", "\t", "  \n"]), st.booleans())
def test_the_library_refuses_an_empty_value_given(value: str, base_url: bool) -> None:
    keywords = {"base_url": value} if base_url else {"profile": value}
    with pytest.raises(UsageError, match="empty value"):
        load_settings(env={}, **keywords)  # type: ignore[arg-type]
