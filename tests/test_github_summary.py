"""Issue 18, CI: under GitHub Actions (``GITHUB_ACTIONS=true``) ``gsep separate`` appends a
Markdown table to ``$GITHUB_STEP_SUMMARY`` and writes ``::error`` workflow commands (on
stderr) for failed inputs; elsewhere nothing changes.

The installed ``gsep`` runs against a sandbox over loopback, as a workflow step would run it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from clitools import SECRET, Run, api_requests, assert_no_secret, clean_env, make_wav, run_gsep
from hypothesis import given
from hypothesis import strategies as st

from gsep_cli.cli import _github
from gsep_cli.sandbox import Sandbox

#: A GFM table cell as cmark-gfm scans one: escaped characters, or anything but ``\``,
#: ``|`` and line breaks. A cell that is not all of this would end early or break the row.
CELL = re.compile(r"(?:\\.|[^\\|\r\n])*")
HOSTILE = "x|y`<img src=z>*[l](u)!&amp;$m$~s~\\"


@pytest.fixture
def ci(sb: Sandbox, tmp_path: Path) -> dict[str, str]:
    """A GitHub Actions step's environment: a key from a secret, the sandbox's URL, a step
    summary that an earlier step already wrote to, the workspace = the current folder."""
    summary = tmp_path / "step_summary.md"
    summary.write_text("earlier step\n", encoding="utf-8")
    return clean_env(
        tmp_path,
        GSEP_API_KEY=SECRET,
        GSEP_BASE_URL=sb.base_url,
        GITHUB_ACTIONS="true",
        GITHUB_STEP_SUMMARY=str(summary),
        GITHUB_WORKSPACE=str(tmp_path),
    )


def summary_of(env: dict[str, str]) -> str:
    return Path(env["GITHUB_STEP_SUMMARY"]).read_text(encoding="utf-8")


def table_rows(summary: str) -> list[list[str]]:
    """The cells of every table row after the header and delimiter rows, each row split
    as GFM splits it (a row whose cells do not scan as cells fails here)."""
    rows = [line for line in summary.splitlines() if line.startswith("|")]
    assert rows[0] == "| input | job | status | files / error |"
    assert rows[1] == "| --- | --- | --- | --- |"
    found = []
    for row in rows[2:]:
        assert row.endswith(" |"), row
        cells = re.findall(r"\| ((?:\\.|[^\\|\r\n])*?) (?=\|)", row)
        assert "| " + " | ".join(cells) + " |" == row, row
        found.append(cells)
    return found


def unescape_cell(cell: str) -> str:
    return re.sub(r"\\(.)", r"\1", cell)


def annotations(run: Run) -> list[str]:
    assert "::error" not in run.out  # stdout carries results only
    return [line for line in run.err_lines if line.startswith("::")]


@pytest.mark.slow
def test_a_batch_appends_its_table_and_annotates_the_failed_input(
    ci: dict[str, str], tmp_path: Path
) -> None:
    make_wav(tmp_path / "ok.wav", seconds=0.2)
    (tmp_path / "bad.wav").write_bytes(b"RIFF\x00\x00\x00\x00junk that is no audio")
    run = run_gsep(["separate", "ok.wav", "bad.wav", "-o", "out"], ci, cwd=tmp_path)
    assert run.code == 9, str(run)
    assert run.lines == ["out/ok/vocal.wav"]  # stdout unchanged: the results only
    summary = summary_of(ci)
    assert summary.startswith("earlier step\n")  # appended, never truncated
    assert "### gsep separate: 2 inputs, 1 failed" in summary
    rows = {cells[0]: cells for cells in table_rows(summary)}
    ok, bad = rows["ok.wav"], rows["bad.wav"]
    assert re.fullmatch(r"[0-9a-f-]{36}", ok[1]) and ok[2:] == ["success", "out/ok/vocal.wav"]
    assert bad[1:3] == ["-", "failed"]
    assert "no supported audio format" in bad[3] and " — " in bad[3]
    (line,) = annotations(run)
    assert line.startswith("::error file=bad.wav,title=gsep separate::the content of bad.wav")
    assert_no_secret(run)
    assert SECRET not in summary


@pytest.mark.slow
def test_a_lone_input_refused_before_any_request_is_annotated_and_summarised(
    ci: dict[str, str], tmp_path: Path, sb: Sandbox
) -> None:
    (tmp_path / "bad.wav").write_bytes(b"not audio at all")
    run = run_gsep(["separate", "bad.wav"], ci, cwd=tmp_path)
    assert run.code == 2, str(run)
    (line,) = annotations(run)
    assert line.startswith("::error file=bad.wav,title=gsep separate::")
    assert run.err_lines[-1].startswith("gsep: error:")  # the command's own error line stays
    (row,) = table_rows(summary_of(ci))
    assert row[:3] == ["bad.wav", "-", "failed"]
    assert api_requests(sb) == []  # refused before any request


@pytest.mark.slow
def test_a_lone_json_run_summarises_and_keeps_stdout_json(
    ci: dict[str, str], tmp_path: Path
) -> None:
    make_wav(tmp_path / "song.wav", seconds=0.2)
    run = run_gsep(["--json", "separate", "song.wav", "--stems", "vocal,drum"], ci, cwd=tmp_path)
    assert run.code == 0, str(run)
    document = run.json()
    assert annotations(run) == []
    (row,) = table_rows(summary_of(ci))
    assert row[:3] == ["song.wav", document["jobId"], "success"]
    assert row[3].split("<br>") == ["song/vocal.wav", "song/drum.wav"]
    assert "### gsep separate: 1 input, all done" in summary_of(ci)


@pytest.mark.slow
def test_a_no_wait_run_lists_the_submitted_jobs(ci: dict[str, str], tmp_path: Path) -> None:
    make_wav(tmp_path / "song.wav", seconds=0.2)
    run = run_gsep(["separate", "song.wav", "--no-wait"], ci, cwd=tmp_path)
    assert run.code == 0, str(run)
    (row,) = table_rows(summary_of(ci))
    assert row == ["song.wav", run.out.strip(), "submitted", "submitted"]
    assert "### gsep separate: 1 input, none failed" in summary_of(ci)


@pytest.mark.slow
def test_server_text_is_sanitised_in_both_the_table_and_the_annotation(
    ci: dict[str, str], tmp_path: Path, sb: Sandbox
) -> None:
    """A failed job whose message carries a table break, markup, an escape sequence, a
    line break and the key: neither file gets any of it raw."""
    message = f"{HOSTILE}\x1b]0;PWNED\x07 line\nnext key={SECRET}"
    sb.add_fault(f"job-fail:1:{message}")
    make_wav(tmp_path / "song.wav", seconds=0.2)
    run = run_gsep(["separate", "song.wav"], ci, cwd=tmp_path)
    assert run.code == 7, str(run)
    summary = summary_of(ci)
    (row,) = table_rows(summary)  # one row of four cells: nothing broke out of its cell
    assert row[2] == "failed"
    shown = unescape_cell(row[3])
    assert HOSTILE in shown and "\\x1b]0;PWNED\\x07 line\\x0anext" in shown
    assert "<redacted>" in shown
    for text in (summary, run.err):
        assert "\x1b" not in text and "\x07" not in text and SECRET not in text
    (line,) = annotations(run)
    assert "\\x1b]0;PWNED\\x07 line\\x0anext key=<redacted>" in line
    assert line.startswith("::error file=song.wav,title=gsep separate::")


@pytest.mark.slow
def test_a_hostile_file_name_stays_in_its_cell(ci: dict[str, str], tmp_path: Path) -> None:
    name = "a|b`<i>*[x](y)\\.wav"
    make_wav(tmp_path / name, seconds=0.2)
    run = run_gsep(
        ["separate", name, "-o", "out", "--name-template", "{stem}.{ext}"], ci, cwd=tmp_path
    )
    assert run.code == 0, str(run)
    (row,) = table_rows(summary_of(ci))
    assert unescape_cell(row[0]) == name and row[2] == "success"


@pytest.mark.slow
@pytest.mark.parametrize("value", [None, "false", "1", "TRUE"])
def test_outside_github_actions_nothing_changes(
    ci: dict[str, str], tmp_path: Path, value: str | None
) -> None:
    env = dict(ci)
    env.pop("GITHUB_ACTIONS")
    if value is not None:
        env["GITHUB_ACTIONS"] = value
    (tmp_path / "bad.wav").write_bytes(b"not audio at all")
    make_wav(tmp_path / "ok.wav", seconds=0.2)
    run = run_gsep(["separate", "ok.wav", "bad.wav"], env, cwd=tmp_path)
    assert run.code == 9, str(run)
    assert summary_of(env) == "earlier step\n"
    assert "::" not in run.err


@pytest.mark.parametrize("where", ["missing-folder", "a-folder"])
@pytest.mark.slow
def test_a_summary_that_cannot_be_written_is_a_warning_not_a_failure(
    ci: dict[str, str], tmp_path: Path, where: str
) -> None:
    target = tmp_path / "no-such-folder" / "s.md" if where == "missing-folder" else tmp_path
    make_wav(tmp_path / "song.wav", seconds=0.2)
    env = {**ci, "GITHUB_STEP_SUMMARY": str(target)}
    run = run_gsep(["-q", "separate", "song.wav"], env, cwd=tmp_path)
    assert run.code == 0, str(run)
    assert run.lines == ["song/vocal.wav"]
    (warning,) = [line for line in run.err_lines if line.startswith("gsep: warning:")]
    assert "GITHUB_STEP_SUMMARY" in warning and "not affected" in warning
    assert "Traceback" not in run.err


# ---- the escaping, for any text ------------------------------------------------------------
def unescape_command(text: str, *, prop: bool) -> str:
    """GitHub's decoding of a workflow command's data (or property value)."""
    pairs = [("%0D", "\r"), ("%0A", "\n")] + ([("%3A", ":"), ("%2C", ",")] if prop else [])
    for encoded, raw in pairs:
        text = text.replace(encoded, raw)
    return text.replace("%25", "%")


@given(st.text())
def test_any_text_round_trips_through_the_command_escapes(text: str) -> None:
    data, prop = _github.command_data(text), _github.command_property(text)
    assert "\n" not in data and "\r" not in data
    assert not {"\n", "\r", ":", ","} & set(prop)
    assert unescape_command(data, prop=False) == text
    assert unescape_command(prop, prop=True) == text


@given(st.text())
def test_any_text_is_one_table_cell_that_shows_itself(text: str) -> None:
    cell = _github.table_cell(text)
    assert CELL.fullmatch(cell), cell  # no raw |, no line break, no dangling backslash
    assert unescape_cell(cell) == _github.safe_text(text)  # shown as the sanitised text
    assert not re.search(r"(?<!\\)[<&`\[!*_]", cell.replace("\\\\", ""))


@given(st.text(min_size=1), st.text())
def test_any_annotation_is_one_line_with_its_file_and_message(path: str, message: str) -> None:
    line = _github.error_annotation(path, message)
    assert "\n" not in line and "\r" not in line
    match = re.fullmatch(r"::error file=([^,:]*),title=([^,:]*)::(.*)", line, re.S)
    assert match, line
    assert unescape_command(match[1], prop=True) == path
    assert unescape_command(match[2], prop=True) == "gsep separate"
    assert unescape_command(match[3], prop=False) == message
