"""The pytest plugin (``gsep_cli.pytest_plugin``, entry point ``pytest11`` ``gsep``), run the
way a user's test suite runs it: with ``pytester``, the entry point loading it."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest

import gsep_cli.pytest_plugin

pytest_plugins = ["pytester"]

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def _readme_test_file() -> str:
    """The README's example test file (the block after "### Testing your pipeline offline")."""
    section = README.split("### Testing your pipeline offline", 1)[1]
    found = re.search(r"^```python\n(.*?)^```$", section, re.S | re.M)
    assert found, "no example test file in the README"
    return found[1]


@pytest.fixture
def user(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A user's project: ``gsep`` on PATH (this interpreter's), strict markers."""
    bindir = os.path.dirname(sys.executable)
    monkeypatch.setenv("PATH", os.pathsep.join([bindir, os.environ.get("PATH", "")]))
    pytester.makeini("[pytest]\naddopts = --strict-markers -p no:cacheprovider\n")
    return pytester


@pytest.mark.slow
def test_the_readme_example_passes_faults_and_credits_included(user: pytest.Pytester) -> None:
    user.makepyfile(test_pipeline=_readme_test_file())
    result = user.runpytest("-v")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["*test_pipeline_rides_out_a_flaky_api PASSED*"])


@pytest.mark.slow
def test_the_fixture_isolates_the_environment_and_sets_its_own(
    user: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("GSEP_PROFILE", "work")
    monkeypatch.setenv("GAUDIO_API_KEY", "a-real-key")
    monkeypatch.setenv("GSEP_STATE_DIR", str(tmp_path / "real-state"))
    user.makepyfile(
        """
        import os

        import pytest
        from gsep_cli import Sandbox, Session

        def test_inside(gsep_sandbox, gsep_session):
            assert isinstance(gsep_sandbox, Sandbox) and isinstance(gsep_session, Session)
            assert os.environ["GSEP_BASE_URL"] == gsep_sandbox.base_url
            assert os.environ["GSEP_API_KEY"] and "GAUDIO_API_KEY" not in os.environ
            assert "GSEP_PROFILE" not in os.environ
            assert "real-state" not in os.environ["GSEP_STATE_DIR"]
            assert gsep_sandbox.settings.job_seconds == 0
            gsep_sandbox.add_fault("api-503@key-info:1")
            info = gsep_session.client().key_info()  # retried past the 503
            assert info and [r["fault"] for r in gsep_sandbox.requests] == ["api-503", None]

        def test_after():
            assert os.environ["GSEP_PROFILE"] == "work"
            assert "real-state" in os.environ["GSEP_STATE_DIR"]
            assert "GSEP_BASE_URL" not in os.environ
        """
    )
    # a process of its own: pytester's in-process runs drop modules between runs, and a
    # class imported again is another class
    user.runpytest_subprocess().assert_outcomes(passed=2)
    assert not (tmp_path / "real-state").exists()


@pytest.mark.slow
def test_the_marker_gives_the_sandbox_its_keywords(user: pytest.Pytester) -> None:
    user.makepyfile(
        """
        import pytest
        from gsep_cli import Session

        pytestmark = pytest.mark.gsep_sandbox(job_seconds=5)

        @pytest.mark.gsep_sandbox(credits=3, faults=["job-fail:1:sandbox says no"])
        def test_closest_marker(gsep_sandbox):
            assert gsep_sandbox.settings.credits == 3
            assert gsep_sandbox.settings.job_seconds == 0  # the closest marker only
            assert gsep_sandbox.faults.describe() == ["job-fail:1:sandbox says no"]

        def test_module_marker(gsep_sandbox):
            assert gsep_sandbox.settings.job_seconds == 5

        @pytest.mark.gsep_sandbox("api-503")
        def test_positional(gsep_sandbox):
            pass

        @pytest.mark.gsep_sandbox(no_such_setting=1)
        def test_unknown(gsep_sandbox):
            pass
        """
    )
    result = user.runpytest()
    result.assert_outcomes(passed=2, errors=2)
    result.stdout.fnmatch_lines(["*takes keywords only*", "*no_such_setting*"])


USER_SUITE = """
import sys

def test_unrelated(request):
    gsep = sorted(m for m in sys.modules if m.startswith("gsep_cli"))
    assert gsep == ["gsep_cli", "gsep_cli.pytest_plugin"], gsep
    assert not any(n.startswith("gsep") for n in request.fixturenames)
"""


@pytest.mark.slow
def test_loaded_but_unused_it_imports_and_runs_nothing(user: pytest.Pytester) -> None:
    user.makepyfile(test_mine=USER_SUITE)
    result = user.runpytest_subprocess("--setup-show", "--trace-config")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*registered*gsep_cli.pytest_plugin*"])
    # no fixture set up but the one the test asked for (an autouse one would be listed)
    result.stdout.fnmatch_lines(["*test_mine.py::test_unrelated (fixtures used: request)*"])
    assert not [line for line in result.stdout.lines if re.match(r"\s+SETUP\s", line)]


def test_the_plugin_defines_one_hook_and_no_autouse_fixture() -> None:
    hooks = [name for name in vars(gsep_cli.pytest_plugin) if name.startswith("pytest_")]
    assert hooks == ["pytest_configure"]
    for name in ("gsep_sandbox", "gsep_session"):
        marker = getattr(gsep_cli.pytest_plugin, name)._fixture_function_marker
        assert marker.autouse is False and marker.scope == "function"


@pytest.mark.slow
def test_dash_p_no_gsep_turns_it_off(user: pytest.Pytester) -> None:
    user.makepyfile(
        test_uses="def test_x(gsep_sandbox):\n    pass\n",
        test_mine=USER_SUITE.replace('"gsep_cli", "gsep_cli.pytest_plugin"', ""),
    )
    result = user.runpytest_subprocess("-p", "no:gsep")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*fixture 'gsep_sandbox' not found*"])
