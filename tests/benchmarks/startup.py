"""Startup: gsep's --version/--help against a minimal typer app doing --help; and the
fixed cost of one API call, ``gsep job status JOB`` against a sandbox, beside
``python -c "import requests"`` (issue 16).

Runs are interleaved (gsep, peer, gsep, peer, ...) so background noise hits both alike;
the figure is the ratio of medians. Targets: at most 1.2x (issue 7); the status query no
slower than importing requests, or at most 0.6x of gsep 0.1.0's (issue 16).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from common import HERE, Row, env_for, gsep_exe, sandbox, small_wav, timed

TARGET = 1.2


# one TAB: what bash asks for after `gsep download abc --format `
COMPLETION = {
    "_GSEP_COMPLETE": "complete_bash",
    "COMP_WORDS": "gsep download abc --format ",
    "COMP_CWORD": "4",
}


# the same TAB for the peer: the value of an option of one of its commands
PEER_COMPLETION = {
    "_MINIMAL_COMPLETE": "complete_bash",
    "COMP_WORDS": "minimal hello --name ",
    "COMP_CWORD": "3",
}


def run(quick: bool) -> list[Row]:
    runs = 7 if quick else 21
    peer = [sys.executable, str(HERE / "minimal_app.py")]
    with tempfile.TemporaryDirectory(prefix="gsep-bench-") as tmp:
        tab = {**os.environ, "GSEP_CONFIG_DIR": tmp, "GSEP_STATE_DIR": tmp, **COMPLETION}
        peer_tab = {**os.environ, **PEER_COMPLETION}
        cases = {
            "startup: gsep --version": ([gsep_exe(), "--version"], [*peer, "--help"], None, None),
            "startup: gsep --help": ([gsep_exe(), "--help"], [*peer, "--help"], None, None),
            "startup: gsep separate --help": (
                [gsep_exe(), "separate", "--help"],
                [*peer, "hello", "--help"],
                None,
                None,
            ),
            "startup: one TAB (gsep download JOB --format)": ([gsep_exe()], peer, tab, peer_tab),
        }
        rows = [_compare(figure, *case, runs) for figure, case in cases.items()]
    return rows + fixed_cost(runs * 2)


def fixed_cost(runs: int) -> list[Row]:
    """``gsep job status JOB --model M`` (start-up and one API call to a sandbox in its own
    process) beside ``python -c "import requests"``, interleaved with two more: a typer
    app making the same kind of GET (minimal_status.py: the floor of any typer CLI on
    requests) and ``python -c pass``, so requests' own import cost is reported too."""
    model = "gsep_music_hq_v1"
    with sandbox("--job-seconds", "0") as box, tempfile.TemporaryDirectory() as tmp:
        env = env_for(box.base_url, Path(tmp))
        song = str(small_wav(Path(tmp) / "song.wav", tone=1))
        upload = _output([gsep_exe(), "upload", song], env)
        job = _output([gsep_exe(), "job", "create", upload, "--stems", "vocal"], env)
        floor_env = {**env, "MINIMAL_URL": f"{box.base_url}/v1/{model}/jobs/{job}"}
        commands = {
            "status": ([gsep_exe(), "job", "status", job, "--model", model], env),
            "requests": ([sys.executable, "-c", "import requests"], None),
            "floor": ([sys.executable, str(HERE / "minimal_status.py"), "status"], floor_env),
            "python": ([sys.executable, "-c", "pass"], None),
        }
        times: dict[str, list[float]] = {name: [] for name in commands}
        for command, command_env in commands.values():
            timed(command, env=command_env)  # warm the file cache and .pyc files first
        for _ in range(runs):
            for name, (command, command_env) in commands.items():
                times[name].append(timed(command, env=command_env))
    ms = {name: statistics.median(values) * 1000 for name, values in times.items()}
    ratio = ms["status"] / ms["requests"]
    return [
        Row(
            "fixed cost: gsep job status JOB (one API call)",
            f"{ms['status']:.0f} ms",
            f"{ms['requests']:.0f} ms (import requests)",
            ratio,
            "<= 1x (or 0.6x of 0.1.0)",
            ratio <= 1,
        ),
        Row(
            "fixed cost: requests' own import",
            f"{ms['requests'] - ms['python']:.0f} ms",
            f"{ms['python']:.0f} ms (python -c pass)",
            None,
            "reported",
            None,
        ),
        Row(
            "fixed cost: gsep job status vs a typer app making one GET",
            f"{ms['status']:.0f} ms",
            f"{ms['floor']:.0f} ms (minimal_status.py)",
            ms["status"] / ms["floor"],
            "reported",
            None,
        ),
    ]


def _compare(
    figure: str,
    mine: list[str],
    theirs: list[str],
    env: dict[str, str] | None,
    peer_env: dict[str, str] | None,
    runs: int,
    peer: str = "typer app",
    target: float = TARGET,
) -> Row:
    """Medians of ``runs`` interleaved runs of ``mine`` and ``theirs`` (after one of each
    to warm up), as a row whose ratio must be at most ``target``."""
    timed(mine, env=env)  # warm the file cache and .pyc files first
    timed(theirs, env=peer_env)
    ours, peers = [], []
    for _ in range(runs):
        ours.append(timed(mine, env=env))
        peers.append(timed(theirs, env=peer_env))
    a, b = statistics.median(ours), statistics.median(peers)
    return Row(
        figure,
        f"{a * 1000:.0f} ms",
        f"{b * 1000:.0f} ms ({peer})",
        a / b,
        f"<= {target}x",
        a / b <= target,
    )


def _output(command: list[str], env: dict[str, str]) -> str:
    """What ``command`` printed on stdout (it must succeed)."""
    return subprocess.run(
        command, env=env, capture_output=True, text=True, check=True
    ).stdout.strip()
