"""Helpers of the hostile-server tests (``test_hostile*.py``): an environment with small
timeouts and stall limits, a timed run of the installed ``gsep``, and a finished job
made through a sandbox's own API (no gsep involved)."""

from __future__ import annotations

import time
from collections.abc import Callable
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


def make_cert(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (cert, key), made with openssl."""
    import subprocess

    key, crt = folder / "key.pem", folder / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
         "-out", str(crt), "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return crt, key


def drip_relay(port: int, rate: float) -> tuple[int, Callable[[], None]]:
    """A loopback relay to ``port`` that passes what the client sends at once and what
    the server sends ``rate`` bytes a second (a TLS handshake that drips). Returns its
    port and a function that stops it."""
    import socket
    import threading

    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def pump(src: socket.socket, dst: socket.socket, slow: bool) -> None:
        try:
            while not stop.is_set() and (data := src.recv(65536)):
                for i in range(len(data)) if slow else [None]:
                    if stop.is_set():
                        return
                    dst.sendall(data if i is None else data[i : i + 1])
                    if slow:
                        time.sleep(1 / rate)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                sock.close()

    def serve() -> None:
        while not stop.is_set():
            try:
                client, _ = listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", port))
            threading.Thread(target=pump, args=(client, server, False), daemon=True).start()
            threading.Thread(target=pump, args=(server, client, True), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()

    def close() -> None:
        stop.set()
        listener.close()

    return listener.getsockname()[1], close
