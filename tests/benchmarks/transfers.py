"""Upload and download throughput against curl, the send block size, peak memory.

* upload: the same file, the same presigned part URLs (a fresh plan per run), curl
  ``--upload-file`` sending the parts one after another vs ``gsep upload`` with
  ``--parallel 1`` and 4 (gsep's time includes its start-up and the API calls);
* sandbox ceiling: curl into the sandbox vs curl into a socket that only discards bytes;
* block size: gsep's upload (in process, one part at a time) with 16 KiB (urllib3's
  default) to 1 MiB send blocks;
* memory: peak RSS (``/usr/bin/time -f %M``) of ``gsep upload`` with 1 GiB chunks, for
  growing files (sparse files: the data is zeros, the work is the same);
* download: ``gsep download`` vs ``curl -o`` of the same result URL.
"""

from __future__ import annotations

import contextlib
import functools
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from common import (
    KEY,
    GiB,
    MiB,
    Row,
    env_for,
    gsep_exe,
    mib_per_s,
    random_file,
    sandbox,
    sparse_file,
    timed,
)

# files over 1 GB: a model whose limit is 10 GB (the music models stop at 1 GB)
BIG = ["--model", "gsep_dme_dtrack_v1"]
CURL = ["curl", "-sS", "-f", "-o", "/dev/null", "-H", "Expect:", "-H", "Content-Type:"]

SINK = r"""
import socket, sys, threading
server = socket.socket()
server.bind(("127.0.0.1", 0))
server.listen(16)
print(server.getsockname()[1], flush=True)

def handle(conn):
    with conn, conn.makefile("rb") as reader:
        while True:
            length = None
            line = reader.readline()
            if not line:
                return
            while line not in (b"\r\n", b"\n", b""):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
                line = reader.readline()
            left = length or 0
            while left:
                block = reader.read(min(left, 1 << 20))
                if not block:
                    return
                left -= len(block)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nETag: \"x\"\r\n\r\n")

while True:
    conn, _ = server.accept()
    threading.Thread(target=handle, args=(conn,), daemon=True).start()
"""


@contextlib.contextmanager
def sink() -> Iterator[str]:
    """A loopback HTTP endpoint that reads and discards request bodies."""
    proc = subprocess.Popen([sys.executable, "-c", SINK], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    try:
        yield f"http://127.0.0.1:{proc.stdout.readline().strip()}/part"
    finally:
        proc.kill()
        proc.wait(timeout=30)


def _split(src: Path, parts: int, chunk: int, folder: Path) -> list[Path]:
    files = []
    with open(src, "rb") as fh:
        for n in range(parts):
            path = folder / f"part{n}"
            path.write_bytes(fh.read(chunk))
            files.append(path)
    return files


def _curl_serial(files: list[Path], urls: list[str]) -> float:
    start = time.perf_counter()
    for path, url in zip(files, urls, strict=True):
        subprocess.run([*CURL, "--upload-file", str(path), url], check=True, timeout=600)
    return time.perf_counter() - start


def upload(quick: bool) -> list[Row]:
    size = 256 * MiB if quick else 1 * GiB
    parts, runs = 4, (2 if quick else 3)
    chunk = size // parts
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="gsep-bench-") as tmp_name:
        tmp = Path(tmp_name)
        src = random_file(tmp / "in.wav", size)
        files = _split(src, parts, chunk, tmp)
        with sandbox("--chunk-size", str(chunk), "--rate-limit", "0") as sb:
            env = env_for(sb.base_url, tmp)
            curl, serial, parallel = [], [], []
            for _ in range(runs):  # interleaved
                plan = sb.api(
                    "POST",
                    "/v1/files/upload-multipart/create",
                    {"fileName": "in.wav", "fileSize": size},
                )
                curl.append(_curl_serial(files, plan["preSignedUrl"]))
                serial.append(
                    timed([gsep_exe(), "-q", "upload", str(src), *BIG, "--parallel", "1"], env=env)
                )
                parallel.append(
                    timed([gsep_exe(), "-q", "upload", str(src), *BIG, "--parallel", "4"], env=env)
                )
            with sink() as url:
                sink_times = [_curl_serial(files, [url] * parts) for _ in range(runs)]
        c, s, p, k = (statistics.median(x) for x in (curl, serial, parallel, sink_times))
        label = f"{size // MiB} MiB in {parts} parts"
        rows.append(
            Row(
                f"upload {label}, --parallel 1",
                mib_per_s(size, s),
                "curl " + mib_per_s(size, c),
                c / s,
                ">= 0.9x",
                c / s >= 0.9,
            )
        )
        rows.append(
            Row(
                f"upload {label}, --parallel 4",
                mib_per_s(size, p),
                "curl " + mib_per_s(size, c),
                c / p,
                "> 1.0x",
                c / p > 1.0,
            )
        )
        rows.append(
            Row(
                "sandbox ceiling: curl into sandbox vs into a discarding socket",
                mib_per_s(size, c),
                mib_per_s(size, k),
                k / c,
                "report",
                None,
            )
        )
    return rows


def blocksize(quick: bool) -> list[Row]:
    """gsep's upload with different send blocks (in process, parts one at a time)."""
    from gsep_cli import http, transfer
    from gsep_cli.client import GsepClient

    size = 128 * MiB if quick else 512 * MiB
    sizes = {"16 KiB": 16 * 1024, "64 KiB": 64 * 1024, "256 KiB": 256 * 1024, "1 MiB": MiB}
    results: dict[str, list[float]] = {name: [] for name in sizes}
    original = transfer.make_session
    with tempfile.TemporaryDirectory(prefix="gsep-bench-") as tmp_name:
        src = random_file(Path(tmp_name) / "in.wav", size)
        with sandbox("--chunk-size", str(size // 4), "--rate-limit", "0") as sb:
            try:
                for _ in range(2 if quick else 3):
                    for name, block in sizes.items():
                        transfer.make_session = functools.partial(
                            http.make_session, blocksize=block
                        )  # type: ignore[assignment]
                        with GsepClient(sb.base_url, KEY, parallel=1) as client:
                            start = time.perf_counter()
                            client.upload_file(src)
                            results[name].append(time.perf_counter() - start)
            finally:
                transfer.make_session = original  # type: ignore[assignment]
    base = statistics.median(results["16 KiB"])
    rows = []
    for name in sizes:
        t = statistics.median(results[name])
        rows.append(
            Row(
                f"send block {name} ({size // MiB} MiB, 1 part at a time)",
                mib_per_s(size, t),
                "16 KiB " + mib_per_s(size, base),
                base / t,
                "report",
                None,
            )
        )
    return rows


def _peak_rss_mib(command: list[str], env: dict[str, str]) -> float:
    done = subprocess.run(
        ["/usr/bin/time", "-f", "%M", *command],
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr)
    return int(done.stderr.strip().splitlines()[-1]) / 1024


def memory(quick: bool) -> list[Row]:
    sizes = [64 * MiB, 512 * MiB] if quick else [256 * MiB, 1 * GiB, 2 * GiB]
    peaks = []
    with tempfile.TemporaryDirectory(prefix="gsep-bench-") as tmp_name:
        tmp = Path(tmp_name)
        with sandbox("--chunk-size", str(GiB), "--rate-limit", "0") as sb:
            env = env_for(sb.base_url, tmp)
            for size in sizes:
                path = sparse_file(tmp / f"in-{size}.wav", size)
                peaks.append(_peak_rss_mib([gsep_exe(), "-q", "upload", str(path), *BIG], env))
                path.unlink()
    rows = [
        Row(
            f"memory: upload {size // MiB} MiB, 1 GiB chunks",
            f"{peak:.0f} MiB peak RSS",
            "-",
            None,
            "< 150 MiB",
            peak < 150,
        )
        for size, peak in zip(sizes, peaks, strict=True)
    ]
    growth = max(peaks) / min(peaks)
    rows.append(
        Row(
            f"memory: largest / smallest file ({sizes[-1] // sizes[0]}x the bytes)",
            f"{max(peaks):.0f} MiB",
            f"{min(peaks):.0f} MiB",
            growth,
            "<= 1.2x (flat)",
            growth <= 1.2,
        )
    )
    return rows


def download(quick: bool) -> list[Row]:
    from gsep_cli import media

    seconds = 240.0 if quick else 1190.0  # a silent MP3 input gives a WAV stem of 46 MB/min
    runs = 3 if quick else 5
    with tempfile.TemporaryDirectory(prefix="gsep-bench-") as tmp_name:
        tmp = Path(tmp_name)
        with open(tmp / "long.mp3", "wb") as fh:
            media.write_mp3(fh, seconds)
        with sandbox("--job-seconds", "0", "--rate-limit", "0") as sb:
            env = env_for(sb.base_url, tmp, GSEP_POLL_INTERVAL="0.1")
            command = [gsep_exe(), "--json", "separate", str(tmp / "long.mp3"), "-s", "vocal"]
            first = subprocess.run(
                [*command, "-o", str(tmp / "first")],
                env=env,
                capture_output=True,
                text=True,
                timeout=600,
                check=True,
            )
            import json

            job_id = json.loads(first.stdout)["jobId"]
            job = sb.api("GET", f"/v1/gsep_music_hq_v1/jobs/{job_id}")
            url = job["downloadUrl"]["vocal"]["wav"]
            size = (tmp / "first/long/vocal.wav").stat().st_size
            ours, theirs = [], []
            for _ in range(runs):
                theirs.append(timed(["curl", "-sS", "-f", "-o", str(tmp / "curl.wav"), url]))
                ours.append(
                    timed(
                        [
                            gsep_exe(),
                            "-q",
                            "download",
                            job_id,
                            "-s",
                            "vocal",
                            "-o",
                            str(tmp / "g"),
                            "--force",
                        ],
                        env=env,
                    )
                )
    a, b = statistics.median(ours), statistics.median(theirs)
    return [
        Row(
            f"download {size // MiB} MiB result",
            mib_per_s(size, a),
            "curl -o " + mib_per_s(size, b),
            b / a,
            ">= 0.9x",
            b / a >= 0.9,
        )
    ]
