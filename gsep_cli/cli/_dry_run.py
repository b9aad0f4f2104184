"""``gsep separate --dry-run``: every input checked as a real run would check it before
its first request, what would be sent, which inputs would be new jobs (the ledger read,
never written) and the credits left; the one request is the free key info."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import AuthError, GsepError
from . import _output

if TYPE_CHECKING:
    from ..batch import BatchOptions, InputResult
    from ..batch.guard import InputPlan
    from ..config import Settings
    from ..ledger import Ledger
    from ..models import ModelSpec
    from ..preflight import Preflight
    from ._context import State


def dry_run_separate(
    state: State,
    settings: Settings,
    options: BatchOptions,
    paths: list[Path],
    planned: list[list[Path]] | None,
    *,
    to_stdout: bool = False,
) -> int:
    """Check every input locally and print what would be sent, whether each would be a
    new job, then (stderr) how many new jobs and the credits left; the batch's exit code.

    ``planned``: every input's output paths from :func:`planned_paths`. Raises AuthError
    when the API refuses the key, SpendingLimit when the run would go over --max-jobs."""
    from ..batch import InputResult, batch_exit_code
    from ..batch.guard import limit_error
    from ..choices import get_model, type_value
    from ..separation import planned_paths

    plans = _plans(state, settings, options, paths)
    spec = get_model(options.model)
    type_ = type_value(options.stems) if spec.needs_type else None
    results: list[InputResult] = []
    new = reused = 0
    for index, (path, plan) in enumerate(zip(paths, plans, strict=True)):
        result = InputResult(path)
        results.append(result)
        would_write = planned[index] if planned is not None else [Path("-")] if to_stdout else []
        if planned is not None and plan.job_id and "{job}" in options.template:
            # the job on record is known: its files go where the run will put them
            would_write = planned_paths(options, [path], None, jobs=[plan.job_id])[0]
        try:
            checked, text = _check_one(
                state, options, spec, path, would_write, planned, paying=plan.new
            )
            if plan.error is not None:  # the record refuses it (a creation never answered)
                raise plan.error
        except GsepError as exc:
            result.status, result.error = "failed", exc
            if len(paths) == 1:
                raise
            if state.json:
                state.console.result_json(_output.dry_run_failure(path, options.model, type_, exc))
            state.console.error(exc, prefix=f"{path}: ")
            continue
        new, reused = new + plan.new, reused + (not plan.new)
        result.status, result.bytes = "checked", checked.bytes
        args = (checked, options.model, type_, would_write, text, options.language)
        document = _output.dry_run_json(*args, plan=plan)
        _output.show(state, document, [_output.dry_run_line(*args, plan=plan)])
    jobs = "job" if new == 1 else "jobs"
    state.console.info(f"gsep: would create {new} new {jobs} ({reused} reused)")
    if any(result.ok for result in results):  # asked last: every local check comes first
        state.console.info(f"gsep: {credits_line(state, settings)}")
    if options.max_jobs is not None and new > options.max_jobs:
        raise limit_error(new, options.max_jobs)
    return batch_exit_code(results)


def credits_line(state: State, settings: Settings) -> str:
    """``credits left, as reported by the API: free N, paid M`` from one GET
    /v1/key/info (free, read-only), or why they are unknown: a dry run does not fail for
    them, except when the API refuses the key (AuthError: the real run would fail too).
    With --sandbox nothing is asked (no emulator runs for a dry run; its jobs are free)."""
    if state.sandbox:
        return "credits left: not asked (--sandbox: the emulator's jobs cost nothing)"
    try:
        document: Any = state.client(settings).key_info()
    except AuthError:
        raise
    except GsepError as exc:
        return f"credits left: unknown ({exc.message})"
    credits = document.get("credits") if isinstance(document, dict) else None
    if isinstance(credits, dict) and credits:
        told = ", ".join(f"{name} {value}" for name, value in credits.items())
        return f"credits left, as reported by the API: {told}"
    return "credits left: unknown (the API's key info names none; see gsep key info)"


def _plans(
    state: State, settings: Settings, options: BatchOptions, paths: list[Path]
) -> list[InputPlan]:
    """Each input's fate as the real run would decide it (:func:`.guard.plan_jobs`)."""
    from ..batch.guard import plan_jobs

    state.run_key(settings)  # the key fingerprint records are matched on
    with _ledger_to_read(state) as ledger:
        return plan_jobs(
            options,
            paths,
            ledger=ledger,
            host=state.api_host(settings),
            key_fp=state.key_fp,
            clock=ledger.now,
        )


@contextlib.contextmanager
def _ledger_to_read(state: State) -> Iterator[Ledger]:
    """The run's ledger opened read-only; when there is none yet (or it cannot be read:
    a warning says so), an empty one in a temporary folder, removed afterwards: what a
    first run would start with. A dry run leaves no trace."""
    from ..environment import ledger_timeout
    from ..errors import LedgerError
    from ..ledger import LEDGER_FILE, Ledger

    address = state.ledger_address()
    existing = None
    if address.path is None or address.path.is_file():
        try:  # a database server that cannot be reached is exit 3, as in the real run
            existing = Ledger(url=address, read_only=True, db_timeout=ledger_timeout())
        except LedgerError as exc:
            state.console.warn(f"{exc.message}: counting every input as if nothing were on record")
    if existing is not None:
        with existing:
            yield existing
        return
    with (
        tempfile.TemporaryDirectory(prefix="gsep-dry-run-") as folder,
        Ledger(Path(folder) / LEDGER_FILE) as ledger,
    ):
        yield ledger


def _check_one(
    state: State,
    options: BatchOptions,
    spec: ModelSpec,
    path: Path,
    would_write: list[Path],
    planned: list[list[Path]] | None,
    *,
    paying: bool = True,
) -> tuple[Preflight, tuple[Path, int] | None]:
    """One input's checks: the file, its lyrics, and (``planned``) its outputs; files in
    the way are refused only before ``paying`` for a new job (a re-run that re-attaches
    finds its own files there, as the runner does)."""
    from ..choices import check_lyrics_file
    from ..folders import prepare_folders
    from ..manifest import Manifest
    from ..naming import check_planned_outputs
    from ..preflight import preflight

    checked = preflight(path, spec)
    for warning in checked.warnings:
        state.console.warn(warning)
    lyrics = options.lyrics_for(path)
    text = None if lyrics is None else (lyrics, check_lyrics_file(lyrics))
    if planned is not None:
        check_planned_outputs(
            would_write,
            options.out_dir,
            refuse_existing=paying
            and not (options.force or options.skip_existing)
            and "{job}" not in options.template,
        )
        prepare_folders(would_write, create=False)
        if options.manifest is not None:
            # proven with a temporary file, removed at once: os.access says yes to root
            # for /proc and read-only mounts
            Manifest(options.manifest).check(would_write)
    return checked, text
