"""The per-run context every command shares: global options, settings, the console, the
client, the ledger, the built-in sandbox, and what to close when the command ends."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from ..client import GsepClient
    from ..config import Settings
    from ..ledger import Ledger
    from ..sandbox import Sandbox
    from ._console import Console


#: The base URL --sandbox settings carry until the emulator runs (its port: a free one).
SANDBOX_PENDING_URL = "http://127.0.0.1:0/developers/api"


@dataclass
class State:
    """Global options, shared by every command through the typer context."""

    base_url: str | None = None
    profile: str | None = None
    json: bool = False
    quiet: bool = False
    verbose: bool = False
    progress: bool = True
    sandbox: bool = False
    _key: str | None = None
    _announced: bool = False
    _console: Console | None = None
    _ledger: Ledger | None = None
    _sandbox: Sandbox | None = None
    _closers: list[Callable[[], object]] = field(default_factory=list)

    def merge(
        self,
        *,
        base_url: str | None = None,
        profile: str | None = None,
        json: bool | None = None,
        quiet: bool | None = None,
        verbose: bool | None = None,
        no_progress: bool | None = None,
        sandbox: bool | None = None,
    ) -> None:
        """Take the global options one level of the command line gave (None or False:
        not given). Levels merge left to right, so a valued option given twice keeps the
        later value and a flag given anywhere is on."""
        self.base_url = base_url if base_url is not None else self.base_url
        self.profile = profile if profile is not None else self.profile
        self.json = self.json or bool(json)
        self.quiet = self.quiet or bool(quiet)
        self.verbose = self.verbose or bool(verbose)
        self.progress = self.progress and not no_progress
        self.sandbox = self.sandbox or bool(sandbox)

    @property
    def console(self) -> Console:
        """The stderr/stdout renderer for this run."""
        if self._console is None:
            from ._console import Console

            self._console = Console(quiet=self.quiet, verbose=self.verbose, progress=self.progress)
        return self._console

    @property
    def key_fp(self) -> str:
        """The fingerprint the ledger keys records on (of the key :meth:`client` uses;
        "" before it made one): worked out when asked, so a run that never touches the
        ledger never imports it."""
        if self._key is None:
            return ""
        from ..ledger import key_fingerprint

        return key_fingerprint(self._key)

    @property
    def profile_name(self) -> str:
        """The config profile in effect: ``--profile``, else GSEP_PROFILE, else default."""
        from ..config import current_profile

        return current_profile(self.profile)

    def settings(self, *, dry_run: bool = False) -> Settings:
        """Resolved settings. With --sandbox (no dry run) the base URL is the emulator's,
        on a port chosen when :meth:`client` starts it, after the command's local checks:
        until then it reads ``http://127.0.0.1:0/...`` (see :meth:`api_url`)."""
        from dataclasses import replace

        from ..config import load_settings

        base_url = self.base_url
        if self.sandbox and not dry_run:
            base_url = self._sandbox.base_url if self._sandbox else SANDBOX_PENDING_URL
        settings = load_settings(base_url=base_url, profile=self.profile, keyless=self.sandbox)
        if self.sandbox and not dry_run:
            sources = {**settings.sources, "base_url": "--sandbox"}
            settings = replace(settings, sources=sources)
        for warning in settings.warnings:
            self.console.warn(warning)
        return settings

    def api_url(self, settings: Settings) -> str:
        """Where this run's requests go: the running emulator's URL with --sandbox, else
        ``settings.base_url``."""
        return str(self._sandbox.base_url) if self._sandbox else settings.base_url

    def start_sandbox(self) -> str:
        """Start the embedded emulator on a free loopback port for this command (cheap,
        silent); called by :meth:`client`. Its banner waits for the first request (see
        :meth:`_request_log`), so a local failure found later never shows it."""
        if self._sandbox is None:
            from ..environment import sandbox_pace
            from ..sandbox import Sandbox

            seconds, size = sandbox_pace()
            self._sandbox = Sandbox(job_seconds=seconds, chunk_size=size)
            self._sandbox.start()
            self._closers.append(self._sandbox.stop)
        return str(self._sandbox.base_url)

    def _request_log(self) -> Callable[[str], None] | None:
        """The client's per-request hook (called before every request is sent): the
        --sandbox banner, once, on the first request, then -v's log lines."""
        debug = self.console.debug if self.verbose else None
        if not self.sandbox:
            return debug

        def log(line: str) -> None:
            if not self._announced and self._sandbox is not None:
                self._announced = True
                url = self._sandbox.base_url
                self.console.info(f"gsep: using the built-in sandbox at {url} (no real separation)")
            if debug is not None:
                debug(line)

        return log

    def client(self, settings: Settings | None = None, parallel: int = 4) -> GsepClient:
        """A GsepClient wired to this run's console and settings."""
        from ..client import GsepClient
        from ..environment import transport_options

        settings = settings or self.settings()
        key = self.run_key(settings)
        client = GsepClient(
            self.start_sandbox() if self.sandbox else settings.base_url,
            key,
            listener=self.console,
            parallel=parallel,
            log=self._request_log(),
            **transport_options(),
        )
        self._closers.append(client.close)
        return client

    def run_key(self, settings: Settings) -> str:
        """The key this run's requests carry (with --sandbox the emulator's), remembered
        for :attr:`key_fp`. Raises ConfigError when no key is set."""
        self._key = "sandbox-key" if self.sandbox else settings.require_key()
        return self._key

    def ledger(self) -> Ledger:
        """The local job ledger. With --sandbox, the sandbox's own persistent one
        (``<state dir>/sandbox/``), never the real one: a re-run finds what the last
        --sandbox run did, as a re-run against the API does."""
        if self._ledger is None:
            from ..ledger import Ledger, sandbox_ledger_path

            self._ledger = Ledger(sandbox_ledger_path() if self.sandbox else None)
            self._closers.append(self._ledger.close)
            for warning in self._ledger.warnings:
                self.console.warn(warning)
        return self._ledger

    def api_host(self, settings: Settings) -> str:
        """The API host this run's uploads and jobs are recorded under: the base URL's,
        or with --sandbox one stable name (its emulator's port changes on every run)."""
        from ..ledger import SANDBOX_HOST, api_host

        return SANDBOX_HOST if self.sandbox else api_host(settings.base_url)

    def require_key(self, settings: Settings) -> None:
        """What a dry run checks besides the inputs: the key, and every GSEP_* setting a
        real run would read before its first request."""
        from ..environment import transport_options

        if not self.sandbox:
            settings.require_key()
        transport_options()

    def close(self) -> None:
        """Stop live output, close clients, stop the sandbox (in reverse order)."""
        if self._console is not None:
            self._console.close()
        while self._closers:
            self._closers.pop()()


def state_of(ctx: typer.Context) -> State:
    """The run's :class:`State`, made when the command line is parsed (see ._globals)."""
    state = ctx.find_root().obj
    assert isinstance(state, State)
    return state
