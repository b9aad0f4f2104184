"""Polling cost and batch scaling.

* polling: ``gsep separate`` on a job the sandbox finishes after D seconds; the sandbox's
  request log gives the number of status requests and the gap between the job finishing
  and its first result download, compared with the poll interval in effect then.
  Bound (issue 7): ceil(D / cap) + a small constant; the constant is the ramp-up of the
  backoff (2, 3, 4.5, ... s up to the 30 s cap), reported.
* batch: N inputs with ``--jobs K`` and a fixed job time, against the ideal
  ceil(N / K) x job time, with no 429 from the sandbox. To keep the run short, time is
  scaled down 10x on both sides: 6 s jobs stand for 60 s jobs, polling starts at 0.2 s
  with a 3 s cap (for 2 s and 30 s), and the rate limit is 100 requests per 6 s (for 100
  per minute) in the sandbox and in gsep alike.
"""

from __future__ import annotations

import math
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from common import Row, env_for, gsep_exe, sandbox, small_wav

CAP = 30.0
RAMP_CONSTANT = 8  # polls at 2, 5, 9.5, 16.3, 26.4, 41.6, 64.4 s before the cap, plus one


def _polls_and_gap(log: list[dict[str, Any]], job_seconds: float) -> tuple[int, float, float]:
    created = next(e for e in log if e["method"] == "POST" and e["path"].endswith("/jobs"))
    job_id_polls = [
        e for e in log if e["method"] == "GET" and "/jobs/" in e["path"] and e["kind"] == "api"
    ]
    finished = created["time"] + job_seconds
    first_cdn = min(e["time"] for e in log if e["kind"] == "cdn")
    times = [e["time"] for e in job_id_polls]
    before = [t for t in times if t < finished]
    interval = times[len(before)] - before[-1] if before and len(before) < len(times) else 0.0
    return len(job_id_polls), first_cdn - finished, interval


def polling(quick: bool) -> list[Row]:
    durations = [4.0] if quick else [20.0, 60.0, 120.0]
    rows: list[Row] = []
    results: dict[float, tuple[int, float, float]] = {}

    def one(seconds: float) -> None:
        with tempfile.TemporaryDirectory(prefix="gsep-bench-") as tmp_name:
            tmp = Path(tmp_name)
            wav = small_wav(tmp / "song.wav", tone=int(seconds))
            with sandbox("--job-seconds", str(seconds), "--rate-limit", "0") as sb:
                subprocess.run(
                    [gsep_exe(), "-q", "separate", str(wav), "-o", str(tmp / "out")],
                    env=env_for(sb.base_url, tmp),
                    check=True,
                    capture_output=True,
                    timeout=seconds + 300,
                )
                results[seconds] = _polls_and_gap(sb.requests(), seconds)

    threads = [threading.Thread(target=one, args=(d,)) for d in durations]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for seconds in durations:
        polls, gap, interval = results[seconds]
        bound = math.ceil(seconds / CAP) + RAMP_CONSTANT
        rows.append(
            Row(
                f"polling: status requests for a {seconds:g} s job",
                f"{polls} requests",
                f"ceil(D/cap)+{RAMP_CONSTANT} = {bound}",
                polls / bound,
                "<= 1.0x",
                polls <= bound,
            )
        )
        rows.append(
            Row(
                f"polling: finish -> first download, {seconds:g} s job",
                f"{gap:.2f} s",
                f"poll interval then {interval:.2f} s",
                gap / interval if interval else None,
                "< 1.0x",
                gap < interval if interval else None,
            )
        )
    return rows


def batch(quick: bool) -> list[Row]:
    job_seconds = 2.0 if quick else 6.0
    scale = job_seconds / 60.0  # the time scale of this run against real minutes
    cases = [(6, 3)] if quick else [(10, 5), (25, 5), (25, 10), (50, 5), (50, 10)]
    window = 60.0 * scale
    rows = []
    for n, k in cases:
        with tempfile.TemporaryDirectory(prefix="gsep-bench-") as tmp_name:
            tmp = Path(tmp_name)
            inputs = tmp / "in"
            inputs.mkdir()
            for i in range(n):
                small_wav(inputs / f"s{i:02d}.wav", tone=i + 1)
            args = ["--job-seconds", str(job_seconds), "--rate-limit", "100"]
            with sandbox(*args, "--rate-window", str(window)) as sb:
                env = env_for(
                    sb.base_url,
                    tmp,
                    GSEP_POLL_INTERVAL=str(2.0 * scale),
                    GSEP_POLL_CAP=str(CAP * scale),
                    GSEP_RATE_LIMIT=f"100/{window:g}",
                )
                command = [gsep_exe(), "-q", "separate", str(inputs), "--jobs", str(k)]
                start = time.perf_counter()
                subprocess.run(
                    [*command, "-o", str(tmp / "out")],
                    env=env,
                    check=True,
                    capture_output=True,
                    timeout=1200,
                )
                wall = time.perf_counter() - start
                log = sb.requests()
        limited = sum(1 for e in log if e["status"] == 429)
        polls = sum(1 for e in log if e["method"] == "GET" and "/jobs/" in e["path"])
        ideal = math.ceil(n / k) * job_seconds
        rows.append(
            Row(
                f"batch: N={n} --jobs {k}, {job_seconds:g} s jobs (time / 10)",
                f"{wall:.1f} s, {limited} x 429, {polls / n:.1f} polls/job",
                f"ideal {ideal:g} s",
                wall / ideal,
                "<= 1.25x, no 429",
                wall / ideal <= 1.25 and limited == 0,
            )
        )
    return rows
