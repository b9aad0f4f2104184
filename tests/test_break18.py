"""Issue 18's additions, attacked from outside (round 1): the library's Session, the
GitHub step summary, the values a library caller can pass. Each test shows a problem
found by trying to break them, fixed where it lives."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from clitools import SECRET, make_wav, set_env

from gsep_cli import Session
from gsep_cli.sandbox import Sandbox


@pytest.fixture
def box(sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Sandbox:
    """A sandbox (jobs done at once) that ``Session()`` reaches through the environment
    (key: clitools.SECRET), the current folder a temp one holding ``song.wav``."""
    started: Sandbox = sandbox(rate_limit=0)
    set_env(monkeypatch, tmp_path, GSEP_API_KEY=SECRET, GSEP_BASE_URL=started.base_url)
    monkeypatch.chdir(tmp_path)
    make_wav(tmp_path / "song.wav", seconds=0.2)
    return started


def test_a_session_that_used_the_key_never_shows_it(box: Sandbox) -> None:
    # a dataclass repr listed every field, _key included: print(session), a debugger,
    # a logged exception's locals or pytest's assertion rewriting showed the key
    with Session() as session:
        results = session.separate("song.wav", stems="vocal", out_dir="out")
        assert results[0].ok, results[0].error
        client = session.client()
        for shown in (repr(session), str(session), repr(client), repr(session.ledger())):
            assert SECRET not in shown, shown
        assert "sandbox=False" in repr(session)  # the parameters are still shown
