"""``gsep job create`` never pays twice for the same work (issue 15, second breaking
round): a re-run after a creation whose answer was lost is refused until ``--pay-again``
(as ``separate`` refuses), and a re-run after a confirmed creation prints the job on
record instead of paying for another. Counted on the emulator itself."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from clitools import Run, make_wav
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from paidtools import counts

from gsep_cli.sandbox import Sandbox


@pytest.fixture
def served(tmp_path: Path, env: dict[str, str]) -> Sandbox:
    make_wav(tmp_path / "song.wav", seconds=0.3)
    sb = Sandbox(job_seconds=0, chunk_size=8192)
    sb.start()
    env["GSEP_BASE_URL"] = sb.base_url
    yield sb  # type: ignore[misc]
    sb.stop()


def test_a_rerun_after_a_lost_answer_is_refused_until_pay_again(
    served: Sandbox, gsep: Callable[..., Run]
) -> None:
    upload_id = gsep(["upload", "song.wav"]).out.strip()
    served.add_fault("api-drop@job-create:1")  # the job IS created; the answer is lost
    lost = gsep(["job", "create", upload_id, "--stems", "vocal"])
    assert lost.code == 6, str(lost)
    again = gsep(["job", "create", upload_id, "--stems", "vocal"])
    assert again.code == 2, str(again)
    assert "no answer came" in again.err and "--pay-again" in again.err, again.err
    assert again.out == ""
    assert counts(served) == (1, 1)  # one upload, one job: the re-run paid nothing
    paid = gsep(["job", "create", upload_id, "--stems", "vocal", "--pay-again"])
    assert paid.code == 0 and paid.out.strip(), str(paid)
    assert counts(served) == (1, 2)


def test_a_rerun_after_a_confirmed_creation_prints_the_same_job(
    served: Sandbox, gsep: Callable[..., Run]
) -> None:
    upload_id = gsep(["upload", "song.wav"]).out.strip()
    first = gsep(["job", "create", upload_id, "--stems", "vocal,drum"])
    assert first.code == 0, str(first)
    again = gsep(["job", "create", upload_id, "--stems", "drum,vocal"])  # the same set
    assert again.code == 0 and again.out == first.out, str(again)
    assert "already created" in again.err and "nothing paid" in again.err, again.err
    other = gsep(["job", "create", upload_id, "--stems", "vocal"])  # another work
    assert other.code == 0 and other.out != first.out, str(other)
    assert counts(served) == (1, 2)
    fresh = gsep(["job", "create", upload_id, "--stems", "vocal", "--pay-again"])
    assert fresh.code == 0 and fresh.out not in (first.out, other.out), str(fresh)
    assert counts(served) == (1, 3)


# Any order of the commands that pay, step by step or whole, for one work: one job.
STEPS = st.lists(st.sampled_from(["create", "separate", "create-other-stems-order"]), max_size=4)


@pytest.mark.slow
@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
@given(steps=STEPS)
def test_any_sequence_of_creations_pays_once(
    tmp_path_factory: pytest.TempPathFactory,
    gsep: Callable[..., Run],
    env: dict[str, str],
    steps: list[str],
) -> None:
    folder = tmp_path_factory.mktemp("seq")
    make_wav(folder / "song.wav", seconds=0.3)
    env["GSEP_STATE_DIR"] = str(folder / "state")
    with Sandbox(job_seconds=0, chunk_size=8192) as sb:
        env["GSEP_BASE_URL"] = sb.base_url
        upload_id = gsep(["upload", str(folder / "song.wav")]).out.strip()
        for step in ["create", *steps]:
            if step == "separate":
                args = ["separate", str(folder / "song.wav"), "--stems", "vocal,drum"]
                done = gsep([*args, "-o", str(folder / "out"), "--skip-existing"])
            else:
                stems = "drum,vocal" if step.endswith("order") else "vocal,drum"
                done = gsep(["job", "create", upload_id, "--stems", stems])
            assert done.code == 0, str(done)
        assert counts(sb)[1] == 1, steps


def test_no_wait_on_a_job_already_done_still_prints_its_id(
    served: Sandbox, gsep: Callable[..., Run]
) -> None:
    """``separate --no-wait`` prints the job id whether the job on record is submitted or
    already done (it printed nothing for a finished one)."""
    done = gsep(["separate", "song.wav", "--stems", "vocal", "-o", "out"])
    assert done.code == 0, str(done)
    (job_id,) = [
        ln.split("job ", 1)[1].split()[0] for ln in done.err.splitlines() if " created" in ln
    ]
    again = gsep(["separate", "song.wav", "--stems", "vocal", "-o", "out", "--no-wait"])
    assert again.code == 0 and again.out.split() == [job_id], str(again)
    assert "already done as job" in again.err, again.err
    assert counts(served) == (1, 1)


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs /proc")
@pytest.mark.parametrize("dry_run", [False, True])
def test_an_output_folder_os_access_misjudges_is_refused_before_any_request(
    served: Sandbox, gsep: Callable[..., Run], dry_run: bool
) -> None:
    """``os.access`` says /proc is writable to root: the folder is proven by a probe file
    before the first request, and by the dry run too (it used to fail after the upload)."""
    args = ["separate", "song.wav", "--stems", "vocal", "-o", "/proc/gsep-out"]
    done = gsep([*args, "--dry-run"] if dry_run else args)
    assert done.code == 2 and "/proc" in done.err, str(done)
    assert served.requests == [], served.requests
