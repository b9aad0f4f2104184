"""Every ``GSEP_*`` number read from the environment, parsed and range-checked here once.

Settings that live in the config file as well (key, base URL, model, stems, format,
output folder, profile) are resolved by :mod:`gsep_cli.config`; this module holds the
variables that exist only in the environment: timeouts, retries, polling, the rate limit,
stall detection, the longest wait and the built-in sandbox's pace. Each reader raises
:class:`~gsep_cli.errors.ConfigError` naming the variable and the accepted range, so a dry
run can check them all before a real run would send its first request.

The policy objects are built lazily (their modules import requests) so that ``--help``
and tab completion never pay for them.
"""

from __future__ import annotations

import math
import os
from typing import TYPE_CHECKING, Any

from .errors import ConfigError
from .polling import DEFAULT_MAX_WAIT
from .units import DECIMAL, INTEGER

if TYPE_CHECKING:
    from .polling import PollPolicy
    from .ratelimit import RateLimiter
    from .retry import RetryPolicy
    from .watchdog import Stall

#: The largest value any GSEP_* number may take: a day in seconds (a timeout beyond what
#: a socket accepts would crash at the first request), or attempts.
_MOST = 86400.0


def env_number(
    name: str,
    default: float,
    *,
    minimum: float = 0.0,
    maximum: float = _MOST,
    integer: bool = False,
) -> float:
    """A number from the environment (``default`` when unset or blank).

    Only plain ASCII decimals are taken (Python's ``float`` would also take ``5_0``,
    ``inf`` and other scripts' digits). Raises ConfigError naming ``name`` and the range
    ``[minimum, maximum]`` for anything else."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        pattern = INTEGER if integer else DECIMAL
        value = float(int(raw)) if integer else float(raw)
        if not pattern.fullmatch(raw):
            value = math.nan
    except (ValueError, OverflowError):
        value = math.nan
    if not math.isfinite(value) or not minimum <= value <= maximum:
        kind = "a whole number" if integer else "a number of seconds"
        raise ConfigError(
            f"{name} must be {kind} from {minimum:g} to {maximum:g}, not {raw[:40]!r}",
            f"Fix or unset {name}",
        )
    return value


def transport_options() -> dict[str, Any]:
    """The keyword arguments :class:`~gsep_cli.client.GsepClient` takes for timeouts
    (``(connect, read)`` seconds), retries, polling, the rate limit, stall detection and
    the longest wait, from the ``GSEP_*`` variables. Raises ConfigError (see above)."""
    return {
        "timeout": (
            env_number("GSEP_CONNECT_TIMEOUT", 10.0, minimum=0.001),
            env_number("GSEP_READ_TIMEOUT", 60.0, minimum=0.001),
        ),
        "policy": retry_policy(),
        "poll": poll_policy(),
        "limiter": rate_limiter(),
        "stall": stall(),
        "max_wait": env_number("GSEP_MAX_WAIT", DEFAULT_MAX_WAIT, minimum=1, maximum=7 * 86400),
    }


def claim_lease() -> float:
    """How long (seconds) a claim whose holder stopped beating keeps others waiting before
    they take its work over (GSEP_CLAIM_LEASE, default 60, 2 to 86400). On one machine a
    dead holder is seen at once (its process is gone); across machines the lease is all
    there is: a shorter one takes over sooner from a pod that was evicted, a longer one
    rides out longer network stalls (a holder beats every sixth of it)."""
    from .claims import DEFAULT_LEASE

    return env_number("GSEP_CLAIM_LEASE", DEFAULT_LEASE, minimum=2, maximum=86400)


def ledger_timeout() -> float:
    """The longest a shared ledger's database may take over one statement, seconds
    (GSEP_LEDGER_TIMEOUT, default 60, 1 to 3600; each transaction gets 10 s more)."""
    return env_number("GSEP_LEDGER_TIMEOUT", 60.0, minimum=1, maximum=3600)


def stall() -> Stall | None:
    """Stall detection from GSEP_STALL_RATE (bytes/s; 0 turns it off) and GSEP_STALL_TIME
    (seconds), like curl's ``--speed-limit``/``--speed-time``."""
    from .watchdog import Stall

    rate = env_number("GSEP_STALL_RATE", 1024.0, maximum=1e12)
    window = env_number("GSEP_STALL_TIME", 30.0, minimum=0.5)
    return Stall(rate, window) if rate > 0 else None


def retry_policy() -> RetryPolicy:
    """Attempts per request (GSEP_RETRIES), the wait after a 429 without Retry-After
    (GSEP_RATE_LIMIT_WAIT, seconds) and the backoff cap (GSEP_RETRY_CAP, seconds)."""
    from .retry import RetryPolicy

    return RetryPolicy(
        attempts=int(env_number("GSEP_RETRIES", 5, minimum=1, maximum=100, integer=True)),
        rate_limit_wait=env_number("GSEP_RATE_LIMIT_WAIT", 60.0),
        cap=env_number("GSEP_RETRY_CAP", 20.0),
    )


def rate_limiter() -> RateLimiter:
    """The client-side limiter from GSEP_RATE_LIMIT (``REQUESTS/SECONDS``; default 100/60,
    the API's documented limit per IP)."""
    from .ratelimit import RateLimiter, parse_rate

    raw = os.environ.get("GSEP_RATE_LIMIT", "").strip()
    try:
        limit, window = parse_rate(raw) if raw else (100, 60.0)
    except ValueError:
        raise ConfigError(
            f"GSEP_RATE_LIMIT must look like 100/60 (requests per seconds, at most a day), "
            f"not {raw[:40]!r}",
            "Fix or unset GSEP_RATE_LIMIT",
        ) from None
    return RateLimiter(limit, window)


def poll_policy() -> PollPolicy:
    """Job polling from GSEP_POLL_INTERVAL (first interval) and GSEP_POLL_CAP (longest
    interval), both in seconds."""
    from .polling import PollPolicy

    return PollPolicy(
        initial=env_number("GSEP_POLL_INTERVAL", 2.0, minimum=0.001),
        cap=env_number("GSEP_POLL_CAP", 30.0, minimum=0.001),
    )


def sandbox_pace() -> tuple[float, int]:
    """The built-in sandbox's job length (GSEP_SANDBOX_JOB_SECONDS, default 3 s) and the
    chunk size of its upload plans (GSEP_SANDBOX_CHUNK_SIZE, default 8 MiB, e.g. ``5MiB``)."""
    from .units import parse_size

    seconds = env_number("GSEP_SANDBOX_JOB_SECONDS", 3.0)
    raw = os.environ.get("GSEP_SANDBOX_CHUNK_SIZE", "").strip()
    try:
        size = parse_size(raw) if raw else 8 * 1024**2
    except ValueError as exc:
        raise ConfigError(
            f"GSEP_SANDBOX_CHUNK_SIZE: {exc}", "Fix or unset GSEP_SANDBOX_CHUNK_SIZE"
        ) from None
    if size < 1:
        raise ConfigError(
            "GSEP_SANDBOX_CHUNK_SIZE must be at least 1 byte",
            "Fix or unset GSEP_SANDBOX_CHUNK_SIZE",
        )
    return seconds, size


def sandbox_faults() -> list[str]:
    """The built-in sandbox's fault switches: GSEP_SANDBOX_FAULTS (``;``-separated, as for
    ``gsep sandbox serve``; README "Fault switches"), so a pipeline can be tried against
    a hostile server with ``--sandbox`` alone. Raises ConfigError for one that does not
    parse."""
    from .sandbox.faults import parse_fault_list

    try:
        return [f.describe() for f in parse_fault_list(os.environ.get("GSEP_SANDBOX_FAULTS", ""))]
    except ValueError as exc:
        raise ConfigError(
            f"GSEP_SANDBOX_FAULTS: {exc}", "Fix or unset GSEP_SANDBOX_FAULTS"
        ) from None
