"""Helpers of the hostile-server tests (``test_hostile*.py``): an environment with small
timeouts and stall limits, a timed run of the installed ``gsep``, and a finished job
made through a sandbox's own API (no gsep involved)."""

from __future__ import annotations

import time
from pathlib import Path

from clitools import Run, clean_env, run_gsep

from gsep_cli.sandbox import Sandbox


def hostile_env(tmp_path: Path, key: str, **extra: str) -> dict[str, str]:
    """A clean environment with 1 s timeouts, a 1 s stall window and short waits."""
    return clean_env(
        tmp_path,
        GSEP_API_KEY=key,
        GSEP_POLL_INTERVAL="0.05",
        GSEP_POLL_CAP="0.1",
        GSEP_RETRY_CAP="0.05",
        GSEP_READ_TIMEOUT="1",
        GSEP_CONNECT_TIMEOUT="1",
        GSEP_STALL_TIME="1",
        GSEP_STALL_RATE="2000",
        **extra,
    )


def timed(
    args: list[str], env: dict[str, str], cwd: Path, timeout: float = 60
) -> tuple[Run, float]:
    """Run gsep; return the run and its wall time in seconds."""
    started = time.monotonic()
    run = run_gsep(args, env, cwd=cwd, timeout=timeout)
    return run, time.monotonic() - started


def job_on(sb: Sandbox, song: Path, key: str) -> str:
    """A finished job made through the sandbox's own API (no gsep involved)."""
    from conftest import Api

    api = Api(sb, key=key)
    upload = api.upload(song.read_bytes(), name=song.name)
    job = api.job_id(audioUploadId=upload, type="vocal")
    api.wait(job)
    return job
