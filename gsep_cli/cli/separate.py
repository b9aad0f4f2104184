"""``gsep separate``: upload, create the job, wait and download, for one input or many."""

# no postponed annotations here: typer reads them on every run (see gsep_cli.cli)
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..errors import GsepError, UsageError
from . import _choices, _github, _output
from ._context import State, state_of
from ._options import (
    LYRICS_HELP,
    BitDepth,
    Bitrate,
    Format,
    Language,
    Mixes,
    MixOnly,
    Model,
    NameTemplate,
    NoTags,
    Output,
    Parallel,
    SampleRate,
    SkipExisting,
    Stems,
    Timeout,
    between,
)

if TYPE_CHECKING:
    from ..batch import BatchOptions, InputResult
    from ..client import GsepClient
    from ..config import Settings

INPUTS_HELP = "Audio files (wav, flac, mp3, m4a, mp4), folders, or - to read paths from stdin."
FORCE_HELP = "Overwrite files in the way (never pays again for a job on record: see --pay-again)."
PAY_AGAIN_HELP = (
    "Pay for a new job even when one is on record for the same input, model and "
    "stems (finished, expired, or requested without an answer)."
)
MAX_JOBS_HELP = (
    "Refuse, before any upload, a run that would pay for more than N new jobs (jobs on "
    "record that it re-attaches to do not count; 0: only re-attach, never pay)."
)
SHARD_HELP = (
    "I/N: take only this runner's share I of N of the inputs, chosen by content (N "
    "runners given the same list take disjoint parts; copies of one file go to one runner)."
)
SEPARATE_DRY_RUN_HELP = (
    "Check everything local (file, format, size, duration, stems, outputs, key), print "
    "what would be sent and which inputs would be new jobs, and the credits left (one "
    "free GET /v1/key/info; nothing else is sent)."
)
LYRICS_ONE_HELP = LYRICS_HELP + " One input only; by default each input's NAME.txt beside it."
MANIFEST_HELP = (
    "Also list every written file in this JSON file (input, sha256, model, stems, job, "
    "time, size; paths relative to its folder). Off by default: the ledger records them."
)


def separate(
    ctx: typer.Context,
    inputs: Annotated[
        list[str], typer.Argument(help=INPUTS_HELP, show_default=False, metavar="FILE...")
    ],
    stems: Stems = None,
    fmt: Format = None,
    output: Output = None,
    model: Model = None,
    name_template: NameTemplate = None,
    no_wait: Annotated[
        bool,
        typer.Option(
            "--no-wait",
            "--no-download",
            help="Submit the jobs and print their ids; collect later with gsep download.",
        ),
    ] = False,
    recursive: Annotated[
        bool, typer.Option("--recursive", "-r", help="Take supported files from subfolders too.")
    ] = False,
    include: Annotated[
        list[str] | None,
        typer.Option(
            "--include", metavar="GLOB", help="Only folder files matching GLOB (repeatable)."
        ),
    ] = None,
    exclude: Annotated[
        list[str] | None,
        typer.Option(
            "--exclude", metavar="GLOB", help="Skip folder files matching GLOB (repeatable)."
        ),
    ] = None,
    jobs: Annotated[
        int,
        typer.Option(
            "--jobs", "-j", metavar="N", callback=between(1, 16), help="Inputs at once, 1-16."
        ),
    ] = 3,
    timeout: Timeout = None,
    parallel: Parallel = 4,
    force: Annotated[bool, typer.Option("--force", help=FORCE_HELP)] = False,
    pay_again: Annotated[bool, typer.Option("--pay-again", help=PAY_AGAIN_HELP)] = False,
    skip_existing: SkipExisting = False,
    max_jobs: Annotated[
        int | None,
        typer.Option("--max-jobs", metavar="N", callback=between(0), help=MAX_JOBS_HELP),
    ] = None,
    shard: Annotated[
        str | None, typer.Option("--shard", metavar="SHARD", help=SHARD_HELP, show_default=False)
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help=SEPARATE_DRY_RUN_HELP)] = False,
    lyrics: Annotated[
        Path | None, typer.Option("--lyrics", metavar="FILE", help=LYRICS_ONE_HELP)
    ] = None,
    language: Language = None,
    manifest: Annotated[
        Path | None, typer.Option("--manifest", help=MANIFEST_HELP, metavar="FILE")
    ] = None,
    bit_depth: BitDepth = None,
    sample_rate: SampleRate = None,
    bitrate: Bitrate = None,
    mix: Mixes = None,
    mix_only: MixOnly = False,
    no_tags: NoTags = False,
) -> None:
    """Upload, create the job, wait and download the stems.

    Prints the written paths. Takes several files, folders (--recursive,
    --include/--exclude) or - (paths on stdin). The same command run again attaches
    to the jobs on record instead of paying again (--pay-again pays for a new job).
    With several inputs: a summary table on stderr, exit 9 when some failed, and with
    --json one JSON line per input as each finishes. --max-jobs N refuses, before any
    upload, a run that would pay for more than N new jobs. --dry-run checks every input
    and prints, per input, "would upload FILE (N bytes, FORMAT, D s) then create MODEL
    job type=STEMS; would write PATHS" (or "would reuse job ID for FILE ..."), then how
    many new jobs the run would create and the credits left (its one request: key info).

    \b
    Examples:
      gsep separate song.wav --stems vocal,drum --format wav -o stems/
      gsep separate album/ -r --stems all --format mp3 -o stems/ --jobs 4
      gsep separate song.wav --stems vocal -o - | ffmpeg -i - vocal.flac
      gsep separate album/ --max-jobs 10 --dry-run
      gsep separate song.mp3 --stems vocal --format flac,mp3 --bit-depth 24
      gsep separate song.wav --mix backing=drum+bass+others --mix-only
      gsep separate song.wav -m gts_lyrics_line_v1 --lyrics song.txt \\
          --language en
    """
    from ..batch import collect_inputs
    from ..choices import get_model
    from ..separation import batch_options

    state = state_of(ctx)
    settings = state.settings(dry_run=dry_run)
    to_stdout = _choices.to_stdout(output) and not no_wait
    options = batch_options(
        settings,
        warn=state.warn,
        model=model,
        stems=stems,
        formats=fmt,
        out_dir=output,
        to_stdout=_choices.to_stdout(output),
        name_template=name_template,
        force=force,
        skip_existing=skip_existing,
        pay_again=pay_again,
        no_wait=no_wait,
        timeout=timeout,
        jobs=jobs,
        lyrics=lyrics,
        language=language,
        manifest=manifest,
        bit_depth=bit_depth,
        sample_rate=sample_rate,
        bitrate=bitrate,
        mixes=mix,
        mix_only=mix_only,
        no_tags=no_tags,
        stdout=sys.stdout.buffer if to_stdout and not dry_run else None,
        max_jobs=max_jobs,
    )
    spec = get_model(options.model)
    if to_stdout:
        _choices.check_stdout_target(
            state,
            list(options.kept_stems),
            list(options.formats),
            spec,
            dry_run=dry_run,
            chosen=options.chosen_delivery,
        )
    paths = collect_inputs(
        inputs,
        recursive=recursive,
        include=include or (),
        exclude=exclude or (),
        kinds=spec.input_kinds,
        stdin=sys.stdin,
    )
    if shard is not None:
        paths = _my_share(state, options, paths, shard, dry_run=dry_run)
        if not paths:
            return
    _check_input_count(paths, to_stdout=to_stdout, lyrics=lyrics)
    if manifest is not None and str(manifest) == "-":
        raise UsageError(
            "--manifest - would write a file named '-' (standard output carries the results)",
            "Give the manifest a file name, e.g. --manifest manifest.json",
        )
    if manifest is not None and to_stdout:
        raise UsageError(
            "--manifest lists the files gsep writes, and -o - writes none",
            "Drop --manifest, or write to a folder with -o DIR",
        )
    _separate(
        state, settings, options, paths, dry_run=dry_run, to_stdout=to_stdout, parallel=parallel
    )


def _my_share(
    state: State, options: "BatchOptions", paths: list[Path], text: str, *, dry_run: bool
) -> list[Path]:
    """``--shard I/N``: this runner's inputs (:mod:`gsep_cli.batch.shard`), said on
    stderr; hashed through the ledger's cache, but a dry run leaves no trace."""
    from ..batch.shard import Shard, shard_inputs

    chosen = Shard.parse(text)
    mine = shard_inputs(options, paths, chosen, None if dry_run else state.ledger())
    state.console.info(f"gsep: shard {chosen}: {len(mine)} of {len(paths)} inputs")
    return mine


def _check_input_count(paths: list[Path], *, to_stdout: bool, lyrics: Path | None) -> None:
    """``-o -`` and ``--lyrics`` are for one input."""
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


def _separate(
    state: State,
    settings: "Settings",
    options: "BatchOptions",
    paths: list[Path],
    *,
    dry_run: bool,
    to_stdout: bool,
    parallel: int,
) -> None:
    """Plan the outputs (refusing collisions before paying), then dry-run or run."""
    from ..separation import planned_paths
    from ._dry_run import dry_run_separate

    planned: list[list[Path]] | None = None
    if not options.no_wait and not to_stdout:  # refuse before paying for jobs whose files
        # cannot land; a dry run leaves no trace, not even a ledger: it hashes without it
        planned = planned_paths(options, paths, None if dry_run else state.ledger())
    if dry_run:
        state.require_key(settings)
        code = dry_run_separate(state, settings, options, paths, planned, to_stdout=to_stdout)
        if code:
            raise typer.Exit(code)
        return
    if len(paths) == 1:  # a lone input's own checks come before the key and the sandbox
        from ..choices import get_model
        from ..preflight import preflight

        try:
            preflight(paths[0], get_model(options.model))  # (its warnings: when it runs)
        except GsepError as error:  # a failed input to CI too (GITHUB_ACTIONS)
            _github.report_refused(paths[0], error, state.console)
            raise
    _run_batch(state, state.client(settings, parallel=parallel), settings, options, paths)


def _run_batch(
    state: State,
    client: "GsepClient",
    settings: "Settings",
    options: "BatchOptions",
    paths: list[Path],
) -> None:
    """Run the batch, print each input's results as it ends, then the summary table and
    the batch's exit code (one input: its own error)."""
    from ..batch import batch_exit_code

    single = len(paths) == 1

    def report(result: "InputResult") -> None:
        if (single and not result.ok) or options.stdout is not None:
            return  # raised below as the command's own error; or stdout holds the audio
        if state.json:
            state.console.result_json(
                _output.input_result_json(result, options.model, options.stems)
            )
        elif options.no_wait and result.job_id:  # submitted, or on record as done already
            state.console.result(result.job_id)
        elif result.ok:  # a failed input's files are in the summary, not the results
            for item in result.files:
                state.console.result(str(item.path))
        if not single and result.error is not None:  # named once, even when the message
            named = result.error.message.startswith(f"{result.input.name}: ")  # names it
            prefix = "" if named else f"{result.input}: "
            state.console.error(result.error, prefix=prefix, batch=True)

    results = state.run_batch(client, settings, options, paths, on_result=report)
    state.console.close()  # the live rows are gone before the summary (or an error) prints
    _github.report(results, state.console)  # under GITHUB_ACTIONS: annotations, summary
    if single:
        if results[0].error is not None:
            raise results[0].error
        return
    if not state.quiet:
        from ._console import summary_table

        summary_table([_output.summary_row(r) for r in results], sys.stderr)
    code = batch_exit_code(results)
    if code:
        raise typer.Exit(code)
