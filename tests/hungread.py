"""What the issue-20 breakers' tests share: a random WAV of a given size, and gsep's CLI
uploading it with every part body's file read hanging after its first MiB (a hung
network mount), which a test then ends or signals."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from clitools import clean_env

MiB = 1 << 20


def wav_header(size: int) -> bytes:
    """A 44-byte PCM WAV header (16-bit stereo, 44.1 kHz) for a ``size``-byte file."""
    fmt = bytes.fromhex("0100020044ac000010b1020004001000")
    return (
        b"RIFF"
        + (size - 8).to_bytes(4, "little")
        + b"WAVEfmt "
        + (16).to_bytes(4, "little")
        + fmt
        + b"data"
        + (size - 44).to_bytes(4, "little")
    )


def noise_wav(path: Path, size: int) -> Path:
    """A WAV of ``size`` bytes whose samples are random (every block differs)."""
    path.write_bytes(wav_header(size) + os.urandom(size - 44))
    return path


#: Runs gsep's CLI with every part body's file reading normally for 1 MiB, then blocking for
#: good: what a file on a hung network mount does.
HUNG_READS = """
import io, sys, threading
import gsep_cli.fileslice as fileslice
real_open = fileslice.open_input
never = threading.Event()

class HungAfterOneMiB(io.RawIOBase):
    def __init__(self, fh):
        self.fh = fh
    def readable(self):
        return True
    def seek(self, *args):
        return self.fh.seek(*args)
    def readinto(self, buffer):
        if self.fh.tell() >= 1 << 20:
            never.wait()
        return self.fh.readinto(buffer)
    def close(self):
        self.fh.close()
        super().close()

fileslice.open_input = lambda path: HungAfterOneMiB(real_open(path))
from gsep_cli.cli import run
sys.exit(run(sys.argv[1:]))
"""


def start_hung_upload(tmp_path: Path, sb: Any, key: str) -> subprocess.Popen[str]:
    """``gsep upload`` of a 4 MiB WAV to ``sb`` (a Sandbox) with reads that hang, a 1 s
    stall window and two attempts."""
    song = noise_wav(tmp_path / "hung.wav", 4 * MiB)
    env = clean_env(
        tmp_path,
        GSEP_API_KEY=key,
        GSEP_BASE_URL=sb.base_url,
        GSEP_STALL_TIME="1",
        GSEP_RETRIES="2",
    )
    return subprocess.Popen(
        [sys.executable, "-c", HUNG_READS, "upload", str(song)],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(proc: subprocess.Popen[str], seconds: float) -> tuple[int | None, str]:
    """(exit code, stderr) of ``proc`` within ``seconds``; (None, stderr) when it had to
    be killed."""
    try:
        _, err = proc.communicate(timeout=seconds)
        return proc.returncode, err
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate(timeout=10)
        return None, err
