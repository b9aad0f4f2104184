"""gsep runners as on other machines: the installed ``gsep`` in a process of its own
whose host name (and, for a container, PID namespace) is another one, sharing a ledger
and a sandbox with the others (tests of issue 19: one ledger across machines).

A runner in a UTS namespace of its own (``unshare -u``) sees another host name, so the
others' processes are out of its sight: only a claim's heartbeat and lease say whether
its holder lives, as across real machines. That needs root or CAP_SYS_ADMIN.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from clitools import clean_env, gsep_exe


def on_host(host: str | None, command: list[str], *, own_pids: bool = False) -> list[str]:
    """``command`` as a process whose host name is ``host`` (None: this one's) and, with
    ``own_pids``, in a PID namespace of its own, as a container is (gsep is pid 1 there)."""
    if host is None:
        return command
    unshare = shutil.which("unshare")
    assert unshare, "these tests need util-linux's unshare (Debian: util-linux)"
    pids = ["-p", "-f", "--mount-proc"] if own_pids else []
    return [unshare, "-u", *pids, "sh", "-c", 'hostname "$0" && exec "$@"', host, *command]


def require_namespaces(own_pids: bool = False) -> None:
    """Fail (never skip) with the reason when runners cannot get host names of their own."""
    probe = subprocess.run(
        on_host("gsep-probe", ["hostname"], own_pids=own_pids),
        capture_output=True,
        text=True,
        timeout=10,
    )
    assert probe.returncode == 0 and probe.stdout.strip() == "gsep-probe", (
        "a runner on another host is a gsep in a UTS namespace of its own (unshare -u), "
        f"which needs root or CAP_SYS_ADMIN: {probe.stderr.strip()}"
    )


def start_runner(
    tmp: Path,
    name: str,
    args: list[str],
    *,
    key: str,
    base_url: str,
    ledger: str,
    host: str | None = None,
    own_pids: bool = False,
    **env: str,
) -> subprocess.Popen[str]:
    """``gsep ARGS`` started in ``tmp`` with its own config and state under ``tmp/name``,
    the API at ``base_url``, the ledger at ``ledger`` and ``env`` added, on ``host``."""
    environment = clean_env(
        tmp / name, GSEP_API_KEY=key, GSEP_BASE_URL=base_url, GSEP_LEDGER_URL=ledger, **env
    )
    return subprocess.Popen(
        on_host(host, [gsep_exe(), *args], own_pids=own_pids),
        env=environment,
        cwd=tmp,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
