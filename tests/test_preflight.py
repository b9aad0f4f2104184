"""Everything that can be known locally is checked before the first request, in the real
run as in ``--dry-run``. CLI runs go to a sandbox over real HTTP, which must see no request
whenever the input is refused."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from clitools import SECRET, assert_clean_error, clean_env, run_cli, run_gsep, set_env

from gsep_cli import models
from gsep_cli.client import check_input_file
from gsep_cli.errors import ExitCode, UsageError
from gsep_cli.inputfile import open_input
from gsep_cli.preflight import (
    check_duration,
    preflight,
    read_duration,
)
from gsep_cli.sandbox import Sandbox

HQ = "gsep_music_hq_v1"
POSIX = os.name == "posix"


@pytest.fixture
def sb(sandbox: Any) -> Sandbox:
    box: Sandbox = sandbox(rate_limit=0, chunk_size=16 << 20)  # one part per upload
    return box


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sb: Sandbox) -> Path:
    set_env(monkeypatch, tmp_path, GSEP_API_KEY=SECRET, GSEP_BASE_URL=sb.base_url)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def assert_untouched(sb: Sandbox) -> None:
    """Not one request, so no upload and no job."""
    assert sb.requests == []
    assert (sb.store.upload_count(), sb.store.job_count()) == (0, 0)


def warnings_of(run: Any) -> list[str]:
    return [line for line in run.err_lines if line.startswith("gsep: warning:")]


# ---- 1. non-regular inputs never block ---------------------------------------------------
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")
def test_a_fifo_is_refused_without_blocking(tmp_path: Path, sb: Sandbox) -> None:
    os.mkfifo(tmp_path / "p.wav")
    env = clean_env(tmp_path, GSEP_API_KEY=SECRET, GSEP_BASE_URL=sb.base_url)
    for args in (["separate", "p.wav", "--dry-run"], ["separate", "p.wav"], ["upload", "p.wav"]):
        run = run_gsep(args, env, cwd=tmp_path, timeout=10)  # a hang fails here
        assert_clean_error(run, ExitCode.USAGE, "p.wav is a FIFO (named pipe)", "regular file")
    assert_untouched(sb)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")
def test_library_checks_never_open_a_fifo(tmp_path: Path) -> None:
    fifo = tmp_path / "p.wav"
    os.mkfifo(fifo)
    spec = models.MODELS[HQ]
    calls: list[Callable[[], object]] = [
        lambda: open_input(fifo),
        lambda: check_input_file(fifo, spec),
        lambda: check_input_file(fifo, spec, measure=False),
        lambda: check_duration(fifo, spec),
        lambda: preflight(fifo, spec),
    ]
    messages: list[str] = []

    def run_all() -> None:
        for call in calls:
            with pytest.raises(UsageError) as caught:
                call()
            messages.append(caught.value.message)
        messages.append(repr(read_duration(fifo, "wav")))

    worker = threading.Thread(target=run_all, daemon=True)
    worker.start()
    worker.join(5)
    if worker.is_alive():  # release the reader stuck in open() before failing
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        pytest.fail("a check blocked on a FIFO")
    assert messages == [f"{fifo} is a FIFO (named pipe), not a regular file"] * len(calls) + [
        "None"
    ]


@pytest.mark.skipif(not POSIX or not hasattr(socket, "AF_UNIX"), reason="POSIX only")
def test_sockets_and_devices_are_refused(env: Path, sb: Sandbox, capsys: Any) -> None:
    with socket.socket(socket.AF_UNIX) as server:
        server.bind("s.wav")
    os.symlink(os.devnull, "null.wav")
    for name, what in (("s.wav", "a socket"), ("null.wav", "a character device")):
        for args in (["separate", name], ["separate", "--dry-run", name], ["upload", name]):
            assert_clean_error(run_cli(capsys, args), ExitCode.USAGE, f"{name} is {what}")
    assert_untouched(sb)
