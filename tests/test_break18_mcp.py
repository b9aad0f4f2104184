"""Issue 18, breaking ``gsep mcp`` as an agent would misuse it: each test here showed a
problem before its fix. Driven as tests/test_mcp.py drives it (the installed command
through the SDK's own stdio client, against a sandbox in this process), or, for what
is decided before any request (the arguments), on the server object in this process.

Skipped without the ``mcp`` extra."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from clitools import SECRET, api_requests, assert_clean_error, clean_env, make_wav, run_gsep

from gsep_cli.sandbox import Sandbox

pytest.importorskip("mcp.client.stdio")
from mcp import Client
from test_mcp import api_env, drive


@pytest.fixture
def box() -> Any:
    with Sandbox(job_seconds=0, chunk_size=4096) as sb:
        yield sb


def one_line_error(result: Any) -> str:
    """The text of a tool error: one line, gsep's ``message — hint``."""
    assert result.is_error, result.content
    (content,) = result.content
    text = str(content.text)
    assert "\n" not in text and "Traceback" not in text and SECRET not in text
    assert text.startswith("gsep: error: ") and " — " in text, text
    return text


@pytest.mark.slow
def test_an_empty_input_path_is_refused_not_read_as_the_working_folder(
    tmp_path: Path, box: Sandbox
) -> None:
    """``Path("")`` is ``.``: an agent's empty string (or a shell's unset variable) paid
    for every audio file in the server's working folder."""
    make_wav(tmp_path / "song.wav", seconds=1.0)
    make_wav(tmp_path / "other.wav", seconds=1.2)

    async def body(client: Client) -> Any:
        return await client.call_tool("separate", {"inputs": [""]})

    result, err = drive(tmp_path, ["mcp"], body, **api_env(box))
    assert "Traceback" not in err
    assert "input path is empty" in one_line_error(result)
    cli = run_gsep(["separate", ""], clean_env(tmp_path, **api_env(box)), cwd=tmp_path)
    assert_clean_error(cli, 2, "input path is empty")
    assert api_requests(box) == [] and box.store.job_count() == 0
