"""Breaker, issue 20 (uploads read the file once, hashing beside the sending): failing
reproductions of what an outsider could make the new upload path do.

* The adaptive send step (64 KiB growing to 1 MiB while steps are fast) makes a link that
  slows down, but still moves hundreds of times faster than ``GSEP_STALL_RATE``, look
  stalled: progress is seen only when a whole 1 MiB step is through. On plain http the
  same 1 MiB ``sendall`` must also finish within the socket timeout (the connect timeout
  while a body is sent), so a slow link times out.
* A hash cached by an earlier run, then the file edited through ``mmap`` (metadata
  unchanged): the upload is refused (right), and then refused again on every later run,
  though nothing writes to the file any more and the hint says to run again.
* A part whose read never returns (a hung network file system, simulated here by a file
  object whose ``readinto`` blocks): the part thread waits on the read-ahead queue with no
  bound, so neither the stall rule nor Ctrl-C ends it; after Ctrl-C the process says it
  was interrupted and then never exits.
* Memory grows with ``--parallel``: four 1 MiB read-ahead buffers per part in flight.
"""

from __future__ import annotations

import mmap
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from clitools import clean_env, wait_for
from hungread import finish, noise_wav, start_hung_upload, wav_header

from gsep_cli.client import GsepClient
from gsep_cli.errors import InputChanged
from gsep_cli.ledger import Ledger
from gsep_cli.onrecord import upload_on_record
from gsep_cli.retry import RetryPolicy
from gsep_cli.sandbox import Sandbox
from gsep_cli.watchdog import Stall

MiB = 1 << 20


def _sparse_wav(path: Path, size: int) -> Path:
    """A WAV of ``size`` bytes of silence, sparse on disk (quick to write and read)."""
    with open(path, "wb") as fh:
        fh.write(wav_header(size))
        fh.truncate(size)
    return path


# ---- the adaptive send step ---------------------------------------------------------------
@pytest.mark.slow
def test_a_link_that_slows_but_moves_far_above_the_stall_rate_is_no_stall(
    tmp_path: Path,
) -> None:
    """The storage server takes the part at about 680 KiB/s (``part-slow``: 8 MiB over 12
    s), 680 times the stall rate of 1024 bytes/s. Once the loopback buffers are full each
    1 MiB step takes 1.5 s, longer than the 1 s window, so the guard sees nothing move and
    breaks the part off as stalled. (At the default 30 s window the same happens to any link
    under 35 KB/s, 34 times the default rate; with the step capped at 64 KiB this upload
    completes in about 12 s.)"""
    song = noise_wav(tmp_path / "slow.wav", 8 * MiB)
    with Sandbox(job_seconds=0, chunk_size=64 * MiB, faults=["part-slow:1:12"]) as sb:
        with GsepClient(
            sb.base_url,
            "k-break20-stall",
            parallel=1,
            policy=RetryPolicy(attempts=1),
            stall=Stall(rate=1024.0, window=1.0),
            timeout=(10.0, 60.0),
        ) as client:
            upload_id = client.upload_file(song)
        assert sb.store.get_upload(upload_id).completed is not None


@pytest.mark.slow
def test_a_slow_plain_http_link_is_not_timed_out_by_one_large_send(tmp_path: Path) -> None:
    """Stall detection off, the same 680 KiB/s link, a 1 s connect timeout: while a body is
    sent, urllib3 leaves the connect timeout on the socket, and ``sendall`` (plain http)
    must send its whole piece within it. A 1 MiB piece takes 1.5 s here: "timed out". (At
    the default 10 s, any plain-http link under 100 KiB/s; with 64 KiB steps the upload
    completes in about 12 s.)"""
    song = noise_wav(tmp_path / "slow.wav", 8 * MiB)
    with Sandbox(job_seconds=0, chunk_size=64 * MiB, faults=["part-slow:1:12"]) as sb:
        with GsepClient(
            sb.base_url,
            "k-break20-sendall",
            parallel=1,
            policy=RetryPolicy(attempts=1),
            stall=None,
            timeout=(1.0, 60.0),
        ) as client:
            upload_id = client.upload_file(song)
        assert sb.store.get_upload(upload_id).completed is not None


# ---- a hash cached before an edit the metadata cannot see ---------------------------------
@pytest.mark.skipif(sys.platform != "linux", reason="mmap writes that leave mtime alone")
def test_an_edit_after_the_hash_was_cached_is_refused_once_not_forever(tmp_path: Path) -> None:
    """Run 1 hashes the file (cached by version: size, mtime, ctime, inode) and uploads it.
    Then bytes change through ``mmap`` on pages already dirty, so the version stays the same.
    Run 2 is refused before completing: right, what it sent is not the cached hash's
    content. Nothing writes to the file any more, and the hint says "run the command
    again"; run 3 must then upload the file as it is, on record under its true SHA-256.
    Today every later run is refused the same way, until something touches the file."""
    import hashlib

    song = noise_wav(tmp_path / "edited.wav", 3 * MiB)
    size = song.stat().st_size
    with (
        open(song, "r+b") as fh,
        mmap.mmap(fh.fileno(), size) as mapped,
        Ledger(tmp_path / "ledger.sqlite3") as ledger,
        Sandbox(job_seconds=0, chunk_size=MiB) as sb,
    ):
        mapped[:] = bytes(mapped)  # dirty every page now: later writes leave mtime alone
        with GsepClient(sb.base_url, "k-break20-stale") as client:
            upload_on_record(client, ledger, song, "h", "fp", print)
        before = song.stat()
        mapped[2 * MiB + 10 : 2 * MiB + 20] = os.urandom(10)
        after = song.stat()
        assert (before.st_mtime_ns, before.st_ctime_ns) == (after.st_mtime_ns, after.st_ctime_ns)
        refused = pytest.raises(InputChanged, match="changed while it was being uploaded")
        with GsepClient(sb.base_url, "k-break20-stale") as client, refused:
            upload_on_record(client, ledger, song, "h", "fp", print)
        assert len([e for e in sb.requests if e["path"].endswith("/complete")]) == 1
        # nothing writes to the file from here on: running again must work
        with GsepClient(sb.base_url, "k-break20-stale") as client:
            upload_id = upload_on_record(client, ledger, song, "h", "fp", print)
        assert sb.store.get_upload(upload_id).completed is not None
        record = ledger.get_upload(upload_id, "h", "fp")
        assert record is not None
        assert record.sha256 == hashlib.sha256(song.read_bytes()).hexdigest()


# ---- a read that never returns ------------------------------------------------------------
@pytest.mark.slow
def test_a_part_whose_read_never_returns_is_given_up_within_a_bound(tmp_path: Path) -> None:
    """Nothing moves for the stall window (1 s), twice (two attempts): the part is stalled
    and the upload fails with one line. Today the part thread waits on the read-ahead
    queue (``BlockReader.next``) with no bound: the guard shuts the socket, which that
    thread is not blocked on, and the command runs until it is killed."""
    with Sandbox(job_seconds=0, chunk_size=16 * MiB) as sb:
        proc = start_hung_upload(tmp_path, sb, "break20-hung-key")
        code, err = finish(proc, 30)
    assert code is not None, f"still running after 30 s\n{err}"
    assert code != 0 and "Traceback" not in err, err
    assert len([line for line in err.splitlines() if line.startswith("gsep: error:")]) == 1


@pytest.mark.slow
def test_ctrl_c_while_a_read_never_returns_ends_the_process(tmp_path: Path) -> None:
    """Ctrl-C: gsep says the upload was interrupted, then must exit. Today it never does:
    at exit Python joins the part pool's worker, which waits for a block forever."""
    with Sandbox(job_seconds=0, chunk_size=16 * MiB) as sb:
        proc = start_hung_upload(tmp_path, sb, "break20-hung-key")
        wait_for(lambda: any(e["method"] == "PUT" for e in sb.requests), 20, "the part PUT")
        time.sleep(0.5)  # the first MiB is out; the read of the next one hangs
        proc.send_signal(signal.SIGINT)
        code, err = finish(proc, 15)
    assert code is not None, f"still running 15 s after Ctrl-C\n{err}"
    assert code == 130 and "Traceback" not in err, err


# ---- memory and --parallel ----------------------------------------------------------------
#: Runs gsep's CLI and writes its own peak RSS (VmHWM, KiB) to argv[1] at exit (not
#: ru_maxrss: Linux carries that over an exec from the forked parent, this test process).
_PEAK = """
import atexit, sys
out = sys.argv.pop(1)
def peak():
    lines = open("/proc/self/status").read().splitlines()
    hwm = next(line for line in lines if line.startswith("VmHWM:"))
    open(out, "w").write(hwm.split()[1])
atexit.register(peak)
from gsep_cli.cli import run
sys.exit(run(sys.argv[1:]))
"""


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="VmHWM in /proc/self/status")
def test_memory_stays_under_64_mib_with_sixteen_parts_in_flight(tmp_path: Path) -> None:
    """256 MiB in 8 MiB parts, ``--parallel 16`` (the most allowed): peak RSS under 64 MiB.
    Today about 106 MiB (40 MiB with --parallel 1, 54 with 4): each part in flight holds
    four 1 MiB read-ahead buffers (``blockread.BUFFERS``). Before issue 20 it was about
    81 MiB, so the read-ahead added some 25 MiB at 16."""
    song = _sparse_wav(tmp_path / "big.wav", 256 * MiB)
    peak = tmp_path / "peak.kib"
    with Sandbox(job_seconds=0, chunk_size=8 * MiB) as sb:
        env = clean_env(tmp_path, GSEP_API_KEY="break20-memory-key", GSEP_BASE_URL=sb.base_url)
        run = subprocess.run(
            [sys.executable, "-c", _PEAK, str(peak), "upload", "--parallel", "16", str(song)],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    assert run.returncode == 0, run.stderr
    peak_mib = int(peak.read_text()) / 1024
    assert peak_mib < 64, f"peak RSS {peak_mib:.0f} MiB with --parallel 16"
