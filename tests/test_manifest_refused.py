"""``--manifest FILE`` that could never list the results is refused before any request
(exit 2), and ``--dry-run`` says so too (issue 15, found by the outside breaker): one of
the run's own outputs, a folder that cannot be written, and ``-`` (stdout carries the
results)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from clitools import clean_env, make_wav, run_gsep
from hypothesis import given, settings
from hypothesis import strategies as st

from gsep_cli.errors import UsageError
from gsep_cli.manifest import Manifest

_CASES = [
    pytest.param("song/vocal.wav", "one of the files this run writes", id="own-output"),
    pytest.param("./song/../song/vocal.wav", "one of the files this run writes", id="own-alias"),
    pytest.param("-", "a file named '-'", id="dash"),
]
if os.path.isdir("/proc/self"):  # a folder no one can write in, root included
    _CASES.append(pytest.param("/proc/m.json", "cannot write in the folder /proc", id="proc"))


@pytest.mark.slow
@pytest.mark.parametrize("manifest, said", _CASES)
@pytest.mark.parametrize("dry", [False, True], ids=["run", "dry-run"])
def test_a_manifest_that_cannot_list_the_results_is_refused_before_any_request(
    tmp_path: Path, manifest: str, said: str, dry: bool
) -> None:
    env = clean_env(tmp_path)
    make_wav(tmp_path / "song.wav", seconds=0.3)
    args = ["--sandbox", "-v", "separate", "song.wav", "--stems", "vocal", "--manifest", manifest]
    run = run_gsep([*args, *(["--dry-run"] if dry else [])], env, cwd=tmp_path)
    assert run.code == 2, str(run)
    assert said in run.err and "gsep: error: " in run.err, run.err
    assert not [ln for ln in run.err_lines if ln.startswith("gsep: -> ")], run.err  # no request
    assert run.out == ""
    assert not (tmp_path / "song").exists()  # no output folder made, nothing written
    assert not (tmp_path / "-").exists()


@settings(max_examples=30, deadline=None)
@given(
    stems=st.lists(st.sampled_from(["vocal", "drum", "bass", "other"]), min_size=1, unique=True),
    pick=st.integers(min_value=0),
    detour=st.booleans(),
)
def test_any_planned_output_as_the_manifest_is_refused(
    tmp_path_factory: pytest.TempPathFactory, stems: list[str], pick: int, detour: bool
) -> None:
    """Whichever of the run's outputs --manifest names, however spelled, it is refused; a
    file beside them is not."""
    folder = tmp_path_factory.mktemp("m")
    planned = [folder / "song" / f"{stem}.wav" for stem in stems]
    chosen = planned[pick % len(planned)]
    spelled = folder / "song" / ".." / "song" / chosen.name if detour else chosen
    with pytest.raises(UsageError, match="one of the files this run writes"):
        Manifest(spelled).check(planned)
    Manifest(folder / "song" / "manifest.json").check(planned)  # beside them: fine
