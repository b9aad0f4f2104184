"""gsep: a command-line client and library for Gaudio Lab's GSEP stem-separation API.

The public Python API (README "Python"), imported on first use so that ``import
gsep_cli`` stays cheap:

- :class:`Session`: settings, key, client, ledger and sandbox, as ``gsep`` puts them
  together; :meth:`Session.separate` is ``gsep separate`` (never pays twice for work on
  record).
- :class:`GsepClient`: the API's steps one by one: ``upload_file``, ``create_job``,
  ``get_job``, ``wait``, ``download``, ``key_info``.
- :class:`Listener` (the progress protocol) and :class:`NullListener`.
- :class:`Sandbox`: the local emulator of the API, with fault switches.
- :class:`InputResult`, :class:`WrittenFile`: what a separation returns;
  :class:`Job`, :class:`JobStatus`: what ``get_job`` and ``wait`` return.
- :class:`GsepError` and its subclasses, each with its :class:`ExitCode`.

These names, and the parameters their docstrings document, are the stable public API;
submodules (``gsep_cli.batch``, ``gsep_cli.client.base``...) and names starting with
``_`` are internals that may change in any release. The library (everything here except
``gsep_cli.cli``) works without typer or rich.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "AccountError",
    "AuthError",
    "ConfigError",
    "CreationUnconfirmed",
    "ExitCode",
    "ExpiredUrl",
    "GsepClient",
    "GsepError",
    "InputChanged",
    "InputResult",
    "InternalError",
    "Interrupted",
    "Job",
    "JobFailed",
    "JobStatus",
    "LedgerError",
    "LedgerUnreachable",
    "Listener",
    "LocalFailure",
    "NotOnRecord",
    "NullListener",
    "RateLimited",
    "RequestRejected",
    "Sandbox",
    "ServiceUnavailable",
    "Session",
    "SpendingLimit",
    "UsageError",
    "WaitTimeout",
    "WrittenFile",
    "__version__",
]

#: The module that defines each public name; the rest are :mod:`gsep_cli.errors`'.
_HOMES = {
    "Session": "session",
    "GsepClient": "client",
    "WrittenFile": "client",
    "InputResult": "batch",
    "Job": "models",
    "JobStatus": "models",
    "Listener": "progress",
    "NullListener": "progress",
    "Sandbox": "sandbox",
}

if TYPE_CHECKING:
    from .batch import InputResult
    from .client import GsepClient, WrittenFile
    from .errors import (
        AccountError,
        AuthError,
        ConfigError,
        CreationUnconfirmed,
        ExitCode,
        ExpiredUrl,
        GsepError,
        InputChanged,
        InternalError,
        Interrupted,
        JobFailed,
        LedgerError,
        LedgerUnreachable,
        LocalFailure,
        NotOnRecord,
        RateLimited,
        RequestRejected,
        ServiceUnavailable,
        SpendingLimit,
        UsageError,
        WaitTimeout,
    )
    from .models import Job, JobStatus
    from .progress import Listener, NullListener
    from .sandbox import Sandbox
    from .session import Session


def __getattr__(name: str) -> Any:
    """PEP 562: the public names, each imported from its module on first use."""
    if name not in __all__ or name == "__version__":
        raise AttributeError(f"module 'gsep_cli' has no attribute {name!r}")
    value = getattr(import_module(f".{_HOMES.get(name, 'errors')}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
