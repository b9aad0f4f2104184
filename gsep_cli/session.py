"""A :class:`Session`: the settings, the key, the client, the ledger and (when asked) the
built-in sandbox, put together as ``gsep`` puts them together, for any program.

The command line, the MCP server (``gsep mcp``) and the pytest plugin are all sessions;
so is a Python program that wants what ``gsep separate`` does, re-runs that never pay
twice included::

    from gsep_cli import Session

    with Session(sandbox=True) as session:                    # or Session() for the API
        for result in session.separate(["song.wav"], stems=["vocal"], out_dir="stems"):
            print(result.status, result.job_id, [f.path for f in result.files])

Nothing here prints: settings warnings and progress go to the ``listener``
(:class:`~gsep_cli.progress.Listener`), errors are raised
(:class:`~gsep_cli.errors.GsepError` and its subclasses, each with its exit code).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .batch import BatchOptions, InputResult
    from .client import GsepClient
    from .config import Settings
    from .ledger import Ledger, LedgerAddress
    from .progress import Listener
    from .sandbox import Sandbox


#: The base URL sandbox settings carry until the emulator runs (its port: a free one).
SANDBOX_PENDING_URL = "http://127.0.0.1:0/developers/api"


@dataclass
class Session:
    """Settings, key, client, ledger and sandbox for one run of work; close it after.

    ``base_url``/``profile``/``ledger_url``: as ``--base-url``/``--profile``/``--ledger``
    (None: the environment, then the config file; see README "Configuration"; a
    ``postgresql://`` ledger is shared by runners on many machines). ``sandbox``: run
    against the built-in emulator on a free loopback port (no key needed, nothing
    charged, no real separation); its jobs are recorded in the sandbox's own ledger,
    never the real one.
    ``listener``: receives progress and notices (default: none).

    Making one reads and sends nothing: settings are read, the ledger opened and the
    sandbox started when first needed. Use it as a context manager, or call
    :meth:`close`: it stops the sandbox it started and closes the clients and the ledger
    it opened.
    """

    base_url: str | None = None
    profile: str | None = None
    sandbox: bool = False
    listener: Listener | None = None
    ledger_url: str | None = None
    # what the session opened: not parameters, and never in its repr (the key is secret)
    _key: str | None = field(default=None, init=False, repr=False)
    _ledger: Ledger | None = field(default=None, init=False, repr=False)
    _sandbox: Sandbox | None = field(default=None, init=False, repr=False)
    _closers: list[Callable[[], object]] = field(default_factory=list, init=False, repr=False)
    _warned: set[str] = field(default_factory=set, init=False, repr=False, compare=False)
    #: one opener at a time: threads sharing a session open one ledger and one sandbox
    _opening: threading.RLock = field(
        default_factory=threading.RLock, init=False, repr=False, compare=False
    )

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def warn(self, text: str) -> None:
        """Say something a human should know (the CLI prints it; a library session hands
        it to the listener's ``notice``)."""
        if self.listener is not None:
            self.listener.notice(text)

    @property
    def key_fp(self) -> str:
        """The fingerprint the ledger keys records on (of the key :meth:`client` uses;
        "" before it made one). The key itself is never stored."""
        if self._key is None:
            return ""
        from .ledger import key_fingerprint

        return key_fingerprint(self._key)

    @property
    def profile_name(self) -> str:
        """The config profile in effect: ``profile``, else GSEP_PROFILE, else default."""
        from .config import current_profile

        return current_profile(self.profile)

    def settings(self, *, dry_run: bool = False) -> Settings:
        """Resolved settings (environment, then profile, then defaults); warnings go to
        :meth:`warn`. In the sandbox (no dry run) the base URL is the emulator's, on a
        port chosen when :meth:`client` starts it: until then ``http://127.0.0.1:0/...``.
        A dry run in the sandbox checks the emulator's settings (GSEP_SANDBOX_*) too.

        Raises :class:`~gsep_cli.errors.ConfigError` (exit 3) for a setting that cannot
        be used."""
        from dataclasses import replace

        from .config import load_settings

        base_url = self.base_url
        if self.sandbox and dry_run:  # no emulator starts: its settings are checked as the
            from .environment import sandbox_faults, sandbox_pace  # run would check them

            sandbox_pace()
            sandbox_faults()
        if self.sandbox and not dry_run:
            base_url = self._sandbox.base_url if self._sandbox else SANDBOX_PENDING_URL
        settings = load_settings(base_url=base_url, profile=self.profile, keyless=self.sandbox)
        if self.sandbox and not dry_run:
            sources = {**settings.sources, "base_url": "--sandbox"}
            settings = replace(settings, sources=sources)
        for warning in settings.warnings:
            if warning not in self._warned:  # settings are read more than once a run
                self._warned.add(warning)
                self.warn(warning)
        return settings

    def api_url(self, settings: Settings) -> str:
        """Where requests go: the running emulator's URL in the sandbox, else
        ``settings.base_url``."""
        return str(self._sandbox.base_url) if self._sandbox else settings.base_url

    def start_sandbox(self) -> str:
        """Start the built-in emulator on a free loopback port (once; stopped by
        :meth:`close`) and return its base URL. Its pace follows GSEP_SANDBOX_JOB_SECONDS
        and GSEP_SANDBOX_CHUNK_SIZE, its faults GSEP_SANDBOX_FAULTS (README "Sandbox")."""
        with self._opening:
            if self._sandbox is None:
                from .environment import sandbox_faults, sandbox_pace
                from .sandbox import Sandbox
                from .sessions import reach_directly

                seconds, size = sandbox_pace()
                sandbox = Sandbox(job_seconds=seconds, chunk_size=size, faults=sandbox_faults())
                sandbox.start()
                self._sandbox = sandbox
                self._closers.append(sandbox.stop)
                self._closers.append(reach_directly(sandbox.base_url))  # never via a proxy
            return str(self._sandbox.base_url)

    def request_log(self) -> Callable[[str], None] | None:
        """The client's per-request hook, called before every request (None: none)."""
        return None

    def progress_listener(self) -> Listener | None:
        """Where the client reports progress (the CLI: its console)."""
        return self.listener

    def client(self, settings: Settings | None = None, parallel: int = 4) -> GsepClient:
        """A :class:`~gsep_cli.client.GsepClient` for these settings (``parallel``: upload
        parts at once, 1-16), closed with the session. Starts the sandbox when asked.

        Raises :class:`~gsep_cli.errors.ConfigError` (exit 3) when no key is set (outside
        the sandbox) or a GSEP_* transport setting is malformed."""
        from .client import GsepClient
        from .environment import transport_options

        settings = settings or self.settings()
        key = self.run_key(settings)
        client = GsepClient(
            self.start_sandbox() if self.sandbox else settings.base_url,
            key,
            listener=self.progress_listener(),
            parallel=parallel,
            log=self.request_log(),
            **transport_options(),
        )
        with self._opening:
            self._closers.append(client.close)
        return client

    def run_key(self, settings: Settings) -> str:
        """The key this session's requests carry (in the sandbox, the emulator's),
        remembered for :attr:`key_fp`. Raises :class:`~gsep_cli.errors.ConfigError`
        (exit 3) when no key is set."""
        self._key = "sandbox-key" if self.sandbox else settings.require_key()
        return self._key

    def ledger(self) -> Ledger:
        """The job ledger (opened once, closed with the session): ``ledger_url``, else the
        ``ledger_url`` setting (GSEP_LEDGER_URL), else the state folder's SQLite file. In
        the sandbox its own persistent one (``<state dir>/sandbox/``), never the real one:
        a re-run finds what the last sandbox run did, as a re-run against the API does.

        Raises :class:`~gsep_cli.errors.UsageError` for a ledger URL that is not one,
        :class:`~gsep_cli.errors.LedgerUnreachable` (exit 3) when its database cannot be
        reached, :class:`~gsep_cli.errors.LedgerError` when it cannot be used."""
        with self._opening:
            if self._ledger is None:
                from .environment import claim_lease, ledger_timeout
                from .ledger import Ledger

                address = self.ledger_address()
                ledger = Ledger(url=address, lease=claim_lease(), db_timeout=ledger_timeout())
                self._ledger = ledger
                self._closers.append(ledger.close)
                for warning in ledger.warnings:
                    self.warn(warning)
            return self._ledger

    def ledger_address(self) -> LedgerAddress:
        """Where :meth:`ledger` is: ``ledger_url``, else the ``ledger_url`` setting
        (GSEP_LEDGER_URL), else the state folder's SQLite file; in the sandbox, its own
        (a ``--ledger`` given then is said to be unused). Raises
        :class:`~gsep_cli.errors.UsageError` for a URL that is not a ledger's."""
        from .ledger import (
            LEDGER_FILE,
            LedgerAddress,
            parse_address,
            sandbox_ledger_path,
            state_dir,
        )

        if self.sandbox:
            if self.ledger_url is not None:
                self.warn("--ledger is not used with --sandbox: it keeps its own ledger")
            path = str(sandbox_ledger_path())
            return LedgerAddress("sqlite", path, path)
        url, source = self.ledger_url, "--ledger"
        if url is None:
            settings = self.settings()
            url = settings.get("ledger_url")
            source = _source_text(settings.sources.get("ledger_url", ""))
        if url.strip():
            return parse_address(url, source)
        path = str(state_dir() / LEDGER_FILE)
        return LedgerAddress("sqlite", path, path)

    def api_host(self, settings: Settings) -> str:
        """The API host uploads and jobs are recorded under: the base URL's, or in the
        sandbox one stable name (its emulator's port changes on every run)."""
        from .ledger import SANDBOX_HOST, api_host

        return SANDBOX_HOST if self.sandbox else api_host(settings.base_url)

    def require_key(self, settings: Settings) -> None:
        """What a dry run checks besides the inputs: the key, and every GSEP_* setting a
        real run would read before its first request (ConfigError, exit 3)."""
        from .environment import transport_options

        if not self.sandbox:
            settings.require_key()
        transport_options()

    def separate(
        self,
        inputs: Sequence[str | Path] | str | Path,
        *,
        recursive: bool = False,
        include: Sequence[str] = (),
        exclude: Sequence[str] = (),
        parallel: int = 4,
        shard: str | None = None,
        on_result: Callable[[InputResult], None] | None = None,
        **choices: Any,
    ) -> list[InputResult]:
        """Upload, create the job, wait and download, for each input — what
        ``gsep separate`` does, re-runs included: work on record (same content, model,
        stems, API host and key) re-attaches to its job and keeps the files already
        written (same size and SHA-256), so no identical call pays twice.

        ``inputs``: one path or a sequence of them: audio files (WAV, FLAC, MP3, M4A/MP4) or
        folders (``recursive``; ``include``/``exclude``: a glob or a list of them).
        ``choices``, as the command's options (None or absent: the setting, as for
        ``gsep``): ``model``, ``stems`` (``"vocal,drum"`` or a list), ``formats``
        (``"wav,flac"`` or a list), ``out_dir`` (folder; default the ``output`` setting),
        ``name_template``, ``force``, ``skip_existing``, ``pay_again``, ``no_wait``,
        ``timeout`` (seconds per job), ``jobs`` (inputs at once, 1-16), ``lyrics`` (path),
        ``language``, ``manifest`` (path), ``bit_depth``, ``sample_rate`` (Hz), ``bitrate``
        (kbit/s), ``mixes`` (``"NAME=STEM+STEM"`` or a list of them), ``mix_only``,
        ``no_tags``, ``max_jobs`` (the most new jobs this call may pay for; more is refused
        before any request with :class:`~gsep_cli.errors.SpendingLimit`). ``parallel``:
        upload parts at once (1-16). ``shard``: ``"I/N"``, only this runner's share of the
        inputs, chosen by content (:mod:`gsep_cli.batch.shard`; the others are left out
        of the results). ``on_result``: called with each input's result as soon as it is
        final, in the calling thread.

        Returns one :class:`~gsep_cli.batch.InputResult` per input file, in order:
        ``status`` (``success``; ``submitted`` with ``no_wait``: job created, nothing
        downloaded; ``failed``), ``job_id``, ``expire_at`` (ISO-8601 UTC), ``reused``
        (``"job"``: a job on record, nothing paid; ``"upload"``; None), ``files``
        (:class:`~gsep_cli.client.WrittenFile`: path, bytes, sha256; ``skipped`` for one
        already in place) and ``error``. An input that fails once the run has started
        (a missing or unreadable file among several, a rejected or failed job, a timeout)
        is ``failed`` with its :class:`~gsep_cli.errors.GsepError` in ``error`` (whose
        message names the job and how to resume when one exists): it is not raised, and
        the other inputs go on. Side effects: files written under ``out_dir``, jobs and
        files recorded in the ledger (the sandbox's own with ``sandbox=True``), and one
        job's credits spent for each new job (none for work on record).

        Raises, before any request: ``TypeError`` for a keyword that is none of the
        above (naming it: a typo is never ignored) or a value of the wrong type (a flag
        that is not a bool, ``timeout="x"``: :func:`~gsep_cli.separation.check_values`);
        :class:`~gsep_cli.errors.UsageError` (exit 2) for a choice that cannot work (a
        number out of range: ``jobs=0``, ``max_jobs=-1``), no input, or an unusable
        input when there is one file in all;
        :class:`~gsep_cli.errors.ConfigError` (exit 3) for missing or bad settings (no
        key outside the sandbox). Raises :class:`~gsep_cli.errors.Interrupted` (exit
        130) on Ctrl-C/SIGTERM (jobs created stay on record for a re-run)."""
        from .batch import collect_inputs
        from .choices import get_model
        from .errors import UsageError
        from .preflight import preflight
        from .separation import (
            batch_options,
            check_choices,
            check_values,
            planned_paths,
        )

        check_choices(list(choices))
        check_values({"parallel": parallel, "recursive": recursive, "shard": shard})
        named = [inputs] if isinstance(inputs, (str, Path)) else list(inputs)
        if not named:
            raise UsageError("no input given", "Give one or more audio files or folders")
        settings = self.settings()
        options = batch_options(settings, warn=self.warn, **choices)
        spec = get_model(options.model)
        paths = collect_inputs(
            [str(p) for p in named],
            recursive=recursive,
            include=include,
            exclude=exclude,
            kinds=spec.input_kinds,
        )
        if shard is not None:
            from .batch.shard import Shard, shard_inputs

            paths = shard_inputs(options, paths, Shard.parse(shard), self.ledger())
            if not paths:
                return []
        if not options.no_wait:  # refuse before paying for jobs whose files cannot land
            planned_paths(options, paths, self.ledger())
        if len(paths) == 1:  # a lone input's own checks come before the key and the sandbox
            preflight(paths[0], spec)
        client = self.client(settings, parallel=parallel)
        return self.run_batch(client, settings, options, paths, on_result=on_result)

    def run_batch(
        self,
        client: GsepClient,
        settings: Settings,
        options: BatchOptions,
        paths: Sequence[Path],
        *,
        on_result: Callable[[InputResult], None] | None = None,
    ) -> list[InputResult]:
        """Run every input through the batch runner with this session's ledger
        (``on_result``: called with each input's result as it finishes, from the calling
        thread). Results in input order; an input's expected failure is in its result's
        ``error``, never raised.

        Raises :class:`~gsep_cli.errors.Interrupted` on Ctrl-C/SIGTERM (finished inputs
        stay recorded; jobs created are on record for a re-run to re-attach to)."""
        from .batch import BatchRunner

        ledger = self.ledger()
        runner = BatchRunner(
            client,
            options,
            key_fp=self.key_fp,
            base_url=self.api_url(settings),
            host=self.api_host(settings),
            ledger=ledger,
            on_result=on_result,
            clock=ledger.now,  # its times are compared with records: on the ledger's clock
            # a sandbox that outlives this call (a Session's, gsep mcp's) still holds the
            # jobs earlier calls sent it
            sandbox_since=self._sandbox.started_at if self._sandbox is not None else None,
        )
        return runner.run(list(paths))

    def close(self) -> None:
        """Close the clients and the ledger, stop the sandbox (in reverse order of
        opening). Safe to call twice; a closed session can be used again: it opens what it
        needs afresh (a new sandbox, whose predecessor's jobs are gone with it)."""
        with self._opening:
            while self._closers:
                self._closers.pop()()
            self._ledger = self._sandbox = None  # closed: never handed out again


def _source_text(source: str) -> str:
    """How a message names where the ledger URL came from (``env GSEP_LEDGER_URL``)."""
    kind, _, rest = source.partition(" ")
    return rest if kind == "env" else f"the ledger_url setting ({source})"
