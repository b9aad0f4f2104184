"""``gsep sandbox``: serve the local emulator of the GSEP API; the bundled example clip."""

# no postponed annotations here: typer reads them on every run (see gsep_cli.cli)
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..errors import UsageError
from ..shield import held
from . import _output
from ._context import state_of
from ._globals import GsepTyper
from ._options import between

if TYPE_CHECKING:
    from ..sandbox import Sandbox

app = GsepTyper(
    help="The local GSEP API emulator (does not really separate).",
    no_args_is_help=True,
)


@app.command("serve")
def serve(
    ctx: typer.Context,
    host: Annotated[
        str, typer.Option("--host", metavar="HOST", help="Address to bind (loopback).")
    ] = "127.0.0.1",
    port: Annotated[
        int,
        typer.Option(
            "--port", metavar="PORT", callback=between(0, 65535), help="Port, 0 for a free one."
        ),
    ] = 0,
    job_seconds: Annotated[
        float,
        typer.Option(
            "--job-seconds",
            metavar="SECONDS",
            callback=between(0),
            help="How long a job takes; 0: done at once.",
        ),
    ] = 3.0,
    chunk_size: Annotated[
        str,
        typer.Option(
            "--chunk-size", metavar="SIZE", help="chunkSize of upload plans (e.g. 5MiB, 64KiB)."
        ),
    ] = "1GiB",
    credits: Annotated[
        int | None,
        typer.Option(
            "--credits",
            metavar="N",
            callback=between(0),
            help="Credits available (1 per job). Default: unlimited.",
        ),
    ] = None,
    keys_file: Annotated[
        Path | None,
        typer.Option(
            "--keys-file",
            metavar="FILE",
            help="The accepted API keys, one per line. Default: any non-empty key.",
        ),
    ] = None,
    business_status: Annotated[
        int,
        typer.Option(
            "--business-status",
            metavar="CODE",
            help="HTTP status of business errors: 200 or 400.",
        ),
    ] = 200,
    rate_limit: Annotated[
        int,
        typer.Option(
            "--rate-limit",
            metavar="N",
            callback=between(0),
            help="API requests per window per IP; 0: no limit.",
        ),
    ] = 100,
    rate_window: Annotated[
        float,
        typer.Option(
            "--rate-window",
            metavar="SECONDS",
            callback=between(0.01),
            help="Rate-limit window.",
        ),
    ] = 60.0,
    rate_block: Annotated[
        float,
        typer.Option(
            "--rate-block",
            metavar="SECONDS",
            callback=between(0),
            help="How long an IP stays blocked after going over.",
        ),
    ] = 60.0,
    retry_after: Annotated[
        bool, typer.Option("--retry-after", help="Send Retry-After on 429 (the real API does not).")
    ] = False,
    url_ttl: Annotated[
        float,
        typer.Option(
            "--url-ttl",
            metavar="SECONDS",
            callback=between(0),
            help="How long a presigned part URL stays valid.",
        ),
    ] = 86400,
    max_bytes: Annotated[
        str | None,
        typer.Option(
            "--max-bytes",
            metavar="SIZE",
            help="Replace every model's size limit (e.g. 1MiB): 1110 sooner.",
        ),
    ] = None,
    max_seconds: Annotated[
        float | None,
        typer.Option(
            "--max-seconds",
            metavar="SECONDS",
            callback=between(0),
            help="Replace every model's WAV duration limit: 1109 sooner.",
        ),
    ] = None,
    tls_cert: Annotated[
        Path | None,
        typer.Option(
            "--tls-cert",
            metavar="PEM",
            help="Serve https with this certificate (PEM); needs --tls-key.",
        ),
    ] = None,
    tls_key: Annotated[
        Path | None,
        typer.Option("--tls-key", metavar="PEM", help="Private key (PEM) for --tls-cert."),
    ] = None,
    fault: Annotated[
        list[str] | None,
        typer.Option(
            "--fault",
            metavar="FAULT",
            help="Inject a fault: KIND[@ROUTE][:COUNT][:ARG], repeatable (see README), "
            "e.g. api-503:2.",
        ),
    ] = None,
) -> None:
    """Serve a local emulator of the GSEP API; print its base URL.

    It does NOT separate sources: WAV stems are band-filtered copies of the input and MP3
    stems are silent, with the right duration. Everything else follows the API contract.
    Serves until interrupted (Ctrl-C exits 0). -v logs each request. Also: env
    GSEP_SANDBOX_FAULTS="a;b".

    \b
    Examples:
      gsep sandbox serve --port 8080
      gsep sandbox serve --job-seconds 5 --chunk-size 5MiB --fault api-503:2
    """
    from ..config import LOOPBACK_HOSTS
    from ..sandbox import Sandbox, parse_fault_list
    from ..units import parse_size

    try:
        size = parse_size(chunk_size)
        faults = list(fault or [])
        faults += [
            f.describe() for f in parse_fault_list(os.environ.get("GSEP_SANDBOX_FAULTS", ""))
        ]
        keys = None
        if keys_file is not None:
            keys = [ln.strip() for ln in keys_file.read_text().splitlines() if ln.strip()]
        sandbox = Sandbox(
            host=host,
            port=port,
            job_seconds=job_seconds,
            chunk_size=size,
            credits=credits,
            api_keys=keys,
            business_status=business_status,
            rate_limit=rate_limit,
            rate_window=rate_window,
            rate_block=rate_block,
            rate_retry_after=retry_after,
            url_ttl=url_ttl,
            max_bytes=parse_size(max_bytes) if max_bytes else None,
            max_seconds=max_seconds,
            tls_cert=tls_cert,
            tls_key=tls_key,
            faults=faults,
            verbose=state_of(ctx).verbose,
        )
    except (ValueError, OSError) as exc:
        raise UsageError(str(exc)) from None
    if host not in LOOPBACK_HOSTS:
        print(f"gsep: warning: binding {host}, which is not loopback", file=sys.stderr)
    _serve(sandbox, host, port, as_json=state_of(ctx).json)


def _serve(sandbox: "Sandbox", host: str, port: int, *, as_json: bool = False) -> None:
    """Start, print the base URL on stdout (with --json one JSON line: ``baseUrl``,
    ``host``, ``port``), serve until interrupted."""
    try:
        sandbox.start()
    except OSError as exc:
        sandbox.stop()
        raise _listen_error(exc, host, port) from None
    # SIGTERM and SIGHUP arrive as KeyboardInterrupt too (see run). From here on one can
    # land at any line, the announcements included (a loaded machine is slow to write
    # them): every one stops the emulator, its files removed, and ends the command cleanly
    try:
        if as_json:
            from urllib.parse import urlsplit

            bound = urlsplit(sandbox.base_url).port
            ready = {"baseUrl": sandbox.base_url, "host": host, "port": bound}
            print(json.dumps(ready), flush=True)
        else:
            print(sandbox.base_url, flush=True)
        print(
            f"gsep: sandbox serving at {sandbox.base_url} (Ctrl-C to stop; it does not "
            "really separate sources)",
            file=sys.stderr,
            flush=True,
        )
        sandbox.serve_forever()
    except KeyboardInterrupt:
        print("gsep: sandbox stopped", file=sys.stderr)
    finally:  # (serve_forever stops it too: a second stop is quick and harmless)
        with held():  # a second signal must not cut the removal of its files short
            sandbox.stop()


def _listen_error(exc: OSError, host: str, port: int) -> UsageError:
    """Why the emulator cannot listen on ``host:port``, and what to do instead."""
    import errno
    import socket

    if isinstance(exc, socket.gaierror):  # the name does not resolve: not about the port
        return UsageError(
            f"cannot listen on {host}: {exc.strerror or 'unknown host'}",
            "Give --host an address of this machine, e.g. --host 127.0.0.1",
        )
    other = "Use --port 0 for a free port, or name another with --port N"
    if exc.errno == errno.EADDRINUSE:
        return UsageError(f"port {port} on {host} is already in use", other)
    if exc.errno == errno.EACCES:
        return UsageError(f"no permission to listen on {host}:{port}", other)
    if exc.errno == errno.EADDRNOTAVAIL:
        return UsageError(
            f"cannot listen on {host}: not an address of this machine", "Use --host 127.0.0.1"
        )
    return UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}", other)


@app.command("example")
def example(ctx: typer.Context) -> None:
    """Print the path of the bundled example clip.

    A 4-second clip generated by gsep, free of any license.

    \b
    Example:
      gsep --sandbox separate "$(gsep sandbox example)" --stems vocal,drum
    """
    from ..sandbox.example import EXAMPLE_CLIP

    _output.show(state_of(ctx), {"path": str(EXAMPLE_CLIP)}, [str(EXAMPLE_CLIP)])
