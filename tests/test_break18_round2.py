"""Issue 18's additions, attacked from outside (round 2). Each test shows a problem found
by trying to break them, fixed where it lives."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path
from typing import Any

import pytest
from clitools import SECRET, clean_env, make_wav, run_gsep

pytest_plugins = ["pytester"]

PROXY_VARIABLES = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY")


def dead_proxy() -> str:
    """The URL of a proxy that refuses every connection (a port nobody listens on): what
    a corporate proxy is for the emulator on this machine's loopback, which it cannot
    reach."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def proxied_env(tmp_path: Path) -> dict[str, str]:
    """A subprocess environment behind a (dead) proxy, with no NO_PROXY."""
    proxy = dead_proxy()
    env = clean_env(tmp_path, NO_PROXY=None, no_proxy=None, GSEP_RETRIES="1")
    env.update({name: proxy for name in PROXY_VARIABLES})
    return env


@pytest.mark.slow
def test_the_built_in_sandbox_is_reached_directly_behind_a_proxy(tmp_path: Path) -> None:
    # --sandbox sent its requests to the emulator through HTTP(S)_PROXY: behind a
    # corporate proxy (or in CI with one set) the keyless try-out failed, exit 6,
    # "cannot reach the API at http://127.0.0.1:PORT" (the proxy cannot reach this
    # machine's loopback). The emulator gsep itself started is reached directly.
    make_wav(tmp_path / "song.wav", seconds=0.2)
    run = run_gsep(
        ["--sandbox", "separate", "song.wav", "-s", "vocal", "-o", "out"],
        proxied_env(tmp_path),
        cwd=tmp_path,
    )
    assert run.code == 0 and run.lines == ["out/song/vocal.wav"], run


def test_a_library_sandbox_session_is_reached_directly_behind_a_proxy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gsep_cli import Session

    for name, value in proxied_env(tmp_path).items():
        monkeypatch.setenv(name, value)
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    make_wav(tmp_path / "song.wav", seconds=0.2)
    with Session(sandbox=True) as session:
        (result,) = session.separate(tmp_path / "song.wav", stems="vocal", out_dir=tmp_path)
    assert result.ok, result.error


@pytest.mark.slow
def test_the_pytest_plugins_sandbox_is_reached_directly_behind_a_proxy(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a user's suite run behind a proxy: the fixture's sandbox (GSEP_BASE_URL on
    # loopback) was asked through the proxy, by Session() and by gsep in a subprocess
    proxy = dead_proxy()
    for name in PROXY_VARIABLES:
        monkeypatch.setenv(name, proxy)
    monkeypatch.setenv("no_proxy", "example.com")  # the user's own list is kept
    monkeypatch.delenv("NO_PROXY", raising=False)
    bindir = os.path.dirname(sys.executable)
    monkeypatch.setenv("PATH", os.pathsep.join([bindir, os.environ.get("PATH", "")]))
    pytester.makeini("[pytest]\naddopts = -p no:cacheprovider\n")
    pytester.makepyfile(
        """
        import os
        import subprocess

        from gsep_cli import Session

        def test_pipeline(gsep_sandbox, tmp_path):
            os.chdir(tmp_path)
            song = subprocess.run(["gsep", "sandbox", "example"], capture_output=True,
                                  text=True, check=True).stdout.strip()
            with Session() as session:
                (result,) = session.separate(song, stems="vocal", out_dir="a")
            assert result.ok, result.error
            done = subprocess.run(["gsep", "separate", song, "-o", "b"],
                                  capture_output=True, text=True)
            assert done.returncode == 0, done.stderr
            assert "example.com" in os.environ["no_proxy"]
        """
    )
    result = pytester.runpytest_subprocess("-q")
    result.assert_outcomes(passed=1)


@pytest.mark.slow
def test_gsep_mcp_sandbox_is_reached_directly_behind_a_proxy(tmp_path: Path) -> None:
    pytest.importorskip("mcp.client.stdio")
    from test_mcp import drive, structured

    song = make_wav(tmp_path / "song.wav", seconds=0.2)

    async def body(client: object) -> object:
        return await client.call_tool(  # type: ignore[attr-defined]
            "separate", {"inputs": [str(song)], "stems": ["vocal"], "out_dir": "out"}
        )

    env = {k: v for k, v in proxied_env(tmp_path).items() if k in PROXY_VARIABLES}
    result, err = drive(
        tmp_path, ["mcp", "--sandbox"], body, GSEP_API_KEY=None, NO_PROXY=None, **env
    )
    (document,) = structured(result)["results"]
    assert document["status"] == "success", (document, err)


@pytest.mark.slow
def test_a_dry_run_names_a_reused_jobs_files_where_the_run_writes_them(
    tmp_path: Path, sandbox: Any
) -> None:
    # with {job} in the name template, a dry run that re-attaches to a job on record
    # said "would reuse job ID ... would write out/job-<hex>/vocal.wav" (the placeholder
    # of a job not yet made) while the run writes out/ID/vocal.wav
    box = sandbox(rate_limit=0)
    env = clean_env(tmp_path, GSEP_API_KEY=SECRET, GSEP_BASE_URL=box.base_url)
    make_wav(tmp_path / "song.wav", seconds=0.2)
    args = ["--json", "separate", "song.wav", "-o", "out", "--name-template", "{job}/{stem}.{ext}"]
    first = run_gsep(args, env, cwd=tmp_path)
    assert first.code == 0, first
    job = first.json()["jobId"]
    dry = run_gsep([*args, "--dry-run", "--max-jobs", "0"], env, cwd=tmp_path)
    assert dry.code == 0 and dry.json()["reuseJob"] == job, dry
    again = run_gsep(args, env, cwd=tmp_path)
    written = [f["path"] for f in again.json()["files"]]
    assert dry.json()["wouldWrite"] == written == [f"out/{job}/vocal.wav"], (dry, again)
