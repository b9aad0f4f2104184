"""The stems that files are made from (gsep_cli.client.making.fetched_sources): each call
has a folder of its own, so two gsep processes making files of one job in one output
folder never share (or delete) a source; a folder a killed gsep left is removed by the
next, one still held is not."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from gsep_cli.client import making
from gsep_cli.models import Output


class FakeDownloader:
    """Writes a file of known bytes where a download would go."""

    def __init__(self) -> None:
        self.fetched: list[Path] = []

    @contextlib.contextmanager
    def scratch(self, folder: Path) -> Iterator[Path]:
        try:
            yield folder
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def fetch(self, url: str, dest: Path, **_: Any) -> int:
        dest.write_bytes(url.encode())
        self.fetched.append(dest)
        return len(url)


def _needed() -> dict[tuple[str, str], Output]:
    return {("vocal", "wav"): Output("vocal", "wav", "https://results.test/vocal.wav")}


def test_two_makers_of_one_job_never_share_a_source(tmp_path: Path) -> None:
    down = FakeDownloader()
    with making.fetched_sources(
        down,
        _needed(),
        tmp_path,
        job_id="job-1",
        subject="a",  # type: ignore[arg-type]
    ) as outer:
        with making.fetched_sources(
            down,
            _needed(),
            tmp_path,
            job_id="job-1",
            subject="b",  # type: ignore[arg-type]
        ) as inner:
            assert outer[("vocal", "wav")] != inner[("vocal", "wav")]
        assert outer[("vocal", "wav")].read_bytes() == b"https://results.test/vocal.wav"
    assert not (tmp_path / making.SOURCES_FOLDER).exists()


def test_a_killed_makers_folder_is_swept_and_a_live_one_kept(tmp_path: Path) -> None:
    parent = tmp_path / making.SOURCES_FOLDER
    stale, alive = parent / "stale", parent / "alive"
    for folder in (stale, alive):
        folder.mkdir(parents=True)
        (folder / "vocal.wav").write_bytes(b"x")
        (folder / making.LOCK_NAME).write_bytes(b"")
        old = time.time() - 2 * making.SWEEP_AGE
        os.utime(folder / making.LOCK_NAME, (old, old))
    holder = subprocess.Popen(  # another process holds "alive"'s lock, as a live gsep does
        [
            sys.executable,
            "-c",
            "import fcntl, sys, time\n"
            f"fh = open({str(alive / making.LOCK_NAME)!r}, 'rb')\n"
            "fcntl.flock(fh, fcntl.LOCK_EX)\nprint('locked', flush=True)\ntime.sleep(30)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with making.fetched_sources(
            FakeDownloader(),
            _needed(),
            tmp_path,
            job_id="j",
            subject="",  # type: ignore[arg-type]
        ):
            assert not stale.exists()
            assert (alive / "vocal.wav").is_file()
    finally:
        holder.kill()
        holder.wait()
    assert (alive / "vocal.wav").is_file()  # still not ours to remove


def test_a_young_unlocked_folder_is_left_alone(tmp_path: Path) -> None:
    young = tmp_path / making.SOURCES_FOLDER / "young"
    young.mkdir(parents=True)
    (young / making.LOCK_NAME).write_bytes(b"")  # created, not yet locked by its gsep
    with making.fetched_sources(
        FakeDownloader(),
        _needed(),
        tmp_path,
        job_id="j",
        subject="",  # type: ignore[arg-type]
    ):
        assert young.is_dir()


def test_recipes_tell_files_apart_and_old_records_stay_done() -> None:
    from gsep_cli.audio.formats import Rendering
    from gsep_cli.audio.plan import Deliverable, same_recipe
    from gsep_cli.records import FileRecord, files_from_json, files_json

    fetched = Deliverable("vocal", "wav", "wav", ("vocal",), "wav", made=False)
    made = Deliverable("vocal", "flac", "flac", ("vocal",), "wav", made=True)
    plain, deep = Rendering(), Rendering(bit_depth="24")
    assert made.recipe(plain) != made.recipe(deep)
    assert fetched.recipe(plain) != fetched.recipe(Rendering(tags=False))
    assert same_recipe(None, fetched.recipe(plain))  # recorded before recipes: as the API gave
    assert not same_recipe(None, made.recipe(plain))  # gsep made nothing then
    opus = Deliverable("vocal", "opus", "opus", ("vocal",), "wav", made=True)
    assert opus.recipe(plain) == opus.recipe(deep)  # a bit depth does not change an Opus file
    mixed = Deliverable("m", "wav", "wav", ("drum", "others"), "wav", made=True)
    swapped = Deliverable("m", "wav", "wav", ("others", "drum"), "wav", made=True)
    assert mixed.recipe(plain) == swapped.recipe(plain)  # a sum in any order
    record = FileRecord("vocal", "flac", "/x/vocal.flac", 10, "ab" * 32, made.recipe(deep))
    assert files_from_json(files_json([record])) == (record,)
