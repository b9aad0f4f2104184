"""The job ledger (gsep_cli.ledger): records, matching, hashing, locking, files on disk."""

from __future__ import annotations

import calendar
import dataclasses
import os
import sqlite3
import stat
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gsep_cli import ledger as ledger_mod
from gsep_cli.errors import ExitCode, LedgerError
from gsep_cli.ledger import (
    FileRecord,
    JobRecord,
    Ledger,
    UploadRecord,
    api_host,
    hashes,
    key_fingerprint,
    state_dir,
)
from gsep_cli.ledger.sqlitefile import SqliteEngine

ROOT = Path(__file__).resolve().parent.parent
HOST = "https://restapi.gaudiolab.io"
FP = key_fingerprint("test-key")
SHA = "ab" * 32
T0 = 1_700_000_000.0


class Clock:
    """A settable clock for the ledger."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def led(ledger_url: str, clock: Clock) -> Iterator[Ledger]:
    """A new ledger on each backend (``ledger_url``: tests/conftest.py): the suite below
    is one for both, except what is about SQLite's file."""
    with Ledger(url=ledger_url, clock=clock) as ledger:
        yield ledger


@pytest.fixture
def sqlite_led(tmp_path: Path, clock: Clock) -> Iterator[Ledger]:
    with Ledger(tmp_path / "state" / "ledger.sqlite3", clock=clock) as ledger:
        yield ledger


def job(
    job_id: str,
    *,
    stems: tuple[str, ...] = ("vocal",),
    created: float = T0,
    status: str = "submitted",
    sha: str = SHA,
    model: str = "gsep_music_hq_v1",
    host: str = HOST,
    fp: str = FP,
    expire_at: str | None = None,
    files: tuple[FileRecord, ...] = (),
) -> JobRecord:
    return JobRecord(
        job_id,
        f"up-{job_id}",
        sha,
        f"/music/{job_id}.wav",
        model,
        stems,
        host,
        fp,
        status,
        expire_at,
        None,
        created,
        created,
        files,
    )


def upload(upload_id: str, created: float, **kw: object) -> UploadRecord:
    fields: dict[str, object] = {
        "sha256": SHA,
        "size": 1234,
        "name": "song.wav",
        "api_host": HOST,
        "key_fp": FP,
    }
    fields.update(kw)
    return UploadRecord(upload_id=upload_id, created_at=created, **fields)  # type: ignore[arg-type]


def raw(path: Path) -> sqlite3.Connection:
    """A plain connection standing in for another process (usable from any thread)."""
    return sqlite3.connect(str(path), isolation_level=None, timeout=0.1, check_same_thread=False)


# ---- locations and identities -------------------------------------------------------------
def test_state_dir_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GSEP_STATE_DIR", str(tmp_path / "explicit"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    assert state_dir() == tmp_path / "explicit"
    monkeypatch.setenv("GSEP_STATE_DIR", "")
    assert state_dir() == tmp_path / "xdg" / "gsep"
    monkeypatch.delenv("GSEP_STATE_DIR")
    assert state_dir() == tmp_path / "xdg" / "gsep"
    monkeypatch.delenv("XDG_STATE_HOME")
    import platformdirs

    assert state_dir() == Path(platformdirs.user_state_dir("gsep", appauthor=False))
    monkeypatch.setenv("GSEP_STATE_DIR", "~/gsep-state")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert state_dir() == tmp_path / "home" / "gsep-state"


def test_default_path_is_in_state_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GSEP_STATE_DIR", str(tmp_path / "st"))
    with Ledger() as led:
        assert led.path == tmp_path / "st" / "ledger.sqlite3"
    assert (tmp_path / "st" / "ledger.sqlite3").is_file()


def test_key_fingerprint() -> None:
    import hashlib

    fp = key_fingerprint("my-key")
    assert fp == hashlib.sha256(b"gsep-key-fingerprint:my-key").hexdigest()[:16]
    assert len(fp) == 16 and int(fp, 16) >= 0
    assert fp != key_fingerprint("my-key2") and "my-key" not in fp


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("https://restapi.gaudiolab.io/developers/api", "https://restapi.gaudiolab.io"),
        ("HTTPS://RestAPI.GaudioLab.IO/developers/api/", "https://restapi.gaudiolab.io"),
        ("https://restapi.gaudiolab.io:443/x", "https://restapi.gaudiolab.io"),
        ("https://api.example.com:8443/x", "https://api.example.com:8443"),
        ("http://127.0.0.1:8080/developers/api", "http://127.0.0.1:8080"),
        ("http://localhost:80/developers/api", "http://localhost"),
        ("http://[::1]:9000/api", "http://[::1]:9000"),
        ("https://user:pw@host.example/api", "https://host.example"),
    ],
)
def test_api_host(url: str, host: str) -> None:
    assert api_host(url) == host


@pytest.mark.parametrize("url", ["", "not a url", "ftp://host/x", "https://host:notaport/"])
def test_api_host_rejects_non_http(url: str) -> None:
    with pytest.raises(Exception, match="not an http"):
        api_host(url)


# ---- files on disk ------------------------------------------------------------------------
@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_folder_0700_file_0600_under_umask_022(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        path = tmp_path / "deep" / "state" / "ledger.sqlite3"
        with Ledger(path) as led:
            led.record_job(job("j1"))
            assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
            assert stat.S_IMODE(path.stat().st_mode) == 0o600
            for side in ("-wal", "-shm"):
                extra = Path(str(path) + side)
                if extra.exists():
                    assert stat.S_IMODE(extra.stat().st_mode) & 0o077 == 0, side
    finally:
        os.umask(old)


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_an_existing_loose_file_gets_a_warning_not_a_chmod(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    Ledger(path).close()
    os.chmod(path, 0o644)
    with Ledger(path) as led:
        (warning,) = [w for w in led.warnings if "file" in w]
        assert "can be read by other users" in warning and "chmod 600" in warning
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions and symlinks")
def test_modes_are_never_changed_through_a_symlink_or_on_an_existing_folder(
    tmp_path: Path,
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o1777)
    target = tmp_path / "elsewhere"
    target.write_bytes(b"")
    os.chmod(target, 0o644)
    (shared / "ledger.sqlite3").symlink_to(target)
    with Ledger(shared / "ledger.sqlite3") as led:
        assert any("folder" in w and "1777" in w for w in led.warnings)
    assert stat.S_IMODE(shared.stat().st_mode) == 0o1777
    assert stat.S_IMODE(target.stat().st_mode) == 0o644  # not chmod'ed through the link


def test_wal_mode_and_schema_version(sqlite_led: Ledger) -> None:
    assert sqlite_led.path is not None
    with raw(sqlite_led.path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == ledger_mod.SCHEMA_VERSION
    conn.close()


def test_reopen_keeps_data(ledger_url: str, clock: Clock) -> None:
    with Ledger(url=ledger_url, clock=clock) as led:
        led.record_job(job("j1", stems=("drum", "vocal")))
    with Ledger(url=ledger_url, clock=clock) as led:
        found = led.get_job("j1")
    assert found is not None and found.stems == ("drum", "vocal")


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    Ledger(path).close()
    conn = raw(path)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(LedgerError, match="newer gsep") as info:
        Ledger(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    "garbage",
    [
        b"this is certainly not an sqlite database\n" * 200,
        b"SQLite format 3\x00" + bytes(range(256)) * 64,
        os.urandom(8192),
    ],
    ids=["text", "bad-header", "random"],
)
def test_corrupt_file_is_a_ledger_error_naming_the_path(tmp_path: Path, garbage: bytes) -> None:
    path = tmp_path / "ledger.sqlite3"
    path.write_bytes(garbage)
    with pytest.raises(LedgerError) as info:
        Ledger(path)
    err = info.value
    assert str(path) in err.message
    assert err.hint is not None and "Move it away" in err.hint and "new one" in err.hint
    assert err.exit_code == ExitCode.USAGE  # local state: exit 2, never 3 (the key)
    assert path.read_bytes() == garbage  # left alone for the user to inspect


def test_unopenable_path_is_a_ledger_error(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    path.mkdir()  # a folder where the file should be (works even as root)
    with pytest.raises(LedgerError, match="is a folder") as info:
        Ledger(path)
    assert str(path) in info.value.message and info.value.hint
    assert "mv " not in info.value.hint  # never "move it away": it never was a ledger


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="needs a non-root POSIX user")
def test_unreadable_file_is_a_ledger_error(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    Ledger(path).close()
    os.chmod(path, 0)
    try:
        with pytest.raises(LedgerError) as info:
            Ledger(path)
        assert str(path) in info.value.message
    finally:
        os.chmod(path, 0o600)


def test_closed_ledger_refuses_use(ledger_url: str) -> None:
    led = Ledger(url=ledger_url)
    led.close()
    led.close()  # idempotent
    with pytest.raises(ValueError, match="closed"):
        led.list_jobs()


def test_api_key_never_reaches_the_files(tmp_path: Path) -> None:
    key = "gsk_live_7f3a9c1e5b2d4f6a8c0e1b3d5f7a9c1e"
    fp = key_fingerprint(key)
    path = tmp_path / "ledger.sqlite3"

    def files_bytes() -> bytes:
        found = b""
        for name in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            if name.exists():
                found += name.read_bytes()
        return found

    with Ledger(path) as led:
        for i in range(20):
            led.record_upload(upload(f"u{i}", T0 + i, key_fp=fp))
            led.record_job(job(f"j{i}", fp=fp))
            led.update_job(f"j{i}", status="success", files=[FileRecord("vocal", "wav", "/o", 1)])
        assert Path(f"{path}-wal").exists()  # the writes are (also) in the WAL
        while_open = files_bytes()
    after_close = files_bytes()
    for blob in (while_open, after_close):
        assert fp.encode() in blob  # sanity: the search does look at the records
        assert key.encode() not in blob
        assert key.encode("utf-16-le") not in blob and key.encode("utf-16-be") not in blob


# ---- hashing ------------------------------------------------------------------------------
@pytest.fixture
def hash_reads(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Every path the ledger actually reads to hash."""
    reads: list[Path] = []
    real = hashes._hash_file

    def counting(path: Path) -> str:
        reads.append(path)
        return real(path)

    monkeypatch.setattr(hashes, "_hash_file", counting)
    return reads


def test_file_sha256_is_cached_per_file_version(
    led: Ledger, tmp_path: Path, hash_reads: list[Path]
) -> None:
    import hashlib

    song = tmp_path / "song.wav"
    content = os.urandom(3 * (1 << 20) + 17)  # more than one 1 MiB block
    song.write_bytes(content)
    first = led.file_sha256(song)
    assert first == hashlib.sha256(content).hexdigest()
    assert len(hash_reads) == 1
    assert led.file_sha256(song) == first
    assert led.file_sha256(tmp_path / "." / "song.wav") == first  # same absolute path
    assert len(hash_reads) == 1  # unchanged: not read again

    # new content of the same size and a new mtime: hashed again
    changed = bytes([content[0] ^ 0xFF]) + content[1:]
    song.write_bytes(changed)
    st = song.stat()
    os.utime(song, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    assert led.file_sha256(song) == hashlib.sha256(changed).hexdigest()
    assert len(hash_reads) == 2

    # only the mtime changes: hashed again (same digest)
    os.utime(song, ns=(st.st_atime_ns, st.st_mtime_ns + 9_000_000_000))
    assert led.file_sha256(song) == hashlib.sha256(changed).hexdigest()
    assert len(hash_reads) == 3
    assert led.file_sha256(song) == hashlib.sha256(changed).hexdigest()
    assert len(hash_reads) == 3


def test_file_sha256_rehashes_a_replaced_file_same_size_and_mtime(
    led: Ledger, tmp_path: Path, hash_reads: list[Path]
) -> None:
    import hashlib

    song = tmp_path / "song.wav"
    song.write_bytes(b"A" * 1000)
    st = song.stat()
    led.file_sha256(song)
    other = tmp_path / "other.tmp"
    other.write_bytes(b"B" * 1000)
    os.utime(other, ns=(st.st_atime_ns, st.st_mtime_ns))
    keep = tmp_path / "keep"  # hold the old inode so it cannot be reused by the rename
    os.link(song, keep)
    os.replace(other, song)  # same size, same mtime, new inode
    assert song.stat().st_ino != st.st_ino
    assert led.file_sha256(song) == hashlib.sha256(b"B" * 1000).hexdigest()
    assert len(hash_reads) == 2


def test_file_sha256_cache_survives_reopen(
    tmp_path: Path, hash_reads: list[Path], clock: Clock
) -> None:
    path = tmp_path / "ledger.sqlite3"
    song = tmp_path / "song.wav"
    song.write_bytes(b"x" * 5000)
    with Ledger(path, clock=clock) as led:
        digest = led.file_sha256(song)
    with Ledger(path, clock=clock) as led:
        assert led.file_sha256(song) == digest
    assert len(hash_reads) == 1


def test_file_sha256_missing_file_raises_oserror(led: Ledger, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        led.file_sha256(tmp_path / "nope.wav")


# ---- uploads ------------------------------------------------------------------------------
def test_find_upload_respects_age_host_key_and_size(led: Ledger, clock: Clock) -> None:
    led.record_upload(upload("old", T0))
    led.record_upload(upload("new", T0 + 1000))
    led.record_upload(upload("other-host", T0 + 1500, api_host="http://127.0.0.1:8080"))
    led.record_upload(upload("other-key", T0 + 1500, key_fp=key_fingerprint("other")))
    led.record_upload(upload("other-size", T0 + 1500, size=999))
    clock.now = T0 + 1200
    found = led.find_upload(SHA, 1234, HOST, FP, max_age=5000)
    assert found == UploadRecord("new", SHA, 1234, "song.wav", HOST, FP, T0 + 1000)
    assert led.find_upload(SHA, 1234, HOST, FP, max_age=200) == found  # boundary: age == 200
    assert led.find_upload(SHA, 1234, HOST, FP, max_age=199.5) is None
    clock.now = T0 + 1000 + 72 * 3600
    assert led.find_upload(SHA, 1234, HOST, FP, max_age=60) is None
    assert led.find_upload("cd" * 32, 1234, HOST, FP, max_age=1e9) is None
    other = led.find_upload(SHA, 1234, "http://127.0.0.1:8080", FP, max_age=1e9)
    assert other is not None and other.upload_id == "other-host"
    other = led.find_upload(SHA, 1234, HOST, key_fingerprint("other"), max_age=1e9)
    assert other is not None and other.upload_id == "other-key"


# ---- jobs ---------------------------------------------------------------------------------
def test_find_job_matches_stems_as_a_set_ignores_failed_picks_newest(led: Ledger) -> None:
    led.record_job(job("a", stems=("vocal", "drum"), created=T0 + 10, status="success"))
    led.record_job(job("b", stems=("drum", "vocal"), created=T0 + 20, status="failed"))
    led.record_job(job("c", stems=("vocal",), created=T0 + 30))
    led.record_job(job("d", stems=("drum", "vocal"), created=T0 + 40, host="http://127.0.0.1:1"))
    led.record_job(job("e", stems=("drum", "vocal"), created=T0 + 50, model="other_model"))
    led.record_job(job("f", stems=("drum", "vocal"), created=T0 + 60, fp=key_fingerprint("x")))
    led.record_job(job("g", stems=("drum", "vocal"), created=T0 + 70, sha="cd" * 32))
    found = led.find_job(SHA, "gsep_music_hq_v1", ["drum", "vocal"], HOST, FP)
    assert found is not None and found.job_id == "a"
    assert found.stems == ("vocal", "drum")  # the order given at record time
    assert led.find_job(SHA, "gsep_music_hq_v1", ("vocal", "drum"), HOST, FP) == found
    assert led.find_job(SHA, "gsep_music_hq_v1", ["vocal", "drum", "vocal"], HOST, FP) == found
    assert led.find_job(SHA, "gsep_music_hq_v1", ["drum"], HOST, FP) is None
    assert led.find_job(SHA, "gsep_music_hq_v1", ["vocal", "drum", "bass"], HOST, FP) is None
    c = led.find_job(SHA, "gsep_music_hq_v1", ["vocal"], HOST, FP)
    assert c is not None and c.job_id == "c"

    led.record_job(job("h", stems=("drum", "vocal"), created=T0 + 80, status="error"))
    newest = led.find_job(SHA, "gsep_music_hq_v1", ["vocal", "drum"], HOST, FP)
    assert newest is not None and newest.job_id == "h"  # only "failed" is skipped
    led.update_job("h", status="failed")
    again = led.find_job(SHA, "gsep_music_hq_v1", ["vocal", "drum"], HOST, FP)
    assert again is not None and again.job_id == "a"


def test_record_job_replaces_by_id(led: Ledger) -> None:
    led.record_job(job("a", stems=("vocal",)))
    led.record_job(job("a", stems=("bass", "drum"), status="success"))
    assert len(led.list_jobs(limit=None)) == 1
    got = led.get_job("a")
    assert got is not None and got.stems == ("bass", "drum") and got.status == "success"
    assert led.find_job(SHA, "gsep_music_hq_v1", ["vocal"], HOST, FP) is None


def test_record_round_trips_every_field(led: Ledger) -> None:
    rec = JobRecord(
        "job-1",
        "up-1",
        SHA,
        "/music/ünïcode song.wav",
        "gsep_music_hq_v1",
        ("vocal", "drum"),
        HOST,
        FP,
        "success",
        "2024-05-01T12:00:00Z",
        "boom",
        T0,
        T0 + 5,
        (FileRecord("vocal", "wav", "/out/vocal.wav", 10), FileRecord("drum", "mp3", "/o/d", 3)),
    )
    led.record_job(rec)
    assert led.get_job("job-1") == rec
    assert led.get_job("missing") is None
    stems: list[str] = ["vocal", "drum"]
    as_lists = dataclasses.replace(rec, stems=stems, files=list(rec.files))  # type: ignore[arg-type]
    assert as_lists == rec and hash(as_lists) == hash(rec)  # lists are turned into tuples


def test_update_job_changes_only_given_fields_and_merges_files(led: Ledger, clock: Clock) -> None:
    led.record_job(job("a", expire_at=None))
    clock.now = T0 + 100
    led.update_job("a", status="running")
    got = led.get_job("a")
    assert got is not None
    assert (got.status, got.expire_at, got.error, got.files) == ("running", None, None, ())
    assert (got.created_at, got.updated_at) == (T0, T0 + 100)

    clock.now = T0 + 200
    first = [FileRecord("vocal", "wav", "/o/vocal.wav", 10), FileRecord("drum", "wav", "/o/d", 5)]
    led.update_job("a", status="success", expire_at="2030-01-01T00:00:00Z", files=first)
    clock.now = T0 + 300
    second = [FileRecord("vocal", "wav", "/new/vocal.wav", 11), FileRecord("vocal", "mp3", "/m", 2)]
    led.update_job("a", files=second)
    got = led.get_job("a")
    assert got is not None
    assert got.status == "success" and got.expire_at == "2030-01-01T00:00:00Z"
    assert got.updated_at == T0 + 300 and got.error is None
    # one job's files may be in several folders: each (stem, format, path) is kept
    assert set(got.files) == {
        FileRecord("vocal", "wav", "/o/vocal.wav", 10),
        FileRecord("vocal", "wav", "/new/vocal.wav", 11),
        FileRecord("drum", "wav", "/o/d", 5),
        FileRecord("vocal", "mp3", "/m", 2),
    }
    led.update_job("a", files=[FileRecord("vocal", "wav", "/o/vocal.wav", 12, "ab" * 32)])
    got = led.get_job("a")
    assert got is not None
    assert FileRecord("vocal", "wav", "/o/vocal.wav", 12, "ab" * 32) in got.files  # replaced
    assert len(got.files) == 4
    led.update_job("a", error="timed out")
    got = led.get_job("a")
    assert got is not None and got.error == "timed out" and len(got.files) == 4

    led.update_job("nobody", status="success", files=first)  # unknown job: nothing happens
    assert led.get_job("nobody") is None


def test_list_jobs_newest_first_with_limit(led: Ledger) -> None:
    for i in range(60):
        led.record_job(job(f"j{i:02}", created=T0 + i))
    listed = led.list_jobs()
    assert len(listed) == 50
    assert [r.job_id for r in listed[:3]] == ["j59", "j58", "j57"]
    assert [r.job_id for r in led.list_jobs(limit=2)] == ["j59", "j58"]
    assert len(led.list_jobs(limit=None)) == 60
    assert led.list_jobs(limit=0) == []


def test_forget_jobs(led: Ledger) -> None:
    for i in range(5):
        led.record_job(job(f"j{i}"))
    assert led.forget_jobs(["j1", "j3", "j3", "nope"]) == 2
    assert sorted(r.job_id for r in led.list_jobs()) == ["j0", "j2", "j4"]
    assert led.forget_jobs([]) == 0
    assert led.forget_jobs(["j1"]) == 0
    many = [f"m{i}" for i in range(1200)]  # more than one DELETE chunk
    for job_id in many:
        led.record_job(job(job_id))
    assert led.forget_jobs(many) == 1200


def test_prune(led: Ledger, clock: Clock) -> None:
    now = T0 + 10 * 86400
    past = datetime.fromtimestamp(now - 60, tz=timezone.utc).isoformat()
    future = datetime.fromtimestamp(now + 3600, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    led.record_job(job("expired", expire_at=past, created=now - 3600))
    led.record_job(job("fresh", expire_at=future, created=now - 3600))
    led.record_job(job("no-expiry", created=now - 5 * 86400))
    led.record_job(job("garbage-expiry", expire_at="someday", created=now - 3600))
    led.record_upload(upload("u-old", now - 73 * 3600))
    led.record_upload(upload("u-new", now - 71 * 3600))
    clock.now = now
    assert led.prune() == 1  # "u-old"; no job goes by default, not even "expired"
    assert sorted(r.job_id for r in led.list_jobs()) == [
        "expired",
        "fresh",
        "garbage-expiry",
        "no-expiry",
    ]
    assert led.find_upload(SHA, 1234, HOST, FP, max_age=1e9) is not None
    assert led.prune(older_than=2 * 86400) == 1  # "no-expiry" untouched for 5 days
    assert sorted(r.job_id for r in led.list_jobs()) == ["expired", "fresh", "garbage-expiry"]
    assert led.prune() == 0
    clock.now = now + 2 * 86400
    assert led.prune() == 1  # "u-new" is past 72 h; the jobs stay
    assert led.prune(older_than=86400) == 3
    assert led.list_jobs() == []
    assert led.find_upload(SHA, 1234, HOST, FP, max_age=1e9) is None


def test_prune_leaves_another_runners_jobs_in_a_shared_ledger(led: Ledger, clock: Clock) -> None:
    """Another machine's files cannot be looked for from here: its old jobs stay, this
    host's (and those of a ledger from before runners were recorded) go."""
    import dataclasses
    import socket

    old = T0 - 30 * 86400
    for job_id, runner in (("mine", socket.gethostname()), ("theirs", "runner-b"), ("older", "")):
        led.record_job(dataclasses.replace(job(job_id, created=old), runner=runner))
    assert led.prune(older_than=86400) == 2
    assert [r.job_id for r in led.list_jobs()] == ["theirs"]


# ---- expire_at parsing --------------------------------------------------------------------
NOON = calendar.timegm((2024, 5, 1, 12, 0, 0))


@pytest.mark.parametrize(
    ("text", "epoch"),
    [
        ("2024-05-01T12:00:00Z", NOON),
        ("2024-05-01T12:00:00z", NOON),
        ("2024-05-01t12:00:00Z", NOON),
        ("2024-05-01T12:00:00+00:00", NOON),
        ("2024-05-01T12:00:00-00:00", NOON),
        ("2024-05-01T12:00:00+0000", NOON),
        ("2024-05-01T12:00:00+00", NOON),
        ("2024-05-01T12:00:00", NOON),
        ("2024-05-01 12:00:00", NOON),
        ("  2024-05-01T12:00:00Z\n", NOON),
        ("2024-05-01T12:00Z", NOON),
        ("2024-05-01T12Z", NOON),
        ("20240501T120000Z", NOON),
        ("20240501T1200", NOON),
        ("2024-05-01T14:00:00+02:00", NOON),
        ("2024-05-01T07:00:00-05:00", NOON),
        ("2024-05-01T17:45:00+05:45", NOON),
        ("2024-05-01T12:00:00.123Z", NOON + 0.123),
        ("2024-05-01T12:00:00.5", NOON + 0.5),
        ("2024-05-01T12:00:00,25+00:00", NOON + 0.25),
        ("2024-05-01T12:00:00.123456Z", NOON + 0.123456),
        ("2024-05-01T12:00:00.123456789Z", NOON + 0.123456789),
        ("2024-05-01T14:00:00.75+02:00", NOON + 0.75),
        ("2024-05-01", NOON - 12 * 3600),
        ("2024-04-30T24:00:00Z", NOON - 12 * 3600),
        ("2016-12-31T23:59:60Z", calendar.timegm((2017, 1, 1, 0, 0, 0))),
    ],
)
def test_expire_epoch_iso_forms(text: str, epoch: float) -> None:
    got = job("a", expire_at=text).expire_epoch()
    assert got is not None and got == pytest.approx(epoch, abs=1e-6)


@pytest.mark.parametrize(
    "text",
    [
        None,
        "",
        "   ",
        "soon",
        "null",
        "1714564800",
        "2024-13-01T00:00:00Z",
        "2024-02-30T00:00:00Z",
        "2024-05-01T25:00:00Z",
        "2024-05-01T12:61:00Z",
        "2024-05-01T12:00:00+25:00",
        "2024-05-01T12:00:00 UTC+1",
        "2024-05-01T12:00:00ZZ",
        "0000-01-01T00:00:00Z",
        "2024-05-01T12:00:00.Z",
        "May 1, 2024",
        "2024/05/01 12:00:00",
        "2024-05-01T12:00:00Z trailing",
        "\x00",
    ],
)
def test_expire_epoch_garbage_is_none(text: str | None) -> None:
    assert job("a", expire_at=text).expire_epoch() is None


def test_expire_epoch_never_raises_on_non_strings() -> None:
    rec = job("a")
    object.__setattr__(rec, "expire_at", 12345)
    assert rec.expire_epoch() is None


@settings(max_examples=200, deadline=None)
@given(
    moment=st.datetimes(
        min_value=datetime(1971, 1, 2),
        max_value=datetime(9998, 12, 30),
        timezones=st.builds(
            timezone, st.integers(-23 * 60 - 59, 23 * 60 + 59).map(lambda m: timedelta(minutes=m))
        ),
    ),
    zulu=st.booleans(),
)
def test_expire_epoch_round_trips_isoformat(moment: datetime, zulu: bool) -> None:
    text = moment.isoformat()
    if zulu:
        moment = moment.astimezone(timezone.utc)
        text = moment.replace(tzinfo=None).isoformat() + "Z"
    got = job("a", expire_at=text).expire_epoch()
    assert got is not None and got == pytest.approx(moment.timestamp(), abs=1e-5)


# ---- concurrency --------------------------------------------------------------------------
def test_eight_threads_record_and_update_200_jobs(led: Ledger, tmp_path: Path) -> None:
    songs = []
    for i in range(8):
        song = tmp_path / f"song{i}.wav"
        song.write_bytes(os.urandom(50_000))
        songs.append(song)

    def work(i: int) -> str:
        job_id = f"job-{i:03}"
        sha = led.file_sha256(songs[i % 8])
        led.record_upload(upload(f"up-{i}", T0 + i, sha256=sha))
        led.record_job(job(job_id, sha=sha, created=T0 + i, stems=("vocal", "drum")))
        led.update_job(job_id, status="running")
        led.update_job(job_id, files=[FileRecord("vocal", "wav", f"/o/{i}/vocal.wav", i)])
        led.update_job(job_id, status="success", expire_at="2030-01-01T00:00:00Z")
        led.update_job(job_id, files=[FileRecord("drum", "wav", f"/o/{i}/drum.wav", i)])
        # everyone also adds one file to a shared job: the read-merge-write must be atomic
        led.update_job("shared", files=[FileRecord(f"s{i}", "wav", f"/s/{i}", i)])
        found = led.find_job(sha, "gsep_music_hq_v1", ["drum", "vocal"], HOST, FP)
        assert found is not None
        return job_id

    led.record_job(job("shared", created=T0 - 1))
    with ThreadPoolExecutor(max_workers=8) as pool:
        done = list(pool.map(work, range(200)))
    assert len(set(done)) == 200
    records = {r.job_id: r for r in led.list_jobs(limit=None)}
    assert len(records) == 201
    for i in range(200):
        rec = records[f"job-{i:03}"]
        assert rec.status == "success" and rec.expire_at == "2030-01-01T00:00:00Z"
        assert sorted((f.stem, f.bytes) for f in rec.files) == [("drum", i), ("vocal", i)]
    assert len(records["shared"].files) == 200


_WORKER = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    from gsep_cli.ledger import FileRecord, JobRecord, Ledger

    path, tag, go = sys.argv[1], sys.argv[2], sys.argv[3]
    deadline = time.monotonic() + 30
    while not os.path.exists(go) and time.monotonic() < deadline:
        time.sleep(0.002)
    with Ledger(url=path) as led:  # both processes may create the ledger at once
        for i in range(100):
            now = time.time()
            job_id = f"{tag}-{i:03}"
            led.record_job(JobRecord(job_id, "up", "sha", "/in.wav", "m", ("vocal",),
                                     "https://h", "fp", "submitted", None, None, now, now, ()))
            led.update_job(job_id, status="success",
                           files=[FileRecord("vocal", "wav", f"/o/{job_id}", i)])
            led.update_job("shared", files=[FileRecord(job_id, "wav", "/s", i)])
    print("done", tag)
    """
)


def test_two_processes_record_100_jobs_each(tmp_path: Path, ledger_url: str) -> None:
    path = ledger_url.replace("ledger.sqlite3", "shared/ledger.sqlite3")
    go = tmp_path / "go"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, str(path), tag, str(go)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for tag in ("p1", "p2")
    ]
    time.sleep(0.3)  # let both start and wait at the barrier
    go.touch()
    outputs = [p.communicate(timeout=120) for p in procs]
    for p, (out, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, err
        assert out.startswith("done")
    with Ledger(url=path) as led:
        records = led.list_jobs(limit=None)
    ids = {r.job_id for r in records}
    assert len(records) == 200 and len(ids) == 200
    assert {f"p{n}-{i:03}" for n in (1, 2) for i in range(100)} == ids
    assert all(r.status == "success" and len(r.files) == 1 for r in records)


def test_two_processes_merge_files_into_one_job(tmp_path: Path, ledger_url: str) -> None:
    """The shared job's file list is read-merged-written by both processes at once."""
    path = ledger_url
    go = tmp_path / "go"
    with Ledger(url=path) as led:
        led.record_job(job("shared"))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, str(path), tag, str(go)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for tag in ("a", "b")
    ]
    time.sleep(0.3)
    go.touch()
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    with Ledger(url=path) as led:
        shared = led.get_job("shared")
        assert len(led.list_jobs(limit=None)) == 201
    assert shared is not None and len(shared.files) == 200


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_forked_child_gets_its_own_connection(led: Ledger) -> None:
    led.record_job(job("parent"))
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        code = 1
        try:
            led.record_job(job("child"))
            code = 0 if led.get_job("parent") is not None else 2
            led.close()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert led.get_job("child") is not None  # the parent's connection still works
    led.record_job(job("parent-again"))
    assert len(led.list_jobs()) == 3


def test_locked_database_gives_a_clear_ledger_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(SqliteEngine, "lock_timeout", 0.5)
    path = tmp_path / "ledger.sqlite3"
    led = Ledger(path)
    other = raw(path)
    other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    try:
        started = time.monotonic()
        with pytest.raises(LedgerError) as info:
            led.record_job(job("a"))
        waited = time.monotonic() - started
        assert 0.4 <= waited < 3.0
        assert "locked by another gsep process" in info.value.message
        assert str(path) in info.value.message
        assert led.list_jobs() == []  # reads still work while a writer holds the lock
    finally:
        other.execute("ROLLBACK")
        other.close()
    led.record_job(job("a"))  # usable again once the lock is gone
    assert led.get_job("a") is not None
    led.close()


def test_write_waits_for_a_short_lock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(SqliteEngine, "lock_timeout", 5.0)
    path = tmp_path / "ledger.sqlite3"
    with Ledger(path) as led:
        other = raw(path)
        other.execute("BEGIN IMMEDIATE")

        def unlock() -> None:
            other.execute("COMMIT")
            other.close()

        release = threading.Timer(0.3, unlock)
        release.start()
        started = time.monotonic()
        led.record_job(job("a"))
        assert time.monotonic() - started >= 0.2
        release.join()
        assert led.get_job("a") is not None


def test_retry_backoff_on_busy_errors_sqlite_does_not_wait_for(
    sqlite_led: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Some SQLITE_BUSY answers skip the busy handler; the ledger retries those itself."""
    led = sqlite_led
    calls = {"n": 0}

    def flaky() -> str:
        calls["n"] += 1
        if calls["n"] < 4:
            raise sqlite3.OperationalError("database is locked")
        return "ok"

    assert led._engine._attempts(flaky) == "ok" and calls["n"] == 4

    monkeypatch.setattr(led._engine, "lock_timeout", 0.2)
    started = time.monotonic()

    def always_locked() -> None:
        raise sqlite3.OperationalError("database is locked")

    with pytest.raises(LedgerError, match="locked by another gsep process"):
        led._engine._attempts(always_locked)
    assert time.monotonic() - started < 1.0


def test_every_write_is_one_immediate_transaction(sqlite_led: Ledger) -> None:
    led = sqlite_led
    led.record_job(job("a"))
    statements: list[str] = []
    assert led._engine._conn is not None
    led._engine._conn.set_trace_callback(statements.append)
    led.update_job("a", status="success", files=[FileRecord("vocal", "wav", "/o", 1)])
    led.record_upload(upload("u", T0))
    led.forget_jobs(["zzz"])
    led.prune()
    led._engine._conn.set_trace_callback(None)
    firsts = [s.split()[0].upper() for s in statements]
    assert firsts.count("BEGIN") == 4 and firsts.count("COMMIT") == 4
    assert all(s.upper() == "BEGIN IMMEDIATE" for s in statements if s.upper().startswith("BEGIN"))
    begin, commit = firsts.index("BEGIN"), firsts.index("COMMIT")
    inside = firsts[begin + 1 : commit]
    assert inside == ["SELECT", "UPDATE"]  # the files merge reads and writes in one transaction
