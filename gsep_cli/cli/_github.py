"""GitHub Actions: what ``gsep separate`` adds to a workflow run when ``GITHUB_ACTIONS=true``.

* A Markdown table (input, job, status, files or error) **appended** to the file named by
  ``GITHUB_STEP_SUMMARY`` (never truncated: other steps write there too). A summary that
  cannot be written (a missing folder, a read-only file) is a warning, never the failure
  of a run that was paid for.
* One ``::error file=PATH,title=gsep separate::MESSAGE`` workflow command per failed
  input, written to **stderr**: GitHub reads workflow commands from both streams of a
  step, and gsep's stdout carries results only.

Elsewhere (the variable unset, or any other value) nothing is written. Every text — file
names, and the job ids and error messages a server sent — is sanitised as for a terminal
(:func:`~gsep_cli.redact.printable`: controls become visible escapes; secrets redacted),
then escaped for where it goes: Markdown table cells (:func:`table_cell`), workflow-command
data and properties (:func:`command_data`, :func:`command_property`).

No typer or rich here: the separate command hands its results over.
"""

from __future__ import annotations

import errno
import os
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from ..redact import printable, redact

if TYPE_CHECKING:
    from ..batch import InputResult
    from ..errors import GsepError
    from ._console import Console

TITLE = "gsep separate"
HEADERS = ("input", "job", "status", "files / error")

#: What Markdown (GitHub's, CommonMark with the table, strikethrough and math extensions)
#: would read as markup in a table cell: backslash-escaped, each renders as itself. ``|``
#: ends a cell and ``\`` could un-escape it; ``<``/``&`` start HTML and entities;
#: `` ` `` ``*`` ``_`` ``~`` ``$`` code, emphasis, strikethrough, math; ``[`` ``]`` ``!``
#: links and images (a hostile file name must not become a tracking image).
_MARKUP = re.compile(r"[\\|`*_~$<>&\[\]!]")


def active(environ: Mapping[str, str] | None = None) -> bool:
    """True when running as a GitHub Actions step (``GITHUB_ACTIONS`` is exactly ``true``)."""
    return (os.environ if environ is None else environ).get("GITHUB_ACTIONS") == "true"


def command_data(text: str) -> str:
    """``text`` as the message of a workflow command: ``%``, CR and LF percent-encoded
    (GitHub's rule), so it is one line and decodes back to ``text``."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def command_property(text: str) -> str:
    """``text`` as a workflow-command property value (``file=``, ``title=``): as
    :func:`command_data`, and ``:`` and ``,`` too, which end a property."""
    return command_data(text).replace(":", "%3A").replace(",", "%2C")


def safe_text(text: object) -> str:
    """``text`` with secrets redacted and control characters (line breaks included)
    written as visible escapes: one line that drives nothing."""
    return printable(redact(text))


def table_cell(text: object) -> str:
    """``text`` as one Markdown table cell: sanitised (:func:`safe_text`, so no line
    break), every character Markdown would take as markup backslash-escaped."""
    return _MARKUP.sub(lambda match: "\\" + match.group(), safe_text(text))


def error_annotation(path: str, message: str) -> str:
    """The ``::error`` workflow command for a failed input at ``path`` (one line, no
    newline at its end)."""
    return f"::error file={command_property(path)},title={command_property(TITLE)}::" + (
        command_data(message)
    )


def annotation_path(path: Path, environ: Mapping[str, str]) -> str:
    """``path`` as an annotation's ``file``: relative to ``GITHUB_WORKSPACE`` when it is
    inside it (GitHub attaches annotations to repository paths), else as given."""
    workspace = environ.get("GITHUB_WORKSPACE")
    if workspace:
        try:
            return Path(path).resolve().relative_to(Path(workspace).resolve()).as_posix()
        except (ValueError, OSError):
            pass
    return str(path)


def failure_text(error: GsepError) -> str:
    """A failed input's message: what went wrong — what to do."""
    return f"{error.message} — {error.what_to_do}"


def summary_markdown(results: Sequence[InputResult]) -> str:
    """The step summary of one run: a heading with the counts, then the table, with a
    blank line before and after (it follows whatever other steps appended)."""
    failed = sum(1 for r in results if not r.ok)
    count = f"{len(results)} input{'' if len(results) == 1 else 's'}"
    waiting = any(r.status == "submitted" for r in results)  # --no-wait: not done yet
    heading = f"{count}, {failed} failed" if failed else f"{count}, none failed"
    heading = heading if failed or waiting else f"{count}, all done"
    lines = [
        "",
        f"### {TITLE}: {heading}",
        "",
        "| " + " | ".join(HEADERS) + " |",
        "|" + " --- |" * len(HEADERS),
    ]
    for result in results:
        lines.append("| " + " | ".join(_row(result)) + " |")
    return "\n".join(lines) + "\n\n"


def _row(result: InputResult) -> tuple[str, str, str, str]:
    """One input's cells, each escaped."""
    status = result.status + (f" ({result.reused} reused)" if result.reused else "")
    if result.error is not None:
        detail = table_cell(failure_text(result.error))
    elif result.files:  # one path per line of the cell (<br>: gsep's own markup)
        detail = "<br>".join(table_cell(f.path) for f in result.files)
    else:
        detail = table_cell(result.status)
    return (table_cell(result.input), table_cell(result.job_id or "-"), table_cell(status), detail)


def append_summary(text: str, environ: Mapping[str, str], warn: Callable[[str], None]) -> None:
    """Append ``text`` to the file ``GITHUB_STEP_SUMMARY`` names (nothing when unset);
    an OSError becomes ``warn(message)``, never an exception."""
    name = environ.get("GITHUB_STEP_SUMMARY")
    if not name:
        return
    try:  # a file name that is not UTF-8 is kept as its escapes, never an error here
        with open_to_append(name) as summary:
            summary.write(text)
    except OSError as exc:
        why = "a pipe that nobody reads" if exc.errno == errno.ENXIO else exc.strerror or exc
        warn(
            f"could not add the run's summary to GITHUB_STEP_SUMMARY {safe_text(name)} "
            f"({safe_text(why)}); the run itself is not affected"
        )


def open_to_append(name: str) -> TextIO:
    """``name`` opened to append UTF-8 text (created when missing; unencodable characters
    kept as escapes). Never blocks: a FIFO with no reader is OSError ENXIO at once, where
    a plain ``open`` would wait for a reader forever after the run was paid for."""
    nonblock = getattr(os, "O_NONBLOCK", 0)  # POSIX; Windows has no FIFOs to wait on
    fd = os.open(name, os.O_WRONLY | os.O_APPEND | os.O_CREAT | nonblock, 0o666)
    if nonblock:  # opened: writes may block again (a reader that is slow is still read)
        import fcntl

        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~nonblock)
    return os.fdopen(fd, "a", encoding="utf-8", errors="backslashreplace")


def annotate(results: Sequence[InputResult], err: TextIO, environ: Mapping[str, str]) -> None:
    """One ``::error`` line on ``err`` (stderr: stdout carries results only; GitHub reads
    workflow commands from both) per failed input."""
    for result in results:
        if result.error is not None:
            path = safe_text(annotation_path(result.input, environ))
            print(error_annotation(path, safe_text(failure_text(result.error))), file=err)
    err.flush()


def report(
    results: Sequence[InputResult], console: Console, environ: Mapping[str, str] | None = None
) -> None:
    """Under GitHub Actions: the failed inputs' annotations on the console's stderr, and
    the run's table appended to the step summary (a warning when it cannot be). Else
    nothing."""
    env = os.environ if environ is None else environ
    if not active(env):
        return
    annotate(results, console.err, env)
    append_summary(summary_markdown(results), env, console.warn)


def report_refused(path: Path, error: GsepError, console: Console) -> None:
    """:func:`report` for a lone input refused by its local checks before any request."""
    if active():
        from ..batch import InputResult

        report([InputResult(path, status="failed", error=error)], console)
