"""Issue 18: the peak memory of ``gsep mcp`` separating a large WAV, against the file's
size (the vendor's MCP server reads each input whole into memory).

Runs the installed gsep's MCP server (the ``mcp`` extra next to this Python) through the
SDK's stdio client against a sandbox in this process, calls ``separate`` once on a
silent 44.1 kHz 16-bit stereo WAV of about ``--mb`` MB (default 200; the model's limit is
20 minutes, 211 MB), and prints the server's peak RSS (``VmHWM``, read at its exit; Linux)
beside the input's size, plus one second identical call's job count::

    python tests/benchmarks/mcp_memory.py --mb 200
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # tests/: the one WAV writer

#: Runs gsep's main in the server process, then writes its peak RSS (KiB) to argv[1]:
#: VmHWM, its own memory's high-water mark. (Not ru_maxrss: Linux carries that over an
#: exec from the forked parent, here the benchmark holding the WAV it wrote.)
SERVER = (
    "import atexit, sys\n"
    "out = sys.argv.pop(1)\n"
    "def peak():\n"
    "    lines = open('/proc/self/status').read().splitlines()\n"
    "    hwm = next(x for x in lines if x.startswith('VmHWM:'))\n"
    "    open(out, 'w').write(hwm.split()[1])\n"
    "atexit.register(peak)\n"
    "from gsep_cli.__main__ import main\n"
    "sys.exit(main(['mcp']))\n"
)


def main() -> int:
    import anyio
    from audio import make_wav
    from mcp import Client
    from mcp.client.stdio import StdioServerParameters, stdio_client

    from gsep_cli.sandbox import Sandbox

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=200.0, help="input size in MB")
    size_mb = parser.parse_args().mb
    with tempfile.TemporaryDirectory() as folder, Sandbox(job_seconds=0) as box:
        tmp = Path(folder)
        seconds = size_mb * 1_000_000 / (44100 * 4)
        song = make_wav(tmp / "song.wav", seconds=seconds, silent=True)
        rss_file = tmp / "rss"
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("GSEP_", "GAUDIO_"))},
            "GSEP_CONFIG_DIR": str(tmp / "config"),
            "GSEP_STATE_DIR": str(tmp / "state"),
            "GSEP_BASE_URL": box.base_url,
            "GSEP_API_KEY": "benchmark-key",
        }
        params = StdioServerParameters(
            command=sys.executable, args=["-c", SERVER, str(rss_file)], env=env, cwd=folder
        )
        arguments = {"inputs": [str(song)], "stems": ["vocal"], "out_dir": str(tmp / "out")}
        notes: list[str | None] = []

        async def run() -> tuple[float, float]:
            async def on_progress(done: float, total: float | None, text: str | None) -> None:
                notes.append(text)

            async with Client(stdio_client(params)) as client:
                started = time.monotonic()
                first = await client.call_tool("separate", arguments, progress_callback=on_progress)
                took = time.monotonic() - started
                assert not first.is_error, first.content
                started = time.monotonic()
                second = await client.call_tool("separate", arguments)
                assert second.structured_content["results"][0]["reused"] == "job"
                return took, time.monotonic() - started

        first_s, second_s = anyio.run(run)
        peak = int(rss_file.read_text()) * 1024
        written = sum(p.stat().st_size for p in (tmp / "out").rglob("*") if p.is_file())
        print(f"input: {song.stat().st_size / 2**20:.1f} MiB ({seconds:.0f} s of audio)")
        print(f"gsep mcp peak RSS: {peak / 2**20:.1f} MiB")
        print(f"separate: {first_s:.1f} s, {len(notes)} progress notifications")
        print(f"written: {written / 2**20:.1f} MiB; second identical call {second_s:.2f} s")
        print(f"jobs created in the sandbox: {box.store.job_count()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
