"""Startup: gsep's --version/--help against a minimal typer app doing --help.

Runs are interleaved (gsep, peer, gsep, peer, ...) so background noise hits both alike;
the figure is the ratio of medians. Target (issue 7): at most 1.2x.
"""

from __future__ import annotations

import statistics
import sys

from common import HERE, Row, gsep_exe, timed

TARGET = 1.2


def run(quick: bool) -> list[Row]:
    runs = 7 if quick else 21
    peer = [sys.executable, str(HERE / "minimal_app.py")]
    cases = {
        "startup: gsep --version": ([gsep_exe(), "--version"], [*peer, "--help"]),
        "startup: gsep --help": ([gsep_exe(), "--help"], [*peer, "--help"]),
        "startup: gsep separate --help": (
            [gsep_exe(), "separate", "--help"],
            [*peer, "hello", "--help"],
        ),
    }
    rows = []
    for figure, (mine, theirs) in cases.items():
        timed(mine)  # warm the file cache and .pyc files first
        timed(theirs)
        ours, peers = [], []
        for _ in range(runs):
            ours.append(timed(mine))
            peers.append(timed(theirs))
        a, b = statistics.median(ours), statistics.median(peers)
        rows.append(
            Row(
                figure,
                f"{a * 1000:.0f} ms",
                f"{b * 1000:.0f} ms (typer app)",
                a / b,
                f"<= {TARGET}x",
                a / b <= TARGET,
            )
        )
    return rows
