"""The per-run context every command shares: global options, settings, the console, the
client, the ledger, the built-in sandbox, and what to close when the command ends."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import typer

from ..session import Session

if TYPE_CHECKING:
    from ..progress import Listener
    from ._console import Console


@dataclass
class State(Session):
    """Global options, shared by every command through the typer context: a
    :class:`~gsep_cli.session.Session` whose listener is the console."""

    json: bool = False
    quiet: bool = False
    verbose: bool = False
    progress: bool = True
    _announced: bool = False
    _console: Console | None = None

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
        ledger: str | None = None,
    ) -> None:
        """Take the global options one level of the command line gave (None or False:
        not given). Levels merge left to right, so a valued option given twice keeps the
        later value and a flag given anywhere is on."""
        self.base_url = base_url if base_url is not None else self.base_url
        self.profile = profile if profile is not None else self.profile
        self.ledger_url = ledger if ledger is not None else self.ledger_url
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

    def warn(self, text: str) -> None:
        self.console.warn(text)

    def progress_listener(self) -> Listener:
        return self.console

    def request_log(self) -> Callable[[str], None] | None:
        """The --sandbox banner, once, on the first request (so a local failure found
        later never shows it), then -v's log lines."""
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

    def close(self) -> None:
        """Stop live output, then close what the session opened."""
        if self._console is not None:
            self._console.close()
        super().close()


def state_of(ctx: typer.Context) -> State:
    """The run's :class:`State`, made when the command line is parsed (see ._globals)."""
    state = ctx.find_root().obj
    assert isinstance(state, State)
    return state
