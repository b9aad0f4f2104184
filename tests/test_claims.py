"""Claims and unconfirmed creations in the ledger: who may pay for a work, and when."""

from __future__ import annotations

import os
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gsep_cli.claims import Claim, ClaimHolder, ProcessId, holder_is_live, this_process
from gsep_cli.errors import ExitCode
from gsep_cli.ledger import ClaimLost, Ledger, key_fingerprint
from gsep_cli.ledger.claimbook import CLAIM_COLUMNS
from gsep_cli.ledger.engine import upsert
from gsep_cli.records import JobRecord, work_key

HOST = "https://restapi.gaudiolab.io"
FP = key_fingerprint("k")
SHA = "cd" * 32
WORK = work_key(SHA, "gsep_music_hq_v1", ["vocal"], HOST, FP)


@pytest.fixture
def path(ledger_url: str) -> str:
    """The ledger, on each backend (tests/conftest.py ``ledger_url``): claims behave alike."""
    return ledger_url


@pytest.fixture
def led(path: str) -> Iterator[Ledger]:
    with Ledger(url=path) as ledger:
        yield ledger


def put_claim(path: str, *, host: str, pid: int, started: str = "", beat_age: float = 0.0) -> None:
    """A claim row as another process would have left it (through a ledger of its own:
    the SQL both backends take)."""
    now = time.time()
    row = (WORK, "their-token", host, pid, started, "/in/song.wav", now - 100, now - beat_age)
    with Ledger(url=path) as other:
        other._run(
            lambda conn: conn.execute(upsert("claims", CLAIM_COLUMNS, ("work_key",)), row),
            write=True,
        )


def pending(status: str = "submitted") -> JobRecord:
    return JobRecord(
        "", "up-1", SHA, "/in/song.wav", "gsep_music_hq_v1", ("vocal",), HOST, FP, status,
        None, None, 1.0, 1.0, (),
    )  # fmt: skip


def test_work_key_names_content_model_stem_set_host_and_key() -> None:
    base = work_key(SHA, "gsep_music_hq_v1", ["vocal", "drum"], HOST, FP)
    assert base == work_key(SHA, "gsep_music_hq_v1", ["drum", "vocal", "drum"], HOST, FP)
    others = {
        work_key("ef" * 32, "gsep_music_hq_v1", ["vocal", "drum"], HOST, FP),
        work_key(SHA, "gsep_music_shq_v1", ["vocal", "drum"], HOST, FP),
        work_key(SHA, "gsep_music_hq_v1", ["vocal"], HOST, FP),
        work_key(SHA, "gsep_music_hq_v1", ["vocal", "drum"], "http://127.0.0.1:9", FP),
        work_key(SHA, "gsep_music_hq_v1", ["vocal", "drum"], HOST, key_fingerprint("other")),
    }
    assert base not in others and len(others) == 5


def test_a_claim_is_held_until_released(led: Ledger) -> None:
    claim = led.try_claim(WORK, "/in/song.wav")
    assert isinstance(claim, Claim) and claim.took_over is None
    holder = led.try_claim(WORK, "/in/other.wav")  # another input of the same process
    assert isinstance(holder, ClaimHolder)
    assert (holder.pid, holder.input_path) == (os.getpid(), "/in/song.wav")
    assert "pid" in holder.describe() and "UTC" in holder.describe()
    led.release(claim)
    led.release(claim)  # idempotent
    assert isinstance(led.try_claim(WORK, "/in/other.wav"), Claim)


def test_closing_the_ledger_releases_its_claims(path: str) -> None:
    with Ledger(url=path) as first:
        assert isinstance(first.try_claim(WORK, "/in/song.wav"), Claim)
    with Ledger(url=path) as second:
        claim = second.try_claim(WORK, "/in/song.wav")
        assert isinstance(claim, Claim) and claim.took_over is None


def test_a_dead_process_on_this_host_is_taken_over_at_once(led: Ledger, path: str) -> None:
    dead = 2**22 + 12345  # above Linux's pid_max default: no such process
    put_claim(path, host=socket.gethostname(), pid=dead)
    claim = led.try_claim(WORK, "/in/song.wav")
    assert isinstance(claim, Claim)
    assert claim.took_over is not None and claim.took_over.pid == dead


def test_a_reused_pid_is_not_the_holder(led: Ledger, path: str) -> None:
    me = this_process()
    if not me.started:
        pytest.skip("process start times are not readable here")
    namespace, _, started = me.started.rpartition("|")
    boot = started.partition(":")[0]  # this boot, another process start: a reused pid
    put_claim(path, host=me.host, pid=os.getpid(), started=f"{namespace}|{boot}:1")
    claim = led.try_claim(WORK, "/in/song.wav")
    assert isinstance(claim, Claim) and claim.took_over is not None


def test_a_holder_in_another_pid_namespace_is_judged_by_its_heartbeat(path: str) -> None:
    me = this_process()
    if not me.started.rpartition("|")[0]:
        pytest.skip("no PID namespaces here")
    Ledger(url=path).close()
    # pid 1 of a container beside us: here that pid is another process entirely
    put_claim(path, host=me.host, pid=1, started="pid:[1]|other-boot:7", beat_age=5)
    with Ledger(url=path, lease=60) as led:
        holder = led.try_claim(WORK, "/in/song.wav")
        assert isinstance(holder, ClaimHolder) and holder.pid == 1
    put_claim(path, host=me.host, pid=1, started="pid:[1]|other-boot:7", beat_age=61)
    with Ledger(url=path, lease=60) as led:
        claim = led.try_claim(WORK, "/in/song.wav")
        assert isinstance(claim, Claim) and claim.took_over is not None


def test_another_host_counts_while_its_heartbeat_is_fresh(path: str) -> None:
    Ledger(url=path).close()  # the schema
    put_claim(path, host="elsewhere.example", pid=1, beat_age=5)
    with Ledger(url=path, lease=60) as led:
        holder = led.try_claim(WORK, "/in/song.wav")
        assert isinstance(holder, ClaimHolder) and holder.host == "elsewhere.example"
    put_claim(path, host="elsewhere.example", pid=1, beat_age=61)
    with Ledger(url=path, lease=60) as led:
        claim = led.try_claim(WORK, "/in/song.wav")
        assert isinstance(claim, Claim) and claim.took_over is not None


@given(
    beat_age=st.floats(0, 500),
    lease=st.floats(1, 300),
    same_host=st.booleans(),
    alive=st.booleans(),
    same_start=st.booleans(),
    same_boot=st.booleans(),
)
@settings(max_examples=200, deadline=None)
def test_liveness_rule(
    beat_age: float, lease: float, same_host: bool, alive: bool, same_start: bool, same_boot: bool
) -> None:
    me = ProcessId("here", os.getpid(), this_process().started)
    pid = os.getpid() if alive else 2**22 + 7
    namespace, _, mine = me.started.rpartition("|")
    boot = mine.partition(":")[0] if same_boot else "another-boot"
    started = me.started if same_start else f"{namespace}|{boot}:1"
    holder = ClaimHolder("here" if same_host else "there", pid, started, "/in", 0.0, 1000.0)
    now = 1000.0 + beat_age
    live = holder_is_live(holder, me, now, lease)
    elsewhere = not same_host or (not same_start and not same_boot and bool(me.started))
    expected = now - 1000.0 <= lease and (elsewhere or (alive and (same_start or not me.started)))
    assert live is expected


def test_the_heartbeat_keeps_a_claim_alive(path: str) -> None:
    with Ledger(url=path, lease=0.3) as holder_side:
        assert isinstance(holder_side.try_claim(WORK, "/in/song.wav"), Claim)
        time.sleep(0.6)  # two leases: only the heartbeat keeps it
        (beat,) = holder_side._run(
            lambda conn: conn.execute("SELECT heartbeat_at FROM claims").fetchone(), write=False
        )
        assert time.time() - beat < 0.3


def test_paying_needs_the_claim_still_held(led: Ledger, path: str) -> None:
    claim = led.try_claim(WORK, "/in/song.wav")
    assert isinstance(claim, Claim)
    put_claim(path, host="elsewhere.example", pid=4242)  # taken over while we were stopped
    with pytest.raises(ClaimLost) as info:
        led.record_unconfirmed(claim, pending())
    assert info.value.exit_code == ExitCode.USAGE
    assert "pid 4242 on elsewhere.example" in info.value.message
    assert led.list_jobs() == []  # nothing recorded, so nothing sent


def test_one_holder_at_a_time_across_ledgers_and_threads(path: str) -> None:
    inside: list[int] = []
    overlaps: list[int] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        with Ledger(url=path) as ledger:
            for _ in range(200):
                got = ledger.try_claim(WORK, f"/in/{n}.wav")
                if isinstance(got, Claim):
                    with lock:
                        if inside:
                            overlaps.append(n)
                        inside.append(n)
                    time.sleep(0.002)
                    with lock:
                        inside.remove(n)
                    ledger.release(got)
                    return
                time.sleep(0.005)
            raise AssertionError(f"worker {n} never got the claim")

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert overlaps == []


def test_unconfirmed_creation_lifecycle(led: Ledger) -> None:
    match = (SHA, "gsep_music_hq_v1", ["vocal"], HOST, FP)
    first = led.record_unconfirmed(None, pending())
    assert first.startswith("unconfirmed-")
    found = led.find_job(*match)
    assert found is not None and found.unconfirmed and found.job_id == first
    led.confirm_job(first, "job-1", "submitted")
    found = led.find_job(*match)
    assert found is not None and (found.job_id, found.status) == ("job-1", "submitted")
    led.update_job("job-1", status="failed")
    second = led.record_unconfirmed(None, pending())
    led.drop_unconfirmed(second)  # refused for certain: forgotten
    assert led.find_job(*match) is None
    third = led.record_unconfirmed(None, pending())
    assert led.abandon_unconfirmed(*match) == 1
    assert led.find_job(*match) is None
    assert led.get_job(third) is not None and led.get_job(third).status == "abandoned"  # type: ignore[union-attr]
    assert led.failure_since(*match, since=0) is not None
    assert led.failure_since(*match, since=time.time() + 60) is None


def test_a_version_1_ledger_is_migrated_and_keeps_its_jobs(tmp_path: Path) -> None:
    from gsep_cli.ledger import schema

    path = tmp_path / "ledger.sqlite3"  # a file of gsep's first release: SQLite
    with sqlite3.connect(path) as db:
        for statement in schema.MIGRATIONS[1]:
            db.execute(statement)
        db.execute("PRAGMA user_version = 1")
        db.execute(
            "INSERT INTO jobs VALUES ('j1', 'u1', ?, '/in', 'gsep_music_hq_v1', '[\"vocal\"]', "
            "'vocal', ?, ?, 'success', NULL, NULL, 1.0, 1.0, "
            '\'[{"stem":"vocal","format":"wav","path":"/o/v.wav","bytes":4}]\')',
            (SHA, HOST, FP),
        )
        db.execute("INSERT INTO file_hashes VALUES ('/o/v.wav', 4, 1, 1, 'old', 1.0)")
    with Ledger(path) as led:
        (record,) = led.list_jobs()
        assert record.files[0].sha256 is None and record.files[0].bytes == 4
        assert isinstance(led.try_claim(WORK, "/in"), Claim)
        with sqlite3.connect(path) as db:
            assert db.execute("PRAGMA user_version").fetchone() == (schema.SCHEMA_VERSION,)
            assert db.execute("SELECT ctime_ns FROM file_hashes").fetchone() == (-1,)
