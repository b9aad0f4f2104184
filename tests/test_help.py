"""Help reads like the README (issue 15, item 6): every command's ``--help`` at 80
columns, walked from the click tree so a new command or option is held to the same
rules:

* placeholders are upper-case words (``LIST``, ``DIR``, ``SECONDS``, ``JOB_ID``), never
  ``<str>``, ``<int range>``, ``{FILE...}`` or ``{job_id}``;
* a range is said once, in words, beside the default (``1-16.  [default: 3]``);
* each summary in a group's list is a whole sentence, not cut with ``...``;
* examples are kept as written (not re-wrapped), fit 80 columns and use real-looking ids;
* ``separate`` comes first, then the step-by-step commands, as in the README.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import typer
from clitools import clean_env, run_cli, run_gsep

from gsep_cli.cli import app

ROOT = typer.main.get_command(app)
METAVAR = re.compile(r"^[A-Z][A-Z0-9_]*(\.\.\.)?$")
#: click's own range notation (``1<=x<=16``, ``x>=0``): the help text says ranges in words
CLICK_RANGE = re.compile(r"(<=|>=|<|>)\s*x\b|\bx\s*(<=|>=|<|>)")
#: Job ids look like time-based UUIDs (GSEP_API.md 2.4)
JOB_ID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-1[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}\b")


def _walk(command: Any, path: tuple[str, ...] = ()) -> dict[tuple[str, ...], Any]:
    found = {path: command}
    for name, sub in getattr(command, "commands", {}).items():
        if not sub.hidden:
            found.update(_walk(sub, (*path, name)))
    return found


COMMANDS = _walk(ROOT)
LEAVES = {path: cmd for path, cmd in COMMANDS.items() if not hasattr(cmd, "commands")}
GROUPS = {path: cmd for path, cmd in COMMANDS.items() if hasattr(cmd, "commands")}


def _ids(paths: Any) -> list[str]:
    return [" ".join(("gsep", *p)) for p in paths]


@pytest.fixture
def help_of(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Any:
    """``gsep PATH --help`` as printed on an 80-column terminal."""
    monkeypatch.setenv("COLUMNS", "80")

    def show(path: tuple[str, ...]) -> str:
        run = run_cli(capsys, [*path, "--help"])
        assert run.code == 0, run
        return run.out

    return show


def _section(text: str, title: str) -> list[str]:
    """The lines of a help section (``Options:``, ``Commands:``), up to the next one."""
    lines = text.split(f"\n{title}:\n", 1)[1].split("\n\n", 1)[0].splitlines()
    return [line for line in lines if line.strip()]


def _synopses(text: str) -> list[str]:
    """The left column of the Arguments and Options sections: ``-s, --stems LIST``."""
    found = []
    for title in ("Arguments", "Options"):
        if f"\n{title}:\n" in text:
            found += [
                re.split(r"\s{2,}", line.strip())[0]
                for line in _section(text, title)
                if re.match(r"  \S", line)
            ]
    return found


def _examples(help_text: str) -> list[str]:
    """The lines of a command's example block as written in its docstring."""
    block = help_text.split("\b\nExample", 1)[1].split("\n\n", 1)[0]
    return [line.strip() for line in block.splitlines()[1:] if line.strip()]


# ---- placeholders -----------------------------------------------------------------------
@pytest.mark.parametrize("path", list(COMMANDS), ids=_ids(COMMANDS))
def test_every_placeholder_is_an_upper_case_word(path: tuple[str, ...], help_of: Any) -> None:
    text = help_of(path)
    usage = text.splitlines()[0]
    assert not re.search(r"[<{]", usage), usage
    for synopsis in _synopses(text):
        words = [w.rstrip(",") for w in synopsis.split()]
        placeholders = [w for w in words if not w.startswith("-")]
        for word in placeholders:
            assert METAVAR.match(word), f"gsep {' '.join(path)}: {synopsis!r}"
    for param in COMMANDS[path].params:
        takes_value = not getattr(param, "is_flag", False) and param.name != "help"
        if takes_value and param.expose_value:
            assert param.metavar and METAVAR.match(param.metavar), (path, param.name)


def test_key_placeholders(help_of: Any) -> None:
    """The placeholders the README's command table uses."""
    expected = {
        ("separate",): [
            "FILE...",
            "--stems LIST",
            "-o, --output DIR",
            "--timeout SECONDS",
            "--jobs N",
            "--parallel N",
            "--include GLOB",
            "--model MODEL",
        ],
        ("download",): ["JOB_ID", "--stems LIST", "--format FORMAT", "--track NAME"],
        ("upload",): ["FILE", "--parallel N"],
        ("job", "create"): ["UPLOAD_ID", "--lyrics FILE", "--lyrics-id ID", "--language LANG"],
        ("job", "status"): ["JOB_ID", "--timeout SECONDS"],
        ("ledger", "forget"): ["JOB_ID..."],
        ("ledger", "prune"): ["--older-than DAYS"],
        ("ledger", "list"): ["--limit N"],
        ("config", "set"): ["NAME", "VALUE"],
        ("completion",): ["SHELL"],
        ("sandbox", "serve"): ["--port PORT", "--chunk-size SIZE", "--fault FAULT"],
    }
    for path, synopses in expected.items():
        text = help_of(path)
        for synopsis in synopses:
            assert any(s.endswith(synopsis) for s in _synopses(text)), (path, synopsis)
    assert help_of(("download",)).startswith("Usage: gsep download [OPTIONS] JOB_ID\n")
    assert help_of(("separate",)).startswith("Usage: gsep separate [OPTIONS] FILE...\n")


# ---- ranges and defaults ----------------------------------------------------------------
@pytest.mark.parametrize("path", list(LEAVES), ids=_ids(LEAVES))
def test_a_range_is_said_once(path: tuple[str, ...], help_of: Any) -> None:
    text = help_of(path)
    assert not CLICK_RANGE.search(text), text
    for row in re.split(r"\n(?=  -)", text.split("\nOptions:\n", 1)[1]):
        assert len(re.findall(r"\b\d+-\d+\b", row)) <= 1, row
        assert row.count("[default:") <= 1, row


def test_range_and_default_read_together(help_of: Any) -> None:
    text = " ".join(help_of(("separate",)).split())
    assert "--jobs N Inputs at once, 1-16. [default: 3]" in text
    assert "--parallel N Upload parts sent at once, 1-16. [default: 4]" in text


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["separate", "x.wav", "--jobs", "17"], "17 is not between 1 and 16"),
        (["upload", "x.wav", "--parallel", "0"], "0 is not between 1 and 16"),
        (["separate", "x.wav", "--timeout", "-1"], "-1 is not 0 or more"),
        (["ledger", "list", "--limit", "0"], "0 is not 1 or more"),
    ],
)
def test_out_of_range_is_refused_in_the_same_words(
    args: list[str], fragment: str, capsys: pytest.CaptureFixture[str]
) -> None:
    run = run_cli(capsys, args)
    assert run.code == 2, run
    assert fragment in run.err, run


# ---- summaries and wrapping (at 60 and 80 columns) ---------------------------------------
def _rows(text: str, title: str) -> list[str]:
    """A definition list's rows, each with its wrapped continuation lines joined."""
    rows: list[str] = []
    for line in _section(text, title):
        if re.match(r"  \S", line) or not rows:
            rows.append(line.strip())
        else:
            rows[-1] += " " + line.strip()
    return rows


@pytest.mark.parametrize("columns", ["60", "80"])
@pytest.mark.parametrize("path", list(GROUPS), ids=_ids(GROUPS))
def test_summaries_are_whole_sentences(
    path: tuple[str, ...], columns: str, help_of: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", columns)
    text = help_of(path)
    rows = _rows(text, "Commands")
    assert rows
    for row in rows:
        name, summary = row.split(None, 1)
        assert not summary.endswith("..."), row
        assert summary.endswith("."), row
        command = GROUPS[path].commands[name]
        assert " ".join((command.help or "").split()).startswith(summary), row
    assert all(len(line) <= int(columns) for line in _section(text, "Commands")), text


#: A line ending inside a hyphenated option name or word: ``--dry-`` (then ``run``).
HYPHEN_BREAK = re.compile(r"\w-$")


@pytest.mark.parametrize("columns", ["60", "80"])
@pytest.mark.parametrize("path", list(COMMANDS), ids=_ids(COMMANDS))
def test_help_never_breaks_a_word_at_a_hyphen(
    path: tuple[str, ...], columns: str, help_of: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", columns)
    for line in help_of(path).splitlines():
        if "https://" in line:  # LEAVE: a URL longer than the column is cut anywhere
            continue
        assert not HYPHEN_BREAK.search(line.rstrip()), f"{columns} columns: {line!r}"


# ---- examples ---------------------------------------------------------------------------
@pytest.mark.parametrize("path", list(LEAVES), ids=_ids(LEAVES))
def test_examples_are_shown_as_written(path: tuple[str, ...], help_of: Any) -> None:
    text = help_of(path)
    shown = [line.strip() for line in text.splitlines()]
    examples = _examples(LEAVES[path].help or "")
    assert examples, f"gsep {' '.join(path)} --help has no example"
    for index, line in enumerate(examples):
        continued = index > 0 and examples[index - 1].endswith("\\")
        assert continued or "gsep " in line, line
        assert line in shown, f"example re-wrapped at 80 columns: {line!r}"
        assert "..." not in line, f"placeholder in an example: {line!r}"
    assert all(len(line) <= 80 for line in text.splitlines()), text
    if any(p.metavar in ("JOB_ID", "JOB_ID...") for p in LEAVES[path].params):
        assert any(JOB_ID.search(line) for line in examples), examples


def test_root_example_is_kept_whole(help_of: Any) -> None:
    line = 'gsep --sandbox separate "$(gsep sandbox example)" --stems vocal,drum'
    assert f"    {line}\n" in help_of(())


@pytest.mark.slow
def test_help_as_typed_at_80_columns(tmp_path: Any) -> None:
    """The installed gsep on an 80-column terminal: example lines whole, nothing wider."""
    env = {**clean_env(tmp_path), "COLUMNS": "80"}
    run = run_gsep(["download", "--help"], env)
    assert run.code == 0, run
    assert "Usage: gsep download [OPTIONS] JOB_ID" in run.out
    for line in _examples(LEAVES[("download",)].help or ""):
        assert line in [shown.strip() for shown in run.out.splitlines()]
    assert max(len(line) for line in run.out.splitlines()) <= 80


# ---- order ------------------------------------------------------------------------------
def test_separate_first_then_the_steps(help_of: Any) -> None:
    names = [row.split()[0] for row in _section(help_of(()), "Commands")]
    assert names[:4] == ["separate", "upload", "job", "download"], names
    shown = [n for n in ROOT.list_commands(None) if not ROOT.commands[n].hidden]
    assert names == shown, names  # every command, in the group's own order
