"""Issue 20: uploads where the link is faster than hashing — CPU per byte, not the wire.

Into a discarding receiver (:mod:`discard`: it reads and drops each part and answers the
part's real MD5 as its ETag, so gsep's ETag check runs), on loopback, 1 GiB in four
256 MiB parts (``--quick``: 256 MiB in four):

* the receiver's ceiling: curl sending the parts one after another into it (the peer);
* ``gsep upload`` with ``--parallel 1`` and ``4``, whole commands (start-up, API calls,
  the ledger's checks included; the file's hash is cached after the first, untimed run,
  as it is for any file uploaded again);
* the part upload alone, in process (``upload_parts``, the block map taken as ``gsep
  upload`` does), without start-up;
* the floor no client that checks the ETag can pass on this CPU: one core's MD5 of the
  whole file (in process, 1 MiB blocks); with parallel parts, the cores share it;
* gsep's fixed cost: ``gsep upload`` of a 1 KiB file (start-up and three API calls).

Each figure is the median of interleaved runs, with CPU seconds (user + system, as the
kernel counts them) per GiB beside the wall time.
"""

from __future__ import annotations

import hashlib
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from common import GiB, MiB, Row, env_for, gsep_exe, launched_sandbox, random_file, timed_cpu
from discard import part_md5s, plan_urls, receiver
from transfers import _split

BIG = ["--model", "gsep_dme_dtrack_v1"]  # over 1 GB: a model whose limit is 10 GB
CURL = ["curl", "-sS", "-f", "-o", "/dev/null", "-H", "Expect:", "-H", "Content-Type:"]
PARTS = 4


def run(quick: bool) -> list[Row]:
    size = 256 * MiB if quick else GiB
    runs = 3 if quick else 5
    chunk = size // PARTS
    with tempfile.TemporaryDirectory(prefix="gsep-bench-") as tmp_name:
        tmp = Path(tmp_name)
        src = random_file(tmp / "in.wav", size)
        pieces = _split(src, PARTS, chunk, tmp)
        tiny = random_file(tmp / "tiny.wav", 1024)
        settings = {"chunk_size": chunk, "rate_limit": 0}
        with (
            receiver(part_md5s(src, chunk)) as origin,
            launched_sandbox(settings, parts_to=origin) as sb,
        ):
            env = env_for(sb.base_url, tmp)

            def gsep(path: Path, parallel: int) -> Callable[[], tuple[float, float]]:
                command = [gsep_exe(), "-q", "upload", str(path), *BIG]
                return lambda: timed_cpu([*command, "--parallel", str(parallel)], env=env)

            def curl() -> tuple[float, float]:
                wall = cpu = 0.0
                for piece, url in zip(pieces, plan_urls(sb, "in.wav", size), strict=True):
                    one_wall, one_cpu = timed_cpu([*CURL, "--upload-file", str(piece), url])
                    wall, cpu = wall + one_wall, cpu + one_cpu
                return wall, cpu

            cases: dict[str, Callable[[], tuple[float, float]]] = {
                "curl": curl,
                "gsep 1": gsep(src, 1),
                "gsep 4": gsep(src, 4),
                "parts 1": lambda: _in_process(src, size, sb.base_url, 1),
                "parts 4": lambda: _in_process(src, size, sb.base_url, 4),
                "md5": lambda: _md5_alone(src),
                "tiny": gsep(tiny, 4),
            }
            for case in cases.values():  # warm-up: page cache, the ledger's hash cache
                case()
            seen: dict[str, list[tuple[float, float]]] = {name: [] for name in cases}
            for _ in range(runs):  # interleaved: the machine's drift hits all alike
                for name, case in cases.items():
                    seen[name].append(case())
    return _rows(size, {name: _medians(values) for name, values in seen.items()})


def _in_process(src: Path, size: int, base_url: str, parallel: int) -> tuple[float, float]:
    """The part upload alone, as ``gsep upload`` does it (block map included), in a child
    process of its own so its CPU is counted as the kernel counts gsep's."""
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from gsep_cli.client import GsepClient\n"
        "from gsep_cli.upload_parts import upload_parts\n"
        "from gsep_cli.progress import NullListener\n"
        "src, size, base, parallel = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3], "
        "int(sys.argv[4])\n"
        "with GsepClient(base, 'bench-key') as client:\n"
        "    plan = client.create_upload('in.wav', size)\n"
        "    upload_parts(src, size, plan, listener=NullListener(), key='k', "
        "parallel=parallel, sent_blocks={})\n"
    )
    command = [sys.executable, "-c", script, str(src), str(size), base_url, str(parallel)]
    return timed_cpu(command)


def _md5_alone(src: Path) -> tuple[float, float]:
    """One core's MD5 of the whole file, 1 MiB blocks, from the page cache."""
    start, cpu = time.perf_counter(), time.process_time()
    digest = hashlib.md5(usedforsecurity=False)
    with open(src, "rb") as fh:
        while block := fh.read(MiB):
            digest.update(block)
    return time.perf_counter() - start, time.process_time() - cpu


def _medians(values: list[tuple[float, float]]) -> tuple[float, float]:
    return statistics.median(w for w, _ in values), statistics.median(c for _, c in values)


def _rows(size: int, found: dict[str, tuple[float, float]]) -> list[Row]:
    gib = size / GiB
    curl_wall, curl_cpu = found["curl"]

    def speed(name: str) -> str:
        wall, cpu = found[name]
        return f"{size / MiB / wall:,.0f} MiB/s, {cpu / gib:.2f} CPU s/GiB"

    peer = "curl " + speed("curl")
    label = f"{size // MiB} MiB in {PARTS} parts into the discarding receiver"
    rows = [
        Row(
            f"fast upload: {label}, --parallel 1",
            speed("gsep 1"),
            peer,
            curl_wall / found["gsep 1"][0],
            ">= 0.9x",
            curl_wall / found["gsep 1"][0] >= 0.9,
        ),
        Row(
            f"fast upload: {label}, --parallel 4",
            speed("gsep 4"),
            peer,
            curl_wall / found["gsep 4"][0],
            ">= 1.0x",
            curl_wall / found["gsep 4"][0] >= 1.0,
        ),
        Row(
            "fast upload: CPU per GiB, gsep --parallel 1 vs curl",
            f"{found['gsep 1'][1] / gib:.2f} s",
            f"{curl_cpu / gib:.2f} s",
            found["gsep 1"][1] / curl_cpu,
            "report",
            None,
        ),
        Row(
            "fast upload: the parts alone (in process), parallel 1",
            speed("parts 1"),
            peer,
            curl_wall / found["parts 1"][0],
            "report",
            None,
        ),
        Row(
            "fast upload: the parts alone (in process), parallel 4",
            speed("parts 4"),
            peer,
            curl_wall / found["parts 4"][0],
            "report",
            None,
        ),
        Row(
            "fast upload: one core's MD5 of the file (the floor of one part)",
            speed("md5"),
            peer,
            curl_wall / found["md5"][0],
            "report",
            None,
        ),
        Row(
            "fast upload: gsep upload of 1 KiB (fixed cost)",
            f"{found['tiny'][0] * 1000:.0f} ms, {found['tiny'][1] * 1000:.0f} ms CPU",
            "-",
            None,
            "report",
            None,
        ),
    ]
    return rows
