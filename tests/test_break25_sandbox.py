"""Breaker round 25: commit 1474f23 (a ``--sandbox`` creation an earlier command never saw
answered is run again, free; GSEP_SANDBOX_FAULTS read by the built-in emulator and
``gsep mcp --sandbox``; a download cancelled as it is moved into place is an interruption).

The findings (now fixed) say in their docstring what was expected and (``Seen:``) what
the breaker saw before the fix; ``test_held_*`` pin what held up (the matrix of every
fault kind is marked slow). Loopback only; config and state in
temporary folders; every wait bounded.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from clitools import SECRET, clean_env, gsep_exe, make_wav, run_gsep, set_env, wait_for

from gsep_cli.sandbox import Sandbox
from gsep_cli.sandbox.faults import _FIXED_KINDS

README_EXIT_CODES = {0, 2, 3, 4, 5, 6, 7, 8, 9, 130}  # 1 is "a bug: please report it"


# --------------------------------------------------------------------------- helpers


def _sandbox_ledger(tmp: Path) -> Path:
    return tmp / "state" / "sandbox" / "ledger.sqlite3"


def _statuses(ledger: Path) -> list[str]:
    """The sandbox ledger's job statuses, oldest first (none while it is being made)."""
    if not ledger.exists():
        return []
    try:
        with sqlite3.connect(f"file:{ledger}?mode=ro", uri=True) as conn:
            rows = conn.execute("SELECT status FROM jobs ORDER BY created_at").fetchall()
    except sqlite3.OperationalError:  # the file exists, its tables not yet
        return []
    return [row[0] for row in rows]


def _created(err: str) -> int:
    """How many jobs a gsep run said it created."""
    return sum(1 for line in err.splitlines() if line.rstrip().endswith(" created"))


def _leave_sandbox_unconfirmed(tmp: Path, song: Path) -> None:
    """An earlier ``--sandbox`` command whose job creation hung (no answer came): exit 6,
    its creation on the sandbox ledger as ``unconfirmed``."""
    env = clean_env(tmp, GSEP_SANDBOX_FAULTS="api-hang@job-create", GSEP_READ_TIMEOUT="2")
    run = run_gsep(["--sandbox", "separate", song.name, "-o", "out"], env, cwd=tmp, timeout=30)
    assert run.code == 6, run
    assert _statuses(_sandbox_ledger(tmp)) == ["unconfirmed"], run


def _stats(origin: str) -> dict[str, Any]:
    with urllib.request.urlopen(origin.rstrip("/") + "/_sandbox/stats", timeout=5) as answer:
        return json.loads(answer.read())


# --------------------------------------------------------------------------- findings


def test_a_live_session_emulator_refuses_its_own_unanswered_creation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One library ``Session(sandbox=True)``: its emulator lives as long as the session.
    The first ``separate`` sends the job creation; the emulator creates the job (credits
    charged there) but answers late (``api-late@job-create``), after the read timeout: the
    input fails, its creation recorded ``unconfirmed``. The second ``separate`` of the same
    input in the same session, without ``pay_again``.

    Expected (1474f23's reason: "its emulator stopped with that command, so no job of it
    can exist"; the contract: nothing creates a second job for the same work unless asked):
    the second call is refused as against the API (the emulator that may hold the job is
    still running), or finds that job; one job in the emulator.
    Seen: the second call runs the input again with the notice "... in an earlier
    --sandbox command's emulator, now stopped, was never answered; running the input again"
    (the emulator is not stopped: it is this session's) and the one emulator now holds two
    jobs for the same work. ``next_step(sandbox=True)`` takes "created before this call"
    for "created by a dead emulator"; the same holds for ``gsep mcp --sandbox`` (next test)."""
    song = make_wav(tmp_path / "song.wav", seconds=0.3)
    set_env(
        monkeypatch,
        tmp_path,
        GSEP_SANDBOX_FAULTS="api-late@job-create:1:3",
        GSEP_READ_TIMEOUT="1",
    )
    from gsep_cli import Session

    notices: list[str] = []
    with Session(sandbox=True) as session:
        first = session.separate(str(song), out_dir=str(tmp_path / "out"), stems="vocal")
        assert first[0].status == "failed", first  # no answer in time: unconfirmed
        time.sleep(0.1)
        session.warn = notices.append  # type: ignore[method-assign]
        second = session.separate(str(song), out_dir=str(tmp_path / "out"), stems="vocal")
        emulator = session._sandbox
        assert emulator is not None
        jobs = emulator.store.job_count()
    assert jobs == 1, (
        f"the session's one emulator holds {jobs} jobs for one input; second call: "
        f"{second[0].status} job {second[0].job_id}"
    )


def test_a_live_session_emulator_reuses_the_uploads_it_holds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The other side of the same rule: a Session's second ``separate`` of one file (other
    stems: a new job) reuses the upload its still-running emulator holds, instead of
    taking every upload made before this call for one a stopped emulator took with it."""
    song = make_wav(tmp_path / "song.wav", seconds=0.3)
    set_env(monkeypatch, tmp_path, GSEP_SANDBOX_JOB_SECONDS="0")
    from gsep_cli import Session

    with Session(sandbox=True) as session:
        first = session.separate(str(song), out_dir=str(tmp_path / "one"), stems="vocal")
        second = session.separate(str(song), out_dir=str(tmp_path / "two"), stems="drum")
        emulator = session._sandbox
        assert emulator is not None
        uploads = emulator.store.upload_count()
    assert [r.status for r in first + second] == ["success", "success"]
    assert (first[0].reused, second[0].reused) == (None, "upload")
    assert second[0].upload_id == first[0].upload_id and uploads == 1


def test_a_live_mcp_sandbox_refuses_an_earlier_calls_unanswered_creation(
    tmp_path: Path,
) -> None:
    """``gsep mcp --sandbox`` (one emulator for the server's whole life), with
    ``GSEP_SANDBOX_FAULTS=api-late@job-create:1:3`` and a 1 s read timeout. Tool call 1:
    ``separate`` song.wav (the emulator creates the job, its answer comes too late: a tool
    error, the creation ``unconfirmed``). Tool call 2: the same ``separate``.

    Expected: call 2 does not create a second job in the emulator that holds the first
    (refused, as against the API, "may have cost credits ... --pay-again").
    Seen: call 2 succeeds with a new job; the emulator's /_sandbox/stats says 2 jobs (and 2
    credits used) for one input, and no --pay-again was given."""
    pytest.importorskip("mcp.client.stdio")
    import anyio
    from mcp import Client
    from mcp.client.stdio import StdioServerParameters, stdio_client

    song = make_wav(tmp_path / "song.wav", seconds=0.3)
    errlog = tmp_path / "server-stderr.txt"
    env = clean_env(tmp_path, GSEP_SANDBOX_FAULTS="api-late@job-create:1:3", GSEP_READ_TIMEOUT="1")
    params = StdioServerParameters(
        command=gsep_exe(), args=["mcp", "--sandbox"], env=env, cwd=str(tmp_path)
    )

    async def main() -> tuple[Any, Any]:
        with errlog.open("w") as err:
            async with Client(stdio_client(params, errlog=err)) as client:
                with anyio.fail_after(40):
                    args = {"inputs": [str(song)], "stems": ["vocal"], "out_dir": "out"}
                    one = await client.call_tool("separate", args)
                    two = await client.call_tool("separate", args)
                    origin = errlog.read_text().split(" at ", 1)[1].split()[0]
                    stats = await anyio.to_thread.run_sync(_stats, origin.split("/developers")[0])
                    return (one, two), stats

    (one, two), stats = anyio.run(main)
    text = lambda r: r.content[0].text if r.content else ""  # noqa: E731
    assert "Traceback" not in errlog.read_text()
    assert stats["jobs"] == 1, (
        f"one mcp emulator holds {stats['jobs']} jobs ({stats['creditsUsed']} credits used) "
        f"for one input; call 1: {text(one)[:200]!r}; call 2: {text(two)[:200]!r}"
    )


def test_dry_run_with_a_bad_sandbox_fault_exits_3_as_the_run_does(tmp_path: Path) -> None:
    """``GSEP_SANDBOX_FAULTS=bogus gsep --sandbox separate song.wav --dry-run``.

    Expected (README "Environment": a GSEP_* value that is not valid "is a configuration
    error (exit 3) naming the variable ... `--dry-run` checks all of them too"; CHANGELOG:
    "A fault that does not parse is one line (exit 3), before anything runs"): exit 3, as
    the real run does.
    Seen: exit 0, "would create 1 new job"; the real run then exits 3. (The dry run starts
    no emulator, so it never reads the variable; GSEP_SANDBOX_JOB_SECONDS and
    GSEP_SANDBOX_CHUNK_SIZE are skipped the same way.)"""
    make_wav(tmp_path / "song.wav", seconds=0.3)
    env = clean_env(tmp_path, GSEP_SANDBOX_FAULTS="bogus")
    real = run_gsep(["--sandbox", "separate", "song.wav", "-o", "out"], env, cwd=tmp_path)
    assert real.code == 3, real  # held: the real run refuses it
    dry = run_gsep(
        ["--sandbox", "separate", "song.wav", "-o", "out", "--dry-run"], env, cwd=tmp_path
    )
    assert dry.code == 3 and "GSEP_SANDBOX_FAULTS" in dry.err, dry


@pytest.mark.parametrize("fault", ["api-delay:1:1e10", "api-late:1:1e10", "api-delay:1:1e308"])
def test_a_fault_seconds_value_the_emulator_cannot_wait_is_refused_when_read(fault: str) -> None:
    """The emulator ``gsep --sandbox`` now builds from GSEP_SANDBOX_FAULTS, given
    ``api-delay:1:1e10`` (or ``api-late``), then one key-info request.

    Expected: a fault is either refused when it is read (ValueError: one line, exit 3 from
    the CLI, like ``api-delay:1:inf`` or ``part-delay:*:1e400``) or does what it says (a
    long delay: the request times out).
    Seen: it parses ("seconds >= 0"), then the emulator fails handling it: HTTP 500
    ``{"resultCode": 1100, "resultMessage": "sandbox internal error"}`` at once (the wait
    overflows). ``GSEP_SANDBOX_FAULTS='api-late@job-create:1:1e10' gsep --sandbox
    separate`` creates the job and answers that 500 (exit 6, an unconfirmed creation);
    ``gsep --sandbox key info`` shows "API server error (HTTP 500); retrying" (not every
    time)."""
    import requests

    try:
        sb = Sandbox(job_seconds=0, chunk_size=4096, faults=[fault])
    except ValueError:
        return  # refused when read: fine
    with sb:
        try:
            answer = requests.get(
                sb.base_url + "/v1/key/info", headers={"x-ga-apikey": SECRET}, timeout=2
            )
        except requests.Timeout:
            return  # a delay: fine
    assert answer.status_code != 500, (answer.status_code, answer.text)


# --------------------------------------------------------------------------- held


def test_held_sandbox_rerun_runs_an_earlier_unanswered_creation_again_once(
    tmp_path: Path,
) -> None:
    """An earlier --sandbox command's hung creation: the dry run plans it as new with the
    note, the re-run says so and creates exactly one job, exit 0; a third run pays
    nothing."""
    song = make_wav(tmp_path / "song.wav", seconds=0.3)
    _leave_sandbox_unconfirmed(tmp_path, song)
    env = clean_env(tmp_path)
    args = ["--sandbox", "separate", "song.wav", "-o", "out"]
    dry = run_gsep([*args, "--dry-run"], env, cwd=tmp_path)
    assert dry.code == 0 and "its creation died with an earlier sandbox" in dry.out, dry
    assert "would create 1 new job" in dry.err
    dry_json = run_gsep(["--json", *args, "--dry-run"], env, cwd=tmp_path)
    assert json.loads(dry_json.out.splitlines()[0])["newJob"] is True, dry_json
    run = run_gsep(args, env, cwd=tmp_path)
    assert run.code == 0, run
    assert "now stopped, was never answered; running the input again" in run.err
    assert _created(run.err) == 1
    assert sorted(_statuses(_sandbox_ledger(tmp_path))) == ["abandoned", "success"]
    again = run_gsep(args, env, cwd=tmp_path)
    assert again.code == 0 and _created(again.err) == 0, again


def test_held_max_jobs_counts_the_rerun_of_an_unanswered_sandbox_creation(tmp_path: Path) -> None:
    """--max-jobs 0 refuses the free re-run before any request (the record stays
    unconfirmed); --max-jobs 1 allows it; --pay-again says it pays again."""
    song = make_wav(tmp_path / "song.wav", seconds=0.3)
    _leave_sandbox_unconfirmed(tmp_path, song)
    env = clean_env(tmp_path)
    args = ["--sandbox", "separate", "song.wav", "-o", "out"]
    refused = run_gsep([*args, "--max-jobs", "0"], env, cwd=tmp_path)
    assert refused.code != 0 and _created(refused.err) == 0, refused
    assert "Traceback" not in refused.err
    assert _statuses(_sandbox_ledger(tmp_path)) == ["unconfirmed"]
    paid = run_gsep([*args, "--max-jobs", "1", "--pay-again"], env, cwd=tmp_path)
    assert paid.code == 0 and _created(paid.err) == 1, paid
    assert "(--pay-again)" in paid.err


def test_held_a_concurrent_sandbox_gsep_never_pays_for_a_live_ones_unanswered_creation(
    tmp_path: Path,
) -> None:
    """A: ``--sandbox separate song.wav`` whose creation hangs (its emulator's fault),
    recorded unconfirmed. B, the same command without faults, started after that record:
    it waits for A's claim. A gets Ctrl-C twice (exit 130). B then refuses (exit 2, "may
    have cost credits"): a record made while it waited is never paid again."""
    make_wav(tmp_path / "song.wav", seconds=0.3)
    ledger = _sandbox_ledger(tmp_path)
    args = [gsep_exe(), "--sandbox", "separate", "song.wav", "-o", "out", "--timeout", "15"]
    env_a = clean_env(tmp_path, GSEP_SANDBOX_FAULTS="api-hang@job-create", GSEP_READ_TIMEOUT="30")
    err_a, err_b = (tmp_path / "a.err").open("w+"), (tmp_path / "b.err").open("w+")
    a = subprocess.Popen(args, env=env_a, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=err_a)
    b = None
    try:
        wait_for(lambda: _statuses(ledger) == ["unconfirmed"], 15, "A's unconfirmed record")
        b = subprocess.Popen(
            args, env=clean_env(tmp_path), cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=err_b
        )
        wait_for(lambda: "waiting" in (tmp_path / "b.err").read_text(), 15, "B waiting")
        a.send_signal(signal.SIGINT)
        time.sleep(0.5)
        a.send_signal(signal.SIGINT)
        assert a.wait(10) == 130
        code_b = b.wait(20)
    finally:
        for proc in (a, b):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait(5)
    text_b = (tmp_path / "b.err").read_text()
    assert code_b == 2, text_b
    assert "have cost credits" in text_b and _created(text_b) == 0, text_b
    assert "Traceback" not in text_b + (tmp_path / "a.err").read_text()


def test_held_a_served_sandbox_reached_by_base_url_is_a_real_host(tmp_path: Path) -> None:
    """A ``Sandbox`` reached with --base-url / GSEP_BASE_URL (as ``gsep sandbox serve``)
    is an API host: its unconfirmed creation is refused without --pay-again (exit 2,
    "have cost credits"), in the dry run too; a --sandbox unconfirmed record does not
    touch it and the other way round."""
    song = make_wav(tmp_path / "song.wav", seconds=0.3)
    with Sandbox(job_seconds=0.2, chunk_size=4096, faults=["api-hang@job-create"]) as sb:
        env = clean_env(tmp_path, GSEP_API_KEY=SECRET, GSEP_READ_TIMEOUT="2")
        args = ["--base-url", sb.base_url, "separate", "song.wav", "-o", "out"]
        first = run_gsep(args, env, cwd=tmp_path, timeout=30)
        assert first.code == 6, first
        for extra, environ in ((args, env), (args[2:], {**env, "GSEP_BASE_URL": sb.base_url})):
            again = run_gsep(extra, environ, cwd=tmp_path)
            assert again.code == 2 and "have cost credits" in again.err, again
            dry = run_gsep([*extra, "--dry-run"], environ, cwd=tmp_path)
            assert dry.code != 0 and "have cost credits" in dry.err, dry
        # a --sandbox run beside it: its own ledger, a new job, the real record untouched
        boxed = run_gsep(["--sandbox", "separate", "song.wav", "-o", "sbx"], env, cwd=tmp_path)
        assert boxed.code == 0 and _created(boxed.err) == 1, boxed
        still = run_gsep(args, env, cwd=tmp_path)
        assert still.code == 2, still
        creations = [
            r for r in sb.requests if r["method"] == "POST" and r["path"].endswith("/jobs")
        ]
        assert len(creations) == 1
        paid = run_gsep([*args, "--pay-again"], env, cwd=tmp_path)
        assert paid.code == 0, paid
    assert song.exists()


@pytest.mark.parametrize(
    "value",
    [
        "bogus",
        "*",
        "api-503:0",
        "api-503:-1",
        "api-503@nope",
        "api-delay:1:nan",
        "api-503;bogus",
        "api-503\nbogus",
        "\x1b[31mred",
        "job-status:1",
        "api-drip:1:0",
        "job-status:1:{",
    ],
)
def test_held_a_bad_fault_is_one_line_exit_3_before_anything(tmp_path: Path, value: str) -> None:
    """``--sandbox separate``, ``--sandbox key info`` and ``gsep mcp --sandbox``: one line
    naming GSEP_SANDBOX_FAULTS, exit 3, no traceback, no control character, no upload."""
    make_wav(tmp_path / "song.wav", seconds=0.3)
    env = clean_env(tmp_path, GSEP_SANDBOX_FAULTS=value)
    for args in (
        ["--sandbox", "separate", "song.wav", "-o", "out"],
        ["--sandbox", "key", "info"],
        ["mcp", "--sandbox"],
    ):
        run = run_gsep(args, env, cwd=tmp_path, timeout=20)
        assert run.code == 3, (args, run)
        assert len(run.err_lines) == 1 and "GSEP_SANDBOX_FAULTS" in run.err, (args, run)
        assert "\x1b" not in run.err and "Traceback" not in run.err
        assert run.out == ""
    assert not (tmp_path / "out").exists()
    assert _statuses(_sandbox_ledger(tmp_path)) == []


def test_held_commands_that_start_no_emulator_ignore_a_bad_fault(tmp_path: Path) -> None:
    """What a user expects: the variable is the built-in emulator's; a command that starts
    none (ledger, config, models, --version, a run against another host) is unaffected."""
    make_wav(tmp_path / "song.wav", seconds=0.3)
    env = clean_env(tmp_path, GSEP_SANDBOX_FAULTS="bogus", GSEP_API_KEY=SECRET)
    for args in (
        ["--version"],
        ["--sandbox", "ledger", "list"],
        ["--sandbox", "config", "show"],
        ["--sandbox", "models"],
    ):
        run = run_gsep(args, env, cwd=tmp_path)
        assert run.code == 0, (args, run)
    with Sandbox(job_seconds=0.2, chunk_size=4096) as sb:
        run = run_gsep(
            ["--base-url", sb.base_url, "separate", "song.wav", "-o", "out"], env, cwd=tmp_path
        )
        assert run.code == 0, run


_ARGS = {
    "api-delay": "0.3",
    "api-jitter": "0.3",
    "api-late": "3",
    "api-drip": "20000",
    "api-retry-after": "1",
    "api-huge": "1000",
    "part-delay": "0.3",
    "part-slow": "0.3",
    "part-answer-drip": "50000",
    "download-delay": "0.3",
    "download-drip": "200000",
    "download-nolength-drip": "200000",
    "download-retry-after": "1",
    "job-fail": "boom",
    "job-status": '"cancelled"',
    "key-info-text": "hello",
}
_KINDS = [*sorted(_FIXED_KINDS), "api-503", "api-404", "part-500", "download-404"]


@pytest.mark.slow
@pytest.mark.parametrize("kind", _KINDS)
def test_held_each_fault_kind_with_sandbox_separate_then_a_clean_rerun(
    tmp_path: Path, kind: str
) -> None:
    """Each fault kind once with ``--sandbox separate``: no traceback, an exit code of the
    README's table; the re-run without faults ends 0 and creates at most one job (none
    when the first run succeeded)."""
    make_wav(tmp_path / "song.wav", seconds=0.3)
    fault = kind + (f":1:{_ARGS[kind]}" if kind in _ARGS else "")
    env = clean_env(tmp_path, GSEP_SANDBOX_FAULTS=fault, GSEP_READ_TIMEOUT="2")
    args = ["--sandbox", "separate", "song.wav", "-o", "out"]
    first = run_gsep(args, env, cwd=tmp_path, timeout=40)
    assert "Traceback" not in first.err, first
    assert first.code in README_EXIT_CODES, first
    rerun = run_gsep(args, clean_env(tmp_path), cwd=tmp_path, timeout=40)
    assert rerun.code == 0, (first, rerun)
    assert _created(rerun.err) <= (0 if first.code == 0 else 1), (first, rerun)
