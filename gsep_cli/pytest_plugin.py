"""gsep's pytest plugin: test your own pipeline against the sandbox, offline, for free.

Installed with gsep (entry point ``pytest11``, name ``gsep``; ``-p no:gsep`` turns it
off). Loading it changes nothing in a test session: it registers one marker and defines
fixtures that do work only in a test that asks for them; importing it imports nothing
of gsep but the package's light ``__init__``.

Fixtures:

- ``gsep_sandbox``: a running :class:`~gsep_cli.Sandbox` (jobs done at once:
  ``job_seconds=0``), stopped after the test. For the test's duration the environment
  holds no GSEP_*/GAUDIO_* variable from outside; GSEP_CONFIG_DIR and GSEP_STATE_DIR are
  temporary folders (the real config and ledger are never touched), GSEP_BASE_URL is the
  sandbox's and GSEP_API_KEY a test key, so ``gsep`` run in a subprocess and
  ``gsep_cli.Session()`` both talk to it; GSEP_POLL_INTERVAL is 0.1 s; NO_PROXY (and
  no_proxy) also name the sandbox's loopback host, so a proxy from the environment is
  not asked for it. What a test reads
  or changes: ``base_url``, ``add_fault(spec)``, ``requests`` (the request log),
  ``store.job_count()``, ``store.upload_count()``.
- ``gsep_session``: a :class:`~gsep_cli.Session` bound to ``gsep_sandbox``, closed after.

The marker ``@pytest.mark.gsep_sandbox(**keywords)`` gives the fixture's sandbox its
settings: any keyword of :class:`~gsep_cli.Sandbox` (``faults=["api-503@job-get:2"]``,
``job_seconds=2``, ``credits=1``, ``max_seconds=1``...).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .sandbox import Sandbox
    from .session import Session

#: The key the fixture's environment carries (the sandbox accepts any non-empty key).
TEST_KEY = "gsep-pytest-key"


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker (so ``--strict-markers`` accepts it); nothing else."""
    config.addinivalue_line(
        "markers",
        "gsep_sandbox(**keywords): settings of the gsep_sandbox fixture's Sandbox "
        '(faults=["api-503:2"], job_seconds=0, credits=None, ...)',
    )


def _sandbox_options(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The fixture's Sandbox keywords: ``job_seconds=0``, then the closest marker's."""
    options: dict[str, Any] = {"job_seconds": 0}
    marker = request.node.get_closest_marker("gsep_sandbox")
    if marker is not None:
        if marker.args:
            raise TypeError("@pytest.mark.gsep_sandbox takes keywords only, e.g. faults=[...]")
        options.update(marker.kwargs)
    return options


@pytest.fixture
def gsep_sandbox(
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Sandbox]:
    """A running sandbox that ``gsep`` and ``gsep_cli.Session()`` reach through the
    environment (see the module's docstring); stopped, its files deleted, after."""
    from .sandbox import Sandbox

    sandbox = Sandbox(**_sandbox_options(request))
    root = tmp_path_factory.mktemp("gsep")
    for name in list(os.environ):
        if name.startswith(("GSEP_", "GAUDIO_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("GSEP_CONFIG_DIR", str(root / "config"))
    monkeypatch.setenv("GSEP_STATE_DIR", str(root / "state"))
    monkeypatch.setenv("GSEP_POLL_INTERVAL", "0.1")
    monkeypatch.setenv("GSEP_API_KEY", TEST_KEY)
    with sandbox:
        monkeypatch.setenv("GSEP_BASE_URL", sandbox.base_url)
        _no_proxy_for(monkeypatch, sandbox.base_url)
        yield sandbox


def _no_proxy_for(monkeypatch: pytest.MonkeyPatch, base_url: str) -> None:
    """Add the sandbox's host to NO_PROXY (and no_proxy), keeping what they held: a proxy
    from the environment cannot reach this machine's loopback."""
    from urllib.parse import urlsplit

    host = urlsplit(base_url).hostname or "127.0.0.1"
    current = os.environ.get("no_proxy") or os.environ.get("NO_PROXY") or ""
    value = ",".join(part for part in (current.strip(" ,"), host) if part)
    for name in ("no_proxy", "NO_PROXY"):
        monkeypatch.setenv(name, value)


@pytest.fixture
def gsep_session(gsep_sandbox: Sandbox) -> Iterator[Session]:
    """A :class:`~gsep_cli.Session` talking to ``gsep_sandbox`` (its ledger in the
    fixture's temporary state folder), closed after the test."""
    from .session import Session

    with Session(base_url=gsep_sandbox.base_url) as session:
        yield session
