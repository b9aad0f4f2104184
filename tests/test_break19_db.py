"""Issue 19, broken from outside: the ledger layer itself (PostgreSQL and SQLite behind one
interface, URLs and their passwords, connection loss and stalls, pruning a shared ledger,
claims of runners that share a host name).

Each test reproduces one problem found by trying; it fails until that problem is fixed.
Real parts only: the throwaway PostgreSQL cluster (``pg_cluster``, ``pg_url``), the
sandbox over loopback HTTP, the installed ``gsep`` in subprocesses.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import quote

import pgcluster
import psycopg
import pytest
from clitools import clean_env, gsep_exe, make_wav, run_gsep
from paidtools import counts

from gsep_cli.claims import ClaimHolder, holder_is_live, this_process
from gsep_cli.errors import ExitCode, GsepError
from gsep_cli.ledger import Ledger, parse_address
from gsep_cli.records import FileRecord, JobRecord
from gsep_cli.sandbox import Sandbox

KEY = "break19-db-key-0001"


# ---- 1. a password holding '#' or '?' (which libpq takes as they are) is printed ----------
#: URLs whose password libpq reads whole (``conninfo_to_dict`` gives it as the password)
#: but Python's urlsplit cuts at '#' or '?', so masked() finds no password and address.py
#: prints the URL as it is. The last: libpq's keyword form with blanks around '='.
LEAKY = [
    ("postgresql://gsep:Zx9#q7Lm@127.0.0.1:9/gsep", "Zx9#q7Lm"),
    ("postgresql://gsep:Zx9?q7Lm@127.0.0.1:9/gsep", "Zx9?q7Lm"),
    ("host=127.0.0.1 port=9 password = Zx9q7Lm", "Zx9q7Lm"),
]


@pytest.mark.parametrize(("url", "password"), LEAKY)
def test_libpq_reads_these_passwords_whole(url: str, password: str) -> None:
    """The premise: libpq (what gsep hands the URL to) takes the whole password, so a
    user whose psql works with this URL has every reason to give gsep the same one."""
    assert psycopg.conninfo.conninfo_to_dict(url)["password"] == password


@pytest.mark.parametrize(("url", "password"), LEAKY)
def test_a_refused_ledger_url_never_repeats_its_password(url: str, password: str) -> None:
    """parse_address refuses these (or not), but its message must not hold the password
    (today: ``the ledger URL postgresql://gsep:Zx9#q7Lm@... is not a valid URL``).
    Cause: address.masked() relies on urlsplit, which ends the authority at '#'/'?' and so
    sees no password; its ``password=`` pattern needs '=' right after the word. Fix: mask
    with libpq's own reading (conninfo_to_dict's password, when psycopg is there), or cut
    the authority at the last '@' before the first '/' as libpq does, and accept blanks
    around '=' in the keyword form; register the password as a secret either way."""
    try:
        address = parse_address(url, "GSEP_LEDGER_URL")
    except GsepError as exc:
        shown = f"{exc.message} {exc.what_to_do}"
    else:
        shown = address.shown
    assert password not in shown, shown


@pytest.mark.slow
@pytest.mark.parametrize(("url", "password"), LEAKY[:2])
def test_the_cli_never_prints_such_a_password(tmp_path: Path, url: str, password: str) -> None:
    """What a user sees: ``gsep ledger list`` (the error line) and ``gsep config show`` /
    ``config get ledger_url`` with GSEP_LEDGER_URL set (today all three print it whole)."""
    env = clean_env(tmp_path, GSEP_LEDGER_URL=url)
    leaks = []
    for args in (["ledger", "list"], ["config", "show"], ["config", "get", "ledger_url"]):
        run = run_gsep(args, env, cwd=tmp_path, timeout=60)
        if password in run.out + run.err:
            leaks.append((args, str(run)))
    assert leaks == []


# ---- 2. a stalled database server holds gsep forever ---------------------------------------
@pytest.mark.slow
def test_a_stalled_ledger_server_is_given_up_within_the_documented_bound(
    pg_url: str,
) -> None:
    """README: "Every wait on it is bounded: ... a statement 60 s" (GSEP_LEDGER_TIMEOUT;
    3 s here, so the test is short). A server that stops
    answering on an open connection (here its backend is SIGSTOPped: a hung server, a
    paused VM; over TCP the kernel still ACKs, so tcp_user_timeout and keepalives do not
    fire) holds a ledger call for as long as the stall lasts: statement_timeout is the
    server's to enforce, and it is the server that hangs. Seen: a run whose jobs ended in
    4 s waited out a 90 s stall. Fix: a client-side deadline per transaction (e.g. a timer
    that shuts the connection's socket down past statement_timeout + a margin, turning the
    wait into an OperationalError -> LedgerError)."""
    bound, stall = 20.0, 40.0  # a statement bound of 3 s (GSEP_LEDGER_TIMEOUT), 13 s in all
    with Ledger(url=pg_url, db_timeout=3) as ledger:
        with psycopg.connect(pg_url, autocommit=True) as admin:
            pids = [
                row[0]
                for row in admin.execute(
                    "SELECT pid FROM pg_stat_activity WHERE application_name = 'gsep' "
                    "AND datname = current_database()"
                ).fetchall()
            ]
        assert len(pids) == 1, pids
        outcome: list[object] = []

        def call() -> None:
            try:
                outcome.append(ledger.get_job("any-job"))
            except BaseException as exc:  # any end is an end
                outcome.append(exc)

        os.kill(pids[0], signal.SIGSTOP)
        try:
            worker = threading.Thread(target=call, daemon=True)
            began = time.monotonic()
            worker.start()
            worker.join(stall)
            waited = time.monotonic() - began
            still_waiting = worker.is_alive()
        finally:
            os.kill(pids[0], signal.SIGCONT)
        worker.join(30)
        assert not still_waiting and waited <= bound, (
            f"a ledger call waited {waited:.0f} s on a stalled server (bound {bound:g} s)"
        )


# ---- 3. the ledger lost mid-run: "no work was started", exit 3, after paying --------------
def _database_of(url: str) -> str:
    return url.split("://", 1)[1].split("@", 1)[1].split("/", 1)[1].split("?", 1)[0]


@pytest.mark.slow
def test_a_ledger_lost_mid_run_does_not_say_no_work_was_started(
    tmp_path: Path, pg_cluster: pgcluster.Cluster, pg_url: str
) -> None:
    """The database goes away (a restart, a failover; here: its sessions ended and new
    ones refused) while a job gsep created runs. The input fails, naming the job (good),
    but the line is LedgerUnreachable's: "cannot reach the job ledger ...; no work was
    started; job J is on record" and the run exits 3 ("authentication or configuration").
    Work was started and paid for, and the configuration is fine. Cause: a lost connection
    is re-opened through PostgresEngine._connect, whose failure is LedgerUnreachable (meant
    for the first connection) and is not among the errors _attempts retries. Fix: a
    reconnect during a run raises LedgerError ("lost the job ledger ...") with a bounded
    wait for the server to come back, and the 'no work was started' wording stays with the
    first connection only."""
    make_wav(tmp_path / "song.wav", seconds=0.2)
    database = _database_of(pg_url)
    with Sandbox(job_seconds=3, chunk_size=8192) as sb:
        env = clean_env(
            tmp_path, GSEP_API_KEY=KEY, GSEP_BASE_URL=sb.base_url, GSEP_LEDGER_URL=pg_url
        )
        proc = subprocess.Popen(
            [gsep_exe(), "separate", "song.wav", "-s", "vocal", "-o", "out"],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.monotonic() + 30
            # the job is created *and* on record: cut earlier (a CI run did), and the
            # failure is the one of a job that could not be recorded, not this one
            while counts(sb)[1] < 1 or not _recorded_as(pg_url, "submitted"):
                assert time.monotonic() < deadline and proc.poll() is None, "no job created"
                time.sleep(0.05)
            with psycopg.connect(pg_cluster.url(), autocommit=True) as admin:
                admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false')
                admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = %s AND application_name = 'gsep'",
                    (database,),
                )
            _out, err = proc.communicate(timeout=90)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate(timeout=10)
            with psycopg.connect(pg_cluster.url(), autocommit=True) as admin:
                admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true')
        assert counts(sb)[1] == 1
    created = [line for line in err.splitlines() if line.endswith(" created")]
    assert len(created) == 1, err
    job_id = created[0].split(" job ")[1].split()[0]
    assert err.count(job_id) >= 2, err  # the failure names the job, as it does today
    assert "no work was started" not in err, err
    assert proc.returncode != ExitCode.AUTH, (proc.returncode, err)


def _recorded_as(pg_url: str, status: str) -> bool:
    """Whether a job of the ledger at ``pg_url`` has ``status`` (no table yet: False)."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        try:
            rows = conn.execute("SELECT status FROM gsep.jobs").fetchall()
        except psycopg.errors.UndefinedTable:
            return False
    return any(row[0] == status for row in rows)


# ---- 4. `gsep ledger prune` on one machine drops another machine's finished jobs -----------
def test_prune_on_a_shared_ledger_keeps_jobs_whose_files_are_on_another_machine(
    pg_url: str,
) -> None:
    """README: ``gsep ledger prune --older-than DAYS`` "never [drops jobs] whose files are
    still on disk". On a shared ledger the disk is the runner's: prune.py's _any_on_disk
    stats the recorded paths on the machine that prunes, finds none of runner-b's files
    and drops runner-b's job, so runner-b's re-run of the same command no longer says
    "already done" (its outputs are "in the way": exit 2, or --force pays again). Fix:
    keep jobs whose ``runner`` is another host (or decide per runner who may prune)."""
    old = time.time() - 40 * 86400
    other = this_process().host + "-elsewhere"
    record = JobRecord(
        "job-of-runner-b", "up-1", "a" * 64, "/srv/b/s0.wav", "gsep_music_hq_v1",
        ("vocal",), "api.example", "fp", "success", None, None, old, old,
        (FileRecord("vocal", "wav", "/srv/b/out/s0/vocal.wav", 1234, "b" * 64),), other,
    )  # fmt: skip
    with Ledger(url=pg_url) as ledger:
        ledger.record_job(record)
        ledger.prune(older_than=30 * 86400)
        assert ledger.get_job("job-of-runner-b") is not None


# ---- 5. two machines with one host name: a live holder is taken for dead at once -----------
def test_a_holder_on_another_machine_of_the_same_name_is_judged_by_its_heartbeat() -> None:
    """Cloned VMs, cloud images all named 'ubuntu' or 'localhost', pods with a fixed
    hostname: the host names agree, and so does the PID namespace id (the initial
    namespace's inode is the same constant on every Linux machine), so holder_is_live
    probes the holder's pid *here*: absent, or another process (the boot id in
    ``started`` differs), and the live holder's claim is taken over at once. Neither pays
    twice (record_unconfirmed checks the claim), but one runner fails spuriously: the
    holder with "took this work over while this gsep was stopped", or the taker refusing
    a creation "never answered" (exit 2). Fix: a holder whose boot id differs from ours
    is on another machine (or before a reboot): judge it by its heartbeat alone."""
    me = this_process()
    assert me.started, "needs Linux /proc"
    namespace, _, mine = me.started.rpartition("|")
    other_boot = "00000000-0000-0000-0000-000000000000"
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, timeout=30, check=True)  # fmt: skip
    dead_pid = int(gone.stdout)
    now = time.time()
    holder = ClaimHolder(
        me.host, dead_pid, f"{namespace}|{other_boot}:{mine.rpartition(':')[2]}",
        "/srv/a/s0.wav", now - 5, now - 1,
    )  # fmt: skip
    assert holder_is_live(holder, me, now, lease=60.0)


def test_the_url_quoted_in_messages_keeps_the_password_out_of_a_socket_folder() -> None:
    """Control: the test cluster's own URL form (a socket folder in ``host=``), with a
    password in ``password=``, is masked (this held up)."""
    url = "postgresql://gsep@/db?host=" + quote("/tmp/x", safe="/") + "&password=Zx9q7Lm"
    assert "Zx9q7Lm" not in parse_address(url).shown
