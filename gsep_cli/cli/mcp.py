"""``gsep mcp``: serve the Model Context Protocol on stdin/stdout (for AI agents)."""

# no postponed annotations here: typer reads them on every run (see gsep_cli.cli)
import typer

from ._context import state_of


def mcp(ctx: typer.Context) -> None:
    """Serve gsep's tools to AI agents over MCP (stdio).

    Needs the mcp extra (pip install 'gsep-cli[mcp]'). Settings as for every command
    (environment, --profile, --base-url); the key comes from GSEP_API_KEY or the config,
    never an argument. With --sandbox it serves the built-in emulator (no key). Stdout
    carries only the protocol; messages go to stderr. Tools: README "MCP server".

    \b
    Examples:
      gsep mcp
      gsep mcp --sandbox
    """
    from ..mcpserver import require, serve

    state = state_of(ctx)
    require()  # before anything else: one line and the install command
    state.settings()  # a setting that cannot work: one line, exit 3; warnings to stderr
    serve(
        base_url=state.base_url,
        profile=state.profile,
        sandbox=state.sandbox,
        ledger_url=state.ledger_url,
        announce=state.console.info,  # stderr
    )
