"""Many machines, one ledger: gsep processes sharing a PostgreSQL ledger never pay twice.

Real parts: a throwaway PostgreSQL cluster (``pg_url``, tests/pgcluster.py), one sandbox
over loopback HTTP, and the installed ``gsep`` in several processes at once. A runner on
"another machine" is a gsep in a UTS namespace of its own (``unshare -u``) with another
host name: to it, the other runners' processes are out of sight, so only a claim's
heartbeat and lease say whether its holder lives, as across real machines.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import IO, Any

import pytest
from clitools import clean_env, make_wav, run_gsep, wait_for
from paidtools import counts
from runnertools import require_namespaces, start_runner

from gsep_cli.errors import ExitCode
from gsep_cli.sandbox import Sandbox

KEY = "shared-ledger-key-0001"


def _songs(folder: Path, count: int) -> list[Path]:
    return [make_wav(folder / f"s{i}.wav", seconds=0.2 + 0.01 * i) for i in range(count)]


def _start(
    tmp: Path, name: str, args: list[str], *, base_url: str, ledger: str, **runner: Any
) -> subprocess.Popen[str]:
    return start_runner(tmp, name, args, key=KEY, base_url=base_url, ledger=ledger, **runner)


@pytest.mark.slow
def test_runners_with_overlapping_lists_pay_once_per_work(tmp_path: Path, pg_url: str) -> None:
    """Three gsep processes, on three host names, with overlapping lists (10 inputs,
    9 works: one copy under another name) against one sandbox and one database: the
    sandbox counts one job per distinct work, every runner exits 0, and every runner's
    inputs all have their files where that runner wrote them."""
    require_namespaces()
    songs = _songs(tmp_path, 9)
    shutil.copy(songs[0], tmp_path / "copy_of_s0.wav")
    lists = {
        "a": [f"s{i}.wav" for i in range(0, 6)],
        "b": [f"s{i}.wav" for i in range(3, 9)],
        "c": ["copy_of_s0.wav", "s0.wav", "s2.wav", "s4.wav", "s6.wav", "s8.wav"],
    }
    with Sandbox(job_seconds=0.4, chunk_size=8192) as sb:
        runners = {
            name: _start(
                tmp_path,
                name,
                ["separate", *inputs, "-s", "vocal", "-o", f"out-{name}"],
                base_url=sb.base_url,
                ledger=pg_url,
                host=f"runner-{name}",
            )
            for name, inputs in lists.items()
        }
        outs = {name: runner.communicate(timeout=120) for name, runner in runners.items()}
        assert {n: r.returncode for n, r in runners.items()} == {"a": 0, "b": 0, "c": 0}, outs
        assert counts(sb)[1] == 9  # one job per distinct work, across three "machines"
    for name, inputs in lists.items():
        for song in inputs:
            stem = tmp_path / f"out-{name}" / Path(song).stem / "vocal.wav"
            assert stem.is_file() and stem.stat().st_size > 44, (name, song, outs[name])
    listed = run_gsep(
        ["--json", "ledger", "list", "--limit", "50"],
        clean_env(tmp_path / "reader", GSEP_LEDGER_URL=pg_url),
    )
    assert listed.code == 0, listed.err
    runners_seen = {job["runner"] for job in listed.json()["jobs"]}
    assert runners_seen <= {"runner-a", "runner-b", "runner-c"} and runners_seen


def _read_until(stream: IO[str], text: str, seconds: float) -> str:
    """What ``stream`` says up to the line holding ``text`` (read in a thread: bounded)."""
    lines: list[str] = []
    found = threading.Event()

    def read() -> None:
        for line in stream:
            lines.append(line)
            if text in line:
                found.set()
                return

    threading.Thread(target=read, daemon=True).start()
    assert found.wait(seconds), f"no {text!r} within {seconds:g} s: {''.join(lines)}"
    return "".join(lines)


@pytest.mark.slow
def test_a_runner_killed_mid_wait_is_taken_over_after_the_lease_without_a_new_job(
    tmp_path: Path, pg_url: str
) -> None:
    """Runner A (host runner-a) creates the job and is killed with SIGKILL while it
    waits for it. Runner B (host runner-b) cannot see A's process: it waits while A's
    claim is younger than the lease (it is already waiting when A dies), then takes the
    work over, re-attaches to A's job and downloads its files: the sandbox still counts
    one job."""
    require_namespaces()
    make_wav(tmp_path / "song.wav", seconds=0.3)
    lease = "2"
    with Sandbox(job_seconds=4, chunk_size=8192) as sb:
        args = ["separate", "song.wav", "-s", "vocal", "-o", "out"]
        first = _start(
            tmp_path, "a", args, base_url=sb.base_url, ledger=pg_url, host="runner-a",
            GSEP_CLAIM_LEASE=lease,
        )  # fmt: skip
        wait_for(lambda: counts(sb)[1] == 1, 30, "runner A's job")
        second = _start(
            tmp_path, "b", args, base_url=sb.base_url, ledger=pg_url, host="runner-b",
            GSEP_CLAIM_LEASE=lease,
        )  # fmt: skip
        assert second.stderr is not None
        said = _read_until(second.stderr, "waiting", 30)  # B met A's live claim
        first.send_signal(signal.SIGKILL)  # A dies while waiting for its job
        first.communicate(timeout=10)
        killed_at = time.monotonic()
        _out, rest = second.communicate(timeout=60)
        err = said + rest
        took = time.monotonic() - killed_at
        assert second.returncode == 0, err
        assert counts(sb)[1] == 1, err  # taken over, never paid again
    assert "gsep pid" in err and "on runner-a" in err and "waiting" in err, err
    assert "stopped before finishing this input; taking it over" in err, err
    assert "re-attaching to job" in err, err
    assert took >= 1.0  # not at once: only the lease says a holder elsewhere is gone
    assert (tmp_path / "out" / "song" / "vocal.wav").is_file()


@pytest.mark.slow
def test_a_creation_left_unconfirmed_by_a_killed_runner_is_never_paid_again_by_itself(
    tmp_path: Path, pg_url: str
) -> None:
    """Runner A is killed while its job creation is unanswered (the sandbox created the
    job and answers late). Runner B takes the claim over after the lease and finds a
    creation never confirmed: it refuses to pay again without --pay-again (exit 2, the
    money rule), and the sandbox still counts one job."""
    require_namespaces()
    make_wav(tmp_path / "song.wav", seconds=0.3)
    with Sandbox(job_seconds=0.2, chunk_size=8192) as sb:
        sb.add_fault("api-late@job-create:1:30")
        args = ["separate", "song.wav", "-s", "vocal", "-o", "out"]
        first = _start(
            tmp_path, "a", args, base_url=sb.base_url, ledger=pg_url, host="runner-a",
            GSEP_CLAIM_LEASE="2",
        )  # fmt: skip
        wait_for(lambda: counts(sb)[1] == 1, 30, "runner A's job creation")
        first.send_signal(signal.SIGKILL)
        first.communicate(timeout=10)
        second = _start(
            tmp_path, "b", args, base_url=sb.base_url, ledger=pg_url, host="runner-b",
            GSEP_CLAIM_LEASE="2",
        )  # fmt: skip
        _out, err = second.communicate(timeout=60)
        assert counts(sb)[1] == 1, err
    assert second.returncode == ExitCode.USAGE, err
    assert "taking it over" in err and "--pay-again" in err, err


def test_a_ledger_that_cannot_be_reached_is_one_line_exit_3_before_any_request(
    tmp_path: Path, pg_url: str
) -> None:
    """A wrong database name (the server answers, and refuses) and a server that is not
    there: one line each, exit 3, the password never shown, and the sandbox sees no
    request at all."""
    make_wav(tmp_path / "song.wav", seconds=0.2)
    secret = "s3cr3t-Pa55"
    nobody = f"postgresql://gsep:{secret}@127.0.0.1:9/gsep?connect_timeout=2"
    with Sandbox(job_seconds=0.2, chunk_size=8192) as sb:
        for url in (_other_database(pg_url, secret), nobody):
            env = clean_env(tmp_path, GSEP_API_KEY=KEY, GSEP_BASE_URL=sb.base_url)
            env["GSEP_LEDGER_URL"] = url
            run = run_gsep(["separate", "song.wav", "-s", "vocal"], env, cwd=tmp_path)
            assert run.code == ExitCode.AUTH, run.err
            lines = run.err.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith(
                "gsep: error: cannot reach the job ledger"
            )
            assert secret not in run.err and "***" in run.err, run.err
            assert "Traceback" not in run.err
        assert sb.requests == []  # no work started


def _other_database(url: str, password: str) -> str:
    """``url`` with a password and a database name the cluster does not have."""
    scheme, _, rest = url.partition("://")
    user, _, after = rest.partition("@")
    path, query = after.split("?", 1) if "?" in after else (after, "")
    host = path.split("/", 1)[0]
    return f"{scheme}://{user}:{password}@{host}/no_such_database" + (f"?{query}" if query else "")
