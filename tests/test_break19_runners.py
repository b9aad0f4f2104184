"""Issue 19, broken from outside: several gsep runners ("hosts") on one PostgreSQL ledger.

Each test reproduces a problem found by running the installed ``gsep`` in several
processes against one sandbox and one throwaway PostgreSQL database (``pg_url``). A
runner on "another machine" is a gsep in a UTS namespace of its own (``unshare -u``);
a machine whose clock is off is a gsep whose ``time.time`` runs ahead by a fixed offset
(a ``sitecustomize`` on its ``PYTHONPATH``, the only change: everything else is the real
program). The sandbox's job count is compared with the distinct works every time.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from clitools import make_wav, wait_for
from paidtools import counts
from runnertools import require_namespaces, start_runner

from gsep_cli.errors import ExitCode
from gsep_cli.sandbox import Sandbox

KEY = "break19-runners-key-0001"


def _clock_ahead(tmp: Path, seconds: float) -> str:
    """A ``PYTHONPATH`` folder whose ``sitecustomize`` moves ``time.time`` ``seconds``
    ahead: the wall clock of a machine whose clock is off (monotonic time is untouched)."""
    folder = tmp / f"clock-ahead-{seconds:g}"
    folder.mkdir(exist_ok=True)
    (folder / "sitecustomize.py").write_text(
        f"import time\n_real = time.time\ntime.time = lambda: _real() + {float(seconds)!r}\n"
    )
    return str(folder)


def _start(
    tmp: Path, name: str, args: list[str], *, sb: Sandbox, ledger: str, **runner: Any
) -> subprocess.Popen[str]:
    return start_runner(tmp, name, args, key=KEY, base_url=sb.base_url, ledger=ledger, **runner)


# ---- clocks: "runners' clocks need not agree" (README, A catalogue across machines) -------


@pytest.mark.slow
def test_a_waiter_whose_clock_runs_ahead_still_takes_the_holders_failure_as_its_answer(
    tmp_path: Path, pg_url: str
) -> None:
    """Runner A (clock right) pays for the job, which fails. Runner B (clock 10 minutes
    ahead) was waiting for A's claim: A's failure is B's answer too (README: "the
    holder's failure is its answer too"), so B must not pay for a second job.

    Now B pays: it notes when it started waiting with its own clock (attach.py
    ``waited_since = self.clock()``), A stamps the failure with its own clock
    (jobs.py ``update_job``: ``self._clock()``), and ``failure_since`` compares the two,
    so the failure looks older than the wait and is missed; ``find_job`` skips failed
    jobs and B creates a new one."""
    require_namespaces()
    make_wav(tmp_path / "song.wav", seconds=0.3)
    args = ["separate", "song.wav", "-s", "vocal", "-o", "out"]
    with Sandbox(job_seconds=3, chunk_size=8192) as sb:
        sb.add_fault("job-fail:1:the holder's job failed")
        first = _start(tmp_path, "a", args, sb=sb, ledger=pg_url, host="runner-a")
        wait_for(lambda: counts(sb)[1] == 1, 30, "runner A's job")
        second = _start(
            tmp_path, "b", args, sb=sb, ledger=pg_url, host="runner-b",
            PYTHONPATH=_clock_ahead(tmp_path, 600),
        )  # fmt: skip
        _out_a, err_a = first.communicate(timeout=60)
        _out_b, err_b = second.communicate(timeout=60)
        jobs = counts(sb)[1]
    assert first.returncode == ExitCode.JOB_FAILED, err_a
    assert "waiting" in err_b, err_b  # B did wait for A's claim
    assert jobs == 1, f"one work, {jobs} jobs: B paid again after A's job failed\n{err_b}"
    assert second.returncode == ExitCode.JOB_FAILED, err_b


@pytest.mark.slow
def test_a_waiter_reports_the_holders_failure_once_not_wrapped_in_itself(
    tmp_path: Path, pg_url: str
) -> None:
    """Runner B waits for runner A, whose job fails: B's error line names the job and the
    server's reason once. Now it reads ``song.wav: job X failed: job X failed: <reason>``:
    attach.py ``_claimed`` wraps ``failed.error``, which is A's whole message (runner.py
    ``_record_failure`` stores ``exc.message``), not the server's reason."""
    require_namespaces()
    make_wav(tmp_path / "song.wav", seconds=0.3)
    args = ["separate", "song.wav", "-s", "vocal", "-o", "out"]
    with Sandbox(job_seconds=3, chunk_size=8192) as sb:
        sb.add_fault("job-fail:1:bad audio")
        first = _start(tmp_path, "a", args, sb=sb, ledger=pg_url, host="runner-a")
        wait_for(lambda: counts(sb)[1] == 1, 30, "runner A's job")
        second = _start(tmp_path, "b", args, sb=sb, ledger=pg_url, host="runner-b")
        first.communicate(timeout=60)
        _out_b, err_b = second.communicate(timeout=60)
        jobs = counts(sb)[1]
    assert jobs == 1 and second.returncode == ExitCode.JOB_FAILED, err_b
    line = next(x for x in err_b.splitlines() if x.startswith("gsep: error:"))
    assert line.count("failed:") == 1 and line.count("bad audio") == 1, line


@pytest.mark.slow
def test_pay_again_beside_a_runner_whose_clock_runs_ahead_never_pays_twice(
    tmp_path: Path, pg_url: str
) -> None:
    """Two runners, both with ``--pay-again``, start on the same input; B starts before
    A's job is created (A's upload is still being completed), but B's clock is 30 s
    ahead. The rule (known.py ``next_step``): "a record made at or after started_at
    (this run, or one beside it) is never paid again, --pay-again or not". A's job was
    made after B started, so B re-attaches to it.

    Now B pays again: ``started_at`` is B's own clock and ``created_at`` A's, so A's job
    looks older than B's run."""
    require_namespaces()
    make_wav(tmp_path / "song.wav", seconds=0.3)
    args = ["separate", "song.wav", "-s", "vocal", "--pay-again", "-o"]
    with Sandbox(job_seconds=3, chunk_size=8192) as sb:
        sb.add_fault("api-delay@upload-complete:1:4")  # A's creation comes after B's start
        first = _start(tmp_path, "a", [*args, "out-a"], sb=sb, ledger=pg_url, host="runner-a")
        wait_for(lambda: counts(sb)[0] == 1, 30, "runner A's upload")
        second = _start(
            tmp_path, "b", [*args, "out-b"], sb=sb, ledger=pg_url, host="runner-b",
            PYTHONPATH=_clock_ahead(tmp_path, 30),
        )  # fmt: skip
        time.sleep(1.5)  # B's run has started (its imports and ledger opened) ...
        assert counts(sb)[1] == 0  # ... and A's job does not exist yet
        _out_a, err_a = first.communicate(timeout=60)
        _out_b, err_b = second.communicate(timeout=60)
        jobs = counts(sb)[1]
    assert first.returncode == 0, err_a
    assert jobs == 1, f"one work, {jobs} jobs: B paid again beside A\n{err_b}"
    assert second.returncode == 0, err_b
    assert (tmp_path / "out-b" / "song" / "vocal.wav").is_file()


@pytest.mark.slow
def test_pay_again_runner_that_waited_for_the_holders_live_claim_reattaches(
    tmp_path: Path, pg_url: str
) -> None:
    """A CI matrix re-run with ``--pay-again`` (a forced refresh of one input): runner A
    claims the input and pays; runner B, started a moment later with the same command,
    meets A's live claim and waits for it. The job B waited for was made by a run beside
    it, for this very work: B re-attaches to it (one payment per work for the refresh).

    Now B pays for a second job: ``next_step`` only asks whether the record is older than
    B's start (``created_at >= started_at``), not whether B waited for its holder. (A
    design point as much as a bug: a fix would treat a job that appeared while this run
    waited for its claim as "this run's", e.g. ``created_at >= min(started_at,
    holder.claimed_at)`` on the ledger's clock.)"""
    require_namespaces()
    make_wav(tmp_path / "song.wav", seconds=0.3)
    args = ["separate", "song.wav", "-s", "vocal", "--pay-again", "-o"]
    with Sandbox(job_seconds=3, chunk_size=8192) as sb:
        first = _start(tmp_path, "a", [*args, "out-a"], sb=sb, ledger=pg_url, host="runner-a")
        wait_for(lambda: counts(sb)[1] == 1, 30, "runner A's job")
        second = _start(tmp_path, "b", [*args, "out-b"], sb=sb, ledger=pg_url, host="runner-b")
        _out_a, err_a = first.communicate(timeout=60)
        _out_b, err_b = second.communicate(timeout=60)
        jobs = counts(sb)[1]
    assert first.returncode == 0, err_a
    assert "is working on the same input; waiting" in err_b, err_b
    assert jobs == 1, f"one work, {jobs} jobs: B waited for A's claim, then paid again\n{err_b}"
    assert second.returncode == 0, err_b


# ---- a ledger server that stops answering -------------------------------------------------


def _freeze_backends(pg_url: str) -> list[int]:
    """SIGSTOP the server processes serving gsep's sessions on this test's database: a
    server that holds the connection open and never answers (a paused VM, a stalled disk,
    a pgbouncer or cloud SQL proxy whose upstream hangs: the socket stays up, so TCP
    keepalives and tcp_user_timeout never fire)."""
    import psycopg

    with psycopg.connect(pg_url, autocommit=True) as conn:
        pids = [
            int(row[0])
            for row in conn.execute(
                "SELECT pid FROM pg_stat_activity "
                "WHERE application_name = 'gsep' AND datname = current_database()"
            ).fetchall()
        ]
    assert pids, "no gsep session found in pg_stat_activity"
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    return pids


def _thaw(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)


def _run_then_freeze_the_ledger(
    tmp_path: Path, pg_url: str, sb: Sandbox, **env: str
) -> tuple[subprocess.Popen[str], list[int]]:
    """A gsep whose job exists, its ledger's server frozen right after the creation."""
    make_wav(tmp_path / "song.wav", seconds=0.3)
    runner = _start(
        tmp_path, "a", ["separate", "song.wav", "-s", "vocal", "-o", "out"],
        sb=sb, ledger=pg_url, host="runner-a", **env,
    )  # fmt: skip
    wait_for(lambda: counts(sb)[1] == 1, 30, "the job")
    return runner, _freeze_backends(pg_url)


@pytest.mark.slow
def test_ctrl_c_ends_gsep_when_the_ledger_server_stops_answering(
    tmp_path: Path, pg_url: str
) -> None:
    """The ledger's server stops answering mid-run. Ctrl-C must still end gsep (exit 130,
    README: "Ctrl-C, SIGTERM and SIGHUP ... all stop gsep"), naming the paid job.

    Now gsep never ends: a worker waits in psycopg for an answer with no client-side bound
    while holding the engine's lock (engine.py ``run``: ``with self._lock``), and after
    Ctrl-C the main thread's ``Ledger.close`` -> ``ClaimBook.release`` waits for that lock
    forever."""
    require_namespaces()
    with Sandbox(job_seconds=3, chunk_size=8192) as sb:
        runner, frozen = _run_then_freeze_the_ledger(tmp_path, pg_url, sb)
        try:
            time.sleep(5)  # the job is done; gsep is stuck recording it
            runner.send_signal(signal.SIGINT)
            try:
                _out, err = runner.communicate(timeout=20)
            except subprocess.TimeoutExpired:
                runner.kill()
                _out, err = runner.communicate(timeout=10)
                pytest.fail(f"gsep ignored Ctrl-C for 20 s with its ledger frozen:\n{err}")
        finally:
            _thaw(frozen)
            if runner.poll() is None:
                runner.kill()
                runner.communicate(timeout=10)
    assert runner.returncode == ExitCode.INTERRUPTED, err
    assert "Traceback" not in err, err


@pytest.mark.slow
def test_a_ledger_server_that_stops_answering_is_a_bounded_wait(
    tmp_path: Path, pg_url: str
) -> None:
    """README: "Every wait on it is bounded: connecting 10 s, a dead peer by TCP
    keepalives, the write lock 10 s, a statement 60 s". A server that keeps the connection
    up and never answers must end gsep by itself within those bounds (GSEP_LEDGER_TIMEOUT
    5 s here: 15 s a call), never a hang: it gives the frozen session up and goes on with
    a new one (here the frozen backend is gsep's own session: a new one is answered), or
    fails with one line naming the job and how to resume.

    Now gsep waits forever: ``statement_timeout`` is enforced by the (frozen) server, and
    keepalives are answered by its kernel; psycopg's wait has no client-side deadline
    (postgres.py ``_transaction``). A fix: a client-side deadline per transaction
    (statement timeout + a margin) that shuts the socket down, turning the wait into an
    OperationalError -> LedgerError."""
    require_namespaces()
    with Sandbox(job_seconds=3, chunk_size=8192) as sb:
        runner, frozen = _run_then_freeze_the_ledger(tmp_path, pg_url, sb, GSEP_LEDGER_TIMEOUT="5")
        try:
            try:
                _out, err = runner.communicate(timeout=90)
            except subprocess.TimeoutExpired:
                runner.kill()
                _out, err = runner.communicate(timeout=10)
                pytest.fail(f"gsep still waiting on a frozen ledger after 90 s:\n{err}")
        finally:
            _thaw(frozen)
            if runner.poll() is None:
                runner.kill()
                runner.communicate(timeout=10)
    assert "Traceback" not in err, err
    if runner.returncode == 0:
        assert (tmp_path / "out" / "song" / "vocal.wav").is_file()
    else:
        last = err.strip().splitlines()[-1]
        assert last.startswith("gsep: error:") and "job " in last, err
    assert counts(sb)[1] == 1


# ---- containers: one host name, a PID namespace each ---------------------------------------


@pytest.mark.slow
def test_a_container_beside_this_one_is_not_taken_for_another_input_of_this_batch(
    tmp_path: Path, pg_url: str
) -> None:
    """Two containers with one host name (``--hostname pod`` twice; claims.py's
    ``_pid_namespace`` exists for exactly this) each run gsep as pid 1. Runner B's first
    input is held by A: B must say who holds it (gsep pid 1 on pod) and put it aside
    while it has other inputs to start (README, "Sharing a list").

    Now B says "another input of this batch has the same content and is being processed"
    (there is no such input) and queues behind A instead of putting it aside:
    attach.py ``_held_here`` compares only the pid and the host name, not the PID
    namespace (``ClaimHolder.started``) that ``holder_is_live`` already checks."""
    require_namespaces(own_pids=True)
    for i in range(3):
        make_wav(tmp_path / f"s{i}.wav", seconds=0.3 + 0.01 * i)
    with Sandbox(job_seconds=3, chunk_size=8192) as sb:
        first = _start(
            tmp_path, "a", ["separate", "s0.wav", "-s", "vocal", "-o", "out-a"],
            sb=sb, ledger=pg_url, host="pod", own_pids=True,
        )  # fmt: skip
        wait_for(lambda: counts(sb)[1] == 1, 30, "runner A's job")
        second = _start(
            tmp_path, "b",
            ["separate", "s0.wav", "s1.wav", "s2.wav", "-s", "vocal", "-o", "out-b",
             "--jobs", "1"],
            sb=sb, ledger=pg_url, host="pod", own_pids=True,
        )  # fmt: skip
        _out_b, err_b = second.communicate(timeout=90)
        _out_a, err_a = first.communicate(timeout=60)
        jobs = counts(sb)[1]
    assert first.returncode == 0 and second.returncode == 0, (err_a, err_b)
    assert jobs == 3, err_b  # the money holds; what B says and does does not
    assert "another input of this batch" not in err_b, err_b
    assert "s0.wav: gsep pid 1 on pod" in err_b, err_b
    assert "coming back to it after the others" in err_b, err_b
