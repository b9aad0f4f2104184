"""Issue 20: one read of the file per upload, hashing beside the sending.

The part body reads one block ahead and takes the MD5 on a helper thread
(``gsep_cli.blockread``); what was sent is checked against the content the ledger knows
the file by through the block map taken with its SHA-256 (``gsep_cli.blockmap``), not by
reading the file again. The kinds proven here: any stretch of any file comes out whole and
in order whatever the read sizes, and its digests are those of its bytes; any change to
what a part sent is told by the map; an edit the metadata cannot see is still refused on
this path; and where no map applies, the old second read still guards the money.
"""

from __future__ import annotations

import hashlib
import mmap
import os
import sqlite3
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from clitools import Run, make_wav
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from paidtools import counts

from gsep_cli import sentcheck
from gsep_cli.blockmap import MAP_BLOCK, BlockMapper, blocks_in, part_differs, well_formed
from gsep_cli.blockread import BlockReader, ShortRead
from gsep_cli.claims import this_process
from gsep_cli.client import GsepClient
from gsep_cli.errors import InputChanged
from gsep_cli.fileid import FileIdentity
from gsep_cli.fileslice import FileSlice
from gsep_cli.ledger import Ledger, schema
from gsep_cli.onrecord import upload_on_record
from gsep_cli.records import path_key
from gsep_cli.sandbox import Sandbox

FIXTURE = HealthCheck.function_scoped_fixture  # tmp_path is reused: each example writes anew
SMALL_MAP = 64  # a map block size small enough for hypothesis to cross many boundaries


def _map_of(data: bytes, block: int) -> bytes:
    """The block map of ``data`` as blockmap documents it: the first 16 bytes of each
    block's SHA-256."""
    return b"".join(
        hashlib.sha256(data[i : i + block]).digest()[:16] for i in range(0, len(data), block)
    )


# ---- the block map ----------------------------------------------------------------------
@given(st.binary(max_size=5000), st.lists(st.integers(1, 700), max_size=30))
@settings(max_examples=200, deadline=None)
def test_a_map_taken_in_any_pieces_is_the_map_of_the_whole(data: bytes, cuts: list[int]) -> None:
    mapper = BlockMapper(SMALL_MAP)
    at = 0
    for cut in cuts:
        mapper.update(memoryview(data)[at : at + cut])
        at += cut
    mapper.update(data[at:])
    assert mapper.value() == _map_of(data, SMALL_MAP)
    assert len(mapper.value()) == 16 * blocks_in(len(data), SMALL_MAP)


@given(st.binary(min_size=1, max_size=4000), st.integers(1, 20), st.data())
@settings(max_examples=300, deadline=None)
def test_any_change_to_what_a_part_sent_is_told(
    data: bytes, chunk_blocks: int, draw: st.DataObject
) -> None:
    """Parts on block boundaries: each part's map is the file map's slice there, and any
    change to one part's bytes (here up to 4 bytes anywhere in it) makes that part
    differ."""
    chunk = chunk_blocks * SMALL_MAP
    file_map = _map_of(data, SMALL_MAP)
    for offset in range(0, len(data), chunk):
        piece = data[offset : offset + chunk]
        sent = _map_of(piece, SMALL_MAP)
        assert not part_differs(file_map, offset, len(piece), sent, SMALL_MAP)
    offset = draw.draw(st.sampled_from(range(0, len(data), chunk)))
    changed = bytearray(data[offset : offset + chunk])
    places = draw.draw(st.lists(st.integers(0, len(changed) - 1), min_size=1, max_size=4))
    for at in places:
        changed[at] ^= draw.draw(st.integers(1, 255))
    if bytes(changed) == data[offset : offset + chunk]:  # two flips undid each other
        return
    sent = _map_of(bytes(changed), SMALL_MAP)
    assert part_differs(file_map, offset, len(changed), sent, SMALL_MAP)


def test_maps_that_cannot_belong_to_the_file_are_not_used() -> None:
    assert blocks_in(0) == 0 and blocks_in(1) == 1 and blocks_in(MAP_BLOCK + 1) == 2
    assert well_formed(b"", 0) and not well_formed(None, 0)
    assert not well_formed(b"\0" * 16, 2 * MAP_BLOCK)  # too short for the file
    assert not well_formed(b"\0" * 8, 2 * MAP_BLOCK)  # a CRC-32 map of an early build
    two = b"\0" * 32
    assert sentcheck.blocks_checkable(two, 2 * MAP_BLOCK, MAP_BLOCK)
    assert sentcheck.blocks_checkable(two, 2 * MAP_BLOCK, 5 * MAP_BLOCK)  # one part
    assert not sentcheck.blocks_checkable(two, 2 * MAP_BLOCK, MAP_BLOCK + 1)  # unaligned
    assert not sentcheck.blocks_checkable(None, 2 * MAP_BLOCK, MAP_BLOCK)


def test_a_part_missing_its_map_differs() -> None:
    file_map = b"\1\2\3\4" * 12
    sent = {1: b"\1\2\3\4" * 8}
    assert (
        sentcheck.blocks_differ(file_map, 3 * MAP_BLOCK, 2 * MAP_BLOCK, sent)
        == "part 2 as sent differs from the content that was hashed"
    )


# ---- reading ahead ----------------------------------------------------------------------
def _live_readers() -> int:
    return sum(1 for t in threading.enumerate() if t.name == "gsep-read")


@given(
    st.binary(max_size=3000),
    st.integers(1, 257),
    st.data(),
)
@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_any_stretch_comes_out_whole_in_order_and_hashed(
    tmp_path: Path, data: bytes, block: int, draw: st.DataObject
) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    offset = draw.draw(st.integers(0, len(data)))
    length = draw.draw(st.integers(0, len(data) - offset))
    seen = hashlib.md5()
    out = bytearray()
    reader = BlockReader(path.open("rb"), offset, length, [seen.update], block=block)
    try:
        while (view := reader.next()) is not None:
            assert 0 < len(view) <= block
            out += view
    finally:
        assert reader.close()
    assert bytes(out) == data[offset : offset + length]
    assert seen.hexdigest() == hashlib.md5(data[offset : offset + length]).hexdigest()
    assert reader.next() is None  # after the end: nothing more, never a hang


def test_a_file_that_ends_early_is_said_and_the_helper_ends(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"x" * 1000)
    reader = BlockReader(path.open("rb"), 0, 5000, block=256)
    got = 0
    with pytest.raises(ShortRead) as info:
        while (view := reader.next()) is not None:
            got += len(view)
    assert got == 768 and info.value.missing == 4000  # the short block is not handed out
    assert reader.close()


def test_closing_early_stops_the_helper_and_reading_after_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(os.urandom(64 * 1024))
    before = _live_readers()
    readers = [BlockReader(path.open("rb"), 0, 64 * 1024, block=1024) for _ in range(20)]
    for reader in readers:
        assert reader.next() is not None
        assert reader.close()  # the helper was waiting for a free buffer
        with pytest.raises(ValueError, match="closed"):
            reader.next()
    assert _live_readers() == before


def test_a_digest_that_fails_is_raised_to_the_reader(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"y" * 4096)

    def broken(view: memoryview) -> None:
        raise OSError("disk said no")

    reader = BlockReader(path.open("rb"), 0, 4096, [broken], block=1024)
    with pytest.raises(OSError, match="disk said no"):
        reader.next()
    assert reader.close()


@given(st.binary(min_size=1, max_size=6000), st.lists(st.integers(0, 900), max_size=40))
@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_a_part_body_gives_its_bytes_exactly_whatever_the_read_sizes(
    tmp_path: Path, data: bytes, sizes: list[int]
) -> None:
    """What requests reads (any sizes, then to the end) is the slice; progress counts
    each byte once; the MD5 and the block map are those of the slice."""
    path = tmp_path / "s.bin"
    path.write_bytes(data)
    counted: list[int] = []
    body = FileSlice(path, 0, len(data), on_read=counted.append, map_blocks=True)
    out = bytearray()
    try:
        for size in sizes:
            piece = body.read(size)
            assert len(piece) <= size
            out += piece
            assert body.tell() == len(out)
        while piece := body.read(1 << 20):
            out += piece
    finally:
        body.close()
    assert bytes(out) == data and sum(counted) == len(data)
    assert body.md5.hexdigest() == hashlib.md5(data).hexdigest()
    assert body.block_map() == _map_of(data, MAP_BLOCK)


# ---- the upload, checked against the map --------------------------------------------------
def _no_second_read(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Make the fallback (reading the file again) fail the test if it runs."""
    reads: list[Path] = []

    def counted(path: Path, *args: object, **kwargs: object) -> str | None:
        reads.append(path)
        raise AssertionError("the file was read a second time")

    monkeypatch.setattr(sentcheck, "sent_differs", counted)
    return reads


def _file(path: Path, size: int) -> Path:
    block = os.urandom(1 << 16)
    path.write_bytes((block * (size // len(block) + 1))[:size])
    return path


@pytest.mark.parametrize(
    ("size", "chunk"),
    [
        (3 * MAP_BLOCK + 5, 64 * MAP_BLOCK),  # one part: always on a boundary
        (3 * MAP_BLOCK + 5, MAP_BLOCK),  # four parts, the last short
        (2 * MAP_BLOCK, MAP_BLOCK),  # two parts, the last full
        (0, MAP_BLOCK),  # an empty file: one empty part
    ],
)
def test_an_upload_on_record_is_checked_without_reading_the_file_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: int, chunk: int
) -> None:
    song = _file(tmp_path / "s.wav", size)
    reads = _no_second_read(monkeypatch)
    with Ledger(tmp_path / "l.sqlite3") as ledger, Sandbox(job_seconds=0, chunk_size=chunk) as sb:
        _, version = ledger.file_digest(song)
        assert ledger.block_map(song, version) == _map_of(song.read_bytes(), MAP_BLOCK)
        with GsepClient(sb.base_url, "k-map-1", parallel=2) as client:
            upload_id = upload_on_record(client, ledger, song, "h", "fp", print)
        assert sb.store.get_upload(upload_id).completed is not None
    assert reads == []


def test_without_a_map_or_on_unaligned_parts_the_file_is_read_again(tmp_path: Path) -> None:
    song = _file(tmp_path / "s.wav", 2 * MAP_BLOCK + 100)
    with Ledger(tmp_path / "l.sqlite3") as ledger:
        sha, version = ledger.file_digest(song)
        block_map = ledger.block_map(song, version)
    calls: list[int] = []
    real = sentcheck.sent_differs

    def counted(*args: object, **kwargs: object) -> str | None:
        calls.append(1)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    for chunk, given_map in [(MAP_BLOCK + 1, block_map), (MAP_BLOCK, None)]:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(sentcheck, "sent_differs", counted)
            with (
                Sandbox(job_seconds=0, chunk_size=chunk) as sb,
                GsepClient(sb.base_url, "k-map-2") as client,
            ):
                client.upload_file(song, identity=version, sha256=sha, block_map=given_map)
    assert calls == [1, 1]


@pytest.mark.skipif(sys.platform != "linux", reason="mmap writes that leave mtime alone")
@pytest.mark.parametrize(
    ("size", "chunk", "slow_part"),
    [
        (24 * MAP_BLOCK, 64 * MAP_BLOCK, 1),  # one part: the edit lands ahead of the reading
        (20 * MAP_BLOCK, 8 * MAP_BLOCK, 2),  # three parts in a row: the last one changes
    ],
)
def test_an_edit_the_metadata_cannot_see_is_refused_on_the_map(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: int, chunk: int, slow_part: int
) -> None:
    """Pages already dirty take a write through mmap without a new mtime or ctime; the
    map taken with the hash tells, with no second read, and nothing is completed."""
    song = _file(tmp_path / "m.wav", size)
    reads = _no_second_read(monkeypatch)
    with open(song, "r+b") as fh, mmap.mmap(fh.fileno(), size) as mapped:
        mapped[:] = bytes(mapped)  # dirty every page now, before anything is read
        with Ledger(tmp_path / "l.sqlite3") as ledger:
            sha, version = ledger.file_digest(song)
            block_map = ledger.block_map(song, version)
        assert block_map is not None
        fault = f"part-slow:{slow_part}:1.5"
        with Sandbox(job_seconds=0, chunk_size=chunk, faults=[fault]) as sb:

            def edit() -> None:
                deadline = time.monotonic() + 20
                while not any(
                    e["method"] == "PUT" and e["path"].endswith(f"/{slow_part}")
                    for e in sb.requests
                ):
                    if time.monotonic() > deadline:
                        return
                    time.sleep(0.01)
                mapped[size - 1000 : size - 10] = os.urandom(990)  # the file's end changes

            before = song.stat()
            editor = threading.Thread(target=edit)
            editor.start()
            refused = pytest.raises(InputChanged, match="differs from the content that was hashed")
            with GsepClient(sb.base_url, "k-mmap-2", parallel=1) as client, refused:
                client.upload_file(song, identity=version, sha256=sha, block_map=block_map)
            editor.join()
            completes = [e for e in sb.requests if e["path"].endswith("/complete")]
    assert (before.st_mtime_ns, before.st_size) == (song.stat().st_mtime_ns, song.stat().st_size)
    assert completes == [] and reads == []


# ---- the map in the ledger ----------------------------------------------------------------
def test_the_map_is_kept_with_the_hash_on_both_databases(ledger_url: str, tmp_path: Path) -> None:
    song = _file(tmp_path / "s.wav", MAP_BLOCK + 17)
    with Ledger(url=ledger_url) as ledger:
        sha, version = ledger.file_digest(song)
        assert sha == hashlib.sha256(song.read_bytes()).hexdigest()
        assert ledger.block_map(song, version) == _map_of(song.read_bytes(), MAP_BLOCK)
    with Ledger(url=ledger_url) as ledger:  # from the cache: nothing read again
        assert ledger.file_digest(song) == (sha, version)
        assert ledger.block_map(song, version) == _map_of(song.read_bytes(), MAP_BLOCK)
        song.write_bytes(song.read_bytes() + b"more")
        assert ledger.block_map(song, version) == _map_of(
            song.read_bytes()[: MAP_BLOCK + 17], MAP_BLOCK
        )  # the version asked for is the one hashed: still its map
        assert ledger.block_map(song, FileIdentity.of(song)) is None  # not hashed yet
        written = tmp_path / "written.wav"
        written.write_bytes(b"stem")
        ledger.cache_hash(written, hashlib.sha256(b"stem").hexdigest())
        assert ledger.block_map(written, FileIdentity.of(written)) is None  # gsep wrote it


def test_a_schema_4_ledger_keeps_its_hashes_and_falls_back_to_a_second_read(
    tmp_path: Path,
) -> None:
    """A hash cached by a gsep before the map: used as it is (no rehash), no map, and the
    upload is checked by reading the file again."""
    song = _file(tmp_path / "s.wav", 5000)
    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path)
    for version in range(1, 5):
        for statement in schema.MIGRATIONS[version]:
            conn.execute(statement)
    conn.execute("PRAGMA user_version = 4")
    version = FileIdentity.of(song)  # the row a schema-4 gsep wrote
    host, key = this_process().host, path_key(str(song.resolve()))
    conn.execute(
        "INSERT INTO file_hashes (host, path, size, mtime_ns, inode, sha256, hashed_at, "
        "ctime_ns) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            host,
            key,
            version.size,
            version.mtime_ns,
            version.inode,
            "ab" * 32,
            1.0,
            version.ctime_ns,
        ),
    )
    conn.commit()
    conn.close()
    with Ledger(path) as ledger:
        assert ledger.file_digest(song)[0] == "ab" * 32  # the old row, not a rehash
        assert ledger.block_map(song, version) is None


# ---- the send step ------------------------------------------------------------------------
@given(
    st.lists(st.integers(1, 5 << 19), min_size=1, max_size=5),
    st.lists(st.integers(1, 3 << 20), min_size=1, max_size=40),
)
@settings(max_examples=100, deadline=None)
def test_a_guarded_body_counts_what_the_kernel_takes(bodies: list[int], takes: list[int]) -> None:
    """However much the socket takes per call (a slow link: a few bytes; a fast one: the
    whole offer), every byte is sent once and in order, no call is offered more than
    SEND_STEP, and each call's count reaches the guard at once: progress on a slow link
    is never held back until a whole piece is through."""
    from gsep_cli import watchdog

    wire = bytearray()
    offers: list[int] = []
    reported: list[int] = []

    class Socket:
        def send(self, data: memoryview) -> int:
            offers.append(len(data))
            taken = min(len(data), takes[len(offers) % len(takes)])
            wire.extend(data[:taken])
            return taken

    class Wire:  # http.client's send, never reached when a socket is there
        def send(self, data: object) -> None:
            raise AssertionError("sent through http.client's sendall")

    class Connection(watchdog._Tracked, Wire):  # type: ignore[misc]
        sock = Socket()

    expected = b"".join(os.urandom(size) for size in bodies)
    with watchdog.guarding() as guard:  # no bound: no monitor thread; counting still runs
        guard.progress = reported.append  # type: ignore[method-assign]
        at = 0
        for size in bodies:
            Connection().send(expected[at : at + size])
            at += size
    assert bytes(wire) == expected
    assert all(offer <= watchdog.SEND_STEP for offer in offers)
    assert sum(reported) == len(expected) and len(reported) == len(offers)


def test_read_ahead_stays_within_its_budget_however_many_parts() -> None:
    from gsep_cli.blockread import BLOCK, BUFFERS
    from gsep_cli.upload_parts import READ_AHEAD_BUDGET, read_ahead_block

    assert read_ahead_block(1) == read_ahead_block(4) == BLOCK
    for workers in range(1, 17):
        block = read_ahead_block(workers)
        assert 256 * 1024 <= block <= BLOCK
        assert block * BUFFERS * workers <= max(READ_AHEAD_BUDGET, 256 * 1024 * BUFFERS * workers)


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="mmap writes that leave mtime alone")
def test_a_separate_refused_for_an_unseen_edit_works_when_run_again(
    tmp_path: Path, env: dict[str, str], gsep: Callable[..., Run]
) -> None:
    """The batch's upload path: a hash cached by an earlier run that uploaded nothing,
    then an edit through mmap that leaves the metadata alone. `gsep separate` is refused
    (exit 2, nothing paid); run again with nothing writing, it hashes the file anew and
    pays once."""
    song = make_wav(tmp_path / "e.wav", seconds=2.0)
    size = song.stat().st_size
    with (
        open(song, "r+b") as fh,
        mmap.mmap(fh.fileno(), size) as mapped,
        Sandbox(job_seconds=0, chunk_size=MAP_BLOCK) as sb,
    ):
        mapped[:] = bytes(mapped)  # dirty every page now: later writes leave mtime alone
        env["GSEP_BASE_URL"] = sb.base_url
        # an earlier run hashed the file, then failed before uploading it (API down)
        with Ledger(Path(env["GSEP_STATE_DIR"]) / "ledger.sqlite3") as ledger:
            ledger.file_digest(song)
        before = song.stat()
        mapped[size - 500 : size - 100] = os.urandom(400)
        assert song.stat().st_mtime_ns == before.st_mtime_ns
        refused = gsep(["separate", "e.wav", "-s", "vocal", "-o", "out"])
        assert refused.code == 2, str(refused)
        assert "as sent differs from the content that was hashed" in refused.err
        assert counts(sb)[1] == 0
        again = gsep(["separate", "e.wav", "-s", "vocal", "-o", "out"])
        assert again.code == 0, str(again)
        assert counts(sb)[1] == 1
