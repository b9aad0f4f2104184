"""The typer layer: parse arguments, call the library, print results. Nothing else.

Heavy modules (requests, rich.progress, the sandbox) are imported inside the commands so
``--help``, ``--version`` and tab completion stay fast.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from . import __version__
from .errors import ConfigError, ExitCode, GsepError, UsageError

if TYPE_CHECKING:
    from .client import GsepClient, WrittenFile
    from .config import Settings
    from .console import Console
    from .ledger import JobRecord
    from .naming import InputFields

COMPLETE_VAR = "_GSEP_COMPLETE"
_STDOUT_CLOSED = False  # gsep was started with no standard output at all
EXIT_CODES_HELP = """\
Exit codes: 0 ok · 1 internal error · 2 usage or bad local input · 3 authentication or
configuration (no key, HTTP 400/401/403) · 4 request rejected by the API · 5 account:
credits or contract · 6 network or server unavailable after retries · 7 job failed ·
8 timed out waiting (the job may still finish) · 9 some of several inputs failed ·
130 interrupted.
"""

ROOT_HELP = f"""\
gsep separates music into stems with Gaudio Lab's GSEP API.

Results (paths, ids, JSON) go to stdout; progress and messages go to stderr.

Example (no key needed, runs on the built-in sandbox):

    gsep --sandbox separate "$(gsep sandbox example)" --stems vocal,drum

{EXIT_CODES_HELP}"""

app = typer.Typer(
    name="gsep",
    help=ROOT_HELP,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    pretty_exceptions_show_locals=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)
job_app = typer.Typer(help="Create jobs and check their status.", no_args_is_help=True)
config_app = typer.Typer(help="Show and change settings and the API key.", no_args_is_help=True)
sandbox_app = typer.Typer(
    help="The local GSEP API emulator (does not really separate).", no_args_is_help=True
)
app.add_typer(job_app, name="job")
app.add_typer(config_app, name="config")
app.add_typer(sandbox_app, name="sandbox")
jobs_app = typer.Typer(
    help="The local record of uploads and jobs that makes re-runs free.", no_args_is_help=True
)
app.add_typer(jobs_app, name="jobs")
key_app = typer.Typer(help="What the API says about your key.", no_args_is_help=True)
app.add_typer(key_app, name="key")


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
    key_fp: str = ""
    _console: Console | None = None
    _ledger: Any = None
    _sandbox: Any = None
    _closers: list[Any] = field(default_factory=list)

    @property
    def console(self) -> Console:
        """The stderr/stdout renderer for this run."""
        if self._console is None:
            from .console import Console

            self._console = Console(
                quiet=self.quiet, verbose=self.verbose, json_mode=self.json, progress=self.progress
            )
        return self._console

    def settings(self, *, dry_run: bool = False) -> Settings:
        """Resolved settings; with --sandbox, pointed at a fresh local emulator (none is
        started for a dry run, which sends nothing)."""
        from .config import load_settings

        base_url = self.base_url
        if self.sandbox and not dry_run:
            base_url = self.start_sandbox()
        settings = load_settings(base_url=base_url, profile=self.profile, keyless=self.sandbox)
        for warning in settings.warnings:
            self.console.warn(warning)
        return settings

    def start_sandbox(self) -> str:
        """Start the embedded emulator on a free loopback port for this command."""
        if self._sandbox is None:
            from .sandbox import Sandbox
            from .units import parse_size

            seconds = _env_number("GSEP_SANDBOX_JOB_SECONDS", 3.0)
            chunk = os.environ.get("GSEP_SANDBOX_CHUNK_SIZE", "").strip()
            try:
                size = parse_size(chunk) if chunk else 8 * 1024**2
            except ValueError as exc:
                raise ConfigError(
                    f"GSEP_SANDBOX_CHUNK_SIZE: {exc}", "Fix or unset GSEP_SANDBOX_CHUNK_SIZE"
                ) from None
            if size < 1:
                raise ConfigError(
                    "GSEP_SANDBOX_CHUNK_SIZE must be at least 1 byte",
                    "Fix or unset GSEP_SANDBOX_CHUNK_SIZE",
                )
            self._sandbox = Sandbox(job_seconds=seconds, chunk_size=size)
            self._sandbox.start()
            self._closers.append(self._sandbox.stop)
            self.console.info(
                f"gsep: using the built-in sandbox at {self._sandbox.base_url} (no real separation)"
            )
        return str(self._sandbox.base_url)

    def client(self, settings: Settings | None = None, parallel: int = 4) -> GsepClient:
        """A GsepClient wired to this run's console and settings."""
        from .client import GsepClient

        settings = settings or self.settings()
        key = "sandbox-key" if self.sandbox else settings.require_key()
        from .ledger import key_fingerprint

        self.key_fp = key_fingerprint(key)
        client = GsepClient(
            settings.base_url,
            key,
            listener=self.console,
            parallel=parallel,
            log=self.console.debug if self.verbose else None,
            **_transport_options(),
        )
        self._closers.append(client.close)
        return client

    def ledger(self) -> Any:
        """The local job ledger. With --sandbox, a throwaway one that lives as long as the
        emulator (its jobs vanish with it), so claims and re-attaching work the same."""
        if self._ledger is None:
            from .ledger import LEDGER_FILE, Ledger

            if self.sandbox:
                import shutil
                import tempfile

                folder = tempfile.mkdtemp(prefix="gsep-sandbox-ledger-")
                self._closers.append(lambda: shutil.rmtree(folder, ignore_errors=True))
                self._ledger = Ledger(Path(folder) / LEDGER_FILE)
            else:
                self._ledger = Ledger()
            self._closers.append(self._ledger.close)
            for warning in self._ledger.warnings:
                self.console.warn(warning)
        return self._ledger

    def close(self) -> None:
        """Stop live output, close clients, stop the sandbox (in reverse order)."""
        if self._console is not None:
            self._console.close()
        while self._closers:
            self._closers.pop()()


_INTEGER = re.compile(r"[0-9]+", re.ASCII)
_DECIMAL = re.compile(r"[0-9]+(\.[0-9]*)?([eE][+-]?[0-9]+)?|\.[0-9]+([eE][+-]?[0-9]+)?", re.ASCII)
#: The largest value any GSEP_* number may take: a day in seconds (a timeout beyond what
#: a socket accepts would crash at the first request), or attempts.
_MOST = 86400.0


def _env_number(
    name: str,
    default: float,
    *,
    minimum: float = 0.0,
    maximum: float = _MOST,
    integer: bool = False,
) -> float:
    """A number from the environment (``default`` when unset), or a ConfigError naming it
    and the accepted range."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:  # plain ASCII decimals only: Python would also take "5_0" and other scripts' digits
        pattern = _INTEGER if integer else _DECIMAL
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


def _transport_options() -> dict[str, Any]:
    """Timeouts, retries, polling and the rate limit from the ``GSEP_*`` variables; a
    ConfigError naming the variable when one is wrong (also checked by dry runs)."""
    return {
        "timeout": (
            _env_number("GSEP_CONNECT_TIMEOUT", 10.0, minimum=0.001),
            _env_number("GSEP_READ_TIMEOUT", 60.0, minimum=0.001),
        ),
        "policy": _retry_policy(),
        "poll": _poll_policy(),
        "limiter": _rate_limiter(),
        "stall": _stall(),
        "max_wait": _env_number("GSEP_MAX_WAIT", 6 * 3600.0, minimum=1, maximum=7 * 86400),
    }


def _stall() -> Any:
    """Stall detection from GSEP_STALL_RATE (bytes/s; 0 turns it off) and GSEP_STALL_TIME."""
    from .watchdog import Stall

    rate = _env_number("GSEP_STALL_RATE", 1024.0, maximum=1e12)
    window = _env_number("GSEP_STALL_TIME", 30.0, minimum=0.5)
    return Stall(rate, window) if rate > 0 else None


def _retry_policy() -> Any:
    from .http import RetryPolicy

    return RetryPolicy(
        attempts=int(_env_number("GSEP_RETRIES", 5, minimum=1, maximum=100, integer=True)),
        rate_limit_wait=_env_number("GSEP_RATE_LIMIT_WAIT", 60.0),
        cap=_env_number("GSEP_RETRY_CAP", 20.0),
    )


def _rate_limiter() -> Any:
    from .http import RateLimiter, parse_rate

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


def _poll_policy() -> Any:
    from .client import PollPolicy

    return PollPolicy(
        initial=_env_number("GSEP_POLL_INTERVAL", 2.0, minimum=0.001),
        cap=_env_number("GSEP_POLL_CAP", 30.0, minimum=0.001),
    )


def _state(ctx: typer.Context) -> State:
    state = ctx.find_root().obj
    assert isinstance(state, State)
    return state


def _version(value: bool) -> None:
    if value:
        print(f"gsep {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    base_url: str | None = typer.Option(
        None,
        "--base-url",
        metavar="URL",
        help="API base URL (env GSEP_BASE_URL). Default: "
        "https://restapi.gaudiolab.io/developers/api",
    ),
    profile: str | None = typer.Option(
        None,
        "--profile",
        metavar="NAME",
        help="Config profile to use (env GSEP_PROFILE). Default: default.",
    ),
    json_output: bool = typer.Option(False, "--json", help="Print one JSON document on stdout."),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="Only results and errors."),
    verbose: bool = typer.Option(
        False, "-v", "--verbose", help="Log HTTP requests on stderr (secrets redacted)."
    ),
    no_progress: bool = typer.Option(False, "--no-progress", help="No progress bars."),
    sandbox: bool = typer.Option(
        False,
        "--sandbox",
        help="Run against a built-in emulator on a free loopback port (no key, no "
        "credits, no real separation).",
    ),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """gsep: stem separation with Gaudio Lab's GSEP API."""
    state = State(
        base_url=base_url,
        profile=profile,
        json=json_output,
        quiet=quiet,
        verbose=verbose,
        progress=not no_progress,
        sandbox=sandbox,
    )
    ctx.obj = state
    ctx.call_on_close(state.close)


# ---- tab completion of values (cheap: no network, no heavy imports) --------------------
def _complete_model(incomplete: str) -> list[str]:
    from .models import MODELS

    return [name for name in MODELS if name.startswith(incomplete)]


def _complete_stems(ctx: typer.Context, incomplete: str) -> list[str]:
    from .models import DEFAULT_MODEL, MODELS, RESIDUAL

    spec = MODELS.get(ctx.params.get("model") or DEFAULT_MODEL, MODELS[DEFAULT_MODEL])
    done, _, last = incomplete.rpartition(",")
    prefix = f"{done}," if done else ""
    taken = set(done.split(",")) if done else set()
    names = [*(spec.stems or spec.outputs), *([RESIDUAL] if spec.residual else []), "all"]
    return [prefix + n for n in names if n.startswith(last) and n not in taken]


def _complete_format(incomplete: str) -> list[str]:
    return [f for f in ("wav", "mp3", "both") if f.startswith(incomplete)]


def _complete_language(incomplete: str) -> list[str]:
    from .models import LYRICS_LANGUAGES

    return [lang for lang in LYRICS_LANGUAGES if lang.startswith(incomplete.lower())]


# ---- shared option helpers -----------------------------------------------------------
def _model(settings: Settings, model: str | None) -> str:
    from .client import get_model

    return get_model(model or settings.get("model")).name


def _stems(settings: Settings, model: str, stems: list[str] | None) -> list[str]:
    from .client import get_model, resolve_stems, type_value

    spec = get_model(model)
    if stems:
        chosen = resolve_stems(spec, stems)
    elif not spec.needs_type:
        return list(spec.outputs)
    else:
        chosen = resolve_stems(spec, [settings.get("stems")])
    if spec.needs_type and not type_value(chosen):  # refuse before anything is uploaded
        raise UsageError(
            "choose at least one stem besides 'others'",
            f"Choose from: {', '.join(spec.stems)}",
        )
    return chosen


def _lyrics_language(
    model: str, language: str | None, *, lyrics_given: bool, fmt: str | None, state: State
) -> str | None:
    """The lyrics model's checked ``--language``; refuses lyrics options on other models."""
    from .client import check_language, get_model

    spec = get_model(model)
    if not spec.needs_lyrics:
        if lyrics_given or language is not None:
            raise UsageError(
                f"--lyrics and --language are for gts_lyrics_line_v1, not {model}",
                "Add --model gts_lyrics_line_v1, or drop them",
            )
        return None
    if fmt is not None:
        state.console.warn(f"--format does not apply to {model}: it writes CSV and JSON files")
    return check_language(language)


def _check_timeout(timeout: float | None) -> None:
    """``--timeout`` is a number of seconds: ``nan`` or ``inf`` would mean no bound."""
    if timeout is not None and not math.isfinite(timeout):
        raise UsageError(f"--timeout must be a number of seconds, not {timeout}")


def _check_overwrite_flags(force: bool, skip_existing: bool) -> None:
    if force and skip_existing:
        raise UsageError(
            "--force and --skip-existing cannot be used together", "Choose one of them"
        )


def _to_stdout(output: Path | None) -> bool:
    return output is not None and str(output) == "-"


def _check_stdout_target(
    state: State, stems: list[str], formats: list[str], spec: Any, *, dry_run: bool = False
) -> None:
    """``-o -``: refuse what cannot work before any request (or any credit is spent)."""
    from .client import planned_outputs

    if state.json and not dry_run:
        raise UsageError("--json and -o - both want standard output", "Drop --json, or give -o DIR")
    files = planned_outputs(spec, stems, formats)
    if len(files) != 1:
        raise UsageError(
            f"-o - writes one file to standard output, but {len(files)} are asked for "
            f"({', '.join(f'{stem}.{ext}' for stem, ext in files)})",
            "Choose one stem and one format, e.g. --stems vocal --format wav",
        )
    if _STDOUT_CLOSED and not dry_run:
        raise UsageError(
            "standard output is closed: -o - has nowhere to write the audio",
            "Pipe it into a program, or give -o DIR",
        )
    if sys.stdout.isatty() and not dry_run:
        raise UsageError(
            "refusing to write audio to a terminal",
            "Pipe it into a program (e.g. | sox -t wav - out.flac), or give -o DIR",
        )


def _out_dir(settings: Settings, output: Path | None) -> Path:
    """The output folder (``-o``, else the setting), refused at once when it cannot be
    one: a file, an unwritable place, a name with a NUL character. Permission errors from
    the OS (a folder that cannot even be looked into) are one line too."""
    source = "-o" if output is not None else settings.sources.get("output_dir", "output_dir")
    raw = str(output) if output is not None else settings.get("output_dir")
    if "\x00" in raw:
        raise UsageError(f"the output folder from {source} holds a NUL character", _OUT_HINT)
    try:
        folder = output if output is not None else Path(raw).expanduser()
    except RuntimeError:  # "~someone" with no such user
        raise UsageError(f"the output folder from {source} cannot be expanded", _OUT_HINT) from None
    from .folders import check_the_way
    from .naming import name_bytes, name_max

    for part in folder.parts:  # checked here: the OS's own error would come after paying
        if name_bytes(part) > name_max(folder):
            raise UsageError(
                f"the output folder name {part[:40]!r}... is {name_bytes(part)} bytes; the "
                f"file system allows {name_max(folder)} per name",
                _OUT_HINT,
            )
    check_the_way(folder)
    probe = next(
        (p for p in [folder.absolute(), *folder.absolute().parents] if os.path.isdir(p)),
        Path(folder.absolute().anchor),
    )
    if not os.access(probe, os.W_OK | os.X_OK):
        raise UsageError(f"output folder {folder} is not writable", _OUT_HINT)
    return folder


_OUT_HINT = "Choose another folder with -o DIR"


def _file_json(written: WrittenFile) -> dict[str, Any]:
    return {
        "stem": written.stem,
        "format": written.format,
        "path": str(written.path),
        "bytes": written.bytes,
        "skipped": written.skipped,
    }


STEMS_HELP = (
    "Stems: vocal,drum,bass,electric_guitar,acoustic_piano (model-dependent), "
    "comma-separated or repeated; 'all' = every stem of the model; 'others' = "
    "the residual (downloaded, never sent). Default: vocal (config 'stems')."
)
MODEL_HELP = "Model (default gsep_music_hq_v1, or config 'model')."
FORMAT_HELP = "wav, mp3 or both (default wav, or config 'format')."
DRY_RUN_HELP = (
    "Check everything local (file, format, size, duration, stems, outputs, key) and print "
    "what would be sent, without any request."
)
LYRICS_HELP = (
    "gts_lyrics_line_v1: the lyrics, a UTF-8 .txt file with one line per lyric line (uploaded too)."
)
LANGUAGE_HELP = "gts_lyrics_line_v1: the lyrics' language: en, ko, ja or zh-cn."
TEMPLATE_HELP = (
    "Output path inside DIR; fields {track} {trackext} {dir} {stem} {ext} {model} {job}. "
    "Default: {track}/{stem}.{ext}"
)


# ---- commands --------------------------------------------------------------------------
@app.command()
def upload(
    ctx: typer.Context,
    file: Path = typer.Argument(
        ..., help="Audio file (or a lyrics .txt) to upload.", show_default=False
    ),
    model: str | None = typer.Option(
        None, "--model", "-m", help=MODEL_HELP, autocompletion=_complete_model
    ),
    parallel: int = typer.Option(4, "--parallel", min=1, max=16, help="Parts sent at once (1-16)."),
    dry_run: bool = typer.Option(False, "--dry-run", help=DRY_RUN_HELP),
) -> None:
    """Upload FILE and print its upload id (kept 72 h; usable for several jobs).

    A .txt file is taken as lyrics for gts_lyrics_line_v1 (see job create --lyrics-id).
    With --dry-run: check FILE and print "would upload FILE (N bytes, FORMAT, D s)".

    Example: gsep upload song.wav
    """
    from .client import check_lyrics_file, get_model

    state = _state(ctx)
    settings = state.settings(dry_run=dry_run)
    spec = get_model(_model(settings, model))
    if file.suffix.lower() == ".txt":  # lyrics text: checked as text, not as audio
        size = check_lyrics_file(file)
        if dry_run:
            _require_key(state, settings)
            document = {"input": str(file), "bytes": size, "format": "txt", "ok": True}
            if state.json:
                state.console.result_json(document)
            else:
                state.console.result(f"would upload {file} ({size} bytes, lyrics text)")
            return
    elif dry_run:
        from .preflight import dry_run_json, dry_run_line

        checked = _preflight_upload(state, file, spec)
        _require_key(state, settings)
        if state.json:
            state.console.result_json(dry_run_json(checked, spec.name, None, []))
        else:
            state.console.result(dry_run_line(checked, None, None, []))
        return
    else:
        size = _preflight_upload(state, file, spec).bytes
    client = state.client(settings, parallel=parallel)
    upload_id = client.upload_file(file)
    if state.json:
        state.console.result_json({"uploadId": upload_id, "file": str(file), "bytes": size})
    else:
        state.console.result(upload_id)


def _preflight_upload(state: State, file: Path, spec: Any) -> Any:
    """Every local check of an audio file for gsep upload (no duration is refused: the
    job decides); prints its warnings."""
    from .preflight import preflight

    checked = preflight(file, spec, for_upload=True)
    for warning in checked.warnings:
        state.console.warn(warning)
    return checked


@job_app.command("create")
def job_create(
    ctx: typer.Context,
    upload_id: str = typer.Argument(..., help="Upload id from gsep upload.", show_default=False),
    stems: list[str] | None = typer.Option(
        None, "--stems", "-s", help=STEMS_HELP, autocompletion=_complete_stems
    ),
    model: str | None = typer.Option(
        None, "--model", "-m", help=MODEL_HELP, autocompletion=_complete_model
    ),
    lyrics: Path | None = typer.Option(None, "--lyrics", help=LYRICS_HELP),
    lyrics_id: str | None = typer.Option(
        None, "--lyrics-id", help="gts_lyrics_line_v1: upload id of lyrics sent with gsep upload."
    ),
    language: str | None = typer.Option(
        None, "--language", help=LANGUAGE_HELP, autocompletion=_complete_language
    ),
) -> None:
    """Create a separation job on an upload and print the job id (costs credits).

    Example: gsep job create 0f6c...e1 --stems vocal,drum

    Lyrics: gsep job create 0f6c...e1 -m gts_lyrics_line_v1 --lyrics song.txt --language en
    """
    from .client import check_lyrics_file, lyrics_body

    state = _state(ctx)
    settings = state.settings()
    chosen_model = _model(settings, model)
    chosen = _stems(settings, chosen_model, stems)
    lang = _lyrics_language(
        chosen_model,
        language,
        lyrics_given=lyrics is not None or lyrics_id is not None,
        fmt=None,
        state=state,
    )
    upload_id = upload_id.strip()
    if not upload_id:
        raise UsageError("the upload id is empty", "Use the id printed by gsep upload")
    if lang is not None and (lyrics is None) == (lyrics_id is None):
        raise UsageError(
            f"{chosen_model} needs the lyrics: give --lyrics FILE.txt or --lyrics-id ID",
            "Give one of the two, not both",
        )
    if lyrics is not None:
        check_lyrics_file(lyrics)
    client = state.client(settings)
    extra = None
    if lang is not None:
        text_id = client.upload_file(lyrics) if lyrics is not None else (lyrics_id or "").strip()
        extra = lyrics_body(text_id, lang)
    job_id = client.create_job(upload_id, model=chosen_model, stems=chosen, extra=extra)
    if state.json:
        document = {"jobId": job_id, "uploadId": upload_id, "model": chosen_model, "stems": chosen}
        if extra is not None:
            document.update(extra)
        state.console.result_json(document)
    else:
        state.console.result(job_id)


@job_app.command("status")
def job_status(
    ctx: typer.Context,
    job_id: str = typer.Argument(..., help="Job id.", show_default=False),
    model: str | None = typer.Option(
        None, "--model", "-m", help=MODEL_HELP, autocompletion=_complete_model
    ),
    wait: bool = typer.Option(False, "--wait", "-w", help="Show a live status until the job ends."),
    timeout: float | None = typer.Option(
        None, "--timeout", min=0, help="With --wait: give up after SECONDS (exit 8)."
    ),
) -> None:
    """Print a job's status: waiting, running, success or failed.

    Without --wait the exit code is 0 whatever the status; with --wait it is 7 when the
    job failed and 8 when --timeout passed first.

    Example: gsep job status 5f1c...9a --wait --timeout 600
    """
    from .client import check_job_id
    from .errors import JobFailed

    state = _state(ctx)
    _check_timeout(timeout)
    settings = state.settings()
    chosen_model = _model(settings, model)
    job_id = check_job_id(job_id)
    client = state.client(settings)
    failure: GsepError | None = None
    if wait:
        try:
            job = client.wait(job_id, model=chosen_model, timeout=timeout)
        except JobFailed as exc:
            failure = exc
            job = client.get_job(job_id, model=chosen_model)
    else:
        job = client.get_job(job_id, model=chosen_model)
    status = getattr(job.status, "value", str(job.status))
    if state.json:
        state.console.result_json(
            {
                "jobId": job.job_id,
                "model": chosen_model,
                "status": status,
                "errorMessage": job.error_message,
                "expireAt": job.expire_at,
                "outputs": [{"stem": o.name, "format": o.format} for o in job.outputs],
            }
        )
    else:
        state.console.result(status)
    if failure is not None:
        raise failure


@app.command()
def download(
    ctx: typer.Context,
    job_id: str = typer.Argument(..., help="Job id.", show_default=False),
    stems: list[str] | None = typer.Option(
        None,
        "--stems",
        "-s",
        help="Stems to fetch (comma-separated or repeated); 'all' = every output of the "
        "job, others included. Default: every stem the job was created with.",
    ),
    fmt: str | None = typer.Option(
        None, "--format", "-f", help=FORMAT_HELP, autocompletion=_complete_format
    ),
    output: Path | None = typer.Option(
        None,
        "--output",
        "-o",
        help="Output folder (default: current folder); - writes the one chosen stem to stdout.",
    ),
    model: str | None = typer.Option(
        None, "--model", "-m", help=MODEL_HELP, autocompletion=_complete_model
    ),
    track: str | None = typer.Option(
        None, "--track", help="Value of {track} in the output path (default: the job id)."
    ),
    name_template: str | None = typer.Option(None, "--name-template", help=TEMPLATE_HELP),
    force: bool = typer.Option(False, "--force", help="Overwrite existing files."),
    skip_existing: bool = typer.Option(
        False, "--skip-existing", help="Keep existing files, download the rest."
    ),
) -> None:
    """Download a finished job's stems and print one written path per line.

    With -o - the one chosen stem (one format) goes to stdout instead, for a pipe.

    Example: gsep download 5f1c...9a --stems vocal --format both -o stems/

    To a pipe: gsep download 5f1c...9a --stems vocal -o - | sox -t wav - vocal.flac
    """
    from .client import check_job_id, get_model, resolve_formats, resolve_stems
    from .models import RESIDUAL
    from .naming import DEFAULT_TEMPLATE, check_template

    state = _state(ctx)
    settings = state.settings()
    job_id = check_job_id(job_id)
    ledger = state.ledger()
    record = ledger.get_job(job_id) if ledger is not None else None  # from gsep separate
    chosen_model = _model(settings, model or (record.model if record else None))
    formats = resolve_formats(fmt or settings.get("format"))
    template = check_template(name_template or DEFAULT_TEMPLATE)
    to_stdout = _to_stdout(output)
    out_dir = Path(".") if to_stdout else _out_dir(settings, output)
    _check_overwrite_flags(force, skip_existing)
    names: list[str] | None = None
    if stems:
        flat = [s.strip() for v in stems for s in v.split(",") if s.strip()]
        if len(set(flat)) != len(flat):
            raise UsageError(
                "a stem is given twice in --stems", "Give each stem once, e.g. --stems vocal,drum"
            )
        names = None if "all" in flat else flat
        spec = get_model(chosen_model)
        if names is not None and spec.needs_type:  # documented names: check before any request
            names = resolve_stems(spec, names)
    if to_stdout and names is not None:
        _check_stdout_target(state, names, formats, get_model(chosen_model))
    client = state.client(settings)
    job = client.get_job(job_id, model=chosen_model)
    if names is None and not stems:
        names = [o.name for o in job.outputs if o.name != RESIDUAL] or None
        names = list(dict.fromkeys(names)) if names else None
    if to_stdout:
        wanted = names if names is not None else list(dict.fromkeys(o.name for o in job.outputs))
        _check_stdout_target(state, wanted, formats, get_model(chosen_model))
        client.stream(job, sys.stdout.buffer, stem=wanted[0], fmt=formats[0], model=chosen_model)
        return
    from .batch import file_recorder

    on_record = ledger if record is not None else None
    if on_record is not None:
        on_record.update_job(job_id, status="success", expire_at=job.expire_at)
    written = client.download(
        job,
        out_dir,
        stems=names,
        formats=formats,
        model=chosen_model,
        template=template,
        force=force,
        skip_existing=skip_existing,
        on_file=file_recorder(on_record, job_id),
        source=_download_source(record, job_id, track),
    )
    _print_files(
        state,
        written,
        {"jobId": job_id, "model": chosen_model, "status": "success", "expireAt": job.expire_at},
    )


def _download_source(record: JobRecord | None, job_id: str, track: str | None) -> InputFields:
    """{track}, {trackext} and {dir} of a job's input: from the ledger's record of it,
    else the job id with no extension or folder; --track replaces {track}."""
    from dataclasses import replace

    from .naming import InputFields

    source = InputFields.of(Path(record.input_path)) if record else InputFields(job_id)
    return replace(source, track=track) if track else source


def _print_files(state: State, written: list[WrittenFile], header: dict[str, Any]) -> None:
    if state.json:
        state.console.result_json({**header, "files": [_file_json(w) for w in written]})
    else:
        for item in written:
            state.console.result(str(item.path))


@app.command()
def separate(
    ctx: typer.Context,
    inputs: list[str] = typer.Argument(
        ...,
        help="Audio files (wav, flac, mp3, m4a, mp4), folders, or - to read paths from stdin.",
        show_default=False,
        metavar="FILE...",
    ),
    stems: list[str] | None = typer.Option(
        None, "--stems", "-s", help=STEMS_HELP, autocompletion=_complete_stems
    ),
    fmt: str | None = typer.Option(
        None, "--format", "-f", help=FORMAT_HELP, autocompletion=_complete_format
    ),
    output: Path | None = typer.Option(
        None,
        "--output",
        "-o",
        help="Output folder (default: current folder); - writes the one chosen stem to stdout.",
    ),
    model: str | None = typer.Option(
        None, "--model", "-m", help=MODEL_HELP, autocompletion=_complete_model
    ),
    name_template: str | None = typer.Option(None, "--name-template", help=TEMPLATE_HELP),
    no_wait: bool = typer.Option(
        False,
        "--no-wait",
        "--no-download",
        help="Submit the jobs and print their ids; collect later with gsep download.",
    ),
    recursive: bool = typer.Option(
        False, "--recursive", "-r", help="Take supported files from subfolders too."
    ),
    include: list[str] | None = typer.Option(
        None, "--include", help="Only folder files matching this glob (repeatable)."
    ),
    exclude: list[str] | None = typer.Option(
        None, "--exclude", help="Skip folder files matching this glob (repeatable)."
    ),
    jobs: int = typer.Option(
        3, "--jobs", "-j", min=1, max=16, help="Inputs processed at once (1-16)."
    ),
    timeout: float | None = typer.Option(
        None, "--timeout", min=0, help="Give up waiting after SECONDS (exit 8)."
    ),
    parallel: int = typer.Option(
        4, "--parallel", min=1, max=16, help="Upload parts sent at once (1-16)."
    ),
    force: bool = typer.Option(
        False,
        "--force",
        help="Overwrite files in the way (never pays again for a job on record: see --pay-again).",
    ),
    pay_again: bool = typer.Option(
        False,
        "--pay-again",
        help="Pay for a new job even when one is on record for the same input, model and "
        "stems (finished, expired, or requested without an answer).",
    ),
    skip_existing: bool = typer.Option(
        False, "--skip-existing", help="Keep existing files, download the rest."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help=DRY_RUN_HELP),
    lyrics: Path | None = typer.Option(
        None,
        "--lyrics",
        help=LYRICS_HELP + " One input only; by default each input's NAME.txt beside it.",
    ),
    language: str | None = typer.Option(
        None, "--language", help=LANGUAGE_HELP, autocompletion=_complete_language
    ),
) -> None:
    """Upload, create the job, wait and download the stems; print the written paths.

    Takes several files, folders (--recursive, --include/--exclude) or - (paths on
    stdin). Re-running the same command re-attaches to the jobs on record instead of
    paying again (--force starts fresh). With several inputs: a summary table on stderr,
    exit 9 when some failed, and with --json one JSON line per input as each finishes.
    --dry-run checks every input and prints, per input, "would upload FILE (N bytes,
    FORMAT, D s) then create MODEL job type=STEMS; would write PATHS" (no request).

    Example: gsep separate song.wav --stems vocal,drum --format wav -o stems/

    To a pipe (one stem, one format): gsep separate song.wav -s vocal -o - | ffmpeg -i - v.flac

    Lyrics: gsep separate song.wav -m gts_lyrics_line_v1 --lyrics song.txt --language en
    """
    from .batch import BatchOptions, BatchRunner, batch_exit_code, collect_inputs
    from .client import get_model, resolve_formats
    from .naming import DEFAULT_TEMPLATE, check_template

    state = _state(ctx)
    _check_timeout(timeout)
    settings = state.settings(dry_run=dry_run)
    chosen_model = _model(settings, model)
    spec = get_model(chosen_model)
    chosen = _stems(settings, chosen_model, stems)
    lang = _lyrics_language(
        chosen_model, language, lyrics_given=lyrics is not None, fmt=fmt, state=state
    )
    formats = resolve_formats(fmt or settings.get("format"))
    template = check_template(name_template or DEFAULT_TEMPLATE)
    to_stdout = _to_stdout(output) and not no_wait
    if to_stdout:
        _check_stdout_target(state, chosen, formats, spec, dry_run=dry_run)
    out_dir = Path(".") if _to_stdout(output) else _out_dir(settings, output)
    _check_overwrite_flags(force, skip_existing)
    paths = collect_inputs(
        inputs,
        recursive=recursive,
        include=include or (),
        exclude=exclude or (),
        kinds=spec.input_kinds,
        stdin=sys.stdin,
    )
    options = BatchOptions(
        chosen_model,
        chosen,
        formats,
        out_dir,
        template,
        force=force,
        skip_existing=skip_existing,
        pay_again=pay_again,
        no_wait=no_wait,
        timeout=timeout,
        jobs=jobs,
        lyrics=lyrics,
        language=lang,
        stdout=sys.stdout.buffer if to_stdout and not dry_run else None,
    )
    if to_stdout and len(paths) > 1:
        raise UsageError(
            f"-o - writes one input's stem to standard output, but there are {len(paths)}",
            "Give one input, or -o DIR",
        )
    if lyrics is not None and len(paths) > 1:
        raise UsageError(
            "--lyrics gives the text of one input, but there are several",
            "Drop --lyrics and put each input's lyrics beside it as NAME.txt",
        )
    planned: list[list[Path]] | None = None
    if not no_wait and not to_stdout:  # refuse before paying for jobs whose files cannot land
        # a dry run leaves no trace, not even a ledger: it hashes without the cache
        planned = _check_template_collisions(options, paths, None if dry_run else state)
    if dry_run:
        _require_key(state, settings)
        code = _dry_run_separate(state, options, paths, planned, to_stdout=to_stdout)
        if code:
            raise typer.Exit(code)
        return
    client = state.client(settings, parallel=parallel)
    single = len(paths) == 1

    def report(result: Any) -> None:
        if (single and not result.ok) or options.stdout is not None:
            return  # raised below as the command's own error; or stdout holds the audio
        if state.json:
            state.console.result_json(result.to_json(chosen_model, chosen))
        elif result.status == "submitted":
            state.console.result(result.job_id or "")
        elif result.ok:  # a failed input's files are in the summary, not the results
            for item in result.files:
                state.console.result(str(item.path))
        if not single and result.error is not None:
            state.console.error(result.error, prefix=f"{result.input}: ")

    runner = BatchRunner(
        client,
        options,
        key_fp=state.key_fp,
        base_url=settings.base_url,
        ledger=state.ledger(),
        on_result=report,
    )
    results = runner.run(paths)
    if single:
        if results[0].error is not None:
            raise results[0].error
        return
    if not state.quiet:
        from .console import summary_table

        summary_table([_summary_row(r) for r in results], sys.stderr)
    code = batch_exit_code(results)
    if code:
        raise typer.Exit(code)


def _require_key(state: State, settings: Settings) -> None:
    """What a dry run checks besides the inputs: the key, and every GSEP_* setting a real
    run would read before its first request."""
    if not state.sandbox:
        settings.require_key()
    _transport_options()


def _dry_run_separate(
    state: State,
    options: Any,
    paths: list[Path],
    planned: list[list[Path]] | None,
    *,
    to_stdout: bool = False,
) -> int:
    """Check every input locally and print what would be sent; the batch's exit code.

    ``planned``: every input's output paths from :func:`_check_template_collisions`."""
    from .batch import InputResult, batch_exit_code
    from .client import check_lyrics_file, check_planned_outputs, get_model, type_value
    from .folders import prepare_folders
    from .manifest import Manifest
    from .preflight import dry_run_json, dry_run_line, preflight

    spec = get_model(options.model)
    type_ = type_value(options.stems) if spec.needs_type else None
    results: list[InputResult] = []
    for index, path in enumerate(paths):
        result = InputResult(path)
        try:
            checked = preflight(path, spec)
            for warning in checked.warnings:
                state.console.warn(warning)
            result.bytes = checked.bytes
            lyrics = options.lyrics_for(path)
            text = None if lyrics is None else (lyrics, check_lyrics_file(lyrics))
            would_write: list[Path] = [Path("-")] if to_stdout else []
            if planned is not None:
                would_write = planned[index]
                check_planned_outputs(
                    would_write,
                    options.out_dir,
                    refuse_existing=not (options.force or options.skip_existing)
                    and "{job}" not in options.template,
                )
                prepare_folders(would_write, create=False)
                Manifest(options.out_dir).check()
        except GsepError as exc:
            result.status, result.error = "failed", exc
            results.append(result)
            if len(paths) == 1:
                raise
            if state.json:
                state.console.result_json(_dry_run_failure(path, options.model, type_, exc))
            state.console.error(exc, prefix=f"{path}: ")
            continue
        result.status = "checked"
        results.append(result)
        if state.json:
            state.console.result_json(
                dry_run_json(checked, options.model, type_, would_write, text, options.language)
            )
        else:
            state.console.result(
                dry_run_line(checked, options.model, type_, would_write, text, options.language)
            )
    return batch_exit_code(results)


def _dry_run_failure(path: Path, model: str, type_: str | None, exc: GsepError) -> dict[str, Any]:
    return {
        "input": str(path),
        "bytes": None,
        "format": None,
        "duration": None,
        "durationExact": False,
        "model": model,
        "type": type_,
        "wouldWrite": [],
        "ok": False,
        "error": {"message": exc.message, "hint": exc.hint, "exitCode": int(exc.exit_code)},
    }


def _check_template_collisions(
    options: Any, paths: list[Path], state: State | None
) -> list[list[Path]]:
    """Every input's output paths; UsageError, before any request, when two outputs of
    the batch would be one file. With ``{job}`` in the template, inputs with the same
    content share one job, so they stand for it by their content."""
    from .batch import content_placeholders
    from .client import get_model, planned_outputs
    from .naming import plan_outputs

    outputs = planned_outputs(get_model(options.model), options.stems, options.formats)
    jobs = None
    if "{job}" in options.template:
        jobs = content_placeholders(options, paths, state.ledger() if state else None)
    return plan_outputs(paths, options.out_dir, options.template, outputs, options.model, jobs=jobs)


def _summary_row(result: Any) -> tuple[str, str, str, str]:
    if result.error is not None:
        detail = result.error.message
    elif result.status == "submitted":
        detail = "submitted"
    else:
        detail = f"{len(result.files)} files" + (
            f" ({result.reused} reused)" if result.reused else ""
        )
    return (str(result.input), result.job_id or "-", result.status, detail)


@app.command()
def models(ctx: typer.Context) -> None:
    """List the models gsep knows: stems (or outputs), input formats and limits.

    Example: gsep models --json
    """
    from .models import MODELS

    state = _state(ctx)
    rows: list[dict[str, Any]] = [
        {
            "name": spec.name,
            "category": spec.category,
            "stems": list(spec.stems),
            "outputs": list(spec.stems or spec.outputs) + (["others"] if spec.residual else []),
            "inputFormats": list(spec.input_kinds),
            "maxBytes": spec.max_bytes,
            "maxSeconds": spec.max_seconds,
            "description": spec.description,
        }
        for spec in MODELS.values()
    ]
    if state.json:
        state.console.result_json({"models": rows})
        return
    for row in rows:
        limits = f"{row['maxBytes'] // 1000**3} GB, {row['maxSeconds'] // 60} min"
        stems = ",".join(row["stems"]) or "(no type: " + ",".join(row["outputs"]) + ")"
        state.console.result(f"{row['name']:<22} {stems:<48} {limits}")


# ---- jobs (the ledger) --------------------------------------------------------------
def _job_json(record: Any) -> dict[str, Any]:
    return {
        "jobId": record.job_id,
        "uploadId": record.upload_id,
        "input": record.input_path,
        "inputSha256": record.sha256,
        "model": record.model,
        "stems": list(record.stems),
        "apiHost": record.api_host,
        "status": record.status,
        "expireAt": record.expire_at,
        "error": record.error,
        "createdAt": record.created_at,
        "updatedAt": record.updated_at,
        "files": [
            {"stem": f.stem, "format": f.format, "path": f.path, "bytes": f.bytes}
            for f in record.files
        ],
    }


def _open_ledger(state: State) -> Any:
    from .ledger import Ledger

    ledger = Ledger()
    for warning in ledger.warnings:
        state.console.warn(warning)
    return ledger


@jobs_app.command("list")
def jobs_list(
    ctx: typer.Context,
    limit: int = typer.Option(50, "--limit", "-n", min=1, help="How many (newest first)."),
) -> None:
    """List recent jobs on record: status, stems, expiry, where the files went.

    Example: gsep jobs list --json
    """
    state = _state(ctx)
    with _open_ledger(state) as ledger:
        records = ledger.list_jobs(limit=limit)
    if state.json:
        state.console.result_json({"jobs": [_job_json(r) for r in records]})
        return
    for r in records:
        where = str(Path(r.files[0].path).parent) if r.files else "-"
        state.console.result(
            f"{r.job_id}  {r.status:<9} {r.model}  {','.join(r.stems):<20} "
            f"expires {r.expire_at or '-'}  {Path(r.input_path).name} -> {where}"
        )


@jobs_app.command("show")
def jobs_show(
    ctx: typer.Context, job_id: str = typer.Argument(..., help="Job id.", show_default=False)
) -> None:
    """Show everything on record about one job (stdout: JSON).

    Example: gsep jobs show 5f1c...9a
    """
    from .errors import RequestRejected

    state = _state(ctx)
    with _open_ledger(state) as ledger:
        record = ledger.get_job(job_id.strip())
    if record is None:
        raise RequestRejected(
            f"job {job_id} is not on record", "See the jobs on record: gsep jobs list"
        )
    state.console.result_json(_job_json(record))


@jobs_app.command("forget")
def jobs_forget(
    ctx: typer.Context,
    job_ids: list[str] = typer.Argument(..., help="Job ids to remove.", show_default=False),
) -> None:
    """Remove jobs from the record (the API keeps them; only gsep forgets).

    Example: gsep jobs forget 5f1c...9a
    """
    state = _state(ctx)
    with _open_ledger(state) as ledger:
        removed = ledger.forget_jobs([j.strip() for j in job_ids])
    state.console.info(f"gsep: forgot {removed} of {len(job_ids)} jobs")
    if state.json:
        state.console.result_json({"removed": removed})


@jobs_app.command("prune")
def jobs_prune(
    ctx: typer.Context,
    older_than: float | None = typer.Option(
        None, "--older-than", min=0, help="Also remove jobs not touched for DAYS days."
    ),
) -> None:
    """Remove expired entries: jobs whose results expired, uploads past 72 h.

    Example: gsep jobs prune --older-than 30
    """
    state = _state(ctx)
    with _open_ledger(state) as ledger:
        removed = ledger.prune(older_than=older_than * 86400 if older_than is not None else None)
    state.console.info(f"gsep: removed {removed} entries")
    if state.json:
        state.console.result_json({"removed": removed})


@key_app.command("info")
def key_info(ctx: typer.Context) -> None:
    """Show the key's project, status, permitted models and remaining credits.

    The API does not document these field names, so gsep shows whatever it sends:
    one "name: value" line per field (nested fields dotted), or the object with --json.

    Example: gsep key info --json
    """
    state = _state(ctx)
    info = state.client().key_info()
    if state.json:
        state.console.result_json(info)
        return
    for name, value in _flatten(info):
        state.console.result(f"{name}: {value}")


def _flatten(value: Any, prefix: str = "") -> list[tuple[str, str]]:
    """Nested objects as dotted names; lists of plain values comma-joined."""
    if isinstance(value, dict):
        rows: list[tuple[str, str]] = []
        for key, item in value.items():
            rows.extend(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return rows
    if isinstance(value, list) and all(not isinstance(v, (dict, list)) for v in value):
        return [(prefix, ", ".join(str(v) for v in value))]
    if isinstance(value, list):
        rows = []
        for index, item in enumerate(value):
            rows.extend(_flatten(item, f"{prefix}[{index}]"))
        return rows
    return [(prefix, "null" if value is None else str(value))]


# ---- config ---------------------------------------------------------------------------
@config_app.command(
    "set-key", context_settings={"allow_extra_args": True, "ignore_unknown_options": True}
)
def config_set_key(ctx: typer.Context) -> None:
    """Store the API key in the config file (0600). Reads it from stdin when piped,
    else asks with a hidden prompt; never from an argument.

    Example: printf %s "$KEY" | gsep config set-key
    """
    from .config import DEFAULT_PROFILE, key_problem, set_profile_value

    state = _state(ctx)
    if ctx.args:  # caught here so that click does not echo the key back in its error
        raise UsageError(
            "the key is not accepted as an argument (it would stay in your shell history)",
            'Pipe it: printf %s "$KEY" | gsep config set-key, or run gsep config set-key '
            "and type it at the hidden prompt",
        )
    if sys.stdin is not None and not sys.stdin.isatty():
        key = sys.stdin.read().strip()
    else:
        import getpass

        key = getpass.getpass("GSEP API key (input hidden): ").strip()
    if not key:
        raise UsageError("no key given", "Pipe the key on stdin or type it at the prompt")
    problem = key_problem(key)
    if problem is not None:  # never echoed: it may be a real key with a stray character
        raise UsageError(f"that does not look like an API key: {problem} (not shown)")
    profile = state.profile or os.environ.get("GSEP_PROFILE") or DEFAULT_PROFILE
    path = set_profile_value(profile, "api_key", key)
    state.console.info(f"gsep: key saved for profile {profile!r} in {path}")


@config_app.command("show")
def config_show(ctx: typer.Context) -> None:
    """Show the settings in effect and where each came from (the key masked).

    Example: gsep config show --json
    """
    from .config import config_path, mask_key

    state = _state(ctx)
    settings = state.settings()
    values: dict[str, Any] = dict(settings.values)
    values["api_key"] = mask_key(settings.api_key) if settings.api_key else None
    if settings.api_key and settings.key_problem:  # masking could still show a stray byte
        values["api_key"] = f"(cannot be used: {settings.key_problem})"
    if state.json:
        state.console.result_json(
            {
                "profile": settings.profile,
                "configFile": str(config_path()),
                "values": values,
                "sources": settings.sources,
            }
        )
        return
    state.console.result(f"profile     {settings.profile}")
    state.console.result(f"config file {config_path()}")
    for name in ("api_key", "base_url", "model", "stems", "format", "output_dir"):
        shown = values.get(name) or "(not set)"
        state.console.result(f"{name:<11} {shown}  [{settings.sources.get(name, '')}]")


@config_app.command("path")
def config_path_cmd(ctx: typer.Context) -> None:
    """Print the config file's path.

    Example: gsep config path
    """
    from .config import config_path

    state = _state(ctx)
    if state.json:
        state.console.result_json({"configFile": str(config_path())})
    else:
        state.console.result(str(config_path()))


@config_app.command("set")
def config_set(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="base_url, format, stems, output_dir or model."),
    value: str = typer.Argument(..., help="The new value."),
) -> None:
    """Set a setting in the current profile (the key has its own command: set-key).

    Example: gsep config set format mp3
    """
    from .client import get_model, resolve_formats
    from .config import DEFAULT_PROFILE, SETTABLE, check_base_url, set_profile_value
    from .models import DEFAULT_MODEL

    state = _state(ctx)
    if name not in SETTABLE:
        hint = (
            "Use gsep config set-key for the key"
            if name in ("api_key", "key")
            else f"Settable: {', '.join(SETTABLE)}"
        )
        raise UsageError(f"unknown setting {name!r}", hint)
    if name == "base_url":
        value = check_base_url(value, "the value")
    elif name == "format":
        resolve_formats(value)
    elif name == "model":
        get_model(value)
    elif name == "stems":
        _stems(state.settings(), DEFAULT_MODEL, [value])
    profile = state.profile or os.environ.get("GSEP_PROFILE") or DEFAULT_PROFILE
    set_profile_value(profile, name, value)
    state.console.info(f"gsep: {name} = {value} (profile {profile!r})")


@config_app.command("get")
def config_get(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="base_url, format, stems, output_dir or model."),
) -> None:
    """Print the value of one setting as gsep resolves it.

    Example: gsep config get base_url
    """
    from .config import SETTABLE

    state = _state(ctx)
    if name not in SETTABLE:
        raise UsageError(f"unknown setting {name!r}", f"Settable: {', '.join(SETTABLE)}")
    settings = state.settings()
    if state.json:
        state.console.result_json(
            {"name": name, "value": settings.get(name), "source": settings.sources.get(name)}
        )
    else:
        state.console.result(settings.get(name))


# ---- sandbox -------------------------------------------------------------------------------
@sandbox_app.command("serve")
def sandbox_serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (loopback)."),
    port: int = typer.Option(0, "--port", min=0, max=65535, help="Port (0: a free one)."),
    job_seconds: float = typer.Option(
        3.0, "--job-seconds", min=0, help="How long a job takes; 0 = done at once."
    ),
    chunk_size: str = typer.Option(
        "1GiB", "--chunk-size", help="chunkSize of upload plans (e.g. 5MiB, 64KiB)."
    ),
    credits: int | None = typer.Option(
        None, "--credits", min=0, help="Credits available (1 per job); default unlimited."
    ),
    keys_file: Path | None = typer.Option(
        None,
        "--keys-file",
        help="File with the accepted API keys, one per line (default: any non-empty key).",
    ),
    business_status: int = typer.Option(
        200, "--business-status", help="HTTP status of business errors: 200 or 400."
    ),
    rate_limit: int = typer.Option(
        100, "--rate-limit", min=0, help="API requests per window per IP (0 = no limit)."
    ),
    rate_window: float = typer.Option(
        60.0, "--rate-window", min=0.01, help="Rate-limit window in seconds."
    ),
    rate_block: float = typer.Option(
        60.0, "--rate-block", min=0, help="Seconds an IP stays blocked after going over."
    ),
    retry_after: bool = typer.Option(
        False, "--retry-after", help="Send Retry-After on 429 (the real API does not)."
    ),
    url_ttl: float = typer.Option(
        86400, "--url-ttl", min=0, help="Seconds a presigned part URL stays valid."
    ),
    max_bytes: str | None = typer.Option(
        None, "--max-bytes", help="Replace every model's size limit (e.g. 1MiB): 1110 sooner."
    ),
    max_seconds: float | None = typer.Option(
        None, "--max-seconds", min=0, help="Replace every model's WAV duration limit: 1109."
    ),
    tls_cert: Path | None = typer.Option(
        None, "--tls-cert", help="Serve https with this certificate (PEM); needs --tls-key."
    ),
    tls_key: Path | None = typer.Option(
        None, "--tls-key", help="Private key (PEM) for --tls-cert."
    ),
    fault: list[str] | None = typer.Option(
        None,
        "--fault",
        help="Inject a fault: KIND[@ROUTE][:COUNT][:ARG], repeatable (see README), e.g. api-503:2.",
    ),
    verbose: bool = typer.Option(False, "-v", "--verbose", help="Log each request."),
) -> None:
    """Serve a local emulator of the GSEP API; print its base URL on stdout.

    It does NOT separate sources: WAV stems are band-filtered copies of the input and MP3
    stems are silent, with the right duration. Everything else follows the API contract.
    Serves until interrupted (Ctrl-C exits 0). Also: env GSEP_SANDBOX_FAULTS="a;b".

    Example: gsep sandbox serve --port 8080 --job-seconds 5 --chunk-size 5MiB
    """
    from .config import LOOPBACK_HOSTS
    from .sandbox import Sandbox, parse_fault_list
    from .units import parse_size

    console = sys.stderr
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
            verbose=verbose,
        )
    except (ValueError, OSError) as exc:
        raise UsageError(str(exc)) from None
    if host not in LOOPBACK_HOSTS:
        print(f"gsep: warning: binding {host}, which is not loopback", file=console)
    try:
        sandbox.start()
    except OSError as exc:
        sandbox.stop()
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    print(sandbox.base_url, flush=True)
    print(
        f"gsep: sandbox serving at {sandbox.base_url} (Ctrl-C to stop; it does not really "
        "separate sources)",
        file=console,
        flush=True,
    )
    try:  # SIGTERM and SIGHUP arrive as KeyboardInterrupt too (see run): files removed
        sandbox.serve_forever()
    except KeyboardInterrupt:
        print("gsep: sandbox stopped", file=console)


@sandbox_app.command("example")
def sandbox_example() -> None:
    """Print the path of the bundled example clip (4 s, generated by gsep, license-free).

    Example: gsep --sandbox separate "$(gsep sandbox example)" --stems vocal,drum
    """
    from .sandbox.example import EXAMPLE_CLIP

    print(EXAMPLE_CLIP)


SHELLS = ("bash", "zsh", "fish", "powershell")


@app.command()
def completion(
    shell: str = typer.Argument(..., help="bash, zsh, fish or powershell.", show_default=False),
) -> None:
    """Print the tab-completion script for SHELL (see README for where to put it).

    Example: gsep completion bash > ~/.local/share/bash-completion/completions/gsep
    """
    from typer._completion_shared import get_completion_script

    if shell not in SHELLS:
        raise UsageError(f"unknown shell {shell!r}", f"Choose one of: {', '.join(SHELLS)}")
    script = get_completion_script(prog_name="gsep", complete_var=COMPLETE_VAR, shell=shell)
    sys.stdout.write(script.rstrip("\n") + "\n")


# ---- entry point ---------------------------------------------------------------------------
def run(argv: list[str] | None = None) -> int:
    """Run the app and return the process exit code (never a traceback for GsepError)."""
    try:  # typer >= 0.2x vendors click as typer._click; older typer depends on click
        from typer._click import exceptions as click_exceptions
    except ImportError:  # pragma: no cover - depends on the installed typer
        from click import exceptions as click_exceptions  # type: ignore[no-redef]

    if os.environ.get(COMPLETE_VAR):  # a shell asking for completions: register them
        from typer._completion_classes import completion_init

        completion_init()
    if sys.stdout is None:  # started with stdout closed (>&-): results go nowhere
        global _STDOUT_CLOSED
        _STDOUT_CLOSED = True
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - for the life of the process
    _never_fail_on_encoding()
    restore = _interrupt_on_termination()
    try:
        return _run(argv, click_exceptions)
    finally:
        restore()


def _run(argv: list[str] | None, click_exceptions: Any) -> int:
    try:
        result = app(args=argv, prog_name="gsep", standalone_mode=False)
        code = int(result) if isinstance(result, int) else 0
        if code == ExitCode.INTERRUPTED:
            print("gsep: interrupted", file=sys.stderr)
        return code
    except GsepError as exc:
        from .console import Console
        from .errors import OutputClosed

        if isinstance(exc, OutputClosed):  # nothing more can go to stdout, not even a flush
            _silence_stdout()
        Console().error(exc)
        return int(exc.exit_code)
    except click_exceptions.ClickException as exc:
        if type(exc).__name__ == "NoArgsIsHelpError" or not isinstance(
            exc, click_exceptions.UsageError
        ):
            exc.show()  # a bare command group prints its help
            return int(exc.exit_code)
        # a usage error is one line too, like every other error
        command = exc.ctx.command_path if exc.ctx is not None else "gsep"
        message = exc.format_message().strip().rstrip(".")
        from .redact import printable

        print(f"gsep: error: {printable(message)} — see {command} --help", file=sys.stderr)
        return int(exc.exit_code)
    except typer.Abort as exc:  # typer.Abort is click's Abort on typer versions built on click
        if isinstance(exc.__context__, KeyboardInterrupt):  # click turns Ctrl-C into Abort
            print("gsep: interrupted", file=sys.stderr)
            return int(ExitCode.INTERRUPTED)
        print("gsep: aborted (no input)", file=sys.stderr)
        return int(ExitCode.USAGE)
    except KeyboardInterrupt:
        print("gsep: interrupted", file=sys.stderr)
        return int(ExitCode.INTERRUPTED)
    except BrokenPipeError:  # the reader of our results went away: not a failure of ours
        _silence_stdout()
        return int(ExitCode.OK)
    except Exception as exc:  # an unexpected bug: one line, no locals, no key
        if os.environ.get("GSEP_DEBUG"):
            raise
        from .redact import printable, redact

        print(
            printable(
                redact(
                    f"gsep: internal error: {type(exc).__name__}: {exc} — please report it "
                    "(set GSEP_DEBUG=1 for a traceback)"
                )
            ),
            file=sys.stderr,
        )
        return int(ExitCode.INTERNAL)


def _interrupt_on_termination() -> Any:
    """Handle SIGTERM and SIGHUP (``kill``, a CI runner's cancel, a closed terminal) like
    Ctrl-C: the same clean exit 130, a job creation in flight still recorded, partial
    files removed. Returns a function that puts the previous handlers back."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = {}
    for name in ("SIGTERM", "SIGHUP"):
        number = getattr(signal, name, None)
        if number is not None:
            previous[number] = signal.signal(number, interrupt)

    def restore() -> None:
        for number, handler in previous.items():
            signal.signal(number, handler)

    return restore


def _never_fail_on_encoding() -> None:
    """Writing a result must never fail because of the console's encoding (a Cyrillic path
    on a cp1252 console, a file name that is not valid UTF-8): characters the stream cannot
    encode are written as backslash escapes, undecodable file-name bytes as themselves."""
    import codecs

    codecs.register_error(_ERRORS, _escape_unencodable)
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            with contextlib.suppress(ValueError, OSError, TypeError):
                reconfigure(errors=_ERRORS)


_ERRORS = "gsep-escape"


def _escape_unencodable(exc: UnicodeError) -> tuple[str | bytes, int]:
    if not isinstance(exc, UnicodeEncodeError):
        raise exc
    text = exc.object[exc.start : exc.end]
    if all(0xDC80 <= ord(ch) <= 0xDCFF for ch in text):  # os.fsdecode's surrogateescape
        return bytes(ord(ch) - 0xDC00 for ch in text), exc.end
    return text.encode("ascii", "backslashreplace").decode("ascii"), exc.end


def _silence_stdout() -> None:
    from .console import silence_stdout

    silence_stdout()
