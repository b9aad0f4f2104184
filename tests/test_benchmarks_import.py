"""The benchmark runner still imports and lists every figure (its timings are never run
here: benchmarks are measurements, not tests)."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

FOLDER = Path(__file__).resolve().parent / "benchmarks"


def test_runner_imports_and_names_every_benchmark() -> None:
    sys.path.insert(0, str(FOLDER))
    try:
        run = importlib.import_module("run")
        assert sorted(run.BENCHMARKS) == [
            "batch", "blocksize", "budget", "convert", "download", "fast-upload", "link-batch",
            "link-download",
            "link-upload", "memory", "polling", "rss", "startup", "upload",
        ]  # fmt: skip
        import io

        from common import Row, print_table

        out = io.StringIO()
        print_table([Row("f", "1 s", "2 s", 0.5, "<= 1x", True)], out)
        cells = [cell.strip() for cell in out.getvalue().splitlines()[2].split(" | ")]
        assert cells == [
            "f",
            "1 s",
            "2 s",
            "0.50x",
            "<= 1x",
            "ok",
        ]
    finally:
        sys.path.remove(str(FOLDER))
        benchmark_modules = ("run", "common", "jobs", "startup", "transfers")
        others = ("budget", "shaped", "behind", "linkemu", "convert", "fastlink", "discard")
        for name in (*benchmark_modules, *others):
            sys.modules.pop(name, None)
