"""Ctrl-C: pending parts are cancelled, no complete is sent, exit 130 with one line."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from audio import make_wav

from gsep_cli.sandbox import Sandbox

pytestmark = pytest.mark.skipif(os.name != "posix", reason="SIGINT delivery")


def _gsep() -> list[str]:
    script = shutil.which("gsep", path=os.path.dirname(sys.executable))
    return [script] if script else [sys.executable, "-m", "gsep_cli"]


def _env(tmp_path: Path, base_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GSEP_", "GAUDIO_"))}
    env.update(
        GSEP_CONFIG_DIR=str(tmp_path / "c"),
        GSEP_STATE_DIR=str(tmp_path / "s"),
        GSEP_API_KEY="interrupt-key-4321",
        GSEP_BASE_URL=base_url,
        GSEP_POLL_INTERVAL="0.1",
        GSEP_POLL_CAP="0.2",
    )
    return env


def _wait_for(predicate, seconds: float = 15.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting for the condition"
        time.sleep(0.05)


def test_ctrl_c_during_upload(tmp_path: Path) -> None:
    song = make_wav(tmp_path / "song.wav", seconds=1.0)  # 44.1 kHz stereo, 11 parts of 16 KiB
    with Sandbox(job_seconds=0, chunk_size=16 * 1024, faults=["part-delay:*:20"]) as sb:
        proc = subprocess.Popen(
            [*_gsep(), "separate", str(song), "-o", str(tmp_path / "out")],
            env=_env(tmp_path, sb.base_url),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            _wait_for(lambda: any(e["kind"] == "s3" for e in sb.requests))
            started = time.monotonic()
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=15)
        finally:
            proc.kill()
        assert proc.returncode == 130, err
        assert time.monotonic() - started < 15  # did not wait for the 20 s parts
        assert out == ""
        assert "Traceback" not in err
        assert len([ln for ln in err.splitlines() if "interrupted" in ln]) == 1
        assert not [e for e in sb.requests if e["path"].endswith("/complete")]
        assert sb.store.job_count() == 0
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*"))


def test_ctrl_c_while_waiting_for_the_job(tmp_path: Path) -> None:
    song = make_wav(tmp_path / "song.wav", seconds=1.0)  # 44.1 kHz stereo, 11 parts of 16 KiB
    with Sandbox(job_seconds=60, chunk_size=1 << 20) as sb:
        proc = subprocess.Popen(
            [*_gsep(), "separate", str(song), "-o", str(tmp_path / "out")],
            env=_env(tmp_path, sb.base_url),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            _wait_for(lambda: any("/jobs/" in e["path"] for e in sb.requests))
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=15)
        finally:
            proc.kill()
    assert proc.returncode == 130, err
    assert out == "" and "Traceback" not in err
    assert [ln for ln in err.splitlines() if "interrupted" in ln]


def test_ctrl_c_during_download_leaves_no_file(tmp_path: Path) -> None:
    song = make_wav(tmp_path / "song.wav", seconds=1.0)  # 44.1 kHz stereo, 11 parts of 16 KiB
    with Sandbox(job_seconds=0, chunk_size=1 << 20, faults=["download-delay:*:20"]) as sb:
        proc = subprocess.Popen(
            [*_gsep(), "separate", str(song), "-o", str(tmp_path / "out")],
            env=_env(tmp_path, sb.base_url),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            _wait_for(lambda: any(e["kind"] == "cdn" for e in sb.requests))
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=15)
        finally:
            proc.kill()
    assert proc.returncode == 130, err
    assert out == "" and "Traceback" not in err
    leftovers = [p for p in (tmp_path / "out").rglob("*") if p.is_file()]
    assert leftovers == []
