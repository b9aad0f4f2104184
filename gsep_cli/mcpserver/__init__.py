"""``gsep mcp``: gsep as a Model Context Protocol server over stdio, for AI agents.

Built on the official Python SDK (``mcp``), from the optional ``mcp`` extra
(``pip install 'gsep-cli[mcp]'``), which only this package imports. The tools and their
schemas are in the README ("MCP server"); the server is in :mod:`.server`, what each
tool does in :mod:`.tools`, progress in :mod:`.bridge`.
"""

from __future__ import annotations

from collections.abc import Callable

from ..errors import UsageError

INSTALL_LINE = "pip install 'gsep-cli[mcp]'"
"""What to run to get the MCP server (said in the refusal)."""


def require() -> None:
    """Check that the MCP SDK imports; UsageError (exit 2) with the install line when it
    does not."""
    try:
        import mcp.server.mcpserver  # noqa: F401
    except ImportError as exc:
        raise UsageError(
            f"gsep mcp needs the mcp extra, which is not installed ({exc.__class__.__name__})",
            f"Install it: {INSTALL_LINE}",
        ) from None


def serve(
    *,
    base_url: str | None,
    profile: str | None,
    sandbox: bool,
    ledger_url: str | None = None,
    announce: Callable[[str], None] | None = None,
) -> None:
    """Serve MCP on stdin/stdout until stdin ends (blocking). ``sandbox``: against the
    built-in emulator, started here for the server's life (no key); ``announce`` is told
    its URL (never stdout: the protocol's); ``ledger_url``: as ``--ledger``. Raises
    UsageError (exit 2) without the extra, ConfigError (exit 3) for unusable settings or a
    ledger database that cannot be reached (opened once here, before serving); returns
    when the client closes stdin."""
    require()
    import anyio

    from ..environment import sandbox_faults, sandbox_pace
    from ..sandbox import Sandbox
    from ..session import Session
    from ..sessions import reach_directly
    from .server import GsepMcp, serve_stdio

    with Session(
        base_url=base_url, profile=profile, sandbox=sandbox, ledger_url=ledger_url
    ) as probe:
        probe.settings()  # refuse now what could never work
        probe.ledger()
    emulator = None
    forget = None
    if sandbox:
        seconds, size = sandbox_pace()
        emulator = Sandbox(job_seconds=seconds, chunk_size=size, faults=sandbox_faults()).start()
        forget = reach_directly(emulator.base_url)  # never through a proxy
        if announce is not None:
            announce(
                f"gsep: serving the built-in sandbox at {emulator.base_url} (no real separation)"
            )
    try:
        anyio.run(serve_stdio, GsepMcp(base_url, profile, emulator, ledger_url))
    finally:
        if forget is not None:
            forget()
        if emulator is not None:
            emulator.stop()
