"""Issue 15, commands 2 and 3: every upload and job gsep creates is on record, whichever
command created it, and every command that takes a job id uses the recorded model."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from clitools import Run, make_wav
from paidtools import counts, job_create_in_flight

from gsep_cli.ledger.sqlitefile import SqliteEngine
from gsep_cli.sandbox import Sandbox


def test_step_by_step_uploads_and_jobs_are_on_record_and_never_paid_again(
    tmp_path: Path, env: dict[str, str], gsep: Callable[..., Run]
) -> None:
    make_wav(tmp_path / "song.wav", seconds=0.3)
    with Sandbox(job_seconds=0, chunk_size=8192) as sb:
        env["GSEP_BASE_URL"] = sb.base_url
        up = gsep(["upload", "song.wav"])
        assert up.code == 0, str(up)
        job = gsep(["job", "create", up.out.strip(), "--stems", "vocal,drum"])
        assert job.code == 0, str(job)
        job_id = job.out.strip()
        listed = json.loads(gsep(["--json", "ledger", "list"]).out)["jobs"]
        assert [(j["jobId"], j["input"], j["stems"]) for j in listed] == [
            (job_id, "song.wav", ["vocal", "drum"])
        ]
        assert gsep(["ledger", "show", job_id]).code == 0
        # the same input, model and stems: re-attached, nothing uploaded or paid again
        again = gsep(["separate", "song.wav", "--stems", "vocal,drum", "-o", "out"])
        assert again.code == 0, str(again)
        assert f"re-attaching to job {job_id}" in again.err
        assert counts(sb) == (1, 1)
        # another model on the same file: the recorded upload is reused
        other = gsep(["separate", "song.wav", "--stems", "bass", "-o", "out2"])
        assert other.code == 0 and "reusing upload" in other.err, str(other)
        assert counts(sb) == (1, 2)


def test_a_lost_answer_to_job_create_is_not_paid_again_by_separate(
    tmp_path: Path, env: dict[str, str], gsep: Callable[..., Run]
) -> None:
    make_wav(tmp_path / "song.wav", seconds=0.3)
    with Sandbox(job_seconds=0, chunk_size=8192) as sb:
        env["GSEP_BASE_URL"] = sb.base_url
        upload_id = gsep(["upload", "song.wav"]).out.strip()
        sb.add_fault("api-drop@job-create:1")  # the job IS created; the answer is lost
        lost = gsep(["job", "create", upload_id, "--stems", "vocal"])
        assert lost.code == 6, str(lost)
        after = gsep(["separate", "song.wav", "--stems", "vocal", "-o", "out"])
        assert after.code == 2 and "no answer came" in after.err, str(after)
        assert counts(sb) == (1, 1)


def test_a_refused_job_create_leaves_nothing_on_record(
    tmp_path: Path, env: dict[str, str], gsep: Callable[..., Run]
) -> None:
    with Sandbox(job_seconds=0, chunk_size=8192) as sb:
        env["GSEP_BASE_URL"] = sb.base_url
        refused = gsep(["job", "create", "no-such-upload", "--stems", "vocal"])
        assert refused.code == 4, str(refused)
        assert json.loads(gsep(["--json", "ledger", "list"]).out)["jobs"] == []


def test_job_status_uses_the_recorded_model(
    tmp_path: Path, env: dict[str, str], gsep: Callable[..., Run]
) -> None:
    make_wav(tmp_path / "talk.wav", seconds=0.3)
    model = "gsep_speech_hq_v1"
    with Sandbox(job_seconds=0, chunk_size=8192) as sb:
        env["GSEP_BASE_URL"] = sb.base_url
        done = gsep(["separate", "talk.wav", "--model", model, "-s", "speech", "--no-wait"])
        assert done.code == 0, str(done)
        job_id = done.out.strip()
        status = gsep(["--json", "job", "status", job_id, "--wait"])  # no --model
        assert status.code == 0, str(status)
        assert json.loads(status.out)["model"] == model


def test_separate_waits_for_a_job_create_in_flight_instead_of_calling_it_lost(
    tmp_path: Path, env: dict[str, str], gsep: Callable[..., Run]
) -> None:
    song = make_wav(tmp_path / "song.wav", seconds=0.3)
    with Sandbox(job_seconds=0, chunk_size=8192) as sb:
        env["GSEP_BASE_URL"] = sb.base_url
        creating = job_create_in_flight(sb, env, song, late=2)
        waited = gsep(["separate", "song.wav", "--stems", "vocal", "-o", "out"])
        created, _ = creating.communicate(timeout=30)
        assert creating.returncode == 0
        assert waited.code == 0, str(waited)
        assert f"re-attaching to job {created.strip()}" in waited.err
        assert counts(sb) == (1, 1)


def _locked_ledger(state: Path) -> sqlite3.Connection:
    from gsep_cli.ledger import LEDGER_FILE

    holder = sqlite3.connect(state / LEDGER_FILE, timeout=0, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # another program, for as long as the test needs
    return holder


def test_an_upload_the_ledger_cannot_record_still_gives_its_id(
    tmp_path: Path,
    env: dict[str, str],
    gsep: Callable[..., Run],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from gsep_cli.ledger import Ledger

    make_wav(tmp_path / "song.wav", seconds=0.3)
    monkeypatch.setattr(SqliteEngine, "lock_timeout", 0.3)
    with Sandbox(job_seconds=0, chunk_size=8192) as sb:
        env["GSEP_BASE_URL"] = sb.base_url
        assert gsep(["ledger", "list"]).code == 0  # the ledger exists
        real_file_digest = Ledger.file_digest

        def digest_then_lock(self: Ledger, path: Path) -> Any:
            found = real_file_digest(self, path)
            holders.append(_locked_ledger(Path(env["GSEP_STATE_DIR"])))
            return found

        holders: list[sqlite3.Connection] = []
        monkeypatch.setattr(Ledger, "file_digest", digest_then_lock)
        try:
            up = gsep(["upload", "song.wav"])
        finally:
            for holder in holders:
                holder.close()
        assert up.code == 0 and up.out.strip(), str(up)
        assert f"upload {up.out.strip()} is not on record" in up.err


def test_job_status_without_the_ledger_falls_back_to_the_model_setting(
    tmp_path: Path,
    env: dict[str, str],
    gsep: Callable[..., Run],
    monkeypatch: pytest.MonkeyPatch,
) -> None:

    make_wav(tmp_path / "song.wav", seconds=0.3)
    monkeypatch.setattr(SqliteEngine, "lock_timeout", 0.3)
    with Sandbox(job_seconds=0, chunk_size=8192) as sb:
        env["GSEP_BASE_URL"] = sb.base_url
        job_id = gsep(["separate", "song.wav", "--no-wait"]).out.strip()
        holder = _locked_ledger(Path(env["GSEP_STATE_DIR"]))
        try:
            status = gsep(["job", "status", job_id, "--wait"])
        finally:
            holder.close()
        assert status.code == 0 and status.out == "success\n", str(status)
        assert "cannot read the job ledger" in status.err


def test_a_job_on_an_upload_gsep_did_not_make_downloads_under_its_job_id(
    tmp_path: Path, env: dict[str, str], gsep: Callable[..., Run]
) -> None:
    make_wav(tmp_path / "song.wav", seconds=0.3)
    with Sandbox(job_seconds=0, chunk_size=8192) as sb:
        env["GSEP_BASE_URL"] = sb.base_url
        elsewhere = gsep(["upload", "song.wav"], GSEP_STATE_DIR=str(tmp_path / "other-state"))
        job = gsep(["job", "create", elsewhere.out.strip(), "--stems", "vocal"])
        job_id = job.out.strip()
        done = gsep(["download", job_id, "-o", "dl"])
        assert done.code == 0, str(done)
        assert done.lines == [str(Path("dl") / job_id / "vocal.wav")]


def test_an_upload_goes_without_a_usable_ledger_and_a_job_create_does_not(
    tmp_path: Path, env: dict[str, str], gsep: Callable[..., Run]
) -> None:
    """An upload is free: it goes unrecorded, with a warning. A job costs credits: it is
    recorded before it is sent, or not sent at all."""
    make_wav(tmp_path / "song.wav", seconds=0.3)
    (tmp_path / "not-a-folder").write_text("")
    with Sandbox(job_seconds=0, chunk_size=8192) as sb:
        env["GSEP_BASE_URL"] = sb.base_url
        env["GSEP_STATE_DIR"] = str(tmp_path / "not-a-folder")
        up = gsep(["upload", "song.wav"])
        assert up.code == 0 and up.out.strip(), str(up)
        assert "will not be on record" in up.err
        job = gsep(["job", "create", up.out.strip(), "--stems", "vocal"])
        assert job.code == 2, str(job)
        assert counts(sb) == (1, 0)
