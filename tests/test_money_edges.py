"""More ways to pay twice, lose a result or crash, found by trying to break gsep.

Each test runs the installed ``gsep`` against a sandbox over real HTTP.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from clitools import Run, assert_clean_error, gsep_exe, make_wav, run_gsep
from paidtools import counts, start_until_creating

from gsep_cli.ledger import Ledger
from gsep_cli.sandbox import Sandbox


# ---- one work, one job ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("all", "vocal,drum,bass,electric_guitar,acoustic_piano"),
        ("vocal", "vocal,others"),
        ("drum,vocal", "vocal,drum,others"),
    ],
)
def test_stems_that_send_the_same_type_are_one_work(
    tmp_path: Path, env: dict[str, str], gsep: Callable[..., Run], first: str, second: str
) -> None:
    make_wav(tmp_path / "a.wav", seconds=0.3)
    with Sandbox(job_seconds=0, chunk_size=8192) as sb:
        env["GSEP_BASE_URL"] = sb.base_url
        one = gsep(["separate", "a.wav", "--stems", first, "-o", "o"])
        two = gsep(["separate", "a.wav", "--stems", second, "-o", "o"])
        assert one.code == 0 and two.code == 0, str(two)
        assert counts(sb) == (1, 1)  # the residual comes with every job: nothing to pay


def test_pay_again_pays_once_for_identical_inputs_of_a_batch(
    tmp_path: Path, env: dict[str, str], gsep: Callable[..., Run]
) -> None:
    make_wav(tmp_path / "a.wav", seconds=0.3)
    for name in ("x.wav", "y.wav"):
        (tmp_path / name).write_bytes((tmp_path / "a.wav").read_bytes())
    with Sandbox(job_seconds=0, chunk_size=8192) as sb:
        env["GSEP_BASE_URL"] = sb.base_url
        assert gsep(["separate", "a.wav", "-o", "pa"]).code == 0
        again = gsep(["separate", "x.wav", "y.wav", "-o", "pa", "--pay-again", "--force"])
        assert again.code == 0, str(again)
        assert counts(sb) == (1, 2)  # one new job for the batch, not one per input


# ---- a job's files may be in several places, all gsep's own --------------------------------
def test_the_same_job_written_to_several_folders_stays_done(
    tmp_path: Path, env: dict[str, str], gsep: Callable[..., Run]
) -> None:
    make_wav(tmp_path / "b.wav", seconds=0.3)
    with Sandbox(job_seconds=0, chunk_size=8192) as sb:
        env["GSEP_BASE_URL"] = sb.base_url
        for out in ("A", "B", "A", "B"):
            run = gsep(["separate", "b.wav", "-o", out])
            assert run.code == 0, str(run)
        assert counts(sb) == (1, 1)


@pytest.mark.slow
def test_a_batch_of_identical_inputs_is_done_on_every_rerun(
    tmp_path: Path, env: dict[str, str], gsep: Callable[..., Run]
) -> None:
    make_wav(tmp_path / "x.wav", seconds=0.3)
    (tmp_path / "d").mkdir()
    for copy in ("d/x.wav", "y.wav"):
        (tmp_path / copy).write_bytes((tmp_path / "x.wav").read_bytes())
    args = ["separate", "x.wav", "d/x.wav", "y.wav", "-o", "dup"]
    args += ["--name-template", "{dir}/{track}/{stem}.{ext}"]
    with Sandbox(job_seconds=0, chunk_size=8192) as sb:
        env["GSEP_BASE_URL"] = sb.base_url
        for _ in range(3):
            run = gsep(args)
            assert run.code == 0, str(run)
        assert counts(sb) == (1, 1)


# ---- the ledger cannot take the answer: the id is still given ------------------------------
@pytest.mark.slow  # waits out the ledger's 10 s lock timeout
def test_a_job_the_ledger_cannot_record_is_still_named(tmp_path: Path, env: dict[str, str]) -> None:
    make_wav(tmp_path / "a.wav", seconds=0.3)
    with Sandbox(job_seconds=0, chunk_size=8192, faults=["api-late@job-create:1:1.5"]) as sb:
        env["GSEP_BASE_URL"] = sb.base_url
        proc = start_until_creating(sb, ["separate", "a.wav", "-o", "out"], env, tmp_path)
        blocker = sqlite3.connect(
            tmp_path / "state" / "ledger.sqlite3", isolation_level=None, check_same_thread=False
        )
        blocker.execute("BEGIN IMMEDIATE")  # hold the write lock past the ledger's wait
        released = threading.Timer(13, blocker.rollback)
        released.start()
        try:
            _, err = proc.communicate(timeout=60)
        finally:
            released.cancel()
            blocker.rollback()
            blocker.close()
        (job_id,) = [job.job_id for job in sb.store._jobs.values()]
        lines = [line for line in err.splitlines() if line.startswith("gsep: error:")]
        assert proc.returncode == 2 and len(lines) == 1, err
        assert job_id in lines[0] and "gsep download" in lines[0]
        assert "mv '" not in lines[0] and "move it away" not in lines[0]  # that would pay again
        # the answer was kept beside the ledger: the re-run records the job and carries on
        again = run_gsep(["separate", "a.wav", "-o", "out"], env, cwd=tmp_path)
        assert again.code == 0, str(again)
        assert f"job {job_id}, created by an earlier run, is now on record" in again.err
        assert (tmp_path / "out" / "a" / "vocal.wav").is_file()
        assert counts(sb) == (1, 1)


# ---- records of expired jobs with files on disk survive a prune -----------------------------
def test_prune_keeps_an_expired_job_whose_files_are_there(
    tmp_path: Path, env: dict[str, str], gsep: Callable[..., Run]
) -> None:
    make_wav(tmp_path / "a.wav", seconds=0.3)
    with Sandbox(job_seconds=0, chunk_size=8192) as sb:
        env["GSEP_BASE_URL"] = sb.base_url
        args = ["separate", "a.wav", "--stems", "vocal,drum", "-o", "out"]
        assert gsep(args).code == 0
        with sqlite3.connect(tmp_path / "state" / "ledger.sqlite3") as db:  # 3 days later
            db.execute("UPDATE jobs SET expire_at = '2020-01-01T00:00:00Z'")
        assert gsep(["ledger", "prune"]).code == 0
        again = gsep(args)
        assert again.code == 0 and "already done" in again.err, str(again)
        (tmp_path / "out" / "a" / "drum.wav").unlink()
        (tmp_path / "out" / "a" / "vocal.wav").unlink()
        assert gsep(["ledger", "prune"]).code == 0
        with Ledger(tmp_path / "state" / "ledger.sqlite3") as ledger:
            assert len(ledger.list_jobs()) == 1  # a plain prune never forgets a job
        assert gsep(["ledger", "prune", "--older-than", "0"]).code == 0
        with Ledger(tmp_path / "state" / "ledger.sqlite3") as ledger:
            assert ledger.list_jobs() == []  # asked, and nothing left on disk: now it goes
        assert counts(sb) == (1, 1)


# ---- plans that could never land -------------------------------------------------------------
def test_an_output_on_the_input_itself_is_refused(
    tmp_path: Path, env: dict[str, str], gsep: Callable[..., Run]
) -> None:
    song = make_wav(tmp_path / "song.wav", seconds=0.3)
    before = song.read_bytes()
    with Sandbox(job_seconds=0, chunk_size=8192) as sb:
        env["GSEP_BASE_URL"] = sb.base_url
        for extra in ([], ["--dry-run"]):
            run = gsep(
                ["separate", "song.wav", "--name-template", "{track}.{ext}", "--force", *extra]
            )
            assert_clean_error(run, 2, "would be the input")
        assert sb.requests == []
    assert song.read_bytes() == before


def test_a_file_where_another_output_needs_a_folder_is_refused(
    tmp_path: Path, env: dict[str, str], gsep: Callable[..., Run]
) -> None:
    make_wav(tmp_path / "p.wav", seconds=0.3)
    make_wav(tmp_path / "p" / "q.wav", seconds=0.35)
    with Sandbox(job_seconds=0, chunk_size=8192) as sb:
        env["GSEP_BASE_URL"] = sb.base_url
        for extra in ([], ["--dry-run"]):
            run = gsep(
                [
                    "separate",
                    "p.wav",
                    "p/q.wav",
                    "-o",
                    "pre",
                    "--name-template",
                    "{dir}/{track}",
                    *extra,
                ]
            )
            assert_clean_error(run, 2, "needs a folder")
        assert sb.requests == []


@pytest.mark.parametrize("prefix", ["", "missing/"])
def test_an_output_folder_name_over_the_limit_is_refused(
    tmp_path: Path, env: dict[str, str], gsep: Callable[..., Run], prefix: str
) -> None:
    make_wav(tmp_path / "a.wav", seconds=0.3)
    with Sandbox(job_seconds=0, chunk_size=8192) as sb:
        env["GSEP_BASE_URL"] = sb.base_url
        for extra in ([], ["--dry-run"]):
            args = ["separate", "a.wav", "-o", prefix + "e" * 256, *extra]
            run = gsep(args)
            assert_clean_error(run, 2, "256 bytes")
        assert sb.requests == []


# ---- standard output that is gone --------------------------------------------------------------
@pytest.mark.slow
def test_a_reader_that_stops_early_does_not_stop_the_work(
    tmp_path: Path, env: dict[str, str]
) -> None:
    for i in range(3):
        make_wav(tmp_path / f"s{i}.wav", seconds=0.3 + i * 0.05)
    with Sandbox(job_seconds=0, chunk_size=8192) as sb:
        env["GSEP_BASE_URL"] = sb.base_url
        cmd = [gsep_exe(), "separate", "s0.wav", "s1.wav", "s2.wav", "--stems", "vocal,drum"]
        closed = subprocess.run(
            f"{' '.join(cmd)} -o bq --jobs 1 | head -n1",
            shell=True,
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            executable="/bin/bash",
        )
        status = subprocess.run(
            ["bash", "-c", f"set -o pipefail; {' '.join(cmd)} -o br --jobs 1 | head -n1"],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert "Traceback" not in closed.stderr and "internal error" not in closed.stderr
    assert status.returncode == 0, status.stderr  # the work was done; nobody wanted more
    for out in ("bq", "br"):
        assert len(list((tmp_path / out).rglob("*.wav"))) == 6


def test_audio_to_a_closed_stdout_is_one_line(tmp_path: Path, env: dict[str, str]) -> None:
    make_wav(tmp_path / "a.wav", seconds=0.3)
    with Sandbox(job_seconds=0, chunk_size=8192) as sb:
        env["GSEP_BASE_URL"] = sb.base_url
        proc = subprocess.run(
            ["bash", "-c", f"{gsep_exe()} separate a.wav -o - >&-"],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert sb.requests == []
    assert proc.returncode == 2
    assert proc.stderr.startswith("gsep: error: standard output is closed")


# ---- usage errors and numbers ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["ledger", "forget"], "Missing argument"),
        (["separate", "a.wav", "--jobs", "17"], "--jobs"),
        (["separate", "a.wav", "--bogus"], "No such option"),
        (["separate", "a.wav", "--timeout", "nan"], "--timeout"),
        (["job", "status", "abc", "--wait", "--timeout", "inf"], "--timeout"),
    ],
)
def test_usage_errors_are_one_line(
    tmp_path: Path, env: dict[str, str], gsep: Callable[..., Run], args: list[str], fragment: str
) -> None:
    run = gsep(args)
    line = assert_clean_error(run, 2, fragment)
    assert "Usage:" not in run.err and "Try '" not in run.err
    assert line.startswith("gsep: error:")


@pytest.mark.parametrize("value", ["5_0", "٥", "0x10", "1e3e3", " 5 5"])
def test_numbers_are_plain_ascii_decimals(
    tmp_path: Path, env: dict[str, str], gsep: Callable[..., Run], value: str
) -> None:
    make_wav(tmp_path / "a.wav", seconds=0.3)
    env["GSEP_READ_TIMEOUT"] = value
    run = gsep(["separate", "a.wav", "--dry-run"])
    assert_clean_error(run, 3, "GSEP_READ_TIMEOUT")


def test_expired_results_never_suggest_running_again_to_resume(
    tmp_path: Path, env: dict[str, str], gsep: Callable[..., Run]
) -> None:
    make_wav(tmp_path / "a.wav", seconds=0.3)
    with Sandbox(job_seconds=0, chunk_size=8192) as sb:
        env["GSEP_BASE_URL"] = sb.base_url
        assert gsep(["separate", "a.wav"]).code == 0
        (tmp_path / "a" / "vocal.wav").unlink()
        sb.advance(49 * 3600)  # past the results' 48 h: the result host refuses the links
        run = gsep(["separate", "a.wav"])
    line = assert_clean_error(run, 4, "expired", "--pay-again")
    assert "run the same command again to resume" not in line
    listed = json.loads(gsep(["--json", "ledger", "list"]).out)
    assert [j["status"] for j in listed["jobs"]] == ["success"]
    assert os.path.exists(tmp_path / "state" / "ledger.sqlite3")
