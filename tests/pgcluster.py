"""A throwaway PostgreSQL server for the tests (``import pgcluster``).

* :func:`find_bindir` finds the server's programs (``initdb``, ``postgres``).
* :func:`start_cluster` makes a cluster in a new folder under /tmp (``initdb``) and starts
  ``postgres`` on a Unix socket in that folder only (no TCP port), as an unprivileged
  account when we are root; it returns a :class:`Cluster`.
* :meth:`Cluster.url` gives a URL that psycopg 3 and libpq accept,
  :meth:`Cluster.create_database` a new empty database per call, and :meth:`Cluster.stop`
  ends the server and removes the folder.

Every way of not getting a server raises :class:`ClusterError`, whose message says what is
missing and how to get it. The fixtures ``pg_cluster`` and ``pg_url`` (tests/conftest.py)
turn it into a failed test, never a skip.

Run as a script (``python tests/pgcluster.py``), it prints the server the tests would use,
or why there is none (exit :data:`NO_SERVER_EXIT`): .ci/run's check before it installs one.
"""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

#: Set to a folder holding ``initdb`` and ``postgres`` to use that server and no other.
BINDIR_ENV = "GSEP_TEST_PG_BINDIR"
#: Where Debian and Ubuntu put each major version's programs (``<root>/<version>/bin``).
DEBIAN_ROOT = Path("/usr/lib/postgresql")
#: The programs a cluster needs.
PROGRAMS = ("initdb", "postgres")
#: The cluster's superuser (``initdb -U``), the user of every URL.
SUPERUSER = "gsep"
#: The port names the socket file (``.s.PGSQL.<port>``); no TCP port is opened. Given
#: explicitly on both sides, so a PGPORT in the environment changes neither.
PORT = 5432
#: A Unix socket's path must fit ``sun_path`` (108 bytes on Linux, with its NUL).
SOCKET_PATH_MAX = 107
#: How to get a server, for every message that says there is none.
INSTALL_HINT = (
    "install the PostgreSQL server (Debian/Ubuntu: `apt-get install postgresql`, which "
    f".ci/run does by itself), or set {BINDIR_ENV} to the folder holding initdb and postgres"
)
#: Settings for a server nobody needs to survive a crash: no fsync, no waiting for the WAL,
#: no full-page images (each a durability guarantee, none a change of behaviour).
#: max_connections: room for ~30 concurrent gsep processes, each with a pool, and the tests'
#: own connections. Dynamic shared memory in files of the data folder: removed with it,
#: where POSIX segments would stay in /dev/shm after a server killed outright.
FAST_SETTINGS = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "shared_buffers": "16MB",
    "dynamic_shared_memory_type": "mmap",
}
#: The last lines of initdb's or the server's output a message quotes.
TAIL_LINES = 25
#: The script's exit status when there is no server (not 1: a crash of the script itself).
NO_SERVER_EXIT = 3


class ClusterError(RuntimeError):
    """No server could be had; the message says what is missing and how to get it."""


@dataclass(frozen=True)
class Account:
    """The unprivileged account the server runs as when we are root."""

    name: str
    uid: int
    gid: int


# ---- finding the programs -----------------------------------------------------------------
def _missing_programs(folder: Path) -> list[str]:
    """The names of :data:`PROGRAMS` that are not executable files in ``folder``."""
    return [
        name
        for name in PROGRAMS
        if not ((folder / name).is_file() and os.access(folder / name, os.X_OK))
    ]


def _version_key(folder: Path) -> tuple[int, ...]:
    """(15,) for ``.../15/bin``, (9, 6) for ``.../9.6/bin``: numbers, so 15 sorts above 9.6."""
    try:
        return tuple(int(part) for part in folder.parent.name.split("."))
    except ValueError:
        return ()


def _pg_config_bindir(path: str | None) -> Path | None:
    """What ``pg_config --bindir`` prints (pg_config found on ``path``), if it answers."""
    pg_config = shutil.which("pg_config", path=path)
    if pg_config is None:
        return None
    try:
        done = subprocess.run(
            [pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    answer = done.stdout.strip()
    return Path(answer) if done.returncode == 0 and answer else None


def _candidate_bindirs(environ: Mapping[str, str]) -> Iterator[Path]:
    """Where to look, in order: initdb on PATH (its real folder, past symlinks), then
    ``pg_config --bindir``, then :data:`DEBIAN_ROOT`'s versions, newest first."""
    path = environ.get("PATH", os.defpath)
    initdb = shutil.which("initdb", path=path)
    if initdb is not None:
        yield Path(initdb).resolve().parent
    from_pg_config = _pg_config_bindir(path)
    if from_pg_config is not None:
        yield from_pg_config
    yield from sorted(DEBIAN_ROOT.glob("*/bin"), key=_version_key, reverse=True)


def find_bindir(environ: Mapping[str, str] | None = None) -> Path:
    """The folder holding the server's ``initdb`` and ``postgres``.

    :data:`BINDIR_ENV` in ``environ`` (default: ``os.environ``), when set, is the only place
    looked at; otherwise PATH, ``pg_config --bindir`` and /usr/lib/postgresql/*/bin (newest
    version first), the first folder that has both programs.

    Raises :class:`ClusterError` naming the places looked at and how to install a server.
    """
    env = os.environ if environ is None else environ
    override = env.get(BINDIR_ENV)
    if override:
        missing = _missing_programs(Path(override))
        if missing:
            raise ClusterError(
                f"{BINDIR_ENV}={override}: no executable {' or '.join(missing)} there; "
                f"{INSTALL_HINT}"
            )
        return Path(override)
    looked: list[str] = []
    for folder in _candidate_bindirs(env):
        if not _missing_programs(folder):
            return folder
        looked.append(str(folder))
    places = ", ".join(looked) if looked else "no candidate folder exists"
    raise ClusterError(
        "no PostgreSQL server programs (initdb and postgres) found on PATH, in "
        f"`pg_config --bindir` or in {DEBIAN_ROOT}/*/bin (looked at: {places}); {INSTALL_HINT}"
    )


def server_version(bindir: Path) -> str:
    """What ``postgres --version`` prints, e.g. ``postgres (PostgreSQL) 15.18 (Debian ...)``.

    Raises :class:`ClusterError` when it does not answer.
    """
    try:
        done = subprocess.run(
            [str(bindir / "postgres"), "--version"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise ClusterError(f"{bindir / 'postgres'} --version: {error}; {INSTALL_HINT}") from None
    if done.returncode != 0 or not done.stdout.strip():
        raise ClusterError(
            f"{bindir / 'postgres'} --version failed (exit {done.returncode}):\n"
            f"{_tail(done.stdout + done.stderr)}"
        )
    return done.stdout.strip()


# ---- running the programs -----------------------------------------------------------------
def server_account() -> Account | None:
    """The account to run initdb and postgres as: None (ourselves) unless we are root, which
    both refuse; then ``postgres``, else ``nobody``.

    Raises :class:`ClusterError` when we are root and neither account exists.
    """
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        if entry.pw_uid != 0:
            return Account(name, entry.pw_uid, entry.pw_gid)
    raise ClusterError(
        "running as root, and initdb and postgres refuse to run as root; there is no "
        "unprivileged `postgres` or `nobody` account to run them as (Debian's postgresql "
        "package creates `postgres`), or run the tests as an ordinary user"
    )


def _as(account: Account | None) -> dict[str, Any]:
    """subprocess keywords that run a program as ``account`` (no extra groups)."""
    if account is None:
        return {}
    return {"user": account.uid, "group": account.gid, "extra_groups": []}


def _who(account: Account | None) -> str:
    return "ourselves" if account is None else f"user {account.name}"


def _program_env(bindir: Path) -> dict[str, str]:
    """The environment of initdb and postgres: none of the caller's (PGDATA, PGPORT, a
    locale or time zone would change what initdb makes or where the server listens)."""
    return {"PATH": f"{bindir}{os.pathsep}/usr/bin{os.pathsep}/bin", "LC_ALL": "C", "TZ": "UTC"}


def _tail(text: str) -> str:
    lines = text.strip().splitlines()[-TAIL_LINES:]
    return "\n".join("    " + line for line in lines) or "    (nothing)"


def _die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` that has Linux send the server SIGQUIT (its immediate shutdown) when
    the process that started it dies, a pytest worker killed mid-run say: no server outlives
    its tests. None off Linux.

    It runs in the child after subprocess has changed the user (a change of user clears
    the setting); prctl is looked up here, before the fork, so the child only calls it.
    """
    if not sys.platform.startswith("linux"):
        return None
    import ctypes  # here: the script (main) runs on Pythons without it too

    prctl = ctypes.CDLL(None, use_errno=True).prctl
    pr_set_pdeathsig = 1
    quit_signal = ctypes.c_ulong(signal.SIGQUIT)  # prctl's second argument: unsigned long
    parent = os.getpid()

    def preexec() -> None:
        prctl(pr_set_pdeathsig, quit_signal)
        if os.getppid() != parent:  # the parent died before the line above took effect
            os._exit(1)

    return preexec


def _make_root(account: Account | None) -> Path:
    """A new folder for the data, the socket and the log, owned by ``account``.

    Under /tmp rather than $TMPDIR: the socket's path must stay short (:data:`SOCKET_PATH_MAX`).
    """
    base = "/tmp" if os.access("/tmp", os.W_OK | os.X_OK) else tempfile.gettempdir()
    root = Path(tempfile.mkdtemp(prefix="gsep-pg-", dir=base))
    socket_path = root / f".s.PGSQL.{PORT}"
    if len(os.fsencode(socket_path)) > SOCKET_PATH_MAX:
        shutil.rmtree(root, ignore_errors=True)
        raise ClusterError(
            f"the socket path {socket_path} is longer than {SOCKET_PATH_MAX} bytes; "
            "make /tmp writable or set TMPDIR to a short folder"
        )
    if account is not None:
        os.chown(root, account.uid, account.gid)
    return root


def _initdb(bindir: Path, root: Path, account: Account | None, timeout: float) -> None:
    """``initdb`` a cluster in ``root/data``: superuser :data:`SUPERUSER`, no password on the
    socket (nothing else listens), UTF-8 in the C locale (the same on every machine), and no
    fsync of the new files."""
    args = [
        str(bindir / "initdb"),
        "-D",
        str(root / "data"),
        "-U",
        SUPERUSER,
        "--auth=trust",
        "--no-sync",
        "--encoding=UTF8",
        "--locale=C",
    ]
    try:
        done = subprocess.run(
            args,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=root,
            env=_program_env(bindir),
            check=False,
            **_as(account),
        )
    except OSError as error:
        raise ClusterError(f"could not run {args[0]} as {_who(account)}: {error}") from None
    except subprocess.TimeoutExpired:
        raise ClusterError(f"initdb did not finish within {timeout:g} s") from None
    if done.returncode != 0:
        raise ClusterError(
            f"initdb failed (exit {done.returncode}, as {_who(account)}); the end of its "
            f"output:\n{_tail(done.stdout + done.stderr)}"
        )


def _pidfile_status(data: Path) -> str:
    """The server's state from its ``postmaster.pid`` (line 8: ``starting``, ``ready``...)."""
    try:
        lines = (data / "postmaster.pid").read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return lines[7].strip() if len(lines) > 7 else ""


def _start_server(
    bindir: Path, root: Path, account: Account | None, max_connections: int
) -> subprocess.Popen[bytes]:
    """``postgres`` on a socket in ``root`` only, its output in ``root/server.log``.

    Started as our child rather than through ``pg_ctl start``: pg_ctl leaves the server to
    init, so its exit leaves a zombie for init to reap (seen in ``pgrep postgres``), and its
    PID is known only from a file; ours is reaped by :meth:`Cluster.stop` and dies with us
    (:func:`_die_with_parent`). Its own session, so a Ctrl-C at the terminal reaches pytest,
    whose teardown stops it, rather than the server.
    """
    settings = {
        **FAST_SETTINGS,
        "listen_addresses": "",
        # quoted: the setting is a comma-separated list
        "unix_socket_directories": f'"{root}"',
        "max_connections": str(max_connections),
    }
    args = [str(bindir / "postgres"), "-D", str(root / "data"), "-p", str(PORT)]
    for name, value in settings.items():
        args += ["-c", f"{name}={value}"]
    with (root / "server.log").open("ab") as log:
        try:
            return subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=root,
                env=_program_env(bindir),
                start_new_session=True,
                preexec_fn=_die_with_parent(),  # see _die_with_parent
                **_as(account),
            )
        except (OSError, subprocess.SubprocessError) as error:
            raise ClusterError(f"could not run {args[0]} as {_who(account)}: {error}") from None


def _log_tail(root: Path) -> str:
    try:
        return _tail((root / "server.log").read_text(errors="replace"))
    except OSError:
        return "    (no log)"


def _wait_ready(process: subprocess.Popen[bytes], root: Path, timeout: float) -> None:
    """Until ``postmaster.pid`` says ``ready`` (what ``pg_ctl start -w`` waits for).

    Raises :class:`ClusterError` with the end of the server's log when it exits first or is
    not ready within ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while _pidfile_status(root / "data") != "ready":
        code = process.poll()
        if code is not None:
            raise ClusterError(
                f"postgres exited (code {code}) before it was ready; the end of its log:\n"
                f"{_log_tail(root)}"
            )
        if time.monotonic() > deadline:
            raise ClusterError(
                f"postgres was not ready within {timeout:g} s; the end of its log:\n"
                f"{_log_tail(root)}"
            )
        time.sleep(0.01)


def _end(process: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGQUIT, what ``pg_ctl stop -m immediate`` sends (no checkpoint: nothing is kept),
    then SIGKILL past ``timeout``; reaped either way."""
    if process.poll() is None:
        process.send_signal(signal.SIGQUIT)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)


# ---- the cluster --------------------------------------------------------------------------
@dataclass
class Cluster:
    """A running throwaway server; a context manager that :meth:`stop`\\ s it on exit."""

    #: the folder of the data (``data/``), the socket and ``server.log``; removed by stop
    root: Path
    bindir: Path
    #: ``postgres --version``'s answer
    version: str
    #: the postmaster, our child
    process: subprocess.Popen[bytes]
    #: who the server runs as (None: ourselves)
    account: Account | None
    #: seconds taken by ``initdb`` and by the start up to ready
    timings: dict[str, float]
    _numbers: Iterator[int] = field(default_factory=lambda: itertools.count(1), repr=False)

    @property
    def socket_dir(self) -> Path:
        return self.root

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    def url(self, dbname: str = "postgres") -> str:
        """``postgresql://gsep@/<dbname>?host=<socket dir>&port=5432``, as psycopg 3's
        ``connect`` and libpq take it (the host a folder: a Unix socket)."""
        host = quote(str(self.socket_dir), safe="/")
        return f"postgresql://{SUPERUSER}@/{quote(dbname, safe='')}?host={host}&port={PORT}"

    def create_database(self) -> str:
        """Create a new, empty database (``test_<n>``, from template0, which nobody can have
        changed); return its name. Takes ~20 ms. Needs psycopg."""
        import psycopg
        from psycopg import sql

        name = f"test_{next(self._numbers)}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            # FILE_COPY (15+) copies the template's files at once: half WAL_LOG's time here
            strategy = "STRATEGY FILE_COPY" if conn.info.server_version >= 150000 else ""
            conn.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE template0 {}").format(
                    sql.Identifier(name), sql.SQL(strategy)
                )
            )
        return name

    def drop_database(self, name: str) -> None:
        """Drop ``name``, ending whatever sessions a test left connected to it (13+)."""
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.url(), autocommit=True) as conn:
            force = "WITH (FORCE)" if conn.info.server_version >= 130000 else ""
            conn.execute(
                sql.SQL("DROP DATABASE {} {}").format(sql.Identifier(name), sql.SQL(force))
            )

    def stop(self, timeout: float = 10.0) -> None:
        """End the server (and so its backends) and remove :attr:`root`; again is harmless."""
        try:
            _end(self.process, timeout)
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_cluster(
    bindir: Path | None = None, *, max_connections: int = 200, timeout: float = 30.0
) -> Cluster:
    """A new cluster in a new folder, its server running and ready.

    ``bindir``: the folder of initdb and postgres (default: :func:`find_bindir`).
    ``timeout``: seconds for initdb, and again for the server to be ready.

    Raises :class:`ClusterError` (programs missing, no account to run them as, initdb
    failed: with the end of its output, the server exited or was not ready in time: with
    the end of its log); nothing is left running and the folder is removed.
    """
    bindir = find_bindir() if bindir is None else bindir
    missing = _missing_programs(bindir)
    if missing:
        raise ClusterError(f"{bindir}: no executable {' or '.join(missing)}; {INSTALL_HINT}")
    account = server_account()
    version = server_version(bindir)
    root = _make_root(account)
    process = None
    try:
        began = time.monotonic()
        _initdb(bindir, root, account, timeout)
        made = time.monotonic()
        process = _start_server(bindir, root, account, max_connections)
        _wait_ready(process, root, timeout)
        ready = time.monotonic()
    except BaseException:
        if process is not None:
            _end(process, 10.0)
        shutil.rmtree(root, ignore_errors=True)
        raise
    timings = {"initdb": made - began, "start": ready - made}
    return Cluster(root, bindir, version, process, account, timings)


def main() -> int:
    """Print the server the tests would use; exit :data:`NO_SERVER_EXIT`, saying why, when
    there is none."""
    try:
        bindir = find_bindir()
        print(f"PostgreSQL server for the tests: {server_version(bindir)} ({bindir})")
    except ClusterError as error:
        print(f"no PostgreSQL server for the tests: {error}", file=sys.stderr)
        return NO_SERVER_EXIT
    return 0


if __name__ == "__main__":
    sys.exit(main())
