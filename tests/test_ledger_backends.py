"""One ledger, two databases: any sequence of ledger operations gives the same answers
on SQLite and on PostgreSQL (a differential property test; tests/test_ledger.py and
tests/test_claims.py run their cases on both backends too).

The operations are the ledger's public methods, drawn with small value sets so that they
meet: the same job ids, contents and stem sets come back, jobs are replaced, updated,
forgotten and pruned, uploads found again by age, creations left unconfirmed and
abandoned. Both ledgers share one clock, so their time stamps agree exactly.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gsep_cli.ledger import FileRecord, JobRecord, Ledger, UploadRecord

HOSTS = ("https://restapi.gaudiolab.io", "http://127.0.0.1:9")
MODELS = ("gsep_music_hq_v1", "gsep_speech_hq_v1")
STEMS = ("vocal", "drum", "bass", "piano")
TABLES = ("claims", "jobs", "uploads", "file_hashes", "job_times")


class Clock:
    """A clock both ledgers read: each call a little later."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        self.now += 0.5
        return self.now


@pytest.fixture
def pair(tmp_path: Path, pg_url: str) -> Iterator[tuple[Ledger, Ledger, Clock]]:
    clock = Clock()
    with (
        Ledger(tmp_path / "ledger.sqlite3", clock=clock) as lite,
        Ledger(url=pg_url, clock=clock) as pg,
    ):
        yield lite, pg, clock


def _wipe(ledger: Ledger) -> None:
    def clear(conn: Any) -> None:
        for table in TABLES:
            conn.execute(f"DELETE FROM {table}")

    ledger._run(clear, write=True)


texts = st.text(st.characters(min_codepoint=32, max_codepoint=0x2FFF), max_size=12)
job_ids = st.sampled_from(["j1", "j2", "j3", "j4"])
contents = st.sampled_from(["a" * 64, "b" * 64, "c" * 64])
stem_sets = st.lists(st.sampled_from(STEMS), min_size=1, max_size=3, unique=True)
statuses = st.sampled_from(["submitted", "running", "success", "failed", "abandoned"])
files = st.lists(
    st.builds(
        FileRecord,
        st.sampled_from(STEMS),
        st.sampled_from(["wav", "mp3", "flac"]),
        st.sampled_from(["/o/a", "/o/b", "/p/a"]),
        st.integers(0, 2**40),
    ),
    max_size=3,
)
work = st.tuples(contents, st.sampled_from(MODELS), stem_sets, st.sampled_from(HOSTS))

operations = st.one_of(
    st.tuples(
        st.just("record_job"), job_ids, work, statuses, st.floats(0, 1e9, allow_nan=False), files
    ),
    st.tuples(st.just("update_job"), job_ids, st.none() | statuses, st.none() | texts, files),
    st.tuples(st.just("forget_jobs"), st.lists(job_ids, max_size=3)),
    st.tuples(st.just("find_job"), work),
    st.tuples(st.just("done_jobs"), work),
    st.tuples(st.just("list_jobs"), st.none() | st.integers(1, 5)),
    st.tuples(st.just("get_job"), job_ids),
    st.tuples(st.just("record_upload"), st.sampled_from(["u1", "u2"]), contents, st.integers(1, 9)),
    st.tuples(st.just("find_upload"), contents, st.integers(1, 9), st.floats(0, 10)),
    st.tuples(st.just("unconfirmed"), work),
    st.tuples(st.just("abandon"), work),
    st.tuples(st.just("prune"), st.none() | st.floats(0, 100)),
    st.tuples(st.just("job_time"), st.sampled_from(MODELS), st.floats(0.1, 100)),
)


def _apply(ledger: Ledger, op: tuple[Any, ...], clock: Clock, placeholders: dict[str, str]) -> Any:
    """Run one operation; the answer, with unconfirmed placeholders (random) named by
    their order of appearance so the two ledgers' answers compare."""
    name = op[0]
    if name == "record_job":
        _, job_id, (content, model, stems, host), status, created, written = op
        ledger.record_job(_job(job_id, content, model, stems, host, status, created, written))
        return None
    if name == "update_job":
        _, job_id, status, error, written = op
        ledger.update_job(job_id, status=status, error=error, files=written or None)
        return None
    if name == "forget_jobs":
        return ledger.forget_jobs(op[1])
    if name in ("find_job", "done_jobs", "unconfirmed", "abandon"):
        content, model, stems, host = op[1]
        match = (content, model, stems, host, "fp")
        if name == "find_job":
            return _named(ledger.find_job(*match), placeholders)
        if name == "done_jobs":
            return [_named(r, placeholders) for r in ledger.done_jobs(*match)]
        if name == "abandon":
            return ledger.abandon_unconfirmed(*match)
        now = clock.now
        rec = _job("", content, model, stems, host, "unconfirmed", now, [])
        placeholder = ledger.record_unconfirmed(None, rec)
        placeholders.setdefault(placeholder, f"placeholder-{len(placeholders)}")
        return placeholders[placeholder]
    if name == "list_jobs":
        return [_named(r, placeholders) for r in ledger.list_jobs(limit=op[1])]
    if name == "get_job":
        return _named(ledger.get_job(op[1]), placeholders)
    if name == "record_upload":
        _, upload_id, content, size = op
        ledger.record_upload(
            UploadRecord(upload_id, content, size, "a.wav", HOSTS[0], "fp", clock.now)
        )
        return None
    if name == "find_upload":
        _, content, size, age = op
        return ledger.find_upload(content, size, HOSTS[0], "fp", max_age=age)
    if name == "prune":
        return ledger.prune(older_than=op[1])
    if name == "job_time":
        ledger.add_job_time(HOSTS[0], op[1], (None, op[2], None))
        return ledger.job_times(HOSTS[0], op[1], 40)
    raise AssertionError(name)


def _job(
    job_id: str,
    content: str,
    model: str,
    stems: list[str],
    host: str,
    status: str,
    created: float,
    written: list[FileRecord],
) -> JobRecord:
    return JobRecord(
        job_id, "up", content, "/in/a.wav", model, tuple(stems), host, "fp", status,
        None, None, created, created, tuple(written), "runner-x",
    )  # fmt: skip


def _named(record: JobRecord | None, placeholders: dict[str, str]) -> JobRecord | None:
    if record is None or record.job_id not in placeholders:
        return record
    return JobRecord(
        placeholders[record.job_id],
        *[getattr(record, f) for f in JobRecord.__dataclass_fields__][1:],
    )


@pytest.mark.slow
@given(st.lists(operations, min_size=1, max_size=25))
@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_both_databases_give_the_same_answers(
    pair: tuple[Ledger, Ledger, Clock], ops: list[tuple[Any, ...]]
) -> None:
    lite, pg, clock = pair
    _wipe(lite)
    _wipe(pg)
    names: tuple[dict[str, str], dict[str, str]] = ({}, {})
    for step, op in enumerate(ops):
        start = clock.now
        answer_lite = _apply(lite, op, clock, names[0])
        clock.now = start  # the same clock readings for the second ledger
        answer_pg = _apply(pg, op, clock, names[1])
        assert answer_lite == answer_pg, (step, op)
    assert [_named(r, names[0]) for r in lite.list_jobs(limit=None)] == [
        _named(r, names[1]) for r in pg.list_jobs(limit=None)
    ]
