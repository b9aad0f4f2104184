"""The spending guard (issue 18): ``--max-jobs N`` refuses, before any request, a run that
would pay for more than N new jobs; ``--dry-run`` says which inputs would be new jobs and
the credits left. The installed ``gsep`` against the sandbox over loopback HTTP, and the
library's plan against the sandbox's real job count."""

from __future__ import annotations

import itertools
import shutil
import socket
import tempfile
from pathlib import Path

import pytest
from clitools import Run, assert_clean_error, clean_env, make_wav, run_gsep
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from paidtools import counts

from gsep_cli.batch import BatchOptions, BatchRunner
from gsep_cli.batch.guard import plan_jobs
from gsep_cli.client import GsepClient
from gsep_cli.errors import ExitCode, SpendingLimit
from gsep_cli.ledger import Ledger, api_host, key_fingerprint
from gsep_cli.polling import PollPolicy
from gsep_cli.retry import RetryPolicy
from gsep_cli.sandbox import Sandbox

KEY = "guard-key-4242"
_lengths = itertools.count()


def song(path: Path) -> Path:
    """A short WAV whose content no other call gives (a length of its own)."""
    return make_wav(path, seconds=0.2 + 0.01 * next(_lengths))


def gsep(tmp: Path, sb: Sandbox | None, *args: str, base_url: str | None = None) -> Run:
    env = clean_env(tmp, GSEP_API_KEY=KEY, GSEP_BASE_URL=base_url or (sb and sb.base_url))
    return run_gsep(["separate", *args, "-s", "vocal", "-o", "out"], env, cwd=tmp)


def closed_port_url() -> str:
    """A loopback base URL where nothing listens: any request would fail (exit 6)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/developers/api"


def test_a_run_over_the_limit_is_refused_before_any_request(tmp_path: Path) -> None:
    song(tmp_path / "a.wav"), song(tmp_path / "b.wav")
    run = gsep(tmp_path, None, "a.wav", "b.wav", "--max-jobs", "1", base_url=closed_port_url())
    line = assert_clean_error(run, ExitCode.USAGE, "this run would create 2 new jobs")
    assert "more than --max-jobs 1" in line and "--dry-run" in line
    assert not (tmp_path / "out").exists()


def test_reuse_does_not_count_and_max_jobs_0_passes_a_recorded_rerun(tmp_path: Path) -> None:
    song(tmp_path / "a.wav"), song(tmp_path / "b.wav")
    with Sandbox(job_seconds=0, chunk_size=8192) as sb:
        assert gsep(tmp_path, sb, "a.wav", "b.wav", "--max-jobs", "2").code == 0
        assert counts(sb) == (2, 2)
        rerun = gsep(tmp_path, sb, "a.wav", "b.wav", "--max-jobs", "0")
        assert rerun.code == 0, str(rerun)
        assert counts(sb) == (2, 2)
        song(tmp_path / "c.wav")  # one new input: 1 new job, within --max-jobs 1
        assert gsep(tmp_path, sb, "a.wav", "b.wav", "c.wav", "--max-jobs", "0").code == 2
        assert counts(sb) == (2, 2)
        run = gsep(tmp_path, sb, "a.wav", "b.wav", "c.wav", "--max-jobs", "1")
        assert run.code == 0, str(run)
        assert counts(sb) == (3, 3)


def test_an_input_whose_files_are_in_the_way_is_not_counted_but_refused_as_the_run_would(
    tmp_path: Path,
) -> None:
    """A new input whose output is already there (not gsep's, no --force): the run would
    refuse it before paying, so it is no new job — the user hears what is really wrong
    (and what to do), not that the run would pay more than --max-jobs."""
    song(tmp_path / "a.wav")
    (tmp_path / "out" / "a").mkdir(parents=True)
    (tmp_path / "out" / "a" / "vocal.wav").write_bytes(b"someone else's")
    run = gsep(tmp_path, None, "a.wav", "--max-jobs", "0", base_url=closed_port_url())
    line = assert_clean_error(run, ExitCode.USAGE, "already exists")
    assert "--max-jobs" not in line and "--force" in line, line
    dry = gsep(tmp_path, None, "a.wav", "--dry-run", "--max-jobs", "0", "--sandbox")
    assert_clean_error(dry, ExitCode.USAGE, "already exists")  # the same line, not the limit


def test_identical_inputs_count_once(tmp_path: Path) -> None:
    shutil.copy(song(tmp_path / "a.wav"), tmp_path / "b.wav")
    with Sandbox(job_seconds=0, chunk_size=8192) as sb:
        run = gsep(tmp_path, sb, "a.wav", "b.wav", "--max-jobs", "1")
        assert run.code == 0, str(run)
        assert counts(sb)[1] == 1
        assert (tmp_path / "out/a/vocal.wav").is_file() and (tmp_path / "out/b/vocal.wav").is_file()


def _options(tmp: Path, **extra: object) -> BatchOptions:
    return BatchOptions(
        "gsep_music_hq_v1", ["vocal"], ["wav"], tmp / "out", "{track}/{stem}.{ext}", **extra
    )  # type: ignore[arg-type]


def _runner(sb: Sandbox, ledger: Ledger, options: BatchOptions) -> BatchRunner:
    client = GsepClient(
        sb.base_url,
        KEY,
        policy=RetryPolicy(attempts=2, base=0.01, cap=0.02),
        poll=PollPolicy(initial=0.05, cap=0.2),  # the sandbox's jobs end at once
    )
    return BatchRunner(
        client, options, key_fp=key_fingerprint(KEY), base_url=sb.base_url, ledger=ledger
    )


def test_the_run_never_pays_past_the_limit_even_when_the_plan_was_wrong(tmp_path: Path) -> None:
    """The plan sees both inputs on record (0 new jobs); before the work starts another
    gsep forgets those records: the first input pays for job 1, the second fails before
    its upload, and nothing else is sent for it."""
    a, b = song(tmp_path / "a.wav"), song(tmp_path / "b.wav")
    with (
        Sandbox(job_seconds=0, chunk_size=8192) as sb,
        Ledger(tmp_path / "ledger.sqlite3") as ledger,
    ):
        done = _runner(sb, ledger, _options(tmp_path)).run([a, b])
        assert [r.status for r in done] == ["success", "success"] and counts(sb) == (2, 2)
        shutil.rmtree(tmp_path / "out")
        runner = _runner(sb, ledger, _options(tmp_path, max_jobs=1, jobs=1))
        planned = runner.check_spending

        def plan_then_forget(inputs: list[Path]) -> object:
            plans = planned(inputs)
            assert [p.new for p in plans] == [False, False]
            ledger.forget_jobs([r.job_id for r in done if r.job_id])
            return plans

        runner.check_spending = plan_then_forget  # type: ignore[method-assign]
        results = runner.run([a, b])
        assert counts(sb) == (2, 3)  # one new job (on the upload on record), not two
        assert [r.status for r in results] == ["success", "failed"]
        error = results[1].error
        assert isinstance(error, SpendingLimit) and error.exit_code == ExitCode.USAGE
        assert "b.wav" in error.message and "more than --max-jobs 1" in error.message
        assert results[1].upload_id is None and results[1].job_id is None


def test_dry_run_counts_and_credits_text_and_json(tmp_path: Path) -> None:
    a = song(tmp_path / "a.wav")
    shutil.copy(a, tmp_path / "dup.wav")
    shutil.copy(song(tmp_path / "c.wav"), tmp_path / "c2.wav")
    with Sandbox(job_seconds=0, chunk_size=8192, credits=40) as sb:
        assert gsep(tmp_path, sb, "a.wav").code == 0
        (job,) = [j.job_id for j in sb.store._jobs.values()]
        sb.clear_requests()
        run = gsep(tmp_path, sb, "a.wav", "dup.wav", "c.wav", "--dry-run")
        assert run.code == 0, str(run)
        assert run.lines[0].startswith(f"would reuse job {job} for a.wav (")
        assert run.lines[1].startswith(f"would reuse job {job} for dup.wav (")
        assert run.lines[2].startswith("would upload c.wav (") and "then create" in run.lines[2]
        assert "gsep: would create 1 new job (2 reused)" in run.err_lines
        assert "gsep: credits left, as reported by the API: free 39, paid 0" in run.err_lines
        env = clean_env(tmp_path, GSEP_API_KEY=KEY, GSEP_BASE_URL=sb.base_url)
        run = run_gsep(
            ["--json", "separate", "a.wav", "c.wav", "c2.wav", "--dry-run"], env, cwd=tmp_path
        )
        assert run.code == 0, str(run)
        docs = [__import__("json").loads(line) for line in run.lines]
        assert [(d["newJob"], d["reuseJob"], d["sameAs"]) for d in docs] == [
            (False, job, None),
            (True, None, None),
            (False, None, "c.wav"),
        ]
        assert "gsep: would create 1 new job (2 reused)" in run.err_lines
        assert "gsep: credits left, as reported by the API: free 39, paid 0" in run.err_lines
        assert [r["path"] for r in sb.requests] == ["/developers/api/v1/key/info"] * 2
        run = gsep(tmp_path, sb, "a.wav", "c.wav", "--dry-run", "--max-jobs", "0")
        assert run.code == ExitCode.USAGE and "more than --max-jobs 0" in run.err, str(run)
        assert counts(sb)[1] == 1


def test_dry_run_credits_unknown_when_the_server_fails(tmp_path: Path) -> None:
    song(tmp_path / "a.wav")
    with Sandbox(job_seconds=0, chunk_size=8192, faults=["api-500@key-info:20"]) as sb:
        run = gsep(tmp_path, sb, "a.wav", "--dry-run")
    assert run.code == 0, str(run)
    assert run.lines[0].startswith("would upload a.wav (")
    (line,) = [ln for ln in run.err_lines if "credits left" in ln]
    assert line.startswith("gsep: credits left: unknown (") and "500" in line, line
    run = gsep(tmp_path, None, "a.wav", "--dry-run", base_url=closed_port_url())
    assert run.code == 0, str(run)
    assert any(ln.startswith("gsep: credits left: unknown (") for ln in run.err_lines), str(run)


def test_dry_run_fails_on_a_key_the_api_refuses(tmp_path: Path) -> None:
    song(tmp_path / "a.wav")
    with Sandbox(job_seconds=0, chunk_size=8192, faults=["api-401@key-info:20"]) as sb:
        run = gsep(tmp_path, sb, "a.wav", "--dry-run")
    assert run.code == ExitCode.AUTH, str(run)
    assert [ln for ln in run.err_lines if ln.startswith("gsep: error: HTTP 401")], str(run)


KINDS = st.lists(st.sampled_from(["fresh", "known", "dup"]), min_size=1, max_size=5)


@pytest.mark.slow
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kinds=KINDS, pay_again=st.booleans(), force=st.booleans())
@example(kinds=["known", "dup", "known", "fresh", "dup"], pay_again=True, force=False)
def test_the_plan_counts_exactly_the_jobs_the_run_creates(
    kinds: list[str], pay_again: bool, force: bool
) -> None:
    """Any mix of fresh inputs, inputs already done, and copies of earlier inputs, with
    or without --pay-again and --force (without it, paying again finds the old files in
    the way): the plan's count of new jobs is the sandbox's job-count delta of the real
    run, and the inputs the plan says fail are the ones that fail."""
    with (
        tempfile.TemporaryDirectory() as folder,
        Sandbox(job_seconds=0, chunk_size=8192) as sb,
        Ledger(Path(folder) / "ledger.sqlite3") as ledger,
    ):
        tmp = Path(folder)
        inputs: list[Path] = []
        known: list[Path] = []
        for index, kind in enumerate(kinds):
            path = tmp / f"in{index}.wav"
            if kind == "dup" and inputs:
                shutil.copy(inputs[-1], path)
            else:
                song(path)
                if kind == "known":
                    known.append(path)
            inputs.append(path)
        if known:
            assert all(r.ok for r in _runner(sb, ledger, _options(tmp)).run(known))
        # one input at a time, as the plan reads them: with several at once, which of two
        # copies claims their work first decides which one finds its files in the way
        # (the count of new jobs is the same either way)
        options = _options(tmp, pay_again=pay_again, force=force, jobs=1)
        plans = plan_jobs(
            options, inputs, ledger=ledger, host=api_host(sb.base_url), key_fp=key_fingerprint(KEY)
        )
        before = counts(sb)[1]
        results = _runner(sb, ledger, options).run(inputs)
        assert [p.error is None for p in plans] == [r.ok for r in results], [
            (str(p.error), str(r.error)) for p, r in zip(plans, results, strict=True)
        ]
        assert sum(p.new for p in plans) == counts(sb)[1] - before
