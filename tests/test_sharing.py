"""Runners given the same whole list, sharing one ledger, share it by claims: an input whose
work another gsep process holds is put aside (once) while fresh inputs are left, so each
runner takes what no one holds, then comes back to the rest and re-attaches to the jobs
the others paid for. Another input of the same batch holding the work is still waited for.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any, cast

import pytest
from clitools import clean_env, gsep_exe, make_wav, wait_for
from hypothesis import given
from hypothesis import strategies as st
from paidtools import counts

from gsep_cli.batch import BatchOptions, BatchRunner, InputResult
from gsep_cli.batch.attach import PutAside
from gsep_cli.claims import Claim, ClaimHolder
from gsep_cli.client import GsepClient
from gsep_cli.errors import ExitCode
from gsep_cli.ledger import LEDGER_FILE, Ledger, api_host, key_fingerprint
from gsep_cli.models import DEFAULT_MODEL
from gsep_cli.records import work_key
from gsep_cli.sandbox import Sandbox

KEY = "sharing-key-5151"
ASIDE = "coming back to it after the others"


def _gsep(
    tmp: Path, sb: Sandbox, names: list[str], out: str, *extra: str, stderr: Any = subprocess.PIPE
) -> subprocess.Popen[str]:
    """``gsep --json separate NAMES -o OUT`` against ``sb``, with the state folder (so the
    ledger) every runner of the test shares."""
    env = clean_env(tmp, GSEP_API_KEY=KEY, GSEP_BASE_URL=sb.base_url)
    return subprocess.Popen(
        [gsep_exe(), "--json", "separate", *names, "-s", "vocal", "-o", out, *extra],
        env=env,
        cwd=tmp,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
    )


def _lines(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines()]


def _songs(folder: Path, count: int) -> list[Path]:
    return [make_wav(folder / f"s{i}.wav", seconds=0.2 + 0.01 * i) for i in range(count)]


@pytest.mark.slow
def test_three_runners_given_one_list_each_take_what_no_one_holds(tmp_path: Path) -> None:
    """Three `gsep separate` processes at once over the same 7 inputs (6 works: one input
    is a copy), one ledger: one job per work in all, the jobs made by more than one
    runner, and every runner ends with every input's stem in its own folder."""
    songs = _songs(tmp_path, 6)
    shutil.copy(songs[0], tmp_path / "copy_of_s0.wav")
    names = [p.name for p in songs] + ["copy_of_s0.wav"]
    # a job lasts 1 s: one runner alone (2 at once) would need 3 s or more for the 6 works,
    # so a second runner starting up always finds inputs no one holds
    with Sandbox(job_seconds=1.0, chunk_size=8192) as sb:
        runners = [_gsep(tmp_path, sb, names, f"out{i}", "--jobs", "2") for i in range(3)]
        outs = [runner.communicate(timeout=60) for runner in runners]
        assert [runner.returncode for runner in runners] == [0, 0, 0], outs
        assert counts(sb)[1] == 6  # one job per distinct content, whoever made it
    made: Counter[str] = Counter()  # job id -> how many runners reported it as new
    makers = 0
    for index, (out, err) in enumerate(outs):
        lines = _lines(out)
        assert sorted(Path(d["input"]).name for d in lines) == sorted(names), out
        assert all(d["status"] == "success" for d in lines), out
        new = [d["jobId"] for d in lines if d["reused"] != "job"]  # it paid for these
        made.update(new)
        makers += bool(new)
        for name in names:  # the results of the others' jobs were downloaded here too
            assert (tmp_path / f"out{index}" / Path(name).stem / "vocal.wav").is_file(), err
    assert sum(made.values()) == 6 and set(made.values()) == {1}, made  # each job made once
    assert makers >= 2, outs  # the list was shared, not waited through behind one runner
    assert any(ASIDE in err for _, err in outs), outs


@pytest.mark.slow
def test_a_copy_in_the_same_batch_is_waited_for_not_put_aside(tmp_path: Path) -> None:
    """Two inputs of one batch with one content, taken at once while fresh inputs remain:
    the second waits for the first (this process pays), it is never put aside."""
    songs = _songs(tmp_path, 3)
    shutil.copy(songs[0], tmp_path / "copy_of_s0.wav")
    names = ["s0.wav", "copy_of_s0.wav", "s1.wav", "s2.wav"]
    with Sandbox(job_seconds=1.0, chunk_size=8192) as sb:
        out, err = _gsep(tmp_path, sb, names, "out", "--jobs", "2").communicate(timeout=60)
        assert counts(sb)[1] == 3, err
    lines = {Path(d["input"]).name: d for d in _lines(out)}
    assert all(d["status"] == "success" for d in lines.values()), out
    pair = [lines["s0.wav"]["reused"], lines["copy_of_s0.wav"]["reused"]]
    assert pair.count(None) == 1 and pair.count("job") == 1, out  # one paid, one re-attached
    assert "another input of this batch has the same content" in err, err
    assert ASIDE not in err, err


def _hold(state: Path, song: Path, sb: Sandbox) -> tuple[Ledger, Claim]:
    """This test process claims ``song``'s work as gsep would (vocal, default model, the
    sandbox's host, KEY): to a runner it is another gsep that never finishes."""
    ledger = Ledger(state / LEDGER_FILE)
    content = hashlib.sha256(song.read_bytes()).hexdigest()
    key = work_key(content, DEFAULT_MODEL, ("vocal",), api_host(sb.base_url), key_fingerprint(KEY))
    claim = ledger.try_claim(key, str(song))
    assert isinstance(claim, Claim)
    return ledger, claim


@pytest.mark.slow
def test_an_input_another_gsep_holds_is_put_aside_once_then_waited_for(tmp_path: Path) -> None:
    """held.wav is held by another process for the whole test: the runner says so once,
    does the two other inputs first, then waits for it (once) until --timeout, and exits 9
    (some inputs failed) with that input's wait timeout (exit 8) in its result."""
    held, *others = _songs(tmp_path, 3)
    held = held.rename(tmp_path / "held.wav")
    with Sandbox(job_seconds=0.3, chunk_size=8192) as sb:
        ledger, _claim = _hold(tmp_path / "state", held, sb)
        try:
            names = ["held.wav", *(p.name for p in others)]
            runner = _gsep(tmp_path, sb, names, "out", "--jobs", "1", "--timeout", "1.5")
            out, err = runner.communicate(timeout=60)
        finally:
            ledger.close()
        assert counts(sb)[1] == 2, err
    assert runner.returncode == ExitCode.PARTIAL, err
    lines = _lines(out)
    assert [Path(d["input"]).name for d in lines] == ["s1.wav", "s2.wav", "held.wav"], out
    assert lines[2]["status"] == "failed" and lines[2]["jobId"] is None, out
    assert lines[2]["error"]["exitCode"] == ExitCode.TIMEOUT, out
    said = [line for line in err.splitlines() if line.startswith("gsep: held.wav: ")]
    holder = f"gsep pid {os.getpid()} on {socket.gethostname()}"
    assert len(said) == 2 and all(holder in line for line in said), err
    assert said[0].endswith(ASIDE) and said[1].endswith("; waiting"), err
    assert err.count(ASIDE) == 1, err


@pytest.mark.slow
def test_sigterm_stops_a_runner_waiting_for_an_input_it_put_aside(tmp_path: Path) -> None:
    """The second turn's wait for another gsep still ends on SIGTERM: exit 130, promptly."""
    held, other = _songs(tmp_path, 2)
    with Sandbox(job_seconds=0, chunk_size=8192) as sb:
        ledger, _claim = _hold(tmp_path / "state", held, sb)
        log = (tmp_path / "stderr.txt").open("w")
        try:
            names = [held.name, other.name]
            runner = _gsep(tmp_path, sb, names, "out", "--jobs", "1", stderr=log)
            wait_for(lambda: "; waiting" in (tmp_path / "stderr.txt").read_text())
            started = time.monotonic()
            runner.send_signal(signal.SIGTERM)
            runner.communicate(timeout=15)
        finally:
            log.close()
            ledger.close()
        assert counts(sb)[1] == 1
    err = (tmp_path / "stderr.txt").read_text()
    assert runner.returncode == ExitCode.INTERRUPTED, err
    assert time.monotonic() - started < 5, err
    assert "Traceback" not in err and err.count(ASIDE) == 1, err


@pytest.mark.slow
def test_a_put_aside_input_whose_holder_failed_fails_too_and_pays_nothing(tmp_path: Path) -> None:
    """Runner A's job for s0.wav fails while runner B has put s0.wav aside; by B's second
    turn A is gone, the work free: B answers with A's failure (as if it had waited for
    it all along) instead of paying for a new job."""
    x, y = _songs(tmp_path, 2)
    with Sandbox(job_seconds=2.0, chunk_size=8192, faults=["job-fail:1:bad audio"]) as sb:
        first = _gsep(tmp_path, sb, [x.name], "out_a")
        wait_for(lambda: any(e["path"].endswith("/jobs") for e in sb.requests))
        second = _gsep(tmp_path, sb, [x.name, y.name], "out_b", "--jobs", "1")
        outs = [first.communicate(timeout=60), second.communicate(timeout=60)]
        assert counts(sb)[1] == 2, outs  # A's failed job, B's for s1.wav: no third
    assert first.returncode == ExitCode.JOB_FAILED, outs
    b = {Path(d["input"]).name: d for d in _lines(outs[1][0])}
    assert ASIDE in outs[1][1] and b[y.name]["status"] == "success", outs
    assert b[x.name]["status"] == "failed", outs
    assert b[x.name]["error"]["exitCode"] == ExitCode.JOB_FAILED, outs
    failed = b[x.name]["jobId"]  # A's job, the one that is not B's
    assert failed not in (None, b[y.name]["jobId"]) and f"job {failed} created" in outs[0][1]
    assert second.returncode == ExitCode.PARTIAL, outs


# --- the queue in isolation: BatchRunner.run with the claim step simulated ---


class _Simulated(BatchRunner):
    """run() as it is, with each input's claim answered from ``held``: "other" (another
    gsep process holds it), "here" (another input of this batch does) or absent (free)."""

    def __init__(self, inputs: list[Path], held: dict[int, str], jobs: int) -> None:
        options = BatchOptions(
            model=DEFAULT_MODEL,
            stems=("vocal",),
            formats=("wav",),
            out_dir=Path("out"),
            template="{track}/{stem}.{ext}",
            jobs=jobs,
        )
        # no request is made: the client is never touched
        super().__init__(
            cast(GsepClient, None), options, key_fp="fp", base_url="http://127.0.0.1:9"
        )
        self.inputs, self.held = inputs, held
        self.turns: list[tuple[int, bool]] = []  # (input, second turn?) as turns start
        self.aside: list[tuple[int, int]] = []  # (input, inputs not yet started then)
        self.lock = threading.Lock()

    def _process(self, path: Path, result: InputResult, held_since: float | None) -> None:
        index = self.inputs.index(path)
        with self.lock:
            self.turns.append((index, held_since is not None))
        kind = self.held.get(index)
        if kind is not None and held_since is None:
            here = kind == "here"
            holder = ClaimHolder(
                socket.gethostname() if here else "elsewhere",
                os.getpid() if here else 1,
                "",
                str(path),
                0.0,
                0.0,
            )
            with self._turn:  # reentrant: the decision and the count it saw, at once
                if self._may_put_aside(holder):
                    self.aside.append((index, self._fresh))
                    raise PutAside(12.5)
        assert held_since in (None, 12.5)
        result.status = "success"


@given(
    count=st.integers(1, 12),
    held=st.dictionaries(st.integers(0, 11), st.sampled_from(["other", "here"])),
    jobs=st.integers(1, 4),
)
def test_every_input_is_done_once_in_order_and_put_aside_at_most_once(
    count: int, held: dict[int, str], jobs: int
) -> None:
    inputs = [Path(f"in{i}.wav") for i in range(count)]
    held = {i: kind for i, kind in held.items() if i < count}
    finished: list[Path] = []
    runner = _Simulated(inputs, held, jobs)
    runner.on_result = lambda result: finished.append(result.input)
    results = runner.run(inputs)
    assert [r.input for r in results] == inputs  # input order
    assert all(r.status == "success" for r in results)
    assert sorted(finished, key=inputs.index) == inputs  # on_result once per input
    put_aside = [i for i, _ in runner.aside]
    assert len(put_aside) == len(set(put_aside))  # at most once each
    assert all(held.get(i) == "other" for i in put_aside)  # never for this batch's own
    assert all(fresh > 0 for _, fresh in runner.aside)  # only while fresh inputs are left
    firsts = [i for i, second in runner.turns if not second]
    seconds = [i for i, second in runner.turns if second]
    assert sorted(firsts) == list(range(count)) and sorted(seconds) == sorted(put_aside)
    if jobs == 1:  # one worker: the queue's order is the turns' order
        assert runner.turns[:count] == [(i, False) for i in range(count)]
        # every input another process holds is put aside but the last (none fresh is left)
        assert put_aside == [i for i in sorted(held) if held[i] == "other" and i != count - 1]
