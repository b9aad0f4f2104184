"""``Session.separate`` as a library user meets it, over real HTTP against a sandbox:
what is raised and what comes back in results, ``on_result``, ``no_wait``, folders,
string choices, and keyword typos (a TypeError naming the keyword, before anything is
sent or paid for)."""

from __future__ import annotations

import keyword
from pathlib import Path
from typing import Any

import pytest
from clitools import make_wav, set_env
from conftest import KEY
from hypothesis import given, settings
from hypothesis import strategies as st

from gsep_cli import InputResult, JobFailed, Session, UsageError
from gsep_cli.sandbox import Sandbox
from gsep_cli.separation import library_choices


@pytest.fixture
def box(sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Sandbox:
    """A sandbox (jobs done at once) that ``Session()`` reaches through the environment,
    with the current folder a temp one holding ``song.wav``."""
    started: Sandbox = sandbox(rate_limit=0)
    set_env(monkeypatch, tmp_path, GSEP_API_KEY=KEY, GSEP_BASE_URL=started.base_url)
    monkeypatch.chdir(tmp_path)
    make_wav(tmp_path / "song.wav", seconds=0.2)
    return started


def _paths(result: InputResult) -> list[str]:
    return [f.path.as_posix() for f in result.files]


def test_a_second_identical_call_reattaches_and_pays_nothing(box: Sandbox) -> None:
    with Session() as session:
        first = session.separate("song.wav", stems=["vocal"], out_dir="out")
        second = session.separate(["song.wav"], stems=["vocal"], out_dir="out")
    assert [r.status for r in first + second] == ["success", "success"]
    assert first[0].reused is None and second[0].reused == "job"
    assert second[0].job_id == first[0].job_id
    assert _paths(first[0]) == ["out/song/vocal.wav"] and second[0].files[0].skipped
    assert box.store.job_count() == 1


def test_stems_and_mixes_given_as_one_string_are_not_split_into_letters(box: Sandbox) -> None:
    with Session() as session:
        [listed] = session.separate("song.wav", stems="vocal, drum", out_dir="a")
        [mixed] = session.separate("song.wav", mixes="band=drum+bass", out_dir="b")
    assert listed.status == "success", listed.error
    assert _paths(listed) == ["a/song/vocal.wav", "a/song/drum.wav"]
    assert mixed.status == "success", mixed.error
    assert _paths(mixed) == ["b/song/band.wav"]


def test_a_lone_unusable_input_is_raised_before_any_request(box: Sandbox) -> None:
    with Session() as session, pytest.raises(UsageError, match=r"missing\.wav") as caught:
        session.separate("missing.wav", stems=["vocal"])
    assert caught.value.exit_code == 2 and caught.value.what_to_do
    assert box.requests == []


def test_failures_among_several_inputs_are_results_and_the_others_go_on(
    box: Sandbox,
) -> None:
    box.add_fault("job-fail:1:no music in it")
    make_wav(Path("other.wav"), seconds=0.3)
    seen: list[InputResult] = []
    with Session() as session:
        results = session.separate(
            ["missing.wav", "song.wav", "other.wav"],
            stems=["vocal"],
            out_dir="out",
            jobs=1,
            on_result=seen.append,
        )
    assert [r.status for r in results] == ["failed", "failed", "success"]
    assert isinstance(results[0].error, UsageError) and results[0].job_id is None
    assert isinstance(results[1].error, JobFailed) and results[1].error.exit_code == 7
    assert "no music in it" in results[1].error.message and results[1].job_id
    assert results[2].error is None and _paths(results[2]) == ["out/other/vocal.wav"]
    # on_result sees each result object once, as it is final
    assert sorted(map(id, seen)) == sorted(map(id, results))


def test_no_wait_submits_then_a_later_call_collects_the_same_job(box: Sandbox) -> None:
    with Session() as session:
        [submitted] = session.separate("song.wav", stems=["bass"], out_dir="o", no_wait=True)
        assert submitted.status == "submitted" and submitted.job_id and not submitted.files
        assert not Path("o").exists()
        [done] = session.separate("song.wav", stems=["bass"], out_dir="o")
    assert done.reused == "job" and done.job_id == submitted.job_id
    assert _paths(done) == ["o/song/bass.wav"]
    assert box.store.job_count() == 1


def test_a_folder_gives_one_result_per_file_in_order(box: Sandbox) -> None:
    for name, seconds in (("b", 0.2), ("a", 0.3), ("deep/c", 0.4)):
        make_wav(Path("album", f"{name}.wav"), seconds=seconds)
    with Session() as session:
        flat = session.separate("album", stems=["vocal"], out_dir="flat")
        deep = session.separate("album", recursive=True, stems=["vocal"], out_dir="deep")
    assert [r.input.name for r in flat] == ["a.wav", "b.wav"]
    assert [r.input.name for r in deep] == ["a.wav", "b.wav", "c.wav"]
    assert all(r.status == "success" for r in flat + deep)
    assert [r.reused for r in deep] == ["job", "job", None]


@pytest.mark.parametrize(
    ("typo", "guess"),
    [("stem", "stems"), ("format", "formats"), ("outdir", "out_dir"), ("to_stdout", None)],
)
def test_a_keyword_typo_is_a_type_error_naming_it(
    box: Sandbox, typo: str, guess: str | None
) -> None:
    with Session() as session, pytest.raises(TypeError) as caught:
        session.separate("song.wav", **{typo: "vocal"})
    text = str(caught.value)
    assert text.startswith(f"Session.separate() got an unexpected keyword argument {typo!r}")
    assert (f"did you mean {guess!r}" in text) if guess else ("did you mean" not in text)
    assert box.requests == [] and box.store.job_count() == 0


@settings(max_examples=60, deadline=None)
@given(
    st.from_regex(r"[a-z_][a-z0-9_]{0,15}", fullmatch=True).filter(
        lambda n: n not in library_choices() and not keyword.iskeyword(n)
    )
)
def test_no_keyword_outside_the_choices_is_ever_accepted(name: str) -> None:
    """Whatever the name, it is refused before the settings are even read: a session
    with a base URL that nothing listens on, and no key, still says TypeError."""
    session = Session(base_url="http://127.0.0.1:9/developers/api")
    with pytest.raises(TypeError, match=f"argument '{name}'"):
        session.separate("song.wav", **{name: True})
    session.close()


def test_every_documented_choice_is_accepted_and_nothing_else() -> None:
    """The docstring of Session.separate names exactly the keywords it takes."""
    doc = Session.separate.__doc__ or ""
    for name in library_choices():
        assert f"``{name}``" in doc, name
    assert "to_stdout" not in library_choices() and "stdout" not in library_choices()


def test_threads_sharing_a_session_open_one_ledger_and_one_sandbox(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A session's ledger and sandbox are opened lazily; threads asking for them at the
    same moment must get the same ones (two ledgers, or two emulators with their own
    jobs, would split what a re-run can find)."""
    import threading

    monkeypatch.setenv("GSEP_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("GSEP_CONFIG_DIR", str(tmp_path / "config"))
    with Session(sandbox=True) as session:
        start = threading.Barrier(8)
        seen: list[tuple[int, str]] = []

        def open_both() -> None:
            start.wait(timeout=10)
            seen.append((id(session.ledger()), session.start_sandbox()))

        threads = [threading.Thread(target=open_both) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert len(seen) == 8
        assert len(set(seen)) == 1, seen
