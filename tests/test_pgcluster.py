"""The throwaway PostgreSQL server of the tests (tests/pgcluster.py and the ``pg_cluster``
and ``pg_url`` fixtures): a fresh, empty database per test, the server as an unprivileged
user when we are root, clear failures when there is no server, and nothing left running
once a cluster is stopped, its owner killed or its session failed.

The failures are made with fake ``initdb`` and ``postgres`` scripts; the rest runs the real
server.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pgcluster
import pytest
from clitools import clean_env, wait_for
from pgcluster import ClusterError

TESTS = Path(__file__).resolve().parent
LINUX_ONLY = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="reads processes from /proc (Linux)"
)
USER_TABLES = (
    "SELECT count(*) FROM information_schema.tables"
    " WHERE table_schema NOT IN ('pg_catalog', 'information_schema')"
)


def _running(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie is not: it has ended, unreaped)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _uid_of(pid: int) -> int:
    """The real uid of a live process, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    raise AssertionError(f"no Uid line for process {pid}")


def _mentioning(text: str) -> list[int]:
    """Live processes whose command line contains ``text`` (a cluster's folder: its
    postmaster's ``-D``)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
            except OSError:
                continue
            if text.encode() in cmdline and _running(int(entry.name)):
                found.append(int(entry.name))
    return found


def _server_pids(url: str) -> list[int]:
    """The processes of the server behind ``url`` but the postmaster: its background workers
    and backends as it lists them (pg_stat_activity, 10+), less the one asking, which ends
    when it has answered."""
    import psycopg

    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE pid <> pg_backend_pid()")
        return [pid for (pid,) in rows]


# ---- a fresh database per test ----------------------------------------------------------------
def test_each_test_gets_a_new_empty_database_of_its_own(
    pg_url: str, pg_cluster: pgcluster.Cluster
) -> None:
    import psycopg

    with psycopg.connect(pg_url) as conn:
        name = conn.execute("SELECT current_database()").fetchone()
        assert name is not None and name[0].startswith("test_")
        assert conn.execute(USER_TABLES).fetchone() == (0,)
        conn.execute("CREATE TABLE jobs (id text PRIMARY KEY)")
        conn.execute("INSERT INTO jobs VALUES ('job-1')")
    other = pg_cluster.create_database()
    assert other != name[0]
    with psycopg.connect(pg_cluster.url(other)) as conn:
        assert conn.execute(USER_TABLES).fetchone() == (0,)  # the other's table is not here
        conn.execute("CREATE TABLE jobs (id text PRIMARY KEY)")  # nor does its name clash
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT id FROM jobs").fetchall() == [("job-1",)]
    pg_cluster.drop_database(other)
    with pytest.raises(psycopg.OperationalError, match="does not exist"):
        psycopg.connect(pg_cluster.url(other)).close()


def test_dropping_a_database_ends_the_sessions_a_test_left_open(
    pg_cluster: pgcluster.Cluster,
) -> None:
    """pg_url's teardown drops with FORCE: a connection a test (or a gsep it ran) left
    open does not make the teardown fail."""
    import psycopg

    name = pg_cluster.create_database()
    left_open = psycopg.connect(pg_cluster.url(name))
    try:
        pg_cluster.drop_database(name)
        with pytest.raises(psycopg.OperationalError):
            left_open.execute("SELECT 1")
    finally:
        left_open.close()


def test_the_server_takes_the_connections_of_thirty_gsep_processes_and_their_pools(
    pg_url: str,
) -> None:
    import psycopg

    conns = []
    try:
        for _ in range(150):  # e.g. 30 processes with a pool of 5 each, at once
            conns.append(psycopg.connect(pg_url))
        row = conns[-1].execute("SELECT count(*) FROM pg_stat_activity").fetchone()
        assert row is not None and row[0] >= 150
    finally:
        for conn in conns:
            conn.close()


# ---- who runs the server ----------------------------------------------------------------
@LINUX_ONLY
def test_the_server_runs_as_an_unprivileged_user_when_we_are_root(
    pg_cluster: pgcluster.Cluster, pg_url: str
) -> None:
    server_uid = _uid_of(pg_cluster.process.pid)
    for pid in _server_pids(pg_url):
        assert _uid_of(pid) == server_uid  # backends and background workers alike
    assert pg_cluster.data_dir.stat().st_uid == server_uid
    assert pg_cluster.socket_dir.stat().st_uid == server_uid
    if os.geteuid() == 0:
        assert server_uid != 0
        assert pg_cluster.account is not None
        assert pwd.getpwuid(server_uid).pw_name == pg_cluster.account.name
    else:
        assert server_uid == os.geteuid() and pg_cluster.account is None


def test_as_root_the_server_account_is_postgres_else_nobody_else_a_clear_failure(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    accounts = {"postgres": 101, "nobody": 65534, "root": 0}

    def getpwnam(name: str) -> pwd.struct_passwd:
        if name not in accounts:
            raise KeyError(name)
        uid = accounts[name]
        return pwd.struct_passwd((name, "x", uid, uid + 1, "", "/", "/bin/sh"))

    monkeypatch.setattr(pgcluster.pwd, "getpwnam", getpwnam)
    monkeypatch.setattr(pgcluster.os, "geteuid", lambda: 1000)
    assert pgcluster.server_account() is None  # not root: ourselves
    monkeypatch.setattr(pgcluster.os, "geteuid", lambda: 0)
    assert pgcluster.server_account() == pgcluster.Account("postgres", 101, 102)
    del accounts["postgres"]
    assert pgcluster.server_account() == pgcluster.Account("nobody", 65534, 65535)
    accounts["nobody"] = 0  # an account with root's uid is no way out
    with pytest.raises(ClusterError) as caught:
        pgcluster.server_account()
    message = str(caught.value)
    assert "refuse to run as root" in message and "`postgres`" in message, message


# ---- finding the programs ----------------------------------------------------------------
def _executable(path: Path, text: str = "#!/bin/sh\nexit 0\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)
    return path


def test_the_bindir_comes_from_the_override_then_path_then_pg_config_then_the_newest_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    debian = tmp_path / "usr-lib-postgresql"
    monkeypatch.setattr(pgcluster, "DEBIAN_ROOT", debian)
    for version in ("9.6", "13", "15", "latest"):
        for program in pgcluster.PROGRAMS:
            _executable(debian / version / "bin" / program)
    _executable(debian / "16" / "bin" / "initdb")  # no postgres: not a server
    empty = tmp_path / "empty"
    empty.mkdir()
    # numbers, not text: 15 above 9.6; a version folder without postgres is passed over
    assert pgcluster.find_bindir({"PATH": str(empty)}) == debian / "15" / "bin"

    with_pg_config = tmp_path / "pg-config-bin"
    _executable(with_pg_config / "pg_config", f"#!/bin/sh\necho {debian / '9.6' / 'bin'}\n")
    assert pgcluster.find_bindir({"PATH": str(with_pg_config)}) == debian / "9.6" / "bin"

    with_initdb = tmp_path / "local-bin"  # initdb linked into a folder, as /usr/local/bin
    with_initdb.mkdir()
    (with_initdb / "initdb").symlink_to(debian / "13" / "bin" / "initdb")
    path = os.pathsep.join([str(with_initdb), str(with_pg_config)])
    assert pgcluster.find_bindir({"PATH": path}) == debian / "13" / "bin"

    override = {"PATH": path, pgcluster.BINDIR_ENV: str(debian / "latest" / "bin")}
    assert pgcluster.find_bindir(override) == debian / "latest" / "bin"


def test_no_server_anywhere_says_where_it_looked_and_how_to_install_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pgcluster, "DEBIAN_ROOT", tmp_path / "usr-lib-postgresql")
    _executable(tmp_path / "usr-lib-postgresql" / "15" / "bin" / "initdb")  # postgres missing
    with pytest.raises(ClusterError) as caught:
        pgcluster.find_bindir({"PATH": str(tmp_path)})
    message = str(caught.value)
    assert "no PostgreSQL server programs (initdb and postgres) found" in message
    assert str(tmp_path / "usr-lib-postgresql" / "15" / "bin") in message  # looked at
    assert "apt-get install postgresql" in message and pgcluster.BINDIR_ENV in message


def test_a_bogus_bindir_override_fails_the_start_with_what_is_missing_and_how_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bogus = tmp_path / "no-postgres-here"
    monkeypatch.setenv(pgcluster.BINDIR_ENV, str(bogus))
    with pytest.raises(ClusterError) as caught:
        pgcluster.start_cluster()
    message = str(caught.value)
    assert f"{pgcluster.BINDIR_ENV}={bogus}: no executable initdb or postgres there" in message
    assert "apt-get install postgresql" in message
    _executable(bogus / "initdb")  # one of the two is not enough, and the other is named
    with pytest.raises(ClusterError, match="no executable postgres there"):
        pgcluster.start_cluster()


def test_the_script_prints_the_server_the_tests_use_or_why_there_is_none(
    tmp_path: Path,
) -> None:
    """What .ci/run runs before the tests to decide whether to install a server."""
    script = [sys.executable, str(TESTS / "pgcluster.py")]
    bindir = pgcluster.find_bindir()
    found = subprocess.run(
        script,
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_env(tmp_path, GSEP_TEST_PG_BINDIR=str(bindir)),
        check=False,
    )
    assert found.returncode == 0, found.stderr
    assert found.stdout.startswith("PostgreSQL server for the tests: postgres (PostgreSQL) ")
    assert str(bindir) in found.stdout
    bogus = str(tmp_path / "nowhere")
    missing = subprocess.run(
        script,
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_env(tmp_path, GSEP_TEST_PG_BINDIR=bogus),
        check=False,
    )
    assert missing.returncode == pgcluster.NO_SERVER_EXIT and missing.stdout == ""
    assert "no PostgreSQL server for the tests" in missing.stderr
    assert bogus in missing.stderr and "apt-get install postgresql" in missing.stderr


# ---- failures of initdb and of the server (fake programs) ----------------------------------
FAKE_POSTGRES_VERSION = (
    '#!/bin/sh\nif [ "$1" = --version ]; then echo "postgres (PostgreSQL) 99.0 (fake)"; '
    "exit 0; fi\n"
)


@pytest.fixture
def fake_bindir() -> Iterator[Callable[[str, str], Path]]:
    """``fake_bindir(initdb_body, postgres_body)``: a folder of two shell scripts (postgres
    answers --version), which the server's account can run: under /tmp, not in tmp_path,
    which is root's alone."""
    folder = Path(tempfile.mkdtemp(prefix="gsep-fakepg-", dir="/tmp"))
    folder.chmod(0o755)

    def make(initdb: str, postgres: str) -> Path:
        _executable(folder / "initdb", f"#!/bin/sh\n{initdb}\n")
        _executable(folder / "postgres", f"{FAKE_POSTGRES_VERSION}{postgres}\n")
        for script in folder.iterdir():
            assert script.stat().st_mode & stat.S_IXOTH
        return folder

    yield make
    shutil.rmtree(folder, ignore_errors=True)


def test_a_failing_initdb_is_reported_with_the_end_of_its_output(
    fake_bindir: Callable[[str, str], Path],
) -> None:
    bindir = fake_bindir(
        'i=1; while [ $i -le 60 ]; do echo "initdb chatter $i" >&2; i=$((i+1)); done\n'
        'echo "initdb: error: the disk is on fire in $2" >&2; exit 3',
        "exit 1",
    )
    with pytest.raises(ClusterError) as caught:
        pgcluster.start_cluster(bindir)
    message = str(caught.value)
    assert "initdb failed (exit 3" in message
    assert "initdb chatter 60" in message and "initdb chatter 1\n" not in message  # the end
    data = re.search(r"the disk is on fire in (\S+)", message)
    assert data is not None, message
    assert not Path(data[1]).parent.exists()  # the cluster's folder is removed


@LINUX_ONLY
@pytest.mark.slow
def test_a_server_never_ready_is_killed_and_reported_with_its_log(
    fake_bindir: Callable[[str, str], Path],
) -> None:
    bindir = fake_bindir(
        'mkdir "$2"',
        'echo "fake postgres $$ in $PWD, starting for ever"; exec sleep 60',
    )
    with pytest.raises(ClusterError) as caught:
        pgcluster.start_cluster(bindir, timeout=1)
    message = str(caught.value)
    assert "postgres was not ready within 1 s" in message
    seen = re.search(r"fake postgres (\d+) in (\S+), starting for ever", message)
    assert seen is not None, message
    assert not _running(int(seen[1]))
    assert not Path(seen[2]).exists()


def test_a_server_that_exits_at_once_is_reported_with_its_log(
    fake_bindir: Callable[[str, str], Path],
) -> None:
    bindir = fake_bindir('mkdir "$2"', 'echo "FATAL:  the fake refuses to start" >&2; exit 2')
    with pytest.raises(ClusterError) as caught:
        pgcluster.start_cluster(bindir)
    message = str(caught.value)
    assert "postgres exited (code 2) before it was ready" in message
    assert "FATAL:  the fake refuses to start" in message


# ---- nothing left behind ------------------------------------------------------------------
@LINUX_ONLY
@pytest.mark.slow
def test_a_stopped_cluster_leaves_no_process_and_no_folder() -> None:
    import psycopg

    with pgcluster.start_cluster() as cluster:
        url = cluster.url(cluster.create_database())
        pids = [cluster.process.pid, *_server_pids(url)]
        assert len(pids) >= 4 and all(_running(pid) for pid in pids)
        assert _mentioning(str(cluster.root)) == [cluster.process.pid]
        assert cluster.timings["initdb"] > 0 and cluster.timings["start"] > 0
    assert not [pid for pid in pids if _running(pid)]
    assert cluster.process.returncode is not None  # ended and reaped: no zombie left
    assert _mentioning(str(cluster.root)) == []
    assert not cluster.root.exists()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url, connect_timeout=5).close()
    cluster.stop()  # again: harmless


OWNER = """
import sys, time
sys.path.insert(0, {tests!r})
import pgcluster
cluster = pgcluster.start_cluster()
print(cluster.root, cluster.url(), flush=True)
time.sleep(60)
"""


@LINUX_ONLY
@pytest.mark.slow
def test_a_server_dies_with_the_process_that_started_it() -> None:
    """A pytest worker killed outright runs no teardown: the kernel stops its server."""
    owner = subprocess.Popen(
        [sys.executable, "-c", OWNER.format(tests=str(TESTS))],
        stdout=subprocess.PIPE,
        text=True,
    )
    root = url = ""
    pids: list[int] = []
    try:
        assert owner.stdout is not None
        root, url = owner.stdout.readline().split()  # start_cluster's own bound applies
        pids = [*_mentioning(root), *_server_pids(url)]
        assert len(pids) >= 4 and all(_running(pid) for pid in pids)
        owner.kill()
        owner.wait(10)
        wait_for(lambda: not [pid for pid in pids if _running(pid)], seconds=10)
        assert _mentioning(root) == []
    finally:
        owner.kill()
        owner.wait(10)
        for pid in _mentioning(root) if root else []:
            os.kill(pid, 9)
        if root:
            shutil.rmtree(root, ignore_errors=True)


INNER_CONFTEST = """
import importlib.util, sys
sys.path.insert(0, {tests!r})
spec = importlib.util.spec_from_file_location("gsep_suite_conftest", {conftest!r})
suite = importlib.util.module_from_spec(spec)
spec.loader.exec_module(suite)
pg_cluster, pg_url = suite.pg_cluster, suite.pg_url  # the suite's own fixtures
"""
INNER_TEST = """
import os

def test_fails_with_a_database(pg_cluster, pg_url):
    with open(os.environ["PG_REPORT"], "w") as report:
        report.write(f"{pg_cluster.root} {pg_cluster.process.pid}")
    assert False, "this test fails on purpose"
"""


@LINUX_ONLY
@pytest.mark.slow
def test_a_session_whose_test_fails_still_stops_its_server_and_removes_its_folder(
    tmp_path: Path,
) -> None:
    conftest = TESTS / "conftest.py"
    (tmp_path / "conftest.py").write_text(
        INNER_CONFTEST.format(tests=str(TESTS), conftest=str(conftest))
    )
    (tmp_path / "test_inner.py").write_text(INNER_TEST)
    report = tmp_path / "cluster.txt"
    env = clean_env(
        tmp_path / "env",
        PG_REPORT=str(report),
        GSEP_TEST_PG_BINDIR=os.environ.get(pgcluster.BINDIR_ENV),
    )
    args = ["-p", "no:cacheprovider", "-q", f"--basetemp={tmp_path / 'base'}", "test_inner.py"]
    done = subprocess.run(
        [sys.executable, "-m", "pytest", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1 and "1 failed" in done.stdout, done.stdout + done.stderr
    assert "this test fails on purpose" in done.stdout
    root, pid = report.read_text().split()
    assert not _running(int(pid))
    assert _mentioning(root) == []
    assert not Path(root).exists()
