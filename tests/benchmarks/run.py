"""Run the benchmarks and print one table: figure | gsep | peer | ratio | target | verdict.

    python tests/benchmarks/run.py            # full sizes (about 10 minutes)
    python tests/benchmarks/run.py --quick    # small sizes (about 2 minutes)
    python tests/benchmarks/run.py --only startup upload
    python tests/benchmarks/run.py --only budget --cases 30x3 100x10   # part of issue 16's

Ratios are taken side by side in one run (this machine is noisy: absolute times mean
little). A MISSED verdict does not fail anything: these are measurements, never part of
the default test run. See README.md in this folder.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import budget
import convert
import fastlink
import jobs
import shaped
import startup
import transfers
from common import Row, print_table, save_json

BENCHMARKS: dict[str, Callable[[bool], list[Row]]] = {
    "startup": startup.run,
    "upload": transfers.upload,
    "fast-upload": fastlink.run,
    "blocksize": transfers.blocksize,
    "memory": transfers.memory,
    "download": transfers.download,
    "polling": jobs.polling,
    "batch": jobs.batch,
    "budget": budget.run,
    "link-upload": shaped.upload,
    "link-download": shaped.download,
    "link-batch": shaped.batch,
    "rss": shaped.memory,
    "convert": convert.run,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, fewer runs")
    parser.add_argument("--only", nargs="+", choices=sorted(BENCHMARKS), default=None)
    parser.add_argument(
        "--cases",
        nargs="+",
        metavar="NxK",
        help=f"budget cases only, e.g. 30x3 100x10j (j: jittery link); all: {budget.CASES}",
    )
    parser.add_argument("--json", type=Path, help="also write the rows to this JSON file")
    args = parser.parse_args(argv)
    rows: list[Row] = []
    started = time.perf_counter()
    for name in args.only or list(BENCHMARKS):
        print(f"running {name}...", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        if name == "budget" and args.cases:
            rows.extend(budget.run(args.quick, args.cases))
        else:
            rows.extend(BENCHMARKS[name](args.quick))
        print(f"  {name}: {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    print(
        f"# {platform.python_implementation()} {platform.python_version()}, "
        f"{os.cpu_count()} CPUs, {'quick' if args.quick else 'full'} run, "
        f"{time.perf_counter() - started:.0f} s"
    )
    print_table(rows)
    if args.json:
        save_json(rows, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
