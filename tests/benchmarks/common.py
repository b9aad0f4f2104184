"""Shared pieces of the benchmarks: a sandbox in its own process, the installed ``gsep``,
clean environments, input files, timing and the result rows.

Everything runs on loopback (127.0.0.1). Nothing here is imported by the default test run.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

KEY = "bench-key"
HERE = Path(__file__).resolve().parent
MiB = 1024 * 1024
GiB = 1024 * MiB


def gsep_exe() -> str:
    """The ``gsep`` console script installed next to the running interpreter."""
    found = shutil.which("gsep", path=os.path.dirname(sys.executable))
    if found is None:
        raise SystemExit("gsep is not installed next to this Python: pip install -e '.[test]'")
    return found


@dataclass
class Row:
    """One line of the results table."""

    figure: str
    gsep: str
    peer: str
    ratio: float | None
    target: str
    ok: bool | None  # None: reported, no target

    @property
    def verdict(self) -> str:
        return {True: "ok", False: "MISSED", None: "-"}[self.ok]


def median_time(command: Sequence[str], runs: int, **kwargs: Any) -> float:
    """Median wall time of ``command`` over ``runs`` runs (each must exit 0)."""
    return statistics.median(timed(command, **kwargs) for _ in range(runs))


def timed(command: Sequence[str], **kwargs: Any) -> float:
    """Wall time of one run of ``command``; raises if it fails."""
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, timeout=1800, check=False, **kwargs)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(
            f"{' '.join(map(str, command))}: exit {done.returncode}\n{done.stderr!r}"
        )
    return elapsed


def timed_cpu(command: Sequence[str], **kwargs: Any) -> tuple[float, float]:
    """Wall time and CPU time (user + system, the process and its children, as the
    kernel counts them: ``wait4``) of one run of ``command``; raises if it fails."""
    start = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **kwargs)
    assert proc.stderr is not None
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    elapsed = time.perf_counter() - start
    proc.stderr.close()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, command))}: exit {proc.returncode}\n{err!r}")
    return elapsed, usage.ru_utime + usage.ru_stime


def env_for(base_url: str, folder: Path, **extra: str) -> dict[str, str]:
    """An environment for gsep: the sandbox's URL and key, its own config and state."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GSEP_", "GAUDIO_"))}
    env.update(
        GSEP_BASE_URL=base_url,
        GSEP_API_KEY=KEY,
        GSEP_CONFIG_DIR=str(folder / "config"),
        GSEP_STATE_DIR=str(folder / "state"),
        NO_PROXY="127.0.0.1,localhost",
    )
    env.update(extra)
    return env


class SandboxProcess:
    """``gsep sandbox serve`` in its own process (so it never shares a GIL with gsep)."""

    def __init__(self, *args: str, tmpdir: Path) -> None:
        line = self._launch([gsep_exe(), "sandbox", "serve", "--port", "0", *args], tmpdir)
        if not line.startswith("http://127.0.0.1:"):
            self.stop()
            raise RuntimeError(f"sandbox did not start: {line!r}")
        self.base_url = line
        parts = urlsplit(line)
        self.origin = f"{parts.scheme}://{parts.netloc}"
        self.port = parts.port or 80

    def _launch(self, command: list[str], tmpdir: Path) -> str:
        """Start ``command`` (temporary files in ``tmpdir``) as :attr:`proc`; the first
        line it prints, where a sandbox says where it listens."""
        env = {**os.environ, "TMPDIR": str(tmpdir)}
        self.proc = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env
        )
        assert self.proc.stdout is not None
        return self.proc.stdout.readline().strip()

    def api(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """One API call with the bench key; returns ``resultData``."""
        r = requests.request(
            method, self.base_url + path, json=body, headers={"x-ga-apikey": KEY}, timeout=60
        )
        r.raise_for_status()
        document = r.json()
        if document.get("resultCode") != 1000:
            raise RuntimeError(f"{path}: {document}")
        return document["resultData"]

    def requests(self) -> list[dict[str, Any]]:
        """The sandbox's request log."""
        r = requests.get(self.origin + "/_sandbox/requests", timeout=60)
        r.raise_for_status()
        return list(r.json()["requests"])

    def clear(self) -> None:
        requests.delete(self.origin + "/_sandbox/requests", timeout=60).raise_for_status()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=60)


class LaunchedSandbox(SandboxProcess):
    """The sandbox started by ``launcher.py`` (its own process), advertising
    ``advertise`` in its URLs and/or sending parts to the receiver at ``parts_to``;
    :attr:`origin` stays its own address, for control calls (the request log).

    ``settings`` are :class:`Sandbox` keyword arguments (``job_seconds``, ``chunk_size``
    in bytes, ``rate_limit``...). Raises ``RuntimeError`` if the sandbox does not start."""

    def __init__(
        self,
        settings: dict[str, Any],
        *,
        tmpdir: Path,
        advertise: str | None = None,
        parts_to: str | None = None,
    ) -> None:
        command = [sys.executable, str(HERE / "launcher.py")]
        command += ["--advertise", advertise] if advertise else []
        command += ["--parts-to", parts_to] if parts_to else []
        words = self._launch([*command, json.dumps(settings)], tmpdir).split()
        if len(words) != 2 or not words[0].startswith(advertise or "http://127.0.0.1:"):
            self.stop()
            raise RuntimeError(f"sandbox did not start: {words!r}")
        self.base_url = words[0]
        self.port = int(words[1])
        self.origin = f"http://127.0.0.1:{self.port}"


@contextlib.contextmanager
def launched_sandbox(
    settings: dict[str, Any], *, advertise: str | None = None, parts_to: str | None = None
) -> Iterator[LaunchedSandbox]:
    """:class:`LaunchedSandbox` for the time of the block."""
    with tempfile.TemporaryDirectory(prefix="gsep-bench-sb-") as tmp:
        box = LaunchedSandbox(settings, tmpdir=Path(tmp), advertise=advertise, parts_to=parts_to)
        try:
            yield box
        finally:
            box.stop()


@contextlib.contextmanager
def sandbox(*args: str) -> Iterator[SandboxProcess]:
    with tempfile.TemporaryDirectory(prefix="gsep-bench-sb-") as tmp:
        box = SandboxProcess(*args, tmpdir=Path(tmp))
        try:
            yield box
        finally:
            box.stop()


def random_file(path: Path, size: int) -> Path:
    """``size`` bytes that do not compress (one random MiB, repeated) behind a WAV header
    (48 kHz stereo 16-bit), so gsep's preflight takes it for the audio it claims to be."""
    from gsep_cli.media import FORMAT_PCM
    from gsep_cli.sandbox.render import wav_header

    header = wav_header(FORMAT_PCM, 2, 48000, 16, max(0, size - 44) // 4)
    block = os.urandom(MiB)
    with open(path, "wb") as fh:
        fh.write(header)
        left = size - len(header)
        for _ in range(left // MiB):
            fh.write(block)
        fh.write(block[: left % MiB])
    return path


def sparse_file(path: Path, size: int) -> Path:
    """A ``size``-byte WAV file (the header of :func:`random_file`), silent: the rest
    is zeros that take no disk space. Without the header, gsep's preflight refuses it."""
    from gsep_cli.media import FORMAT_PCM
    from gsep_cli.sandbox.render import wav_header

    with open(path, "wb") as fh:
        fh.write(wav_header(FORMAT_PCM, 2, 48000, 16, max(0, size - 44) // 4))
        fh.truncate(size)
    return path


def small_wav(path: Path, tone: int, seconds: float = 0.2) -> Path:
    """A short mono WAV whose bytes differ by ``tone`` (so the ledger sees new content),
    from the tests' one WAV writer (``tests/audio.py``)."""
    if str(HERE.parent) not in sys.path:
        sys.path.insert(0, str(HERE.parent))
    from audio import make_wav

    return make_wav(path, seconds, rate=16000, channels=1, seed=tone)


def mib_per_s(size: int, seconds: float) -> str:
    return f"{size / MiB / seconds:,.0f} MiB/s"


def fmt_ratio(value: float | None) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.2f}x"


def print_table(rows: Sequence[Row], out: Any = sys.stdout) -> None:
    head = ("figure", "gsep", "peer", "ratio", "target", "verdict")
    cells = [head] + [
        (r.figure, r.gsep, r.peer, fmt_ratio(r.ratio), r.target, r.verdict) for r in rows
    ]
    widths = [max(len(c[i]) for c in cells) for i in range(len(head))]
    for n, cell in enumerate(cells):
        print(" | ".join(v.ljust(w) for v, w in zip(cell, widths, strict=True)).rstrip(), file=out)
        if n == 0:
            print("-+-".join("-" * w for w in widths), file=out)


def save_json(rows: Sequence[Row], path: Path) -> None:
    path.write_text(json.dumps([r.__dict__ for r in rows], indent=2) + "\n", encoding="utf-8")
