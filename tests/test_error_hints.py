"""Every error line has its "— what to do" part (issue 15, breaker 8): each error class
has a default hint, used when the raiser gave none; the cases the breaker met, through
the installed entry point."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest
from clitools import SECRET, assert_clean_error, assert_no_secret, clean_env, make_wav, run_gsep
from conftest import Api
from hypothesis import given
from hypothesis import strategies as st

from gsep_cli import errors
from gsep_cli.cli._console import Console
from gsep_cli.sandbox import Sandbox


def _classes(base: type[errors.GsepError] = errors.GsepError) -> list[type[errors.GsepError]]:
    found = [base]
    for sub in base.__subclasses__():
        found += [c for c in _classes(sub) if c not in found]
    return found


CLASSES = _classes()


def _line(exc: errors.GsepError) -> str:
    stream = io.StringIO()
    Console(err=stream, progress=False).error(exc)
    return stream.getvalue()


def test_the_hierarchy_is_walked() -> None:
    assert errors.ServiceUnavailable in CLASSES and errors.NotOnRecord in CLASSES
    assert len(CLASSES) >= 17


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_every_class_renders_a_what_to_do(cls: type[errors.GsepError]) -> None:
    line = _line(cls("something went wrong"))
    assert line.count("\n") == 1 and line.startswith("gsep: error: something went wrong — ")
    assert line.split(" — ", 1)[1].strip(), line
    assert cls.default_hint and cls.default_hint == cls("x").what_to_do


@given(
    cls=st.sampled_from(CLASSES),
    message=st.text(min_size=1, max_size=60),
    hint=st.one_of(st.none(), st.just(""), st.text(max_size=40)),
)
def test_any_message_and_hint_make_one_line_with_a_hint(
    cls: type[errors.GsepError], message: str, hint: str | None
) -> None:
    exc = cls(message, hint)
    line = _line(exc)
    assert line.endswith("\n") and "\n" not in line[:-1], repr(line)
    assert " — " in line, line
    assert exc.what_to_do.strip()
    if hint and hint.strip():
        assert exc.what_to_do == hint.strip()


# ---- the cases met ---------------------------------------------------------------------
@pytest.mark.slow
def test_a_result_link_answering_401(sandbox: Callable[..., Sandbox], tmp_path: Path) -> None:
    box = sandbox(faults=["download-401:50"])
    make_wav(tmp_path / "song.wav", seconds=0.2)
    api = Api(box)
    job = api.job_id(audioUploadId=api.upload((tmp_path / "song.wav").read_bytes()), type="vocal")
    api.wait(job)
    env = clean_env(tmp_path, GSEP_API_KEY=SECRET, GSEP_BASE_URL=box.base_url)
    run = run_gsep(["download", job, "-o", "out"], env, cwd=tmp_path)
    line = assert_clean_error(run, 4, "download failed: HTTP 401", " — ")
    assert "gsep download JOB_ID" in line, line
    assert_no_secret(run)


@pytest.mark.slow
def test_a_server_error_after_the_retries(sandbox: Callable[..., Sandbox], tmp_path: Path) -> None:
    box = sandbox(faults=["api-503:50"])
    env = clean_env(tmp_path, GSEP_API_KEY=SECRET, GSEP_BASE_URL=box.base_url)
    run = run_gsep(["key", "info"], env, cwd=tmp_path)
    line = assert_clean_error(run, 6, "503", " — ")
    assert "Try again later" in line, line


def test_sandbox_serve_on_a_host_that_does_not_resolve(tmp_path: Path) -> None:
    run = run_gsep(["sandbox", "serve", "--host", "nonexist.invalid"], clean_env(tmp_path))
    line = assert_clean_error(run, 2, "cannot listen on nonexist.invalid", "--host 127.0.0.1")
    assert "--port" not in line, line
