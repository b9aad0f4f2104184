"""Batches that never pay twice: many inputs, concurrency, the ledger, the manifest."""

from __future__ import annotations

import _thread
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from audio import make_wav

from gsep_cli.batch import BatchOptions, BatchRunner, batch_exit_code, collect_inputs
from gsep_cli.client import GsepClient
from gsep_cli.errors import Interrupted
from gsep_cli.ledger import SANDBOX_HOST, JobRecord, Ledger, api_host, key_fingerprint
from gsep_cli.progress import NullListener
from gsep_cli.retry import RetryPolicy
from gsep_cli.sandbox import Sandbox

KEY = "batch-secret-key-2468"


def _wav(path: Path, tone: int = 1, seconds: float = 0.2) -> Path:
    """A short mono 16 kHz input whose bytes differ by ``tone`` (new content to the ledger)."""
    return make_wav(path, seconds, rate=16000, channels=1, seed=tone)


def _gsep() -> list[str]:
    script = shutil.which("gsep", path=os.path.dirname(sys.executable))
    return [script] if script else [sys.executable, "-m", "gsep_cli"]


@pytest.fixture()
def env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GSEP_", "GAUDIO_"))}
    env.update(
        GSEP_CONFIG_DIR=str(tmp_path / "config"),
        GSEP_STATE_DIR=str(tmp_path / "state"),
        GSEP_API_KEY=KEY,
        GSEP_POLL_INTERVAL="0.05",
        GSEP_POLL_CAP="0.1",
        GSEP_RETRY_CAP="0.05",
        GSEP_RATE_LIMIT_WAIT="0.2",
    )
    return env


def gsep(
    env: dict[str, str], cwd: Path, *args: str, stdin: str | None = None, base_url: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*_gsep(), "--base-url", base_url, *args],
        env=env,
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _creates(sb: Sandbox) -> tuple[int, int]:
    """(upload creations, job creations) in the sandbox's request log."""
    log = sb.requests
    uploads = sum(1 for e in log if e["method"] == "POST" and e["path"].endswith("/create"))
    jobs = sum(1 for e in log if e["method"] == "POST" and e["path"].endswith("/jobs"))
    return uploads, jobs


@pytest.mark.slow
def test_rerun_pays_nothing_and_reattaches(tmp_path: Path, env: dict[str, str]) -> None:
    songs = [_wav(tmp_path / "in" / f"song{i}.wav", tone=i + 1) for i in range(3)]
    with Sandbox(job_seconds=0.2, chunk_size=4096) as sb:
        first = gsep(
            env, tmp_path, "separate", "in", "-o", "out", "--jobs", "3", base_url=sb.base_url
        )
        assert first.returncode == 0, first.stderr
        assert _creates(sb) == (3, 3)
        assert len(first.stdout.split()) == 3
        # the same command again: nothing is uploaded, no job is created, nothing fetched
        sb.clear_requests()
        again = gsep(env, tmp_path, "separate", "in", "-o", "out", base_url=sb.base_url)
        assert again.returncode == 0, again.stderr
        assert _creates(sb) == (0, 0)
        assert not [e for e in sb.requests if e["kind"] == "cdn"]
        assert sorted(again.stdout.split()) == sorted(first.stdout.split())
        assert "already done" in again.stderr
        # a lost file is fetched again from the same job; no new job
        Path(tmp_path / first.stdout.split()[0]).unlink()
        sb.clear_requests()
        third = gsep(env, tmp_path, "separate", "in", "-o", "out", base_url=sb.base_url)
        assert third.returncode == 0, third.stderr
        assert _creates(sb) == (0, 0)
        assert len([e for e in sb.requests if e["kind"] == "cdn"]) == 1
        # other stems for the same content: the upload is reused, one new job each
        sb.clear_requests()
        drums = gsep(
            env,
            tmp_path,
            "separate",
            str(songs[0]),
            "--stems",
            "drum",
            "-o",
            "out",
            base_url=sb.base_url,
        )
        assert drums.returncode == 0, drums.stderr
        assert _creates(sb) == (0, 1)
        # --force overwrites files but never pays again for a job on record
        sb.clear_requests()
        forced = gsep(
            env, tmp_path, "separate", str(songs[0]), "-o", "out", "--force", base_url=sb.base_url
        )
        assert forced.returncode == 0, forced.stderr
        assert _creates(sb) == (0, 0)
        # --pay-again pays for a new job (the recent upload is reused); --force lets its
        # files replace the old ones
        again_paid = gsep(
            env,
            tmp_path,
            "separate",
            str(songs[0]),
            "-o",
            "out",
            "--pay-again",
            "--force",
            base_url=sb.base_url,
        )
        assert again_paid.returncode == 0, again_paid.stderr
        assert _creates(sb) == (0, 1)


@pytest.mark.slow
def test_no_wait_then_collect_later(tmp_path: Path, env: dict[str, str]) -> None:
    for i in range(3):
        _wav(tmp_path / f"s{i}.wav", tone=i + 2)
    with Sandbox(job_seconds=0.3, chunk_size=4096) as sb:
        submitted = gsep(
            env,
            tmp_path,
            "separate",
            "s0.wav",
            "s1.wav",
            "s2.wav",
            "--no-wait",
            base_url=sb.base_url,
        )
        assert submitted.returncode == 0, submitted.stderr
        job_ids = submitted.stdout.split()
        assert len(job_ids) == 3 and _creates(sb) == (3, 3)
        # re-running the same batch re-attaches to the submitted jobs and downloads them
        collected = gsep(
            env,
            tmp_path,
            "separate",
            "s0.wav",
            "s1.wav",
            "s2.wav",
            "-o",
            "out",
            base_url=sb.base_url,
        )
        assert collected.returncode == 0, collected.stderr
        assert _creates(sb) == (3, 3)
        assert sorted(collected.stdout.split()) == sorted(f"out/s{i}/vocal.wav" for i in range(3))
        listed = gsep(env, tmp_path, "--json", "ledger", "list", base_url=sb.base_url)
        jobs = json.loads(listed.stdout)["jobs"]
        assert {j["jobId"] for j in jobs} == set(job_ids)
        assert all(j["status"] == "success" and j["files"] for j in jobs)


def test_download_uses_the_ledger_for_names(tmp_path: Path, env: dict[str, str]) -> None:
    _wav(tmp_path / "my song.wav")
    with Sandbox(job_seconds=0, chunk_size=4096) as sb:
        job_id = gsep(
            env, tmp_path, "separate", "my song.wav", "--no-wait", base_url=sb.base_url
        ).stdout.strip()
        got = gsep(env, tmp_path, "download", job_id, "-o", "out", base_url=sb.base_url)
        assert got.returncode == 0, got.stderr
        assert got.stdout.split("\n")[0] == "out/my song/vocal.wav"


def test_mixed_batch_exit_9_with_summary(tmp_path: Path, env: dict[str, str]) -> None:
    _wav(tmp_path / "good.wav")
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("not audio")
    with Sandbox(job_seconds=0, chunk_size=4096) as sb:
        done = gsep(
            env,
            tmp_path,
            "separate",
            "good.wav",
            "empty.wav",
            "notes.txt",
            "-o",
            "out",
            base_url=sb.base_url,
        )
        assert done.returncode == 9, done.stderr
        assert done.stdout.split() == ["out/good/vocal.wav"]
        err = done.stderr
        assert "summary" in err or "status" in err
        for name in ("good.wav", "empty.wav", "notes.txt"):
            assert name in err
        assert err.count("gsep: error:") == 2 and "Traceback" not in err
        assert _creates(sb) == (1, 1)


def test_all_failing_the_same_way_keeps_the_code(tmp_path: Path, env: dict[str, str]) -> None:
    (tmp_path / "a.wav").write_bytes(b"")
    (tmp_path / "b.wav").write_bytes(b"")
    with Sandbox(job_seconds=0) as sb:
        done = gsep(env, tmp_path, "separate", "a.wav", "b.wav", base_url=sb.base_url)
    assert done.returncode == 2


@pytest.mark.slow
def test_ndjson_one_object_per_input(tmp_path: Path, env: dict[str, str]) -> None:
    for i in range(4):
        _wav(tmp_path / f"t{i}.wav", tone=i + 3)
    (tmp_path / "bad.mp3").write_bytes(b"")
    with Sandbox(job_seconds=0.1, chunk_size=4096) as sb:
        done = gsep(
            env,
            tmp_path,
            "--json",
            "separate",
            "t0.wav",
            "t1.wav",
            "t2.wav",
            "t3.wav",
            "bad.mp3",
            "-o",
            "out",
            "--format",
            "both",
            base_url=sb.base_url,
        )
    assert done.returncode == 9, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(lines) == 5
    by_input = {d["input"]: d for d in lines}
    assert by_input["bad.mp3"]["status"] == "failed"
    assert by_input["bad.mp3"]["error"]["exitCode"] == 2
    for i in range(4):
        doc = by_input[f"t{i}.wav"]
        assert doc["status"] == "success" and doc["jobId"] and doc["uploadId"]
        assert [(f["stem"], f["format"]) for f in doc["files"]] == [
            ("vocal", "wav"),
            ("vocal", "mp3"),
        ]


def test_stdin_paths_with_spaces_and_unicode(tmp_path: Path, env: dict[str, str]) -> None:
    names = ["my song.wav", "канцона — ダンス.wav", "  leading space.wav"]
    for i, name in enumerate(names):
        _wav(tmp_path / "in" / name, tone=i + 5)
    listing = "".join(f"in/{name}\n" for name in names) + "\n"
    with Sandbox(job_seconds=0, chunk_size=4096) as sb:
        done = gsep(
            env,
            tmp_path,
            "separate",
            "-",
            "-o",
            "out",
            "--manifest",
            "out/manifest.json",
            stdin=listing,
            base_url=sb.base_url,
        )
    assert done.returncode == 0, done.stderr
    assert sorted(done.stdout.splitlines()) == sorted(
        f"out/{Path(n).stem.strip()}/vocal.wav" for n in names
    )
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text(encoding="utf-8"))
    assert len(manifest["files"]) == 3
    entry = manifest["files"]["канцона — ダンス/vocal.wav"]
    assert entry["model"] == "gsep_music_hq_v1" and entry["stems"] == ["vocal"]
    assert len(entry["inputSha256"]) == 64 and entry["jobId"] and entry["bytes"] > 0


def test_folders_recursive_include_exclude(tmp_path: Path) -> None:
    for rel in ("a.wav", "b.mp3", "skip.wav", "sub/c.wav", "sub/d.flac", "notes.txt"):
        _wav(tmp_path / "lib" / rel)
    top = collect_inputs([str(tmp_path / "lib")])
    assert [p.name for p in top] == ["a.wav", "b.mp3", "skip.wav"]
    deep = collect_inputs([str(tmp_path / "lib")], recursive=True, exclude=["skip*"])
    assert [p.relative_to(tmp_path / "lib").as_posix() for p in deep] == [
        "a.wav",
        "b.mp3",
        "sub/c.wav",
        "sub/d.flac",
    ]
    only = collect_inputs([str(tmp_path / "lib")], recursive=True, include=["sub/*"])
    assert [p.name for p in only] == ["c.wav", "d.flac"]
    twice = collect_inputs([str(tmp_path / "lib" / "a.wav"), str(tmp_path / "lib")])
    assert [p.name for p in twice] == ["a.wav", "b.mp3", "skip.wav"]


@pytest.mark.slow
def test_many_inputs_stay_under_a_low_rate_limit(tmp_path: Path, env: dict[str, str]) -> None:
    for i in range(22):
        _wav(tmp_path / "in" / f"n{i:02d}.wav", tone=i + 1, seconds=0.05)
    env = {**env, "GSEP_RATE_LIMIT": "18/1"}
    with Sandbox(
        job_seconds=0.2, chunk_size=1 << 20, rate_limit=20, rate_window=1.0, rate_block=2.0
    ) as sb:
        done = gsep(
            env, tmp_path, "separate", "in", "--jobs", "4", "-o", "out", base_url=sb.base_url
        )
        assert done.returncode == 0, done.stderr
        assert [e for e in sb.requests if e["status"] == 429] == []
        assert _creates(sb) == (22, 22)
    assert len(done.stdout.split()) == 22
    assert "rate limited" not in done.stderr


@pytest.mark.slow
def test_two_processes_share_one_ledger(tmp_path: Path, env: dict[str, str]) -> None:
    for i in range(4):
        _wav(tmp_path / f"p{i}.wav", tone=i + 7)
    with Sandbox(job_seconds=0.3, chunk_size=4096) as sb:
        procs = [
            subprocess.Popen(
                [
                    *_gsep(),
                    "--base-url",
                    sb.base_url,
                    "separate",
                    f"p{2 * k}.wav",
                    f"p{2 * k + 1}.wav",
                    "-o",
                    "out",
                    "--manifest",
                    "out/manifest.json",
                ],
                env=env,
                cwd=tmp_path,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for k in range(2)
        ]
        outs = [p.communicate(timeout=120) for p in procs]
        assert [p.returncode for p in procs] == [0, 0], outs
        assert _creates(sb) == (4, 4)
        sb.clear_requests()
        again = gsep(
            env,
            tmp_path,
            "separate",
            "p0.wav",
            "p1.wav",
            "p2.wav",
            "p3.wav",
            "-o",
            "out",
            base_url=sb.base_url,
        )
        assert again.returncode == 0, again.stderr
        assert _creates(sb) == (0, 0)
    with Ledger(tmp_path / "state" / "ledger.sqlite3") as ledger:
        assert len(ledger.list_jobs(limit=None)) == 4
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert len(manifest["files"]) == 4  # both processes' entries survived


def _runner(
    sb: Sandbox,
    tmp_path: Path,
    ledger: Ledger,
    clock: float | None = None,
    force: bool = False,
    pay_again: bool = False,
) -> BatchRunner:
    client = GsepClient(sb.base_url, KEY, policy=RetryPolicy(attempts=2, base=0.01, cap=0.02))
    options = BatchOptions(
        "gsep_music_hq_v1",
        ["vocal"],
        ["wav"],
        tmp_path / "out",
        "{track}/{stem}.{ext}",
        force=force,
        pay_again=pay_again,
    )
    kwargs = {"clock": (lambda: clock)} if clock is not None else {}
    return BatchRunner(
        client, options, key_fp=key_fingerprint(KEY), base_url=sb.base_url, ledger=ledger, **kwargs
    )


def test_expired_results_are_done_when_complete_else_redone_only_with_pay_again(
    tmp_path: Path,
) -> None:
    song = _wav(tmp_path / "song.wav")
    with (
        Sandbox(job_seconds=0, chunk_size=4096) as sb,
        Ledger(tmp_path / "ledger.sqlite3") as ledger,
    ):
        assert _runner(sb, tmp_path, ledger).run([song])[0].status == "success"
        # long after expireAt, with the files complete: already done, every time, and the
        # ledger keeps the job's own status
        sb.clear_requests()
        for _ in range(3):
            done = _runner(sb, tmp_path, ledger, clock=4e9).run([song])[0]
            assert done.status == "success" and all(f.skipped for f in done.files)
        assert sb.requests == []
        assert [j.status for j in ledger.list_jobs()] == ["success"]
        # a file lost after expiry: reported, never paid again by itself (the server says
        # it expired: the result host refuses the links)
        (tmp_path / "out" / "song" / "vocal.wav").unlink()
        sb.advance(49 * 3600)
        result = _runner(sb, tmp_path, ledger, clock=4e9).run([song])[0]
        assert result.status == "failed" and "expired" in result.error.message
        assert "--pay-again" in result.error.hint
        assert batch_exit_code([result]) == 4
        assert _creates(sb) == (0, 0)
        assert [j.status for j in ledger.list_jobs()] == ["success"]
        forced = _runner(sb, tmp_path, ledger, force=True, clock=4e9).run([song])[0]
        assert forced.status == "failed" and _creates(sb) == (0, 0)  # --force does not pay
        paid = _runner(sb, tmp_path, ledger, pay_again=True).run([song])[0]
        assert paid.status == "success" and _creates(sb) == (0, 1)  # the upload is reused


def test_a_local_clock_that_says_expired_does_not_decide(tmp_path: Path) -> None:
    """Expiry is the server's to say: with this machine's clock days ahead, a job whose
    results the server still serves is downloaded again, never reported as expired."""
    song = _wav(tmp_path / "song.wav")
    with (
        Sandbox(job_seconds=0, chunk_size=4096) as sb,
        Ledger(tmp_path / "ledger.sqlite3") as ledger,
    ):
        assert _runner(sb, tmp_path, ledger).run([song])[0].status == "success"
        (tmp_path / "out" / "song" / "vocal.wav").unlink()
        again = _runner(sb, tmp_path, ledger, clock=4e9).run([song])[0]
        assert again.status == "success" and again.reused == "job", again.error
        assert (tmp_path / "out" / "song" / "vocal.wav").is_file()
        assert _creates(sb) == (1, 1)


def test_a_job_the_server_forgot_is_reported(tmp_path: Path) -> None:
    song = _wav(tmp_path / "song.wav")
    with (
        Sandbox(job_seconds=0, chunk_size=4096) as sb,
        Ledger(tmp_path / "ledger.sqlite3") as ledger,
    ):
        sha = ledger.file_sha256(song)
        ledger.record_job(
            JobRecord(
                "00000000-dead-beef-0000-000000000000",
                "u",
                sha,
                str(song),
                "gsep_music_hq_v1",
                ("vocal",),
                api_host(sb.base_url),
                key_fingerprint(KEY),
                "running",
                None,
                None,
                1.0,
                1.0,
                (),
            )
        )
        result = _runner(sb, tmp_path, ledger).run([song])[0]
        assert result.status == "failed"
        assert "no longer known" in result.error.message and "--pay-again" in result.error.hint
        assert _creates(sb) == (0, 0)


@pytest.mark.slow
@pytest.mark.skipif(os.name != "posix", reason="SIGINT delivery")
def test_rerun_after_ctrl_c_pays_only_for_what_was_not_started(
    tmp_path: Path, env: dict[str, str]
) -> None:
    import signal
    import time

    for i in range(4):
        _wav(tmp_path / "in" / f"i{i}.wav", tone=i + 11)
    with Sandbox(job_seconds=0.5, chunk_size=4096) as sb:
        proc = subprocess.Popen(
            [*_gsep(), "--base-url", sb.base_url, "separate", "in", "--jobs", "2", "-o", "out"],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.monotonic() + 60
            while not list((tmp_path / "out").glob("i*/vocal.wav")):  # the first one finishes
                assert time.monotonic() < deadline
                time.sleep(0.02)
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=30)
        finally:
            proc.kill()
        assert proc.returncode == 130, err
        finished = sum((tmp_path / "out" / f"i{i}" / "vocal.wav").exists() for i in range(4))
        assert finished >= 1
        jobs_before = _creates(sb)[1]
        sb.clear_requests()
        again = gsep(
            env, tmp_path, "separate", "in", "--jobs", "2", "-o", "out", base_url=sb.base_url
        )
        assert again.returncode == 0, again.stderr
        uploads, jobs = _creates(sb)
        # finished inputs cost nothing more; no input was ever paid for twice. (An upload
        # cut off before the ledger heard of it may be sent again: uploads are free.)
        assert uploads <= 4 - finished and jobs <= 4 - finished
        assert jobs_before + jobs == 4
        assert sorted(again.stdout.split()) == [f"out/i{i}/vocal.wav" for i in range(4)]
        assert not list((tmp_path / "out").rglob("*.part"))


def _sandbox_runner(
    sb: Sandbox, ledger: Ledger, listener: NullListener, out: Path, *, jobs: int = 3
) -> BatchRunner:
    """A runner over the built-in sandbox's host (its jobs stop with its command), writing
    under ``out``."""
    client = GsepClient(
        sb.base_url, KEY, listener=listener, policy=RetryPolicy(attempts=2, base=0.01)
    )
    options = BatchOptions(
        "gsep_music_hq_v1", ["vocal"], ["wav"], out, "{track}/{stem}.{ext}", jobs=jobs
    )  # fmt: skip
    return BatchRunner(
        client,
        options,
        key_fp=key_fingerprint(KEY),
        base_url=sb.base_url,
        ledger=ledger,
        host=SANDBOX_HOST,
    )


class _CtrlCAfterCreated(NullListener):
    """Ctrl-C lands on the main thread just after ``subject``'s job is created, while the
    worker that created it is held there (the window between the creation step and the
    next one) until ``release`` is set or 10 s pass."""

    def __init__(self, subject: str) -> None:
        self.subject = subject
        self.release = threading.Event()

    def notice(self, message: str) -> None:
        if message.startswith(f"{self.subject}: job ") and message.endswith(" created"):
            _thread.interrupt_main()
            self.release.wait(timeout=10)


def test_ctrl_c_just_after_a_sandbox_job_is_created_puts_that_job_on_record(
    tmp_path: Path,
) -> None:
    """The sandbox's jobs stop with its command, so on Ctrl-C each one it still runs is put
    on record as abandoned (the re-run starts it afresh instead of waiting on a job no
    emulator knows). A job whose creation had just been answered counts as running: its id
    is known to the clean-up from the moment the creation step ends (a CI run once caught
    the interrupt in that window and left the job unconfirmed)."""
    songs = [_wav(tmp_path / f"{name}.wav", tone=tone) for tone, name in enumerate("ab", 3)]
    listener = _CtrlCAfterCreated("b.wav")
    with (
        Sandbox(job_seconds=1, chunk_size=4096) as sb,
        Ledger(tmp_path / "ledger.sqlite3") as ledger,
    ):
        runner = _sandbox_runner(sb, ledger, listener, tmp_path / "out")
        try:
            with pytest.raises(Interrupted):
                runner.run([songs[1]])
            (job,) = ledger.list_jobs(limit=None)
            assert job.status == "abandoned", job
        finally:
            listener.release.set()
            deadline = time.monotonic() + 10  # the held worker ends before the sandbox does
            while any(t.name.startswith("gsep-input") for t in threading.enumerate()):
                assert time.monotonic() < deadline, "the input's worker did not end"
                time.sleep(0.02)


class _CtrlCSoonAfterFirstCreated(NullListener):
    """Ctrl-C lands on the main thread ``delay`` seconds after the first job is created."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.timer: threading.Timer | None = None

    def notice(self, message: str) -> None:
        if self.timer is None and message.endswith(" created") and ": job " in message:
            self.timer = threading.Timer(self.delay, _thread.interrupt_main)
            self.timer.start()


def test_ctrl_c_while_one_sandbox_job_is_polled_and_another_created_abandons_both(
    tmp_path: Path,
) -> None:
    """Ctrl-C while one input's job is being polled and another's creation is still on the
    wire: the stop waits for the creation, and both jobs, which its emulator takes with it,
    are put on record as abandoned. The stop ends the poller's wait at once, so that input
    has already failed (Interrupted) by the time the clean-up looks: it counts all the same
    (a breaker found both left ``submitted``, so a re-run waited on jobs no emulator knew)."""
    songs = [_wav(tmp_path / f"{name}.wav", tone=tone) for tone, name in enumerate("ab", 5)]
    listener = _CtrlCSoonAfterFirstCreated(0.5)
    # the first creation to arrive waits 3 s before it is handled; the other is answered
    with (
        Sandbox(job_seconds=30, chunk_size=4096, faults=["api-delay@job-create:1:3"]) as sb,
        Ledger(tmp_path / "ledger.sqlite3") as ledger,
    ):
        runner = _sandbox_runner(sb, ledger, listener, tmp_path / "out", jobs=2)
        started = time.monotonic()
        with pytest.raises(Interrupted):
            runner.run(songs)
        took = time.monotonic() - started
        jobs = ledger.list_jobs(limit=None)
        assert sorted(j.status for j in jobs) == ["abandoned", "abandoned"], jobs
        assert took < 15, took  # a bound on the stop, not a speed target


@pytest.mark.slow
def test_files_recorded_before_their_rename_are_adopted_without_any_request(
    tmp_path: Path, env: dict[str, str]
) -> None:
    _wav(tmp_path / "song.wav")
    args = ["separate", "song.wav", "-o", "out", "--format", "both"]
    with Sandbox(job_seconds=0, chunk_size=4096, faults=["download-no-head:*"]) as sb:
        first = gsep(env, tmp_path, *args, base_url=sb.base_url)
        assert first.returncode == 0, first.stderr
        with Ledger(tmp_path / "state" / "ledger.sqlite3") as ledger:
            (record,) = ledger.list_jobs()
            assert {(f.stem, f.format) for f in record.files} == {
                ("vocal", "wav"),
                ("vocal", "mp3"),
            }
            for item in record.files:  # each file with its size and SHA-256
                data = Path(item.path).read_bytes()
                assert item.bytes == len(data)
                assert item.sha256 == hashlib.sha256(data).hexdigest()
        # as if the run had been killed right after the rename, before anything else: the
        # file records were made before it; only the hash cache is missing
        with sqlite3.connect(tmp_path / "state" / "ledger.sqlite3") as db:
            db.execute("DELETE FROM file_hashes")
        sb.clear_requests()
        again = gsep(env, tmp_path, *args, base_url=sb.base_url)
        assert again.returncode == 0, again.stderr
        assert "already done" in again.stderr
        assert sb.requests == []  # no API call, no HEAD, no GET
        # a file of the same size but other content is someone else's: refused
        target = tmp_path / "out" / "song" / "vocal.wav"
        size = target.stat().st_size
        target.write_bytes(b"x" * size)
        third = gsep(env, tmp_path, *args, base_url=sb.base_url)
        assert third.returncode == 2
        assert "already exists" in third.stderr and _creates(sb) == (0, 0)
