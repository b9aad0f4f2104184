"""Listings on stdout read as tables (issue 15, item 6): ``gsep models`` says what each
model gives in words, ``gsep jobs list`` keeps its columns aligned whatever the model
names and input names (wide characters included). Each line is still one item."""

from __future__ import annotations

import re
import time
from pathlib import Path

from clitools import clean_env, run_gsep
from hypothesis import given
from hypothesis import strategies as st

from gsep_cli import resolve
from gsep_cli.cli._table import aligned, cells
from gsep_cli.config import Settings
from gsep_cli.ledger import Ledger
from gsep_cli.models import MODELS
from gsep_cli.records import FileRecord, JobRecord

SETTINGS = Settings("default", "http://127.0.0.1:9/api", None, {"stems": "vocal"})


def _starts(line: str) -> list[int]:
    """The cell at which each column after the first starts (columns are separated by
    two spaces or more; a cell holds at most single spaces)."""
    return [cells(line[: m.end()]) for m in re.finditer(r" {2,}", line)]


# ---- the aligner ------------------------------------------------------------------------
CELL = st.text(
    st.characters(
        blacklist_categories=("Cc", "Cs", "Zl", "Zp", "Mn", "Me"), blacklist_characters=" "
    ),
    min_size=1,
    max_size=12,
)


@given(st.lists(st.lists(CELL, min_size=3, max_size=3), min_size=1, max_size=6))
def test_columns_start_at_the_same_cell_on_every_line(rows: list[list[str]]) -> None:
    lines = aligned(rows)
    assert len(lines) == len(rows)  # one line per row
    starts = None
    for row, line in zip(rows, lines, strict=True):
        assert line.startswith(row[0])
        cut, column_starts = 0, []
        for cell in row[:-1]:
            cut = line.index(cell, cut) + len(cell)
            cut = len(line) - len(line[cut:].lstrip(" "))
            column_starts.append(cells(line[:cut]))
        starts = starts or column_starts
        assert column_starts == starts, lines


def test_wide_characters_take_two_cells() -> None:
    assert cells("曲.wav") == 6
    assert cells("e\u0301") == 1  # e + combining acute
    lines = aligned([["曲名.wav", "x"], ["song.wav", "y"]])
    assert [cells(line) for line in lines] == [11, 11]


def test_control_characters_are_escaped_before_measuring() -> None:
    lines = aligned([["a\x1b[31m", "x"], ["bbbbbbbbbbbb", "y"]])
    assert "\x1b" not in lines[0]
    assert _starts(lines[0]) == _starts(lines[1])


# ---- gsep models ------------------------------------------------------------------------
def test_models_say_what_each_gives(tmp_path: Path) -> None:
    run = run_gsep(["models"], clean_env(tmp_path))
    assert run.code == 0, run
    lines = run.out.splitlines()
    assert len(lines) == len(MODELS)
    assert "no type" not in run.out
    assert len({tuple(_starts(line)) for line in lines}) == 1, run.out
    for line, spec in zip(lines, MODELS.values(), strict=True):
        assert line.startswith(spec.name), line
        assert line.endswith(spec.description), line
        for name in spec.output_names:
            assert re.search(rf"\b{re.escape(name)}\b", line), (name, line)
        if spec.stems:
            assert "stems: " in line, line
        else:  # a model whose job has no type: its tracks come whatever --stems says
            assert "no --stems" not in line, line
            assert "(always; --stems optional)" in line or "--lyrics" in line, line
        if "--stems optional" in line:  # and what it says --stems takes is accepted
            for value in [*spec.output_names, "all", None]:
                resolve.stems(SETTINGS, spec.name, [value] if value else None)
    assert "(default)" in lines[0]


# ---- gsep jobs list ---------------------------------------------------------------------
def _record(job_id: str, model: str, name: str, stems: tuple[str, ...], out: str) -> JobRecord:
    now = time.time()
    return JobRecord(
        job_id,
        f"up-{job_id}",
        job_id * 2,
        f"/music/{name}",
        model,
        stems,
        "restapi.gaudiolab.io",
        "fp",
        "success",
        "2026-12-01T12:00:00Z",
        None,
        now,
        now,
        (FileRecord(stems[0], "wav", f"{out}/{stems[0]}.wav", 10),),
    )


def test_jobs_list_stays_aligned(tmp_path: Path) -> None:
    env = clean_env(tmp_path)
    with Ledger(Path(env["GSEP_STATE_DIR"]) / "ledger.sqlite3") as ledger:
        for record in (
            _record(
                "2c5f3a9e-8f1b-11ef-b864-0242ac120002",
                "gsep_music_hq_v1",
                "song.wav",
                ("vocal", "drum"),
                "stems/song",
            ),
            _record(
                "3d6a4b0f-8f1b-11ef-b864-0242ac120002",
                "gsep_dme_me2track_v2_long_name",
                "노래 제목.wav",
                ("me",),
                "stems/노래 제목",
            ),
            _record(
                "4e7b5c1a-8f1b-11ef-b864-0242ac120002",
                "gsep_music_shq_v1",
                "曲.flac",
                ("vocal", "others"),
                "out",
            ),
        ):
            ledger.record_job(record)
    run = run_gsep(["jobs", "list"], env)
    assert run.code == 0, run
    lines = run.out.splitlines()
    assert len(lines) == 3, run.out
    assert len({tuple(_starts(line)) for line in lines}) == 1, run.out
    assert any("노래 제목.wav -> stems/노래 제목" in line for line in lines), run.out
    assert any("gsep_dme_me2track_v2_long_name" in line for line in lines), run.out


# ---- gsep config show -------------------------------------------------------------------
def test_config_show_says_where_each_value_comes_from(tmp_path: Path) -> None:
    env = clean_env(tmp_path, GSEP_FORMAT="mp3")
    assert run_gsep(["config", "set", "stems", "vocal,drum"], env).code == 0
    run = run_gsep(["--base-url", "http://127.0.0.1:9/api", "config", "show"], env)
    assert run.code == 0, run
    rows = {line.split()[0]: line for line in run.out.splitlines()}
    assert rows["api_key"].split() == ["api_key", "not", "set"], run.out  # said once
    assert run.out.count("not set") == 1, run.out
    sources = {
        "base_url": "flag --base-url",
        "format": "env GSEP_FORMAT",
        "stems": "config profile 'default'",
        "model": "default",
        "output_dir": "default",
    }
    for name, source in sources.items():
        assert rows[name].endswith(f"  {source}"), rows[name]
    settings = [rows[name] for name in sources]
    assert len({tuple(_starts(line)) for line in settings}) == 1, run.out
