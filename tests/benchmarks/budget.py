"""Batches bound by the API's request budget (issue 16).

``gsep separate DIR --jobs K`` of N distinct 2-second inputs against a sandbox whose jobs
take 15 s, with the default limiter on both sides (100 requests per 60 s window per IP;
gsep's own GSEP_RATE_LIMIT left unset) and a fresh state folder for every run. From the
sandbox's request log:

* API calls per job (all ``/developers/api`` requests / N) and status calls per job;
* jobs per hour (N / wall), wall against the 4-call ideal (:func:`ideal`);
* "finished job seen late": a job finishes at its creation time (the sandbox's job ids
  are version-1 UUIDs: their timestamp is the creation time) plus the job time; it is
  seen at the first status request at or after that; median and max over the jobs;
* 429 answers (a limiter that goes over brings a 60 s block).

One case runs through the emulated link (:mod:`linkemu`, 80 ms round trip with up to
30 ms of one-way jitter per chunk): latency jitter must not tip a window over the limit.

The full cases take minutes each: ``run.py --only budget --cases 30x3 100x10`` runs a part.
``--quick`` scales time by 1/10 on both sides (1.5 s jobs, 6 s windows and blocks, gsep's
limiter and poll intervals to match, as ``jobs.batch`` does); the inputs stay 2 s long.
"""

from __future__ import annotations

import heapq
import math
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from behind import linked_sandbox
from common import Row, env_for, gsep_exe, sandbox, small_wav
from linkemu import Shape, mbit

JOB_SECONDS = 15.0
LIMIT, WINDOW = 100, 60.0
SETUP_CALLS = 3  # create upload, complete, create job; the 4th is the status saying success
CASES = ["30x3", "100x3", "100x10", "100x16", "100x10j"]  # "j": through the jittery link
QUICK_CASES = ["30x3", "100x10", "100x10j"]
JITTERY = Shape(delay=0.04, rate=mbit(100), jitter=0.03)
UUID_EPOCH = 0x01B21DD213814000  # 1582-10-15 to 1970-01-01 in 100 ns ticks


def ideal(n: int, k: int, job: float, limit: int, window: float, phase: float = 0.0) -> float:
    """Seconds from the first API call to the last job's success being seen, for a client
    that knows when every job ends: each job takes exactly 4 calls (3 before it runs, 1
    status when it has finished), at most ``k`` jobs are open (created, success not yet
    seen), at most ``limit`` calls fall in each fixed server window of ``window`` seconds,
    and the first call comes ``phase`` seconds into a window (0: a whole first window's
    burst). Status calls go first, then new jobs; calls never wait for anything else.
    Reproduces issue 16's "4-call ideal" (150, 510, 225, 210 s for its four cases)."""
    t, used, win = phase, 0, 0
    started = done = setup = unseen = 0
    running: list[float] = []
    while done < n:
        current = math.floor(t / window + 1e-9)
        if current != win:
            win, used = current, 0
        while running and running[0] <= t + 1e-9:
            heapq.heappop(running)
            unseen += 1
        while used < limit and unseen:
            used, unseen, done = used + 1, unseen - 1, done + 1
        if done == n:
            break
        while used < limit and started < n and len(running) + unseen < k:
            used, setup = used + 1, setup + 1
            if setup == SETUP_CALLS:
                setup, started = 0, started + 1
                heapq.heappush(running, t + job)
        # out of calls: the next window; else nothing to do until a job finishes
        t = (win + 1) * window if used >= limit else running[0]
    return t - phase


def uuid_time(job_id: str) -> float:
    """The Unix time (seconds) inside a version-1 UUID."""
    return (uuid.UUID(job_id).time - UUID_EPOCH) / 1e7


def seen_late(log: Sequence[dict[str, Any]], job_seconds: float) -> list[float]:
    """Per job: seconds from its finish to the first status request at or after it."""
    polls: dict[str, list[float]] = {}
    for e in log:
        status_call = e["kind"] == "api" and e["method"] == "GET" and "/jobs/" in e["path"]
        if status_call and e["status"] == 200:
            polls.setdefault(e["path"].rsplit("/", 1)[1], []).append(e["time"])
    late = []
    for job_id, times in polls.items():
        finished = uuid_time(job_id) + job_seconds
        after = [t for t in times if t >= finished]
        if after:
            late.append(min(after) - finished)
    return late


def parse_case(text: str) -> tuple[int, int, bool]:
    """``"100x10"`` → (100, 10, False); a trailing ``j`` runs through the jittery link."""
    jitter = text.endswith("j")
    n, _, k = text.rstrip("j").partition("x")
    return int(n), int(k), jitter


def _one(n: int, k: int, jitter: bool, scale: float, tmp: Path) -> dict[str, Any]:
    job, window = JOB_SECONDS * scale, WINDOW * scale
    inputs = tmp / "in"
    inputs.mkdir()
    for i in range(n):
        small_wav(inputs / f"s{i:03d}.wav", tone=i + 1, seconds=2.0)
    extra = (
        {}
        if scale == 1
        else {
            "GSEP_RATE_LIMIT": f"{LIMIT}/{window:g}",
            "GSEP_POLL_INTERVAL": f"{2.0 * scale:g}",
            "GSEP_POLL_CAP": f"{30.0 * scale:g}",
        }
    )
    settings = {"job_seconds": job, "rate_limit": LIMIT, "rate_window": window}
    settings["rate_block"] = 60.0 * scale
    command = [gsep_exe(), "-q", "separate", str(inputs), "--jobs", str(k), "-o", str(tmp / "o")]
    budget = 4 * ideal(n, k, job, LIMIT, window) + 600
    if jitter:
        box_cm: Any = linked_sandbox(JITTERY, **settings)
    else:
        args = ["--job-seconds", str(job), "--rate-limit", str(LIMIT)]
        box_cm = sandbox(*args, "--rate-window", str(window), "--rate-block", str(60 * scale))
    with box_cm as opened:
        box = opened[0] if jitter else opened
        env = env_for(box.base_url, tmp, **extra)
        start_wall = time.time()
        start = time.perf_counter()
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=budget)
        wall = time.perf_counter() - start
        log = box.requests()
    if done.returncode != 0:
        raise RuntimeError(f"gsep separate exit {done.returncode}: {done.stderr[-2000:]}")
    api = [e for e in log if e["kind"] == "api"]
    first_api = min(e["time"] for e in api)
    creates = sorted(
        e["time"] for e in api if e["method"] == "POST" and e["path"].endswith("/jobs")
    )
    late = seen_late(log, job)
    return {
        "wall": wall,
        "api": len(api),
        "status": sum(1 for e in api if e["method"] == "GET" and "/jobs/" in e["path"]),
        "limited": sum(1 for e in log if e["status"] == 429),
        "late": late,
        "jobs_seen": len(late),
        "ideal": ideal(n, k, job, LIMIT, window, phase=first_api % window),
        "lead": creates[0] - start_wall if creates else 0.0,
        "tail": start_wall + wall - max(e["time"] for e in api),
    }


def _row(n: int, k: int, jitter: bool, scale: float, r: dict[str, Any]) -> Row:
    wall, ideal_s = r["wall"], r["ideal"]
    calls, status = r["api"] / n, r["status"] / n
    late = r["late"] or [math.nan]
    median, worst = statistics.median(late), max(late)
    small = k <= 3  # not bound by the budget: ceil(N/K) x job time binds, plus transfers
    if small:
        bound, max_calls, max_ratio = ideal_s + r["lead"] + r["tail"], 5.5, 1.08
        peer = f"ceil(N/K) x job + transfers {bound:.1f} s"
    else:
        bound, max_calls, max_ratio = ideal_s, 4.5, 1.15
        peer = f"4-call ideal {bound:.1f} s"
    ratio = wall / bound
    ok = (
        ratio <= max_ratio
        and calls <= max_calls
        and median <= 2.0 * scale
        and r["limited"] == 0
        and r["jobs_seen"] == n
    )
    where = ", jittery link" if jitter else ""
    return Row(
        f"budget: N={n} --jobs {k}, {JOB_SECONDS * scale:g} s jobs{where}",
        f"{wall:.1f} s, {calls:.2f} calls/job ({status:.2f} status), "
        f"{n / wall * 3600 * scale:,.0f} jobs/h, late {median:.1f}/{worst:.1f} s, "
        f"{r['limited']} x 429",
        peer,
        ratio,
        f"<= {max_ratio}x, <= {max_calls} calls/job, late median <= {2.0 * scale:g} s, no 429",
        ok,
    )


def run(quick: bool, cases: Sequence[str] | None = None) -> list[Row]:
    """One row per case (``"NxK"``, ``"NxKj"``): the default cases, or ``cases``."""
    scale = 0.1 if quick else 1.0
    rows = []
    for text in cases or (QUICK_CASES if quick else CASES):
        n, k, jitter = parse_case(text)
        with tempfile.TemporaryDirectory(prefix="gsep-bench-") as tmp:
            result = _one(n, k, jitter, scale, Path(tmp))
        rows.append(_row(n, k, jitter, scale, result))
    return rows
