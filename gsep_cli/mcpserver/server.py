"""The MCP server: gsep's tools (:mod:`.tools`) on the SDK's :class:`MCPServer`, over
stdio.

Every call runs its blocking gsep work in a worker thread (``anyio.to_thread``), in a
session of its own (so one call can be cancelled alone) that shares the server's
settings and, with ``--sandbox``, its one emulator. Progress goes out through
:mod:`.bridge` (gsep's notices in its messages). A :class:`~gsep_cli.errors.GsepError` is a
tool error with gsep's one line (``message — hint``); anything else is a generic tool
error, its detail one redacted line on stderr. Nothing here writes to stdout: it is the
protocol's channel.
"""

# no postponed annotations: the SDK reads each tool's signature (Context included)
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, TypeVar

import anyio
import anyio.to_thread
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult, TextContent, ToolAnnotations
from pydantic import Field, ValidationError

from .. import __version__
from ..client import GsepClient
from ..errors import GsepError
from ..redact import printable, printable_values, redact, redact_values
from ..sandbox import Sandbox
from ..session import Session
from . import tools
from .arguments import explain, refusal
from .bridge import INTERVAL, ProgressBridge

T = TypeVar("T")
#: The keys of a result whose values are local paths, given back exactly as they are.
LOCAL_PATHS = frozenset({"input", "path", "file"})

INSTRUCTIONS = """\
gsep separates music into stems (vocals, drums, bass, electric guitar, piano) with Gaudio
Lab's GSEP API. `separate` does everything for local audio files (upload, job, wait,
download) and never pays twice for work already done: call it again with the same input
and choices and it re-attaches to the job on record. `create_job` is the only other tool
that spends credits. Paths are on the machine this server runs on (absolute ones are
safest; ~ is expanded)."""


@dataclass
class CallSession(Session):
    """One tool call's session: it remembers its clients so that a cancelled call can
    stop their requests and downloads (:meth:`cancel`)."""

    _clients: list[GsepClient] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _cancelled: bool = False

    def client(self, settings: Any = None, parallel: int = 4) -> GsepClient:
        made = super().client(settings, parallel)
        with self._lock:
            self._clients.append(made)
            cancelled = self._cancelled
        if cancelled:
            _stop(made)
        return made

    def cancel(self) -> None:
        """Send no further API request (a job creation on the wire is still answered
        and recorded) and stop every download in flight, removing its partial files."""
        with self._lock:
            self._cancelled = True
            clients = list(self._clients)
        for made in clients:
            _stop(made)


def _stop(client: GsepClient) -> None:
    client.stop_requests()
    client.cancel_downloads()


@dataclass
class GsepMcp:
    """The server's settings (as ``--base-url``/``--profile``/``--sandbox``/``--ledger``)
    and the calls running now."""

    base_url: str | None = None
    profile: str | None = None
    sandbox: Sandbox | None = None
    ledger_url: str | None = None
    running: dict[int, CallSession] = field(default_factory=dict)

    def session(self, listener: ProgressBridge) -> CallSession:
        call = CallSession(
            base_url=self.base_url,
            profile=self.profile,
            sandbox=self.sandbox is not None,
            listener=listener,
            ledger_url=None if self.sandbox is not None else self.ledger_url,
        )
        call._sandbox = self.sandbox  # the server's one emulator (its closer: the server's)
        return call

    def cancel_all(self) -> None:
        """Stop every call still running (the server is ending)."""
        for call in list(self.running.values()):
            call.cancel()

    async def run(self, ctx: Context, work: Callable[[Session], T]) -> Any:
        """``work``'s value, or its failure as a tool error (a CallToolResult with
        ``isError``: the SDK passes it on as it is, unvalidated): run in a worker thread,
        in a session of its own; progress sent meanwhile; the call's cancellation stops
        its requests and downloads."""
        bridge = ProgressBridge()
        call = self.session(bridge)
        self.running[id(call)] = call
        finished = False
        outcome: list[T | CallToolResult] = []

        async def pump() -> None:
            try:
                while True:
                    await anyio.sleep(INTERVAL)
                    await _send(ctx, bridge)
            finally:
                if not finished:  # cancelled: the MCP call, or the whole server
                    call.cancel()

        try:
            async with anyio.create_task_group() as group:
                group.start_soon(pump)
                try:
                    outcome.append(await anyio.to_thread.run_sync(_guarded, work, call))
                finally:
                    finished = True
                    group.cancel_scope.cancel()
        finally:
            self.running.pop(id(call), None)
            with anyio.CancelScope(shield=True):
                await _send(ctx, bridge)
        return outcome[0]


async def _send(ctx: Context, bridge: ProgressBridge) -> None:
    message = bridge.take()
    if message is not None:
        bridge.sent += 1
        await ctx.report_progress(bridge.sent, None, printable(redact(message)))


def _guarded(work: Callable[[Session], T], call: CallSession) -> T | CallToolResult:
    """Run ``work`` (in the worker thread, where its session is opened and closed): its
    value with every string redacted (a server's text may echo a presigned URL) and,
    but for local paths, made printable (one line, no escape sequence); a
    failure is a tool error (``isError``) of one line: gsep's ``gsep: error: WHAT — WHAT
    TO DO``, or for anything unexpected a generic line (its detail on stderr, secrets
    redacted)."""
    try:
        with call:
            value = work(call)
        scrubbed = printable_values(redact_values(value), LOCAL_PATHS)
        return scrubbed  # type: ignore[return-value]  # same shape, scrubbed
    except GsepError as exc:
        text = f"gsep: error: {exc.message}" + (f" — {exc.what_to_do}" if exc.what_to_do else "")
        return tool_error(text)
    except Exception as exc:
        detail = printable(redact(f"{type(exc).__name__}: {exc}"))
        print(f"gsep: internal error in a tool call: {detail}", file=sys.stderr, flush=True)
        return tool_error(
            "gsep: internal error — please report it (the detail is on the server's stderr)"
        )


def tool_error(text: str) -> CallToolResult:
    """A tool error (``isError``) whose one line the model reads: redacted, printable."""
    line = printable(redact(text))
    return CallToolResult(content=[TextContent(type="text", text=line)], is_error=True)


Paths = Annotated[
    list[str] | str,
    Field(
        description="Local audio files or folders (absolute paths; a relative one is "
        "relative to the server's working folder; ~ is expanded)."
    ),
]
Stems = Annotated[
    list[str] | str | None,
    Field(
        description='Stems, e.g. ["vocal", "drum"] or "vocal,drum" (list_models gives '
        "each model's)."
    ),
]
Formats = Annotated[
    list[str] | str | None,
    Field(description="Result formats: wav, mp3 (others made locally with the audio extra)."),
]
Model = Annotated[str | None, Field(description="Model name (default: the setting).")]
Language = Annotated[
    str | None, Field(description="gts_lyrics_line_v1: the lyrics' language (en, ko, ja, zh-cn).")
]
JobId = Annotated[str, Field(description="A job id (from separate or create_job).")]
Timeout = Annotated[float | None, Field(description="Seconds to wait for a job.", gt=0)]
PayAgain = Annotated[
    bool,
    Field(description="Pay for a new job even when one for the same work is on record."),
]
PAID = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=True)
READ = ToolAnnotations(read_only_hint=True, open_world_hint=True)


class _Checked(MCPServer):
    """The SDK's server, with every call's arguments checked first (:mod:`.arguments`):
    an unknown tool or argument, or one that fails the schema, is a tool error of
    gsep's one line, not the SDK's lines of pydantic text (nor ignored)."""

    async def call_tool(self, name: str, arguments: dict[str, Any], context: Any = None) -> Any:
        schemas = {tool.name: tool.input_schema for tool in await self.list_tools()}
        refused = refusal(name, schemas, arguments)
        if refused is not None:
            return tool_error(refused)
        try:
            return await super().call_tool(name, arguments, context)
        except ToolError as exc:
            if isinstance(exc.__cause__, ValidationError):
                return tool_error(explain(name, exc.__cause__.errors()))
            raise


def build(server: GsepMcp) -> MCPServer:
    """The MCP server with gsep's tools (their descriptions and schemas: README "MCP
    server")."""
    here = printable(Path.cwd())
    instructions = f"{INSTRUCTIONS} A relative path is relative to the server's folder, {here}."
    mcp = _Checked("gsep", version=__version__, instructions=instructions, log_level="WARNING")

    @mcp.tool(annotations=PAID)
    async def separate(
        inputs: Paths,
        ctx: Context,
        stems: Stems = None,
        formats: Formats = None,
        out_dir: Annotated[
            str | None, Field(description="Folder for the results (default: the setting).")
        ] = None,
        model: Model = None,
        lyrics: Annotated[
            str | None, Field(description="gts_lyrics_line_v1: the lyrics .txt (UTF-8).")
        ] = None,
        language: Language = None,
        timeout: Timeout = None,
        pay_again: PayAgain = False,
    ) -> dict[str, Any]:
        """Separate local audio files into stems: upload, create the job (costs credits),
        wait, download. Returns each input's written paths, job id and expiry. Never pays
        twice: the same input and choices again re-attach to the job on record."""
        return await server.run(
            ctx,
            lambda s: tools.separate(
                s,
                inputs,
                stems=stems,
                formats=formats,
                out_dir=out_dir,
                model=model,
                lyrics=lyrics,
                language=language,
                timeout=timeout,
                pay_again=pay_again,
            ),
        )

    @mcp.tool(annotations=ToolAnnotations(read_only_hint=False, destructive_hint=False))
    async def upload(
        path: Annotated[str, Field(description="A local audio file (or lyrics .txt).")],
        ctx: Context,
        model: Model = None,
    ) -> dict[str, Any]:
        """Upload a local file (free; kept 72 h) and return its upload id for create_job."""
        return await server.run(ctx, lambda s: tools.upload(s, path, model=model))

    @mcp.tool(annotations=PAID)
    async def create_job(
        upload_id: Annotated[str, Field(description="An upload id from the upload tool.")],
        ctx: Context,
        stems: Stems = None,
        model: Model = None,
        lyrics_upload_id: Annotated[
            str | None, Field(description="gts_lyrics_line_v1: the lyrics' upload id.")
        ] = None,
        language: Language = None,
        pay_again: PayAgain = False,
    ) -> dict[str, Any]:
        """Create a separation job on an upload. THIS COSTS CREDITS. A job for the same
        upload, model and stems already on record is returned instead (nothing paid)
        unless pay_again. Returns the job id (then: job_status, download)."""
        return await server.run(
            ctx,
            lambda s: tools.create_job(
                s,
                upload_id,
                stems=stems,
                model=model,
                lyrics_upload_id=lyrics_upload_id,
                language=language,
                pay_again=pay_again,
            ),
        )

    @mcp.tool(annotations=READ)
    async def job_status(
        job_id: JobId,
        ctx: Context,
        model: Model = None,
        wait: Annotated[bool, Field(description="Wait until the job ends.")] = False,
        timeout: Timeout = None,
    ) -> dict[str, Any]:
        """A job's status (waiting, running, success, failed), expiry and outputs."""
        return await server.run(
            ctx, lambda s: tools.job_status(s, job_id, model=model, wait=wait, timeout=timeout)
        )

    @mcp.tool(annotations=ToolAnnotations(read_only_hint=False, destructive_hint=False))
    async def download(
        job_id: JobId,
        out_dir: Annotated[str, Field(description="Folder to write the results in.")],
        ctx: Context,
        stems: Stems = None,
        formats: Formats = None,
        model: Model = None,
        force: Annotated[bool, Field(description="Replace files already there.")] = False,
        skip_existing: Annotated[bool, Field(description="Keep files already there.")] = False,
    ) -> dict[str, Any]:
        """Download a finished job's stems into out_dir (each file written whole, then
        renamed: never a partial file under a result's name); returns the paths."""
        return await server.run(
            ctx,
            lambda s: tools.download(
                s,
                job_id,
                out_dir,
                stems=stems,
                formats=formats,
                model=model,
                force=force,
                skip_existing=skip_existing,
            ),
        )

    @mcp.tool(annotations=ToolAnnotations(read_only_hint=True, open_world_hint=False))
    async def list_models(ctx: Context) -> dict[str, Any]:
        """The models: the stems each gives, its input formats and limits."""
        return await server.run(ctx, tools.list_models)

    @mcp.tool(annotations=READ)
    async def key_info(ctx: Context) -> dict[str, Any]:
        """What the API says about the key: project, status, models, credits (never the
        key itself)."""
        return await server.run(ctx, tools.key_info)

    @mcp.tool(annotations=ToolAnnotations(read_only_hint=True, open_world_hint=False))
    async def job_record(
        ctx: Context,
        job_id: Annotated[
            str | None, Field(description="A job id; none: the most recent jobs.")
        ] = None,
        limit: Annotated[int, Field(description="How many recent jobs.", ge=1, le=500)] = 20,
    ) -> dict[str, Any]:
        """The local ledger's record of a job (input, stems, status, expiry, files), or
        of the most recent jobs: what gsep created and where the files went."""
        return await server.run(ctx, lambda s: tools.job_record(s, job_id, limit=limit))

    return mcp


async def serve_stdio(server: GsepMcp) -> None:
    """Serve until stdin ends; calls still running are then cancelled."""
    try:
        await build(server).run_stdio_async()
    finally:
        server.cancel_all()
