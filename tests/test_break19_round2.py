"""Issue 19, broken from outside, round 2: the fixes of the first two rounds and their
edges (password masking as libpq reads a URL, sqlite:// paths, a forked child's ledger,
``--pay-again`` beside a holder that is a ``gsep job create``).

Each test reproduces one problem found by trying; it fails until that problem is fixed.
Real parts only: the throwaway PostgreSQL cluster (``pg_url``), the sandbox over loopback
HTTP, the installed ``gsep`` in subprocesses.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import time
from pathlib import Path

import psycopg
import pytest
from clitools import clean_env, make_wav, run_gsep, wait_for
from paidtools import counts
from runnertools import require_namespaces, start_runner

from gsep_cli.claims import Claim
from gsep_cli.ledger import Ledger, parse_address
from gsep_cli.sandbox import Sandbox

KEY = "break19-round2-key-0001"


# ---- 1. passwords libpq reads differently from masked() ----------------------------------
#: (URL, the secret a user meant, what libpq takes from it). A base64 password holds '/'
#: (and '+'); one typed as is may hold '@'. libpq cuts the user part at the first '@' or
#: '/', so it reads these as something else and the connection fails, with the URL in the
#: message: masked() (address.py) prints the password, whole or in part.
LEAKY = [
    # '/' before the '@': libpq sees no user part at all (host 'gsep', port 'Zx9'), and
    # masked() (_split_userinfo: no '@' before the first '/') masks nothing
    ("postgresql://gsep:Zx9/q7Lm+w@127.0.0.1:9/gsep", "Zx9/q7Lm+w"),
    # '@' in the password: libpq takes 'Zx9' as the password and 'q7Lm@127.0.0.1' as the
    # host; masked() hides 'Zx9' and prints 'q7Lm', half the secret
    ("postgresql://gsep:Zx9@q7Lm@127.0.0.1:9/gsep", "q7Lm"),
    # libpq percent-decodes a query keyword: 'passwor%64' is 'password' to it
    ("postgresql://gsep@127.0.0.1:9/gsep?passwor%64=Zx9q7Lm", "Zx9q7Lm"),
]


def test_the_premise_libpq_takes_a_percent_encoded_password_keyword() -> None:
    got = psycopg.conninfo.conninfo_to_dict("postgresql://gsep@127.0.0.1:9/gsep?passwor%64=Zx9q7Lm")
    assert got["password"] == "Zx9q7Lm"


@pytest.mark.parametrize(("url", "secret"), LEAKY)
def test_a_ledger_url_shown_never_holds_the_password(url: str, secret: str) -> None:
    """What ``gsep config show``, ``ledger list`` and every ledger error print as the
    ledger's place (``LedgerAddress.shown``).

    Cause: address.py ``_split_userinfo`` reads the user part as libpq does (up to the
    first '@' before the first '/') and ``_PASSWORD_PARAM`` matches only the literal
    keyword. Fix: mask more than libpq reads, never less: everything between
    ``scheme://user:`` and the *last* '@' of the URL (an '@' later in a query is rare and
    over-masking is harmless), register that span too as a secret, and match
    ``password`` in the query after percent-decoding the keyword."""
    assert secret not in parse_address(url, "GSEP_LEDGER_URL").shown


@pytest.mark.slow
def test_the_cli_never_prints_a_base64_password(tmp_path: Path) -> None:
    """``gsep ledger list`` (its one error line) and ``gsep config show`` with
    GSEP_LEDGER_URL holding a password with '/' (today both print it whole)."""
    url, secret = LEAKY[0]
    env = clean_env(tmp_path, GSEP_LEDGER_URL=url)
    leaks = []
    for args in (["ledger", "list"], ["config", "show"]):
        run = run_gsep(args, env, cwd=tmp_path, timeout=60)
        if secret in run.out + run.err:
            leaks.append(f"gsep {' '.join(args)}: {(run.out + run.err).strip()}")
    assert not leaks, "\n".join(leaks)


# ---- 2. sqlite:// paths ---------------------------------------------------------------------
@pytest.mark.slow
def test_a_percent_encoded_nul_in_a_sqlite_path_is_a_usage_error(tmp_path: Path) -> None:
    """``sqlite:///tmp/x%00y``: today ``gsep: internal error: ValueError: embedded null
    byte — please report it`` (exit 1). Cause: parse_address checks the path for NUL
    before ``unquote``. Fix: check after it (and say "names no file", exit 2)."""
    env = clean_env(tmp_path, GSEP_LEDGER_URL=f"sqlite://{tmp_path}/x%00y.sqlite3")
    run = run_gsep(["ledger", "list"], env, cwd=tmp_path, timeout=60)
    assert "internal error" not in run.err, run.err
    assert run.code == 2, run.err


@pytest.mark.slow
@pytest.mark.parametrize("target", ["/dev/null", "FOLDER"])
def test_a_sqlite_url_naming_a_device_or_folder_is_not_told_to_move_it(
    tmp_path: Path, target: str
) -> None:
    """A typo'd ``--ledger sqlite:///dev/null`` (or a folder, e.g. the disk's mount
    point): today gsep advises ``mv '/dev/null' '/dev/null.broken'`` / ``mv '/srv/share'
    '/srv/share.broken'`` ("gsep will start a new one"): run as root, the first breaks
    the machine, the second moves a whole share away. That advice fits a broken ledger
    *file*, not something that never was one. Cause: the "cannot be used / opened"
    errors of the SQLite engine (sqlitefile.py) always suggest moving the path. Fix: for
    a path that is not a regular file, say so and ask for a file's path instead."""
    folder = tmp_path / "share"
    folder.mkdir()
    path = str(folder) if target == "FOLDER" else target
    env = clean_env(tmp_path, GSEP_LEDGER_URL=f"sqlite://{path}")
    run = run_gsep(["ledger", "list"], env, cwd=tmp_path, timeout=60)
    assert run.code != 0, run.err
    assert "mv " not in run.err, run.err


# ---- 3. a forked child's ledger --------------------------------------------------------------
def _claim_rows(path: Path) -> list[tuple[str, int]]:
    with sqlite3.connect(path) as db:
        return [(str(r[0]), int(r[1])) for r in db.execute("SELECT work_key, pid FROM claims")]


def _in_child(body: object) -> int:
    """Run ``body()`` in a forked child; its exit status (0: body returned)."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 0
        try:
            body()  # type: ignore[operator]
        except BaseException:
            code = 1
        os._exit(code)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.02)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    raise AssertionError("the forked child did not end within 30 s")


def test_a_forked_child_closing_its_ledger_keeps_the_parents_claims(tmp_path: Path) -> None:
    """engine.py: "a forked child opens its own [connection]" — the Ledger is meant to
    survive fork() (a library user's worker pool, a pre-forking server). The parent
    holds a claim (it is uploading, about to pay); a child it forked closes its copy of
    the ledger (a ``with`` block, atexit).

    Today the child's close() releases the *parent's* claims: claimbook.py ``close``
    deletes every token in ``self._held``, which the child inherited. The work is then
    free for any other runner, whose claim makes the parent's creation fail with
    ClaimLost (or, once the parent recorded, both work on it). Fix: ClaimBook keeps
    ``_held``/``_me``/``_heartbeat`` per pid: in a child, forget the inherited claims
    (they are the parent's), take ``this_process()`` afresh and start its own heartbeat."""
    path = tmp_path / "ledger.sqlite3"
    with Ledger(url=f"sqlite://{path}") as ledger:
        got = ledger.try_claim("work-of-the-parent", str(tmp_path / "song.wav"))
        assert isinstance(got, Claim)
        assert _in_child(ledger.close) == 0
        assert _claim_rows(path) == [("work-of-the-parent", os.getpid())]


def test_a_forked_childs_claims_name_the_child(tmp_path: Path) -> None:
    """A child's claim is stamped with the process that claimed (host, pid, start), so
    that on this host it is taken over when *that* process dies. Today it names the
    parent (``ClaimBook._me`` is computed once, before the fork): once the parent ends,
    another gsep on this host takes the live child's work over at once (pid gone), and
    the child's heartbeat never runs (``_heartbeat`` is the parent's object, whose thread
    does not exist in the child)."""
    path = tmp_path / "ledger.sqlite3"
    report = tmp_path / "child-pid"

    with Ledger(url=f"sqlite://{path}") as ledger:
        assert isinstance(ledger.try_claim("parent-work", "a.wav"), Claim)

        def child() -> None:
            report.write_text(str(os.getpid()))
            got = ledger.try_claim("child-work", "b.wav")
            assert isinstance(got, Claim)

        assert _in_child(child) == 0
        rows = dict(_claim_rows(path))
    assert rows.get("child-work") == int(report.read_text()), rows


# ---- 4. a ``gsep job create`` beside a runner -------------------------------------------
def _claims_held(pg_url: str) -> int:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        found = conn.execute(
            "SELECT 1 FROM information_schema.tables "
            "WHERE table_schema = 'gsep' AND table_name = 'claims'"
        ).fetchone()
        if found is None:
            return 0
        return int(conn.execute("SELECT count(*) FROM gsep.claims").fetchone()[0])


def _gsep(
    tmp: Path, name: str, args: list[str], sb: Sandbox, ledger: str, host: str, **env: str
) -> subprocess.Popen[str]:
    return start_runner(
        tmp, name, args, key=KEY, base_url=sb.base_url, ledger=ledger, host=host, **env
    )


def _upload_on(tmp: Path, sb: Sandbox, ledger: str, host: str, **env: str) -> str:
    run = _gsep(tmp, "up", ["upload", "song.wav"], sb, ledger, host, **env)
    out, err = run.communicate(timeout=60)
    assert run.returncode == 0, err
    return out.strip().splitlines()[-1]


def _clock_off(tmp: Path, seconds: float) -> dict[str, str]:
    if not seconds:
        return {}
    folder = tmp / f"clock-{seconds:+g}"
    folder.mkdir(exist_ok=True)
    (folder / "sitecustomize.py").write_text(
        f"import time\n_real = time.time\ntime.time = lambda: _real() + {float(seconds)!r}\n"
    )
    return {"PYTHONPATH": str(folder)}


@pytest.mark.slow
@pytest.mark.parametrize("skew", [0, -600], ids=["same-clock", "holder-clock-behind"])
def test_pay_again_that_waited_for_a_job_create_holder_reattaches(
    tmp_path: Path, pg_url: str, skew: float
) -> None:
    """Runner A on machine runner-a uploads song.wav (``gsep upload``) and creates its
    job (``gsep job create ID``); its creation takes a while (the API is slow) and A
    holds the work's claim meanwhile (onrecord.py ``_claim``). Runner B, started then
    with ``gsep separate song.wav --pay-again``, meets A's live claim and waits. The
    round-1 fix says: "a job made while this run waited for its holder is never paid
    again by it (the wait counts from the holder's claim)". So B re-attaches: one job.

    Now B pays for a second job, for two causes:
    * same clock: ``job create``'s record is stamped *before* it claims (onrecord.py
      ``job_to_record``: ``now = time.time()`` when the record is made; ``_claim`` in
      ``create_on_record`` comes later), so ``created_at < claimed_at = waited_since``
      and next_step calls it "an earlier run's";
    * A's clock behind (skew -600 s): ``job_to_record`` (and ``record_upload``) stamp
      with ``time.time()``, this machine's clock, not ``ledger.now()`` as the batch
      runner now does (``Recorded.clock``), so the job looks 10 minutes old.
    Fix: stamp job_to_record / record_upload with ``ledger.now()``, taken after the claim
    (or have record_unconfirmed stamp ``created_at`` with ``self._now(conn)`` inside its
    transaction, for every caller)."""
    require_namespaces()
    make_wav(tmp_path / "song.wav", seconds=0.3)
    clock = _clock_off(tmp_path, skew)
    with Sandbox(job_seconds=2, chunk_size=8192) as sb:
        upload_id = _upload_on(tmp_path, sb, pg_url, "runner-a", **clock)
        sb.add_fault("api-delay@job-create:1:5")  # A's creation holds the claim 5 s
        first = _gsep(
            tmp_path, "a", ["job", "create", upload_id, "-s", "vocal"], sb, pg_url, "runner-a",
            **clock,
        )  # fmt: skip
        wait_for(lambda: _claims_held(pg_url) == 1, 30, "runner A's claim")
        args = ["separate", "song.wav", "-s", "vocal", "--pay-again", "-o", "out-b"]
        second = _gsep(tmp_path, "b", args, sb, pg_url, "runner-b")
        _out_a, err_a = first.communicate(timeout=60)
        _out_b, err_b = second.communicate(timeout=60)
        jobs = counts(sb)[1]
    assert first.returncode == 0, err_a
    assert "is working on the same input; waiting" in err_b, err_b
    assert jobs == 1, f"one work, {jobs} jobs: B waited for A's claim, then paid again\n{err_b}"
    assert second.returncode == 0, err_b


@pytest.mark.slow
def test_a_job_create_beside_a_runner_uploading_the_same_input_pays_once(
    tmp_path: Path, pg_url: str
) -> None:
    """Runner B (``gsep separate song.wav``, no --pay-again) claims the work and
    uploads (slowly). Meanwhile on another machine, ``gsep job create ID`` on an upload
    of the same file (on record). Either may pay, not both ("nothing may create a second
    job for the same work").

    Now both pay. ``job create`` meets B's live claim and goes on without it
    (onrecord.py ``_claim``: "an explicit job create never waits for another gsep"),
    records and pays; B checked the ledger when it claimed and never again:
    ``record_unconfirmed`` only checks that the claim is still B's, not that a job for
    the work appeared meanwhile. Fix: in record_unconfirmed's transaction, look for a
    job of the same work recorded since the claim was taken (and re-attach to it), and/or
    have ``job create`` refuse (one line, exit 2: "gsep pid N on HOST is paying for this
    work; run again once it is done") when another live gsep holds the claim."""
    require_namespaces()
    make_wav(tmp_path / "song.wav", seconds=0.3)
    with Sandbox(job_seconds=2, chunk_size=8192) as sb:
        sb.add_fault("api-delay@upload-create:1:6")  # B's upload: slow
        args = ["separate", "song.wav", "-s", "vocal", "-o", "out-b"]
        second = _gsep(tmp_path, "b", args, sb, pg_url, "runner-b")
        wait_for(lambda: _claims_held(pg_url) == 1, 30, "runner B's claim")
        time.sleep(1.0)  # B's upload request is at the API, held there
        upload_id = _upload_on(tmp_path, sb, pg_url, "runner-a")
        first = _gsep(
            tmp_path, "a", ["job", "create", upload_id, "-s", "vocal"], sb, pg_url, "runner-a"
        )
        _out_a, err_a = first.communicate(timeout=60)
        _out_b, err_b = second.communicate(timeout=60)
        jobs = counts(sb)[1]
    assert jobs == 1, f"one work, {jobs} jobs\nA: {err_a}\nB: {err_b}"
