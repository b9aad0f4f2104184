"""Helpers shared by the CLI, client and config tests (``import clitools``).

* :func:`make_wav` (re-exported from :mod:`audio`, the one WAV writer) writes small,
  valid PCM WAV inputs.
* :func:`clean_env` / :func:`set_env` build an environment with no GSEP_*/GAUDIO_* leaking
  in from the developer's shell, config/state dirs in a temp folder and short waits.
* :func:`run_gsep` runs the *installed* ``gsep`` console script in a subprocess;
  :func:`start_gsep` starts it without waiting (:func:`wait_for` a condition meanwhile);
  :func:`run_cli` runs ``gsep_cli.cli.run`` in-process under pytest's ``capsys``.
* :func:`assert_clean_error` checks the output contract for an expected failure.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from audio import make_wav as make_wav  # the one WAV writer, re-exported

#: A recognisable API key: it must never appear in any output.
SECRET = "some-secret-key-1234"
#: Settings that keep every wait short (polling, retries, 429 blocks).
FAST_ENV = {
    "GSEP_POLL_INTERVAL": "0.1",
    "GSEP_POLL_CAP": "0.3",
    "GSEP_RATE_LIMIT_WAIT": "0.1",
    "GSEP_RETRY_CAP": "0.05",
    "GSEP_RETRIES": "3",
    "GSEP_CONNECT_TIMEOUT": "5",
    "GSEP_READ_TIMEOUT": "20",
    "GSEP_SANDBOX_JOB_SECONDS": "0.3",
    "GSEP_SANDBOX_CHUNK_SIZE": "4096",
}
ESC = "\x1b"


def gsep_exe() -> str:
    """The installed console script next to the running interpreter."""
    return shutil.which("gsep", path=os.path.dirname(sys.executable)) or "gsep"


def _base_env(tmp: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GSEP_", "GAUDIO_")) and k not in ("NO_COLOR", "XDG_CONFIG_HOME")
    }
    env.update(FAST_ENV)
    env["GSEP_CONFIG_DIR"] = str(tmp / "config")
    env["GSEP_STATE_DIR"] = str(tmp / "state")
    return env


def clean_env(tmp: Path, **extra: str | None) -> dict[str, str]:
    """A subprocess environment: no GSEP_*/GAUDIO_* from outside, fast waits, temp dirs.

    ``extra`` adds variables; a value of None removes one.
    """
    env = _base_env(tmp)
    for name, value in extra.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def set_env(monkeypatch: Any, tmp: Path, **extra: str | None) -> None:
    """The same environment as :func:`clean_env`, applied to ``os.environ`` in-process."""
    wanted = clean_env(tmp, **extra)
    for name in list(os.environ):
        if name not in wanted:
            monkeypatch.delenv(name, raising=False)
    for name, value in wanted.items():
        if os.environ.get(name) != value:
            monkeypatch.setenv(name, value)


@dataclass
class Run:
    """What one gsep run produced."""

    code: int
    out: str
    err: str

    @property
    def lines(self) -> list[str]:
        """stdout split into lines."""
        return self.out.splitlines()

    @property
    def err_lines(self) -> list[str]:
        """stderr split into lines."""
        return self.err.splitlines()

    def json(self) -> Any:
        """stdout parsed as exactly one JSON document."""
        return json.loads(self.out)

    def __str__(self) -> str:
        return f"exit {self.code}\n--- stdout\n{self.out}--- stderr\n{self.err}"


def run_gsep(
    args: Sequence[str],
    env: dict[str, str],
    *,
    cwd: Path | None = None,
    stdin: str | None = None,
    timeout: float = 90,
) -> Run:
    """Run the installed ``gsep`` with ``args`` (stdin: the text, or /dev/null)."""
    proc = subprocess.run(
        [gsep_exe(), *args],
        env=env,
        cwd=cwd,
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        errors="surrogateescape",  # file names that are not UTF-8 come back as they are
        timeout=timeout,
        check=False,
    )
    return Run(proc.returncode, proc.stdout, proc.stderr)


def start_gsep(
    args: Sequence[str], env: dict[str, str], cwd: Path | None = None
) -> subprocess.Popen[str]:
    """Start the installed ``gsep`` with ``args`` (stdin /dev/null, stdout and stderr
    piped as text); the caller communicates with it."""
    return subprocess.Popen(
        [gsep_exe(), *args],
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(
    predicate: Callable[[], bool], seconds: float = 20.0, what: str = "the condition"
) -> None:
    """Poll ``predicate`` every 20 ms until it is true; fail after ``seconds``, naming
    ``what`` was waited for."""
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, f"waited {seconds:g} s for {what}"
        time.sleep(0.02)


@contextlib.contextmanager
def _stdin(text: str | None) -> Iterator[None]:
    if text is None:
        yield
        return
    saved = sys.stdin
    sys.stdin = io.StringIO(text)
    try:
        yield
    finally:
        sys.stdin = saved


def run_cli(capsys: Any, args: Sequence[str], *, stdin: str | None = None) -> Run:
    """Run ``gsep_cli.cli.run(args)`` in-process and capture what it printed."""
    from gsep_cli import cli

    capsys.readouterr()  # drop anything printed before
    with _stdin(stdin):
        code = cli.run(list(args))
    captured = capsys.readouterr()
    return Run(code, captured.out, captured.err)


def assert_clean_error(run: Run, code: int, *fragments: str) -> str:
    """An expected failure: exit ``code``, empty stdout, one ``gsep: error:`` line on
    stderr that contains every fragment (case-insensitive), no traceback. Returns it."""
    assert run.code == code, str(run)
    assert run.out == "", str(run)
    assert "Traceback" not in run.err, str(run)
    errors = [line for line in run.err_lines if line.startswith("gsep: error:")]
    assert len(errors) == 1, str(run)
    line = errors[0]
    for fragment in fragments:
        assert fragment.lower() in line.lower(), f"{fragment!r} not in {line!r}"
    return line


def assert_no_secret(run: Run, secret: str = SECRET) -> None:
    """The API key appears neither on stdout nor on stderr."""
    assert secret not in run.out, str(run)
    assert secret not in run.err, str(run)


def api_requests(sandbox: Any) -> list[dict[str, Any]]:
    """The sandbox's logged requests to the API (not S3/CDN)."""
    return [r for r in sandbox.requests if r["kind"] == "api"]


def files_under(folder: Path) -> list[str]:
    """Every file below ``folder`` (hidden ones too), relative, sorted."""
    if not folder.exists():
        return []
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def key_info_requests(sb: Any) -> int:
    """How many requests the sandbox saw, each of them the free GET /v1/key/info (a
    separate --dry-run's only request: the credits left)."""
    seen = [(r["method"], r["path"]) for r in sb.requests]
    assert all(seen_one == ("GET", "/developers/api/v1/key/info") for seen_one in seen), seen
    return len(seen)
