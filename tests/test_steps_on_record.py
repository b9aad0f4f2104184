"""Issue 15, commands 2 and 3: every upload and job gsep creates is on record, whichever
command created it, and every command that takes a job id uses the recorded model."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from clitools import Run, make_wav
from paidtools import counts

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
        listed = json.loads(gsep(["--json", "jobs", "list"]).out)["jobs"]
        assert [(j["jobId"], j["input"], j["stems"]) for j in listed] == [
            (job_id, "song.wav", ["vocal", "drum"])
        ]
        assert gsep(["jobs", "show", job_id]).code == 0
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
        assert json.loads(gsep(["--json", "jobs", "list"]).out)["jobs"] == []


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
