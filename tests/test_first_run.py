"""The first run, every run (issue 15, "The first run" 2 and "Commands and messages" 5):
the README's first command works twice in a row and leaves nothing but its outputs, and
``--sandbox`` keeps a ledger of its own so that re-runs behave as against the API.

Every run here is the installed ``gsep`` in a subprocess, with no key (``clean_env``)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from clitools import (
    clean_env,
    files_under,
    make_wav,
    run_gsep,
    start_gsep,
    wait_for,
)

from gsep_cli.ledger import SANDBOX_HOST, JobRecord, Ledger

README = Path(__file__).resolve().parent.parent / "README.md"


def _first_command() -> str:
    """The README's first command, as its set-up block gives it (without the install)."""
    setup = README.read_text(encoding="utf-8").split("## Set up", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"^```sh\n(.*?)^```$", setup, re.S | re.M)
    assert block is not None, "no shell block in the README's set-up"
    (line,) = [ln for ln in block[1].splitlines() if "gsep sandbox example" in ln]
    return re.sub(r"^.*?&&\s*(?=gsep )", "", line)  # drop "pip install . &&"


def _bash(command: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run ``command`` with bash, the installed gsep first on PATH (as once activated)."""
    env = {**env, "PATH": os.pathsep.join([os.path.dirname(sys.executable), env["PATH"]])}
    return subprocess.run(
        ["bash", "-c", command], env=env, cwd=cwd, capture_output=True, text=True, timeout=90
    )


def _requests(stderr: str) -> list[str]:
    """The requests ``-v`` logged (``gsep: -> METHOD URL``)."""
    return [line for line in stderr.splitlines() if line.startswith("gsep: -> ")]


def _sandbox_jobs(tmp_path: Path) -> list[JobRecord]:
    """The sandbox ledger's jobs (none while it does not exist yet)."""
    path = tmp_path / "state" / "sandbox" / "ledger.sqlite3"
    if not path.exists():
        return []
    with Ledger(path) as ledger:
        return ledger.list_jobs(limit=None)


@pytest.mark.slow
def test_the_readme_first_command_twice_in_a_row(tmp_path: Path) -> None:
    command = _first_command()
    assert command.startswith("gsep ") and "--sandbox" in command, command
    verbose = re.sub(r"^gsep ", "gsep -v ", command)  # -v logs every request
    env = clean_env(tmp_path)
    work = tmp_path / "checkout"
    work.mkdir()
    first = _bash(verbose, env, work)
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines() == ["example/vocal.wav", "example/drum.wav"]
    assert _requests(first.stderr)  # the check below can see requests
    written = {p: (work / p).read_bytes() for p in first.stdout.splitlines()}
    second = _bash(verbose, env, work)
    assert second.returncode == 0, second.stderr
    assert second.stdout == first.stdout
    assert "already done" in second.stderr and _requests(second.stderr) == [], second.stderr
    assert {p: (work / p).read_bytes() for p in written} == written
    # nothing in the checkout but the outputs (no manifest.json, no ledger)
    assert files_under(work) == ["example/drum.wav", "example/vocal.wav"]
    # the sandbox's work is in its own ledger, under a host that does not change with
    # the emulator's port; the real ledger is never created
    (job,) = _sandbox_jobs(tmp_path)
    assert (job.api_host, job.status) == (SANDBOX_HOST, "success")
    assert not (tmp_path / "state" / "ledger.sqlite3").exists()
    real = run_gsep(["--json", "jobs", "list"], env)
    assert real.code == 0 and real.json()["jobs"] == [], str(real)
    sandboxed = run_gsep(["--sandbox", "--json", "jobs", "list"], env)
    assert [j["jobId"] for j in sandboxed.json()["jobs"]] == [job.job_id], str(sandboxed)


@pytest.mark.slow
def test_deleted_outputs_of_a_sandbox_job_are_made_again(tmp_path: Path) -> None:
    """The job belonged to an emulator that is gone, so the new one answers job-not-found.
    Against the API the re-run would download that job's files again; in the sandbox the
    equivalent is a new job (free), said so, and the old one is put on record as
    abandoned."""
    env = clean_env(tmp_path)
    make_wav(tmp_path / "song.wav", seconds=0.3)
    args = ["--sandbox", "separate", "song.wav", "-o", "out"]
    first = run_gsep(args, env, cwd=tmp_path)
    assert first.code == 0, str(first)
    (job,) = _sandbox_jobs(tmp_path)
    (tmp_path / "out" / "song" / "vocal.wav").unlink()
    again = run_gsep(args, env, cwd=tmp_path)
    assert again.code == 0, str(again)
    assert again.out.splitlines() == ["out/song/vocal.wav"]
    assert job.job_id in again.err and "earlier --sandbox command" in again.err, again.err
    assert (tmp_path / "out" / "song" / "vocal.wav").stat().st_size > 44
    jobs = {j.job_id: j.status for j in _sandbox_jobs(tmp_path)}
    assert len(jobs) == 2 and jobs[job.job_id] == "abandoned", jobs
    third = run_gsep(args, env, cwd=tmp_path)  # and now it is simply done
    assert third.code == 0 and "already done" in third.err, str(third)


@pytest.mark.slow
def test_sandbox_runs_at_once_on_the_same_input_both_deliver(tmp_path: Path) -> None:
    """Two --sandbox commands given the same input at once, each with its own emulator:
    the second waits for the first's claim, then cannot reach the first's job (its
    emulator stopped) and runs the input again, free; neither fails or hangs."""
    env = clean_env(tmp_path, GSEP_SANDBOX_JOB_SECONDS="1.0")
    make_wav(tmp_path / "song.wav", seconds=0.3)
    procs = [
        start_gsep(["--sandbox", "separate", "song.wav", "-o", out], env, tmp_path)
        for out in ("one", "two")
    ]
    try:
        done = [proc.communicate(timeout=60) for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    for proc, (_out, err) in zip(procs, done, strict=True):
        assert proc.returncode == 0, err
    assert sorted(out.strip() for out, _ in done) == ["one/song/vocal.wav", "two/song/vocal.wav"]


@pytest.mark.skipif(os.name != "posix", reason="SIGINT delivery")
def test_ctrl_c_in_a_sandbox_batch_abandons_every_job_being_polled(tmp_path: Path) -> None:
    """Ctrl-C while two inputs' jobs are polled at once (``--jobs 2``): both are put on
    record as abandoned, each with its line, though the stop ends their poll waits (and so
    the inputs, Interrupted) before the clean-up looks (a breaker found them left
    ``submitted`` with no line: the re-run would wait on jobs no emulator knows). The third
    input, queued, is not begun after the Ctrl-C (a worker freed by the stop took it and
    printed its upload after the interrupt)."""
    env = clean_env(tmp_path, GSEP_SANDBOX_JOB_SECONDS="60")
    for index, name in enumerate(("a", "b", "c")):
        make_wav(tmp_path / f"{name}.wav", seconds=0.2 + 0.05 * index)
    args = ["--sandbox", "separate", "a.wav", "b.wav", "c.wav", "--jobs", "2", "-o", "out"]
    proc = start_gsep(args, env, tmp_path)
    try:
        wait_for(
            lambda: (
                [j.status for j in _sandbox_jobs(tmp_path)] == ["submitted"] * 2
                or proc.poll() is not None
            ),
            30,
        )
        assert proc.poll() is None, "gsep ended before its jobs ran"
        time.sleep(0.5)  # both jobs created and confirmed: now in their poll waits
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert out == ""
    assert "a.wav: the sandbox's job" in err and "b.wav: the sandbox's job" in err, err
    assert "Traceback" not in err and "c.wav" not in err, err
    assert [j.status for j in _sandbox_jobs(tmp_path)] == ["abandoned"] * 2


@pytest.mark.slow
@pytest.mark.skipif(os.name != "posix", reason="SIGINT delivery")
def test_ctrl_c_in_a_sandbox_batch_then_the_same_command_carries_on(tmp_path: Path) -> None:
    """The message "finished inputs are recorded, run the same command again to carry on"
    is true with --sandbox: the finished input is not redone, the one whose job the stopped
    emulator took with it is done afresh without --pay-again."""
    env = clean_env(tmp_path, GSEP_SANDBOX_JOB_SECONDS="1.5")
    for index, name in enumerate(("a", "b", "c")):
        make_wav(tmp_path / f"{name}.wav", seconds=0.2 + 0.05 * index)
    args = ["--sandbox", "separate", "a.wav", "b.wav", "c.wav", "--jobs", "1", "-o", "out"]
    proc = start_gsep(args, env, tmp_path)
    try:
        wait_for(lambda: len(_sandbox_jobs(tmp_path)) == 2 or proc.poll() is not None, 30)
        assert proc.poll() is None, "gsep ended before its second job"
        proc.send_signal(signal.SIGINT)  # a.wav done, b.wav's job running
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert out.splitlines() == ["out/a/vocal.wav"]
    assert "finished inputs are recorded — Run the same command again to carry on" in err
    assert "b.wav: the sandbox's job" in err and "Traceback" not in err
    jobs = {Path(j.input_path).name: j for j in _sandbox_jobs(tmp_path)}
    assert (jobs["a.wav"].status, jobs["b.wav"].status) == ("success", "abandoned")
    again = run_gsep(["--json", *args], env, cwd=tmp_path)
    assert again.code == 0, str(again)
    lines = {Path(d["input"]).name: d for d in map(json.loads, again.lines)}
    assert lines["a.wav"]["reused"] == "job" and lines["a.wav"]["jobId"] == jobs["a.wav"].job_id
    assert "a.wav: already done" in again.err
    assert lines["b.wav"]["jobId"] != jobs["b.wav"].job_id
    assert files_under(tmp_path / "out") == ["a/vocal.wav", "b/vocal.wav", "c/vocal.wav"]
    names = sorted(Path(j.input_path).name for j in _sandbox_jobs(tmp_path))
    assert names == ["a.wav", "b.wav", "b.wav", "c.wav"]  # a.wav paid for once


def test_the_sandbox_flag_takes_its_faults_from_the_environment(tmp_path: Path) -> None:
    """GSEP_SANDBOX_FAULTS reaches the ``--sandbox`` emulator too (it used to be read by
    ``gsep sandbox serve`` only, so a breaker's matrix of faults for ``--sandbox`` runs
    tested none of them): a job creation answered 503 once is retried and the run ends
    well; a fault that does not parse is one line, before anything runs."""
    make_wav(tmp_path / "song.wav", seconds=0.2)
    args = ["-v", "--sandbox", "separate", "song.wav", "-o", "out"]
    env = clean_env(
        tmp_path, GSEP_SANDBOX_JOB_SECONDS="0", GSEP_SANDBOX_FAULTS="api-503@job-create:1"
    )
    done = run_gsep(args, env, cwd=tmp_path)
    assert done.code == 0, str(done)
    answers = re.findall(r"<- (\d+) .*/jobs", done.err)
    assert answers[:2] == ["503", "200"], done.err
    assert [Path(j.input_path).name for j in _sandbox_jobs(tmp_path)] == ["song.wav"]
    bad = run_gsep(args, {**env, "GSEP_SANDBOX_FAULTS": "no-such-fault"}, cwd=tmp_path)
    assert bad.code != 0 and bad.err.count("\n") == 1, str(bad)
    assert "GSEP_SANDBOX_FAULTS" in bad.err and "Traceback" not in bad.err
