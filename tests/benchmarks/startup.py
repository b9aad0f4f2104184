"""Startup: gsep's --version/--help against a minimal typer app doing --help.

Runs are interleaved (gsep, peer, gsep, peer, ...) so background noise hits both alike;
the figure is the ratio of medians. Target (issue 7): at most 1.2x.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile

from common import HERE, Row, gsep_exe, timed

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
        return [_compare(figure, *case, runs) for figure, case in cases.items()]


def _compare(
    figure: str,
    mine: list[str],
    theirs: list[str],
    env: dict[str, str] | None,
    peer_env: dict[str, str] | None,
    runs: int,
) -> Row:
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
        f"{b * 1000:.0f} ms (typer app)",
        a / b,
        f"<= {TARGET}x",
        a / b <= TARGET,
    )
