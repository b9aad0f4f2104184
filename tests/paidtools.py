"""Helpers of the money tests: the sandbox's upload and job counts, and a ``gsep job
create`` caught while its request is on the wire (the fixtures ``env`` and ``gsep`` are
in conftest.py)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from clitools import gsep_exe, start_gsep

from gsep_cli.sandbox import Sandbox


def counts(sb: Sandbox) -> tuple[int, int]:
    """(uploads, jobs) the sandbox created."""
    return sb.store.upload_count(), sb.store.job_count()


def start_until_creating(
    sb: Sandbox, args: list[str], env: dict[str, str], cwd: Path | None = None
) -> subprocess.Popen[str]:
    """``gsep ARGS`` in a process, returned once its job creation request reached the
    sandbox (set a late answer with a fault first)."""
    proc = start_gsep(args, env, cwd)
    deadline = time.monotonic() + 20
    while not any(e["path"].endswith("/jobs") for e in sb.requests):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    return proc


def job_create_in_flight(
    sb: Sandbox, env: dict[str, str], song: Path, late: float
) -> subprocess.Popen[str]:
    """``gsep job create`` on an upload of ``song``, returned once its creation request
    reached the sandbox, whose answer comes ``late`` seconds after."""
    upload = subprocess.run(
        [gsep_exe(), "upload", str(song)], env=env, capture_output=True, text=True, timeout=60
    )
    assert upload.returncode == 0, upload.stderr
    sb.add_fault(f"api-late@job-create:1:{late}")
    return start_until_creating(sb, ["job", "create", upload.stdout.strip()], env)
