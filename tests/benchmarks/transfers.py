"""Upload and download throughput against curl, the send block size, peak memory.

* upload: the same file, the same presigned part URLs (a fresh plan per run), curl
  ``--upload-file`` sending the parts one after another vs ``gsep upload`` with
  ``--parallel 1`` and 4 (gsep's time includes its start-up and the API calls);
* sandbox ceiling: curl into the sandbox vs curl into the discarding receiver
  (:mod:`discard`);
* block size: gsep's part bodies sent through its session (in process, one part at a
  time) into the discarding receiver, with 16 KiB (urllib3's default) to 1 MiB send blocks;
* memory: peak RSS (``/usr/bin/time -f %M``) of ``gsep upload`` with 1 GiB chunks, for
  growing files (sparse files: the data is zeros, the work is the same);
* download: ``gsep download`` vs ``curl -o`` of the same result URL (a 20-minute song's
  stem and a 101-minute film's, about 1 GiB), each run into an empty folder after a
  ``sync``; and the transfer alone (``GsepClient.download`` in process).
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from common import (
    KEY,
    GiB,
    MiB,
    Row,
    SandboxProcess,
    env_for,
    gsep_exe,
    mib_per_s,
    random_file,
    sandbox,
    sparse_file,
    timed,
)
from discard import receiver

# files over 1 GB: a model whose limit is 10 GB (the music models stop at 1 GB)
BIG = ["--model", "gsep_dme_dtrack_v1"]
CURL = ["curl", "-sS", "-f", "-o", "/dev/null", "-H", "Expect:", "-H", "Content-Type:"]


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
            with receiver() as origin:
                url = f"{origin}/part"
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
    """gsep's part upload (a ``FileSlice`` body, MD5 included, through the session's
    ``BlockSizeAdapter``) into the discarding socket, one part at a time, for send blocks of
    16 KiB (urllib3's default) to 1 MiB. The sandbox is left out: it is slower than any of
    them, and its own noise hid the differences (see RESULTS.md)."""
    from gsep_cli import sessions
    from gsep_cli.fileslice import FileSlice

    size = 128 * MiB if quick else 512 * MiB
    parts = 4
    sizes = {"16 KiB": 16 * 1024, "64 KiB": 64 * 1024, "256 KiB": 256 * 1024, "1 MiB": MiB}
    results: dict[str, list[float]] = {name: [] for name in sizes}
    with tempfile.TemporaryDirectory(prefix="gsep-bench-") as tmp_name, receiver() as origin:
        url = f"{origin}/part"
        src = random_file(Path(tmp_name) / "in.wav", size)
        chunk = size // parts
        for _ in range(3 if quick else 7):  # interleaved: drift hits every size alike
            for name, block in sizes.items():
                with sessions.make_session(blocksize=block) as session:
                    start = time.perf_counter()
                    for n in range(parts):
                        body = FileSlice(src, n * chunk, chunk)
                        try:
                            session.put(url, data=body, timeout=60).raise_for_status()
                        finally:
                            body.close()
                    results[name].append(time.perf_counter() - start)
    base = statistics.median(results["16 KiB"])
    rows = []
    for name in sizes:
        t = statistics.median(results[name])
        rows.append(
            Row(
                f"send block {name} ({size // MiB} MiB into the discarding socket)",
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


# (label, seconds of silent MP3 input, model args, stem): a WAV stem is 10.1 MiB a minute
DOWNLOADS = [
    ("20-min song", 1190.0, [], "vocal"),  # the music models' longest input
    ("101-min film", 6087.0, BIG, "dialogue"),  # about 1 GiB, within the dme models' 200 min
]
TINY = ("1-s clip", 1.0, [], "vocal")  # the whole command is all start-up: the fixed cost


def download(quick: bool) -> list[Row]:
    """``gsep download`` vs ``curl -o`` of the same result, whole commands side by side; the
    transfer alone (``GsepClient.download`` in process, the job already fetched), which is
    the throughput without gsep's start-up; and that start-up, from a tiny result."""
    from gsep_cli.sandbox import silence

    cases = [("4-min song", 240.0, [], "vocal")] if quick else DOWNLOADS
    runs = 3 if quick else 5
    rows = []
    for label, seconds, model_args, stem in [TINY, *cases]:
        with tempfile.TemporaryDirectory(prefix="gsep-bench-") as tmp_name:
            tmp = Path(tmp_name)
            with open(tmp / "long.mp3", "wb") as fh:
                silence.write_mp3(fh, seconds)
            with sandbox("--job-seconds", "0", "--rate-limit", "0") as sb:
                size, whole, curl, transfer = _download_case(sb, tmp, model_args, stem, runs)
        if label == TINY[0]:
            rows.append(
                Row(
                    f"download fixed cost: {size // 1024} KiB result ({label})",
                    f"{whole * 1000:.0f} ms",
                    f"curl -o {curl * 1000:.0f} ms",
                    curl / whole,
                    "report",
                    None,
                )
            )
            continue
        name = f"download {size // MiB} MiB result ({label})"
        peer = "curl -o " + mib_per_s(size, curl)
        ok = curl / whole >= 0.9  # the whole command: its fixed cost included
        rows.append(Row(name, mib_per_s(size, whole), peer, curl / whole, ">= 0.9x", ok))
        rows.append(
            Row(
                f"{name}, transfer only",
                mib_per_s(size, transfer),
                peer,
                curl / transfer,
                ">= 0.9x",
                curl / transfer >= 0.9,
            )
        )
    return rows


def _clean_slate(tmp: Path) -> None:
    """Untimed, before each run: no earlier output to truncate or replace, and no earlier
    run's dirty pages still being written back. Without this, whichever tool runs next
    pays for the previous one's gigabyte (seen: 1.0 s for curl after a sync, 2.9 s after
    another download; replacing an old 1 GiB file alone took 0.7 s)."""
    (tmp / "curl.wav").unlink(missing_ok=True)
    shutil.rmtree(tmp / "g", ignore_errors=True)
    shutil.rmtree(tmp / "lib", ignore_errors=True)
    os.sync()


def _download_case(
    sb: SandboxProcess, tmp: Path, model_args: list[str], stem: str, runs: int
) -> tuple[int, float, float, float]:
    """Size, then median seconds of: gsep download, curl -o, the in-process transfer."""
    from gsep_cli.client import GsepClient

    model = model_args[1] if model_args else "gsep_music_hq_v1"
    env = env_for(sb.base_url, tmp, GSEP_POLL_INTERVAL="0.1")
    separate = [gsep_exe(), "--json", "separate", str(tmp / "long.mp3"), *model_args]
    separate += ["-s", stem, "-f", "wav", "-o", str(tmp / "first")]
    first = subprocess.run(
        separate, env=env, capture_output=True, text=True, timeout=1800, check=True
    )
    job_id = json.loads(first.stdout)["jobId"]
    url = sb.api("GET", f"/v1/{model}/jobs/{job_id}")["downloadUrl"][stem]["wav"]
    size = (tmp / "first" / "long" / f"{stem}.wav").stat().st_size
    shutil.rmtree(tmp / "first")
    command = [gsep_exe(), "-q", "download", job_id, "-m", model, "-s", stem, "-f", "wav"]
    command += ["-o", str(tmp / "g")]
    ours, theirs, inproc = [], [], []
    with GsepClient(sb.base_url, KEY) as client:
        job = client.get_job(job_id, model=model)
        for _ in range(runs):  # interleaved: the machine's drift hits both alike
            _clean_slate(tmp)
            theirs.append(timed(["curl", "-sS", "-f", "-o", str(tmp / "curl.wav"), url]))
            _clean_slate(tmp)
            ours.append(timed(command, env=env))
            _clean_slate(tmp)
            start = time.perf_counter()
            client.download(job, tmp / "lib", stems=[stem], model=model, track="t")
            inproc.append(time.perf_counter() - start)
        _clean_slate(tmp)
    return size, statistics.median(ours), statistics.median(theirs), statistics.median(inproc)
