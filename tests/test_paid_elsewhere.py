"""Several jobs on record for one work (issue 15, found by the outside breaker): after
``--pay-again`` into another folder, the original command is still "already done" — its
files are here, recorded under the older job — even when the server has forgotten every
job (its results expired); and nothing is said about paying, nor a sandbox upload of an
earlier command reused, when no such thing can happen.

Every run is the installed ``gsep`` in a subprocess."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from clitools import clean_env, gsep_exe, make_wav, run_gsep

from gsep_cli.ledger import Ledger

pytestmark = pytest.mark.slow


@contextmanager
def _served(env: dict[str, str], port: int = 0) -> Iterator[str]:
    """``gsep sandbox serve`` on ``port`` (0: any); yields its base URL."""
    proc = subprocess.Popen(
        [gsep_exe(), "sandbox", "serve", "--port", str(port), "--job-seconds", "0.2"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://"), url
        yield url
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=20)


def _jobs(state: Path) -> list[str]:
    """The job ids of the ledger under ``state`` (``state/sandbox`` for --sandbox)."""
    with Ledger(state / "ledger.sqlite3") as ledger:
        return [j.job_id for j in ledger.list_jobs(limit=None)]


def test_the_original_folder_stays_done_after_pay_again_elsewhere_and_a_server_that_forgot(
    tmp_path: Path,
) -> None:
    env = clean_env(tmp_path, GSEP_API_KEY="paid-elsewhere-1234")
    make_wav(tmp_path / "song.wav", seconds=0.3)
    args = ["separate", "song.wav", "--stems", "vocal"]
    with _served(env) as url:
        env["GSEP_BASE_URL"] = url
        first = run_gsep(args, env, cwd=tmp_path)
        assert first.code == 0, str(first)
        (older,) = _jobs(tmp_path / "state")
        again = run_gsep([*args, "-o", "out", "--pay-again"], env, cwd=tmp_path)
        assert again.code == 0, str(again)
        (newer,) = set(_jobs(tmp_path / "state")) - {older}
    port = int(url.split(":")[2].split("/")[0])
    with _served(env, port):  # the same server, restarted: it knows no job any more
        for extra, job, output in (([], older, "song/vocal.wav"), (["-o", "out"], newer, None)):
            rerun = run_gsep([*args, *extra], env, cwd=tmp_path)
            assert rerun.code == 0, str(rerun)
            assert f"already done (job {job})" in rerun.err, rerun.err
            assert "1104" not in rerun.err and "--pay-again" not in rerun.err, rerun.err
            if output is not None:
                assert rerun.lines == [output], str(rerun)
    assert len(_jobs(tmp_path / "state")) == 2  # nothing paid again


def test_sandbox_pay_again_elsewhere_keeps_the_original_done_and_reuses_no_old_upload(
    tmp_path: Path,
) -> None:
    env = clean_env(tmp_path)
    make_wav(tmp_path / "song.wav", seconds=0.3)
    args = ["--sandbox", "separate", "song.wav", "--stems", "vocal"]
    first = run_gsep(args, env, cwd=tmp_path)
    assert first.code == 0, str(first)
    (older,) = _jobs(tmp_path / "state" / "sandbox")
    again = run_gsep([*args, "-o", "out", "--pay-again"], env, cwd=tmp_path)
    assert again.code == 0, str(again)
    # the earlier command's upload lived in its own emulator: not offered, not tried
    assert "reusing upload" not in again.err, again.err
    assert "remembered upload is gone" not in again.err, again.err
    assert len(_jobs(tmp_path / "state" / "sandbox")) == 2
    rerun = run_gsep(args, env, cwd=tmp_path)
    assert rerun.code == 0, str(rerun)
    assert f"already done (job {older})" in rerun.err, rerun.err
    assert "running the input again" not in rerun.err, rerun.err
    assert rerun.lines == ["song/vocal.wav"]
    assert len(_jobs(tmp_path / "state" / "sandbox")) == 2


def test_pay_again_twice_into_one_folder_says_nothing_about_paying(tmp_path: Path) -> None:
    env = clean_env(tmp_path)
    make_wav(tmp_path / "song.wav", seconds=0.3)
    args = ["--sandbox", "separate", "song.wav", "--stems", "vocal", "--pay-again"]
    first = run_gsep(args, env, cwd=tmp_path)
    assert first.code == 0, str(first)
    second = run_gsep(args, env, cwd=tmp_path)
    assert second.code == 2, str(second)
    assert "already exists" in second.err, second.err
    assert "paying" not in second.err, second.err
    assert len(_jobs(tmp_path / "state" / "sandbox")) == 1
