"""Never pay twice, never pay for nothing, never lose a paid result (issue: money first).

Every test runs the installed ``gsep`` (several processes where concurrency is the point)
against a sandbox over real HTTP, and counts what the sandbox created: uploads and jobs.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import time
from pathlib import Path

import pytest
from clitools import assert_clean_error, clean_env, make_wav, run_gsep, wait_for
from clitools import start_gsep as start

from gsep_cli.ledger import Ledger
from gsep_cli.sandbox import Sandbox

KEY = "money-first-key-8642"
posix_only = pytest.mark.skipif(os.name != "posix", reason="signals and process groups")


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return clean_env(tmp_path, GSEP_API_KEY=KEY, GSEP_POLL_INTERVAL="0.05", GSEP_POLL_CAP="0.1")


def counts(sb: Sandbox) -> tuple[int, int]:
    """(uploads, jobs) the sandbox created."""
    return sb.store.upload_count(), sb.store.job_count()


def claims(state: Path) -> list[tuple[str, int]]:
    """(host, pid) of every claim in a ledger."""
    path = state / "ledger.sqlite3"
    if not path.exists():
        return []
    with sqlite3.connect(path) as db:
        try:
            return [(str(h), int(p)) for h, p in db.execute("SELECT host, pid FROM claims")]
        except sqlite3.OperationalError:  # the schema is not there yet
            return []


def job_posts(sb: Sandbox) -> list[dict[str, object]]:
    return [e for e in sb.requests if e["method"] == "POST" and str(e["path"]).endswith("/jobs")]


# ---- A1: several processes, one work ----------------------------------------------------
@pytest.mark.slow
def test_three_processes_at_once_pay_once_and_all_succeed(
    tmp_path: Path, env: dict[str, str]
) -> None:
    make_wav(tmp_path / "song.wav", seconds=0.5)
    with Sandbox(job_seconds=0.6, chunk_size=8192) as sb:
        env["GSEP_BASE_URL"] = sb.base_url
        procs = [start(["separate", "song.wav", "-o", "out"], env, tmp_path) for _ in range(3)]
        outs = [p.communicate(timeout=60) for p in procs]
        assert [p.returncode for p in procs] == [0, 0, 0], outs
        assert counts(sb) == (1, 1)
    assert [out for out, _ in outs] == ["out/song/vocal.wav\n"] * 3
    waiting = [err for _, err in outs if "working on the same input" in err]
    assert len(waiting) >= 1  # the others said why they waited


@pytest.mark.slow
def test_processes_with_other_output_folders_share_the_job(
    tmp_path: Path, env: dict[str, str]
) -> None:
    make_wav(tmp_path / "song.wav", seconds=0.5)
    with Sandbox(job_seconds=0.5, chunk_size=8192) as sb:
        env["GSEP_BASE_URL"] = sb.base_url
        procs = [
            start(["separate", "song.wav", "-o", f"out{i}", "--format", fmt], env, tmp_path)
            for i, fmt in enumerate(("wav", "mp3", "both"))
        ]
        outs = [p.communicate(timeout=60) for p in procs]
        assert [p.returncode for p in procs] == [0, 0, 0], outs
        assert counts(sb) == (1, 1)
    assert (tmp_path / "out0/song/vocal.wav").read_bytes() == (
        tmp_path / "out2/song/vocal.wav"
    ).read_bytes()
    assert (tmp_path / "out1/song/vocal.mp3").is_file()


@pytest.mark.slow
@posix_only
def test_a_claim_left_by_a_killed_process_is_taken_over(
    tmp_path: Path, env: dict[str, str]
) -> None:
    make_wav(tmp_path / "song.wav", seconds=0.5)
    with Sandbox(job_seconds=0, chunk_size=8192, faults=["part-delay:1:30"]) as sb:
        env["GSEP_BASE_URL"] = sb.base_url
        victim = start(["separate", "song.wav", "-o", "out"], env, tmp_path)
        try:
            wait_for(lambda: any(e["kind"] == "s3" for e in sb.requests))
            assert claims(tmp_path / "state") == [(os.uname().nodename, victim.pid)]
        finally:
            victim.kill()  # kill -9: no cleanup at all
            victim.communicate(timeout=10)
        started = time.monotonic()
        again = run_gsep(["separate", "song.wav", "-o", "out"], env, cwd=tmp_path)
        assert again.code == 0, str(again)
        assert time.monotonic() - started < 15  # noticed at once, not after a lease
        assert f"pid {victim.pid}" in again.err and "taking it over" in again.err
        assert again.lines == ["out/song/vocal.wav"]
        assert counts(sb) == (2, 1)  # the half-sent upload was never completed: one job
    assert claims(tmp_path / "state") == []


# ---- A2: the same content twice in one batch --------------------------------------------
@pytest.mark.slow
def test_identical_inputs_in_one_batch_make_one_job(tmp_path: Path, env: dict[str, str]) -> None:
    make_wav(tmp_path / "a" / "1.wav", seconds=0.4)
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "2.wav").write_bytes((tmp_path / "a" / "1.wav").read_bytes())
    make_wav(tmp_path / "c" / "3.wav", seconds=0.3)
    with Sandbox(job_seconds=0.4, chunk_size=8192) as sb:
        env["GSEP_BASE_URL"] = sb.base_url
        run = run_gsep(
            ["--json", "separate", "a/1.wav", "b/2.wav", "c/3.wav", "--jobs", "3", "-o", "out"],
            env,
            cwd=tmp_path,
        )
        assert run.code == 0, str(run)
        assert counts(sb) == (2, 2)
    docs = {d["input"]: d for d in map(json.loads, run.lines)}
    assert docs["a/1.wav"]["jobId"] == docs["b/2.wav"]["jobId"] != docs["c/3.wav"]["jobId"]
    one, two = tmp_path / "out/1/vocal.wav", tmp_path / "out/2/vocal.wav"
    assert one.read_bytes() == two.read_bytes()


@pytest.mark.slow
def test_identical_inputs_on_the_builtin_sandbox_make_one_job(
    tmp_path: Path, env: dict[str, str]
) -> None:
    make_wav(tmp_path / "x.wav", seconds=0.3)
    (tmp_path / "y.wav").write_bytes((tmp_path / "x.wav").read_bytes())
    run = run_gsep(
        ["--sandbox", "--json", "separate", "x.wav", "y.wav", "--jobs", "2"], env, cwd=tmp_path
    )
    assert run.code == 0, str(run)
    first, second = map(json.loads, run.lines)
    assert first["jobId"] == second["jobId"]
    assert sorted(p["path"] for d in (first, second) for p in d["files"]) == [
        "x/vocal.wav",
        "y/vocal.wav",
    ]


# ---- A4 and A7: a crash after the first stem landed --------------------------------------
@pytest.mark.slow
@posix_only
def test_kill_after_the_first_stem_resumes_from_the_same_job(
    tmp_path: Path, env: dict[str, str]
) -> None:
    make_wav(tmp_path / "big.wav", seconds=0.5)
    args = ["separate", "big.wav", "--stems", "vocal,drum", "-o", "out"]
    # the first result download passes, the second hangs until the process is killed
    faults = ["download-delay:1:0", "download-delay:1:30"]
    with Sandbox(job_seconds=0, chunk_size=8192, faults=faults) as sb:
        env["GSEP_BASE_URL"] = sb.base_url
        victim = start(args, env, tmp_path)
        try:
            wait_for(lambda: (tmp_path / "out/big/vocal.wav").exists())
            wait_for(lambda: len([e for e in sb.requests if e["kind"] == "cdn"]) == 2)
        finally:
            victim.kill()
            victim.communicate(timeout=10)
        assert not (tmp_path / "out/big/drum.wav").exists()
        assert counts(sb) == (1, 1)
        sb.clear_requests()
        again = run_gsep(args, env, cwd=tmp_path)
        assert again.code == 0, str(again)
        assert again.lines == ["out/big/vocal.wav", "out/big/drum.wav"]
        assert counts(sb) == (1, 1)  # nothing paid again
        cdn = [str(e["path"]).rsplit("/", 1)[-1] for e in sb.requests if e["kind"] == "cdn"]
        assert cdn == ["drum.wav"]  # only what was missing, from the same job
        # --force never pays again either
        forced = run_gsep([*args, "--force"], env, cwd=tmp_path)
        assert forced.code == 0, str(forced)
        assert counts(sb) == (1, 1)
    leftovers = [p.name for p in (tmp_path / "out/big").iterdir() if p.name.startswith(".")]
    assert leftovers == []  # the killed run's partial download was removed


# ---- A3: a job creation whose answer was lost --------------------------------------------
@pytest.mark.slow
def test_a_lost_answer_is_never_paid_again_without_pay_again(
    tmp_path: Path, env: dict[str, str]
) -> None:
    make_wav(tmp_path / "song.wav", seconds=0.3)
    env["GSEP_READ_TIMEOUT"] = "0.5"
    with Sandbox(job_seconds=0, chunk_size=8192, faults=["api-late@job-create:1:1.5"]) as sb:
        env["GSEP_BASE_URL"] = sb.base_url
        first = run_gsep(["separate", "song.wav"], env, cwd=tmp_path)
        assert_clean_error(first, 6, "no answer", "may exist", "--pay-again")
        assert counts(sb) == (1, 1)
        again = run_gsep(["separate", "song.wav"], env, cwd=tmp_path)
        line = assert_clean_error(again, 2, "requested at", "no answer", "--pay-again")
        assert " UTC " in line
        assert counts(sb) == (1, 1)  # the re-run did not pay by itself
        listed = run_gsep(["--json", "ledger", "list"], env, cwd=tmp_path)
        (record,) = json.loads(listed.out)["jobs"]
        assert record["status"] == "unconfirmed"
        paid = run_gsep(["separate", "song.wav", "--pay-again"], env, cwd=tmp_path)
        assert paid.code == 0, str(paid)
        assert counts(sb) == (1, 2)  # paid again, deliberately; the upload reused
        assert paid.lines == ["song/vocal.wav"]
        after = run_gsep(["separate", "song.wav"], env, cwd=tmp_path)
        assert after.code == 0 and "already done" in after.err
        assert counts(sb) == (1, 2)


@pytest.mark.slow
@posix_only
@pytest.mark.parametrize("how", ["SIGTERM", "SIGHUP", "SIGKILL"])
def test_a_signal_during_the_job_request_never_leads_to_a_second_job(
    tmp_path: Path, env: dict[str, str], how: str
) -> None:
    make_wav(tmp_path / "song.wav", seconds=0.3)
    env["GSEP_READ_TIMEOUT"] = "5"
    with Sandbox(job_seconds=0, chunk_size=8192, faults=["api-late@job-create:1:1"]) as sb:
        env["GSEP_BASE_URL"] = sb.base_url
        proc = start(["separate", "song.wav"], env, tmp_path)
        wait_for(lambda: bool(job_posts(sb)))
        proc.send_signal(getattr(signal, how))
        _, err = proc.communicate(timeout=20)
        assert counts(sb) == (1, 1)
        again = run_gsep(["separate", "song.wav"], env, cwd=tmp_path)
        if how == "SIGKILL":  # no chance to hear the answer: the record says unconfirmed
            assert proc.returncode == -signal.SIGKILL
            assert_clean_error(again, 2, "no answer", "--pay-again")
        else:  # handled like Ctrl-C: the answer in flight was awaited and recorded
            assert proc.returncode == 130, err
            assert "interrupted" in err and "Traceback" not in err
            assert again.code == 0, str(again)
        assert counts(sb) == (1, 1)


# ---- A6: an input edited while it uploads ------------------------------------------------
@pytest.mark.slow
def test_an_input_edited_during_its_upload_is_refused_and_not_recorded(
    tmp_path: Path, env: dict[str, str]
) -> None:
    song = make_wav(tmp_path / "song.wav", seconds=0.5)
    original = song.read_bytes()
    with Sandbox(job_seconds=0, chunk_size=8192, faults=["part-delay:1:1"]) as sb:
        env["GSEP_BASE_URL"] = sb.base_url
        proc = start(["separate", "song.wav", "--parallel", "1"], env, tmp_path)
        wait_for(lambda: any(e["kind"] == "s3" for e in sb.requests))
        with open(song, "r+b") as fh:  # overwrite the middle while part 1 is stuck
            fh.seek(len(original) // 2)
            fh.write(b"\x7f" * 4096)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 2, err
        assert "changed while it was being uploaded" in err
        assert counts(sb) == (1, 0)
        completes = [e for e in sb.requests if str(e["path"]).endswith("/complete")]
        assert completes == []  # the mixed upload was never completed
        with sqlite3.connect(tmp_path / "state" / "ledger.sqlite3") as db:
            assert db.execute("SELECT COUNT(*) FROM uploads").fetchone() == (0,)
            assert db.execute("SELECT COUNT(*) FROM jobs").fetchone() == (0,)
        song.write_bytes(original)  # restored: a clean upload and one job
        again = run_gsep(["separate", "song.wav"], env, cwd=tmp_path)
        assert again.code == 0, str(again)
        assert counts(sb) == (2, 1)
        with Ledger(tmp_path / "state" / "ledger.sqlite3") as ledger:
            (record,) = ledger.list_jobs()
        assert record.content == hashlib.sha256(original).hexdigest()
        uploaded = sb.store.get_upload(record.upload_id)
        assert uploaded is not None
        with sb.store.open_upload(uploaded) as reader:
            assert reader.read() == original  # the job was made from the real content


# ---- B2: output folders are ready before paying --------------------------------------------
def test_a_dangling_symlink_as_output_folder_is_refused_before_paying(
    tmp_path: Path, env: dict[str, str]
) -> None:
    make_wav(tmp_path / "song.wav", seconds=0.3)
    (tmp_path / "out").symlink_to(tmp_path / "nowhere")
    with Sandbox(job_seconds=0, chunk_size=8192) as sb:
        env["GSEP_BASE_URL"] = sb.base_url
        for extra in ([], ["--dry-run"]):
            run = run_gsep(["separate", "song.wav", "-o", "out", *extra], env, cwd=tmp_path)
            assert_clean_error(run, 2, "broken symbolic link")
        assert sb.requests == []


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes anywhere")
def test_a_read_only_track_folder_is_refused_before_paying(
    tmp_path: Path, env: dict[str, str]
) -> None:
    make_wav(tmp_path / "song.wav", seconds=0.3)
    (tmp_path / "out" / "song").mkdir(parents=True)
    (tmp_path / "out" / "song").chmod(0o555)
    with Sandbox(job_seconds=0, chunk_size=8192) as sb:
        env["GSEP_BASE_URL"] = sb.base_url
        for extra in ([], ["--dry-run"]):
            run = run_gsep(["separate", "song.wav", "-o", "out", *extra], env, cwd=tmp_path)
            assert_clean_error(run, 2, "out/song")
        assert sb.requests == []


# ---- C: after paying, nothing local loses the result ---------------------------------------
@pytest.mark.slow
def test_results_print_on_a_console_that_is_not_utf8(tmp_path: Path, env: dict[str, str]) -> None:
    make_wav(tmp_path / "песня.wav", seconds=0.3)
    env["PYTHONIOENCODING"] = "cp1252"
    with Sandbox(job_seconds=0, chunk_size=8192) as sb:
        env["GSEP_BASE_URL"] = sb.base_url
        dry = run_gsep(["separate", "песня.wav", "--dry-run"], env, cwd=tmp_path)
        assert dry.code == 0, str(dry)
        plain = run_gsep(["separate", "песня.wav"], env, cwd=tmp_path)
        assert plain.code == 0, str(plain)
        assert "\\u043f" in plain.out  # escaped, never a crash
        as_json = run_gsep(["--json", "separate", "песня.wav"], env, cwd=tmp_path)
        assert as_json.code == 0, str(as_json)
        assert json.loads(as_json.out)["files"][0]["path"] == "песня/vocal.wav"  # exact
        assert counts(sb) == (1, 1)
    assert (tmp_path / "песня" / "vocal.wav").is_file()


def test_a_manifest_path_that_is_not_a_file_is_refused_before_paying(
    tmp_path: Path, env: dict[str, str]
) -> None:
    make_wav(tmp_path / "song.wav", seconds=0.3)
    (tmp_path / "out" / "manifest.json").mkdir(parents=True)
    with Sandbox(job_seconds=0, chunk_size=8192) as sb:
        env["GSEP_BASE_URL"] = sb.base_url
        for extra in ([], ["--dry-run"]):
            args = ["separate", "song.wav", "-o", "out", "--manifest", "out/manifest.json"]
            run = run_gsep([*args, *extra], env, cwd=tmp_path)
            assert_clean_error(run, 2, "manifest.json", "not a file")
        assert sb.requests == []


@pytest.mark.slow
def test_a_local_failure_after_paying_names_the_job_and_how_to_resume(
    tmp_path: Path, env: dict[str, str]
) -> None:
    make_wav(tmp_path / "song.wav", seconds=0.3)
    with Sandbox(job_seconds=1, chunk_size=8192) as sb:
        env["GSEP_BASE_URL"] = sb.base_url
        args = ["separate", "song.wav", "-o", "out", "--manifest", "out/manifest.json"]
        proc = start(args, env, tmp_path)
        wait_for(lambda: bool(job_posts(sb)))
        (tmp_path / "out" / "manifest.json").mkdir(parents=True)  # while the job runs
        _, err = proc.communicate(timeout=30)
        with Ledger(tmp_path / "state" / "ledger.sqlite3") as ledger:
            (record,) = ledger.list_jobs()
        lines = [line for line in err.splitlines() if line.startswith("gsep: error:")]
        assert proc.returncode == 2 and len(lines) == 1, err
        for fragment in ("manifest.json", record.job_id, "run the same command again"):
            assert fragment in lines[0]
        assert "internal error" not in err
        (tmp_path / "out" / "manifest.json").rmdir()
        again = run_gsep(args, env, cwd=tmp_path)
        assert again.code == 0, str(again)
        assert "already done" in again.err
        assert counts(sb) == (1, 1)
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert list(manifest["files"]) == ["song/vocal.wav"]  # written by the re-run


def test_a_bug_after_paying_is_one_line_with_the_job_never_exit_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from clitools import run_cli, set_env

    from gsep_cli.manifest import Manifest

    make_wav(tmp_path / "song.wav", seconds=0.3)
    monkeypatch.chdir(tmp_path)

    def broken(self: object, entries: object, **options: object) -> None:
        raise KeyError("a bug in gsep")

    with Sandbox(job_seconds=0, chunk_size=8192) as sb:
        set_env(monkeypatch, tmp_path, GSEP_API_KEY=KEY, GSEP_BASE_URL=sb.base_url)
        monkeypatch.setattr(Manifest, "add", broken)
        args = ["separate", "song.wav", "-o", "out", "--manifest", "out/manifest.json"]
        run = run_cli(capsys, args)
        with Ledger(tmp_path / "state" / "ledger.sqlite3") as ledger:
            (record,) = ledger.list_jobs()
        line = assert_clean_error(run, 2, record.job_id, "KeyError", "run the same command")
        assert "internal error" not in line
        assert record.status == "success" and record.error is not None
        monkeypatch.undo()
        monkeypatch.chdir(tmp_path)
        set_env(monkeypatch, tmp_path, GSEP_API_KEY=KEY, GSEP_BASE_URL=sb.base_url)
        again = run_cli(capsys, args)
        assert again.code == 0, str(again)
        assert counts(sb) == (1, 1)


def test_a_run_leaves_nothing_behind_in_the_temporary_folder(
    tmp_path: Path, env: dict[str, str]
) -> None:
    make_wav(tmp_path / "a.wav", seconds=0.3)
    make_wav(tmp_path / "b.wav", seconds=0.35)
    (tmp_path / "tmp").mkdir()
    env["TMPDIR"] = str(tmp_path / "tmp")
    with Sandbox(job_seconds=0, chunk_size=8192) as sb:
        env["GSEP_BASE_URL"] = sb.base_url
        run = run_gsep(
            ["separate", "a.wav", "b.wav", "-o", "out", "--jobs", "2"], env, cwd=tmp_path
        )
        assert run.code == 0, str(run)
    assert list((tmp_path / "tmp").iterdir()) == []  # no lock files, no stray temporaries
    # nothing but the outputs: the manifest is opt-in (--manifest FILE)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a", "b"]


@pytest.mark.slow
@pytest.mark.skipif(os.name != "posix", reason="file names as bytes")
def test_file_names_that_are_not_utf8_work_end_to_end(tmp_path: Path, env: dict[str, str]) -> None:
    folder = tmp_path / "album"
    make_wav(folder / "a1.wav", seconds=0.3)
    odd = folder / os.fsdecode(b"caf\xe9.wav")  # Latin-1 bytes on a UTF-8 system
    make_wav(odd, seconds=0.35)
    with Sandbox(job_seconds=0, chunk_size=8192) as sb:
        env["GSEP_BASE_URL"] = sb.base_url
        args = ["separate", "album", "-o", "out", "--jobs", "2", "--manifest", "out/manifest.json"]
        first = run_gsep(args, env, cwd=tmp_path)
        assert first.code == 0, str(first)
        assert counts(sb) == (2, 2)
        again = run_gsep(args, env, cwd=tmp_path)
        assert again.code == 0, str(again)
        assert again.err.count("already done") == 2 and counts(sb) == (2, 2)
        listed = run_gsep(["--json", "ledger", "list"], env, cwd=tmp_path)
        assert listed.code == 0 and len(json.loads(listed.out)["jobs"]) == 2
    written = sorted(
        os.fsencode(p.relative_to(tmp_path / "out")) for p in (tmp_path / "out").rglob("*.wav")
    )
    assert written == [b"a1/vocal.wav", b"caf\xe9/vocal.wav"]
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text(encoding="utf-8"))
    assert sorted(os.fsencode(k) for k in manifest["files"]) == written
