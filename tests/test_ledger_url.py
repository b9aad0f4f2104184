"""Where the ledger lives: ``GSEP_LEDGER_URL``, ``--ledger URL`` and the ``ledger_url``
setting, as users type them: parsed, refused in one line, its password never shown, and
read by every command that uses the ledger (separate, its dry run, ``gsep ledger``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from clitools import assert_clean_error, clean_env, make_wav, run_gsep
from hypothesis import assume, given
from hypothesis import strategies as st

from gsep_cli.errors import ExitCode, UsageError
from gsep_cli.ledger import masked, parse_address
from gsep_cli.redact import redact
from gsep_cli.sandbox import Sandbox

KEY = "ledger-url-key-0001"
SECRET = "Hunter2-ledger-pw"


@given(
    user=st.text(st.characters(whitelist_categories=("L", "N")), min_size=1, max_size=8),
    password=st.text(st.characters(whitelist_categories=("L", "N", "P")), min_size=4, max_size=16),
    host=st.sampled_from(["db.example.com", "10.0.0.5:5433", "[::1]:5432", ""]),
    in_query=st.booleans(),
)
def test_a_password_is_never_shown_wherever_it_sits(
    user: str, password: str, host: str, in_query: bool
) -> None:
    from urllib.parse import quote

    quoted = quote(password, safe="")
    template = (
        "postgresql://{user}@{host}/gsep?sslmode=require&password={pw}"
        if in_query
        else "postgresql://{user}:{pw}@{host}/gsep"
    )
    url = template.format(user=user, host=host, pw=quoted)
    rest = template.format(user=user, host=host, pw="")
    assume(quoted not in rest and password not in rest)  # a password that is also the user
    address = parse_address(url)
    assert address.kind == "postgresql" and address.target == url
    for shown in (address.shown, masked(url), redact(f"failed for {url}")):
        assert quoted not in shown and password not in shown
    assert "***" in address.shown


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("mysql://db/gsep", "is not a ledger URL"),
        ("db.example.com/gsep", "is not a ledger URL"),
        ("sqlite://", "names no file"),
        ("postgresql://db/gsep\x1b[2J", "control characters"),
    ],
)
def test_what_is_not_a_ledger_url_is_refused_in_words(url: str, fragment: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_address(url, "GSEP_LEDGER_URL")
    assert fragment in info.value.message and info.value.hint
    assert "\x1b" not in info.value.message


def test_sqlite_urls_name_a_file(tmp_path: Path) -> None:
    assert parse_address(f"sqlite://{tmp_path}/l.sqlite3").path == tmp_path / "l.sqlite3"
    assert parse_address("sqlite:relative/l.sqlite3").path == Path("relative/l.sqlite3")


def test_config_shows_and_sets_the_url_without_its_password(tmp_path: Path) -> None:
    url = f"postgresql://gsep:{SECRET}@db.example.com/catalogue"
    env = clean_env(tmp_path, GSEP_LEDGER_URL=url)
    shown = run_gsep(["config", "show"], env)
    assert shown.code == 0 and SECRET not in shown.out + shown.err
    (row,) = [line.split() for line in shown.out.splitlines() if line.startswith("ledger_url")]
    assert row == [
        "ledger_url",
        "postgresql://gsep:***@db.example.com/catalogue",
        "env",
        "GSEP_LEDGER_URL",
    ]
    got = run_gsep(["--json", "config", "get", "ledger_url"], env)
    assert got.json() == {
        "name": "ledger_url",
        "value": "postgresql://gsep:***@db.example.com/catalogue",
        "source": "env GSEP_LEDGER_URL",
    }
    stored = run_gsep(["config", "set", "ledger_url", url], clean_env(tmp_path))
    assert stored.code == 0 and SECRET not in stored.out + stored.err, stored
    default = run_gsep(["--json", "config", "get", "ledger_url"], clean_env(tmp_path / "fresh"))
    assert default.json()["value"].endswith("/state/ledger.sqlite3")


def test_a_bad_ledger_url_is_one_line_before_any_request(tmp_path: Path) -> None:
    make_wav(tmp_path / "a.wav", seconds=0.2)
    with Sandbox(job_seconds=0, chunk_size=8192) as sb:
        env = clean_env(tmp_path, GSEP_API_KEY=KEY, GSEP_BASE_URL=sb.base_url)
        run = run_gsep(["separate", "a.wav", "--ledger", "redis://x"], env, cwd=tmp_path)
        assert_clean_error(run, ExitCode.USAGE, "--ledger", "is not a ledger URL")
        env["GSEP_LEDGER_URL"] = "ftp://x"
        run = run_gsep(["separate", "a.wav"], env, cwd=tmp_path)
        assert_clean_error(run, ExitCode.USAGE, "GSEP_LEDGER_URL", "is not a ledger URL")
        run = run_gsep(["separate", "a.wav", "--ledger", ""], env, cwd=tmp_path)
        assert_clean_error(run, ExitCode.USAGE, "--ledger was given an empty value")
        assert sb.requests == []


def test_without_the_driver_a_postgres_url_says_which_extra(tmp_path: Path) -> None:
    """psycopg made unimportable (a module that raises ImportError first on the path)."""
    blocker = tmp_path / "block"
    blocker.mkdir()
    (blocker / "psycopg.py").write_text("raise ImportError('not installed here')\n")
    make_wav(tmp_path / "a.wav", seconds=0.2)
    env = clean_env(
        tmp_path,
        GSEP_API_KEY=KEY,
        GSEP_BASE_URL="http://127.0.0.1:9/api",
        GSEP_LEDGER_URL=f"postgresql://gsep:{SECRET}@db.example.com/gsep",
        PYTHONPATH=str(blocker),
    )
    run = run_gsep(["separate", "a.wav"], env, cwd=tmp_path)
    assert_clean_error(run, ExitCode.USAGE, "PostgreSQL driver", "gsep-cli[postgres]")
    assert SECRET not in run.err


def test_a_sqlite_url_elsewhere_is_the_ledger_of_every_command(tmp_path: Path) -> None:
    make_wav(tmp_path / "a.wav", seconds=0.2)
    ledger = tmp_path / "shared-disk" / "ledger.sqlite3"
    with Sandbox(job_seconds=0, chunk_size=8192) as sb:
        env = clean_env(tmp_path, GSEP_API_KEY=KEY, GSEP_BASE_URL=sb.base_url)
        args = ["separate", "a.wav", "-s", "vocal", "--ledger", f"sqlite://{ledger}"]
        assert run_gsep(args, env, cwd=tmp_path).code == 0
        assert ledger.is_file() and not (tmp_path / "state" / "ledger.sqlite3").exists()
        dry = run_gsep([*args, "--dry-run"], env, cwd=tmp_path)
        assert dry.code == 0 and "would create 0 new jobs (1 reused)" in dry.err, dry
        listed = run_gsep(["--json", "ledger", "list", "--ledger", f"sqlite://{ledger}"], env)
        (job,) = listed.json()["jobs"]
        assert job["runner"] and job["status"] == "success"


def test_a_shared_postgres_ledger_serves_the_dry_run_and_the_listing(
    tmp_path: Path, pg_url: str
) -> None:
    make_wav(tmp_path / "a.wav", seconds=0.2)
    with Sandbox(job_seconds=0, chunk_size=8192) as sb:
        env = clean_env(
            tmp_path, GSEP_API_KEY=KEY, GSEP_BASE_URL=sb.base_url, GSEP_LEDGER_URL=pg_url
        )
        fresh = run_gsep(["separate", "a.wav", "-s", "vocal", "--dry-run"], env, cwd=tmp_path)
        assert fresh.code == 0 and "would create 1 new job (0 reused)" in fresh.err, fresh
        assert run_gsep(["separate", "a.wav", "-s", "vocal"], env, cwd=tmp_path).code == 0
        again = run_gsep(["separate", "a.wav", "-s", "vocal", "--dry-run"], env, cwd=tmp_path)
        assert "would create 0 new jobs (1 reused)" in again.err, again
        listed = run_gsep(["ledger", "list"], env)
        assert listed.code == 0 and f"by {_hostname()} at " in listed.out, listed
        assert sb.store.job_count() == 1


def test_the_sandbox_keeps_its_own_ledger_and_says_a_given_one_is_unused(
    tmp_path: Path,
) -> None:
    make_wav(tmp_path / "a.wav", seconds=0.2)
    env = clean_env(tmp_path)
    other = tmp_path / "other.sqlite3"
    run = run_gsep(
        ["--sandbox", "separate", "a.wav", "-s", "vocal", "--ledger", f"sqlite://{other}"],
        env,
        cwd=tmp_path,
    )
    assert run.code == 0, run
    assert "--ledger is not used with --sandbox" in run.err
    assert not other.exists() and (tmp_path / "state" / "sandbox" / "ledger.sqlite3").is_file()


def _hostname() -> str:
    import socket

    return socket.gethostname()


def test_the_library_session_takes_a_ledger_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gsep_cli import Session

    monkeypatch.setenv("GSEP_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("GSEP_CONFIG_DIR", str(tmp_path / "config"))
    ledger = tmp_path / "lib.sqlite3"
    with Session(ledger_url=f"sqlite://{ledger}") as session:
        assert session.ledger().path == ledger
    assert ledger.is_file()


def test_the_mcp_server_refuses_to_start_on_a_ledger_it_cannot_reach(tmp_path: Path) -> None:
    pytest.importorskip("mcp", reason="the mcp extra is not installed")
    url = f"postgresql://gsep:{SECRET}@127.0.0.1:9/gsep?connect_timeout=2"
    env = clean_env(tmp_path, GSEP_API_KEY=KEY)
    run = run_gsep(["mcp", "--ledger", url], env, timeout=30)
    assert_clean_error(run, ExitCode.AUTH, "cannot reach the job ledger")
    assert SECRET not in run.err


def test_a_schema_an_administrator_made_needs_no_create_on_the_database(pg_url: str) -> None:
    """A runner's user with no CREATE on the database uses the schema ``gsep`` made for
    it (CREATE SCHEMA ... AUTHORIZATION), as README "A catalogue across machines" says;
    without that schema, the first use is refused in one line, naming the rights."""
    import psycopg

    from gsep_cli.errors import LedgerError
    from gsep_cli.ledger import Ledger

    database = pg_url.split("@/", 1)[1].split("?", 1)[0]
    role = f"runner_{database}"
    as_runner = pg_url.replace("postgresql://gsep@", f"postgresql://{role}@", 1)
    with psycopg.connect(pg_url, autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {role} LOGIN")
    try:
        with pytest.raises(LedgerError) as info:
            Ledger(url=as_runner)
        assert "cannot be used" in info.value.message and "permission denied" in info.value.message
        with psycopg.connect(pg_url, autocommit=True) as admin:
            admin.execute(f"CREATE SCHEMA gsep AUTHORIZATION {role}")
        with Ledger(url=as_runner) as ledger:
            assert ledger.list_jobs() == []
    finally:
        with psycopg.connect(pg_url, autocommit=True) as admin:
            admin.execute("DROP SCHEMA IF EXISTS gsep CASCADE")
            admin.execute(f"DROP ROLE {role}")


def test_a_settings_warning_is_said_once_though_the_ledger_reads_the_settings_too(
    tmp_path: Path,
) -> None:
    """The ledger's place is a setting: reading it again must not repeat the settings'
    warnings (a config file others can read) in one command."""
    env = clean_env(tmp_path, GSEP_API_KEY=KEY, GSEP_BASE_URL="http://127.0.0.1:9/api")
    assert run_gsep(["config", "set", "stems", "vocal"], env).code == 0
    (tmp_path / "config" / "config.json").chmod(0o644)
    make_wav(tmp_path / "a.wav", seconds=0.2)
    for args in (["ledger", "list"], ["separate", "a.wav", "--dry-run"]):
        run = run_gsep(args, env, cwd=tmp_path)
        assert run.err.count("readable by other users") == 1, run
