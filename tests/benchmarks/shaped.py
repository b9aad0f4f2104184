"""Transfers and a small batch on the emulated link (80 ms round trip, 100 Mbit/s each
way: :mod:`linkemu`) and on plain loopback, side by side with curl and the vendor-like
client (:mod:`vendor_like`), and peak memory (issue 16).

* link ceiling: curl into a socket that only discards bytes, through the link: the
  parts one after another (one curl each) and at once (``curl -Z --parallel-max 4``);
* upload: the same file to the same kind of presigned URLs (a fresh plan per curl run):
  curl serial and ``-Z``, ``gsep upload`` with ``--parallel 1`` and with its defaults,
  the vendor-like upload (whole file in memory, parts one after another);
* download: ``gsep download`` (whole command) vs ``curl -o`` of the same result URL, and
  the transfer alone (``GsepClient.download`` in process); the vendor's client never
  downloads;
* batch: ``gsep separate`` of N inputs with ``--jobs K`` vs the vendor-like client doing
  K inputs at once (status every 10 s), against ceil(N/K) x job time;
* memory: peak RSS (``/usr/bin/time -f %M``) of ``gsep upload`` of a 2 GiB input and of
  ``gsep separate`` of a 50-input batch; the vendor-like upload of the same 2 GiB.
"""

from __future__ import annotations

import contextlib
import math
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from behind import linked, linked_sandbox
from common import (
    GiB,
    MiB,
    Row,
    env_for,
    gsep_exe,
    random_file,
    sandbox,
    small_wav,
    sparse_file,
    timed,
)
from discard import receiver
from linkemu import Shape, mbit
from transfers import BIG, CURL, _download_case, _peak_rss_mib, _split

LINK = Shape(delay=0.04, rate=mbit(100))
LINK_NAME = "80 ms RTT, 100 Mbit/s"
VENDOR = [sys.executable, str(Path(__file__).resolve().parent / "vendor_like.py")]


@contextlib.contextmanager
def place(shaped: bool, **settings: Any) -> Iterator[Any]:
    """A sandbox on loopback or behind the link; ``settings`` as Sandbox keywords."""
    if shaped:
        with linked_sandbox(LINK, **settings) as (box, _):
            yield box
        return
    args = []
    for name, value in settings.items():
        args += [f"--{name.replace('_', '-')}", str(value)]
    with sandbox(*args) as box:
        yield box


@contextlib.contextmanager
def sink_url(shaped: bool) -> Iterator[str]:
    with receiver() as origin:
        url = f"{origin}/part"
        if not shaped:
            yield url
            return
        with linked(url, LINK) as through:
            yield through


def _curl_parts(files: list[Path], urls: list[str], parallel: bool) -> float:
    start = time.perf_counter()
    if parallel:
        command = [*CURL[:3], "--no-progress-meter", "-Z", "--parallel-max", "4", *CURL[5:]]
        for path, url in zip(files, urls, strict=True):
            command += ["--upload-file", str(path), "-o", "/dev/null", url]
        subprocess.run(command, check=True, timeout=900)
    else:
        for path, url in zip(files, urls, strict=True):
            subprocess.run([*CURL, "--upload-file", str(path), url], check=True, timeout=900)
    return time.perf_counter() - start


def _rate(size: int, seconds: float) -> str:
    return f"{size * 8 / seconds / 1e6:.1f} Mbit/s"


def upload(quick: bool) -> list[Row]:
    link_size = 32 * MiB if quick else 256 * MiB  # 21 s a run at 100 Mbit/s
    parts, runs = 4, (2 if quick else 3)
    rows: list[Row] = []
    for shaped in (True, False):
        where = LINK_NAME if shaped else "loopback"
        size = link_size if shaped else 4 * link_size  # fixed costs hide in small sizes
        times: dict[str, list[float]] = {}
        with tempfile.TemporaryDirectory(prefix="gsep-bench-") as tmp_name:
            tmp = Path(tmp_name)
            src = random_file(tmp / "in.wav", size)
            files = _split(src, parts, size // parts, tmp)
            settings = {"chunk_size": size // parts, "rate_limit": 0}
            with place(shaped, **settings) as box, sink_url(shaped) as discard:
                env = env_for(box.base_url, tmp)
                gsep = [gsep_exe(), "-q", "upload", str(src), *BIG]
                for _ in range(runs):  # interleaved: drift hits every tool alike
                    for mode, parallel in (("curl serial", False), ("curl -Z", True)):
                        plan = box.api(
                            "POST",
                            "/v1/files/upload-multipart/create",
                            {"fileName": "in.wav", "fileSize": size},
                        )
                        took = _curl_parts(files, plan["preSignedUrl"], parallel)
                        times.setdefault(mode, []).append(took)
                        took = _curl_parts(files, [discard] * parts, parallel)
                        times.setdefault(f"ceiling {mode}", []).append(took)
                    times.setdefault("gsep -p1", []).append(
                        timed([*gsep, "--parallel", "1"], env=env)
                    )
                    times.setdefault("gsep", []).append(timed(gsep, env=env))
                    times.setdefault("vendor", []).append(
                        timed([*VENDOR, "upload", str(src)], env=env)
                    )
        rows += _upload_rows(
            where, size, parts, {k: statistics.median(v) for k, v in times.items()}
        )
    return rows


def _upload_rows(where: str, size: int, parts: int, t: dict[str, float]) -> list[Row]:
    label = f"{size // MiB} MiB in {parts} parts, {where}"
    ceiling = t["ceiling curl -Z"]
    shaped = where == LINK_NAME
    nominal = f" ({size / ceiling / LINK.rate:.2f} of 100 Mbit/s)" if shaped else ""
    rows = [
        Row(
            f"ceiling: curl into a discarding socket, {size // MiB} MiB, {where}",
            f"-Z {_rate(size, ceiling)}{nominal}",
            f"serial {_rate(size, t['ceiling curl serial'])}",
            t["ceiling curl serial"] / ceiling,
            "report",
            None,
        )
    ]
    for name, key, target in (
        ("defaults (--parallel 4)", "gsep", 0.95),
        ("--parallel 1", "gsep -p1", 0.89),
    ):
        ratio = ceiling / t[key]
        rows.append(
            Row(
                f"upload {label}, gsep {name} vs the ceiling",
                _rate(size, t[key])
                + (f" ({size / t[key] / LINK.rate:.2f} of 100 Mbit/s)" if shaped else ""),
                f"ceiling {_rate(size, ceiling)}",
                ratio,
                f">= {target}x" if shaped else "report",
                ratio >= target if shaped else None,
            )
        )
    for name, key, peer in (
        ("defaults", "gsep", "curl -Z"),
        ("--parallel 1", "gsep -p1", "curl serial"),
        ("defaults", "gsep", "vendor"),
    ):
        rows.append(
            Row(
                f"upload {label}, gsep {name} vs {'vendor-like' if peer == 'vendor' else peer}",
                _rate(size, t[key]),
                f"{peer} {_rate(size, t[peer])}",
                t[peer] / t[key],
                "report",
                None,
            )
        )
    return rows


def download(quick: bool) -> list[Row]:
    """gsep download vs curl -o of a WAV stem of a silent song, on the link and loopback."""
    from gsep_cli.sandbox import silence

    minutes = 4 if quick else 10
    runs = 2 if quick else 3
    rows = []
    for shaped in (True, False):
        where = LINK_NAME if shaped else "loopback"
        with tempfile.TemporaryDirectory(prefix="gsep-bench-") as tmp_name:
            tmp = Path(tmp_name)
            with open(tmp / "long.mp3", "wb") as fh:
                silence.write_mp3(fh, minutes * 60.0)
            with place(shaped, job_seconds=0, rate_limit=0) as box:
                size, whole, curl, transfer = _download_case(box, tmp, [], "vocal", runs)
        name = f"download {size // MiB} MiB result ({minutes}-min song), {where}"
        peer = f"curl -o {_rate(size, curl)}"
        target = 0.9 if shaped else None
        for label, seconds in (("", whole), (", transfer only", transfer)):
            ratio = curl / seconds
            rows.append(
                Row(
                    name + label,
                    _rate(size, seconds),
                    peer,
                    ratio,
                    ">= 0.9x" if target else "report",
                    ratio >= 0.9 if target else None,
                )
            )
    return rows


def batch(quick: bool) -> list[Row]:
    """A small batch, gsep and the vendor-like client, against ceil(N/K) x job time."""
    n, k, job = (3, 3, 5.0) if quick else (6, 3, 15.0)
    rows = []
    for shaped in (True, False):
        where = LINK_NAME if shaped else "loopback"
        results = {}
        for tool in ("gsep", "vendor"):
            with tempfile.TemporaryDirectory(prefix="gsep-bench-") as tmp_name:
                tmp = Path(tmp_name)
                inputs = [small_wav(tmp / f"s{i}.wav", tone=i + 1, seconds=2.0) for i in range(n)]
                with place(shaped, job_seconds=job) as box:
                    env = env_for(box.base_url, tmp)
                    if tool == "gsep":
                        command = [gsep_exe(), "-q", "separate", *map(str, inputs)]
                        command += ["--jobs", str(k), "-o", str(tmp / "o")]
                    else:
                        command = [*VENDOR, "separate", *map(str, inputs), "--jobs", str(k)]
                    wall = timed(command, env=env)
                    log = box.requests()
                calls = sum(1 for e in log if e["kind"] == "api")
                results[tool] = (wall, calls / n, sum(1 for e in log if e["status"] == 429))
        ideal = math.ceil(n / k) * job
        gw, gc, gl = results["gsep"]
        vw, vc, vl = results["vendor"]
        rows.append(
            Row(
                f"batch N={n} --jobs {k}, {job:g} s jobs, {where} (vendor: no downloads)",
                f"{gw:.1f} s, {gc:.1f} calls/job, {gl} x 429",
                f"vendor-like {vw:.1f} s, {vc:.1f} calls/job, {vl} x 429",
                vw / gw,
                f"report; ideal {ideal:g} s",
                None,
            )
        )
    return rows


def sparse_wav(path: Path, size: int) -> Path:
    """A ``size``-byte WAV (48 kHz stereo 16-bit header) of silence that takes no disk
    space: gsep's preflight checks the header, so plain zeros would be refused."""
    from gsep_cli.media import FORMAT_PCM
    from gsep_cli.sandbox.render import wav_header

    sparse_file(path, size)
    with open(path, "r+b") as fh:
        fh.write(wav_header(FORMAT_PCM, 2, 48000, 16, (size - 44) // 4))
    return path


def memory(quick: bool) -> list[Row]:
    """Peak RSS: a 2 GiB input (sparse) uploaded with gsep's defaults and by the vendor-like
    client; a 50-input batch (``gsep separate``, jobs done at once, no rate limit)."""
    size = 256 * MiB if quick else 2 * GiB
    n = 10 if quick else 50
    rows = []
    with tempfile.TemporaryDirectory(prefix="gsep-bench-") as tmp_name:
        tmp = Path(tmp_name)
        big = sparse_wav(tmp / "big.wav", size)
        with sandbox("--chunk-size", str(GiB), "--rate-limit", "0", "--job-seconds", "0") as sb:
            env = env_for(sb.base_url, tmp)
            ours = _peak_rss_mib([gsep_exe(), "-q", "upload", str(big), *BIG], env)
            theirs = _peak_rss_mib([*VENDOR, "upload", str(big)], env)
            big.unlink()
            folder = tmp / "in"
            folder.mkdir()
            for i in range(n):
                small_wav(folder / f"s{i:02d}.wav", tone=i + 1, seconds=2.0)
            command = [gsep_exe(), "-q", "separate", str(folder), "-o", str(tmp / "o")]
            # memory, not the budget, is measured here: gsep's limiter out of the way
            batch_peak = _peak_rss_mib(command, {**env, "GSEP_RATE_LIMIT": "100000/60"})
    rows.append(
        Row(
            f"memory: upload {size // MiB} MiB (defaults)",
            f"{ours:.0f} MiB peak RSS",
            f"vendor-like {theirs:.0f} MiB",
            theirs / ours,
            "< 64 MiB",
            ours < 64,
        )
    )
    rows.append(
        Row(
            f"memory: separate a {n}-input batch (defaults)",
            f"{batch_peak:.0f} MiB peak RSS",
            "-",
            None,
            "< 64 MiB",
            batch_peak < 64,
        )
    )
    return rows
