"""``gsep sandbox serve`` as a real subprocess of the installed entry point."""

from __future__ import annotations

import contextlib
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
from conftest import TIMEOUT

BASE_URL = re.compile(r"^http://127\.0\.0\.1:(\d+)/developers/api$")


def _gsep() -> list[str]:
    """The installed console script (next to this Python, else on PATH), else ``-m``."""
    beside = Path(sys.executable).with_name("gsep")
    if beside.is_file() and os.access(beside, os.X_OK):
        return [str(beside)]
    found = shutil.which("gsep")
    return [found] if found else [sys.executable, "-m", "gsep_cli"]


def _read_line(proc: subprocess.Popen[str], timeout: float = 30) -> str:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    assert ready, "gsep sandbox serve printed nothing"
    return proc.stdout.readline()


@contextmanager
def _serve(*args: str, env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(
        [*_gsep(), "sandbox", "serve", "--port", "0", "--job-seconds", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=30)


def test_serve_prints_the_base_url_and_stops_on_sigint() -> None:
    with _serve() as proc:
        line = _read_line(proc)
        assert line.endswith("\n")
        base = line.strip()
        assert BASE_URL.match(base), line
        r = requests.get(base + "/v1/key/info", headers={"x-ga-apikey": "k"}, timeout=TIMEOUT)
        assert r.status_code == 200 and r.json()["resultCode"] == 1000
        r = requests.post(
            base + "/v1/files/upload-multipart/create",
            json={"fileName": "a.wav", "fileSize": 5},
            headers={"x-ga-apikey": "k"},
            timeout=TIMEOUT,
        )
        assert r.json()["resultData"]["chunkSize"] == 1024**3
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        assert out == ""  # exactly one line on stdout in all
        assert "Traceback" not in err
        assert base in err  # the human message goes to stderr
        with pytest.raises(requests.ConnectionError):
            requests.get(base + "/v1/key/info", timeout=5)


def test_serve_options_and_env_faults() -> None:
    env = {"GSEP_SANDBOX_FAULTS": "api-503:1"}
    with _serve(
        "--chunk-size", "64KiB", "--fault", "api-500", "--rate-limit", "0", env=env
    ) as proc:
        base = _read_line(proc).strip()
        headers = {"x-ga-apikey": "k"}
        statuses = [
            requests.get(base + "/v1/key/info", headers=headers, timeout=TIMEOUT).status_code
            for _ in range(3)
        ]
        assert statuses == [500, 503, 200]
        r = requests.post(
            base + "/v1/files/upload-multipart/create",
            json={"fileName": "a.wav", "fileSize": 5},
            headers=headers,
            timeout=TIMEOUT,
        )
        assert r.json()["resultData"]["chunkSize"] == 64 * 1024
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
        assert proc.returncode == 0


def test_serve_refuses_a_bad_fault_without_a_traceback() -> None:
    proc = subprocess.run(
        [*_gsep(), "sandbox", "serve", "--port", "0", "--fault", "explode"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
    assert "explode" in proc.stderr


def test_help_says_it_does_not_separate() -> None:
    proc = subprocess.run(
        [*_gsep(), "sandbox", "serve", "--help"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0
    text = " ".join(proc.stdout.split()).lower()
    assert "does not separate" in text or "not separate sources" in text, proc.stdout


@pytest.mark.slow
def test_a_stop_while_it_still_announces_itself_is_clean(tmp_path: Path) -> None:
    """SIGTERM lands after the base URL but while the "serving at" line is still being
    written (here: a standard error nobody has read yet, so the write blocks; on a loaded
    machine, a slow one): the emulator stops, its files go, exit 0 — not "interrupted"
    (130) with its stored files left behind."""
    import fcntl
    import threading

    read_end, write_end = os.pipe()
    fcntl.fcntl(write_end, fcntl.F_SETFL, os.O_NONBLOCK)
    with contextlib.suppress(BlockingIOError):  # fill the pipe: the next write blocks
        while True:
            os.write(write_end, b"\0" * 4096)
    fcntl.fcntl(write_end, fcntl.F_SETFL, 0)
    proc = subprocess.Popen(
        [*_gsep(), "sandbox", "serve", "--port", "0", "--job-seconds", "0"],
        stdout=subprocess.PIPE,
        stderr=write_end,
        text=True,
        env={**os.environ, "TMPDIR": str(tmp_path)},
    )
    os.close(write_end)
    drained: list[bytes] = []
    try:
        assert _read_line(proc).startswith("http://127.0.0.1:")
        assert list(tmp_path.iterdir())  # its storage folder
        time.sleep(0.3)  # it is blocked writing "serving at" to the full pipe
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)

        def drain() -> None:
            while chunk := os.read(read_end, 65536):
                drained.append(chunk)

        reader = threading.Thread(target=drain, daemon=True)
        reader.start()
        proc.wait(timeout=30)
        reader.join(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
        os.close(read_end)
    err = b"".join(drained).replace(b"\0", b"").decode(errors="replace")
    assert proc.returncode == 0, err
    assert "gsep: sandbox stopped" in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_serve_removes_its_files_when_stopped(tmp_path: Path, signum: int) -> None:
    """Ctrl-C or kill: the uploads and results it stored leave the temp folder with it."""
    with _serve(env={"TMPDIR": str(tmp_path)}) as proc:
        base = _read_line(proc).strip()
        r = requests.post(
            base + "/v1/files/upload-multipart/create",
            json={"fileName": "a.wav", "fileSize": 5},
            headers={"x-ga-apikey": "k"},
            timeout=TIMEOUT,
        )
        assert r.status_code == 200
        assert list(tmp_path.iterdir())  # its storage folder
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        assert "Traceback" not in err
    assert list(tmp_path.iterdir()) == []
