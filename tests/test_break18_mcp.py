"""Issue 18, breaking ``gsep mcp`` as an agent would misuse it: each test here showed a
problem before its fix. Driven as tests/test_mcp.py drives it (the installed command
through the SDK's own stdio client, against a sandbox in this process), or, for what
is decided before any request (the arguments), on the server object in this process.

Skipped without the ``mcp`` extra."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest
from clitools import SECRET, api_requests, assert_clean_error, clean_env, make_wav, run_gsep

from gsep_cli.sandbox import Sandbox

pytest.importorskip("mcp.client.stdio")
from hypothesis import given, settings
from hypothesis import strategies as st
from mcp import Client
from test_mcp import TOOLS, api_env, drive

from gsep_cli.mcpserver.server import GsepMcp, build

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=6,
)
NOT_TEXT = JSON.filter(lambda v: not isinstance(v, str))
#: Each tool's required text argument (the tools without one take an optional job_id).
TEXT_ARGUMENT = {
    "separate": "inputs",
    "upload": "path",
    "create_job": "upload_id",
    "job_status": "job_id",
    "download": "job_id",
    "job_record": "job_id",
}


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


@pytest.mark.slow
def test_an_agents_shapes_of_arguments(tmp_path: Path, box: Sandbox) -> None:
    """Stems as ``"vocal,drum"``, one input as a string, ``~`` in paths: read as the
    command line reads them (they were refused in lines of pydantic text, and ``~`` was
    a file not found); a misspelt argument is refused before any request (it was
    ignored: the files went to the default folder)."""
    make_wav(tmp_path / "song.wav", seconds=1.0)

    async def body(client: Client) -> list[Any]:
        typo = await client.call_tool("separate", {"inputs": ["~/song.wav"], "output": "x"})
        requests_after_typo = len(api_requests(box))
        both = {"inputs": "~/song.wav", "stems": "vocal,drum", "out_dir": "~/stems"}
        first = await client.call_tool("separate", both)
        as_list = {"inputs": ["song.wav"], "stems": ["drum", "vocal"], "out_dir": "stems"}
        second = await client.call_tool("separate", as_list)
        return [typo, requests_after_typo, first, second]

    (typo, requests_after_typo, first, second), err = drive(
        tmp_path, ["mcp"], body, HOME=str(tmp_path), **api_env(box)
    )
    assert (
        "takes no argument 'output'" in one_line_error(typo) and "out_dir" in typo.content[0].text
    )
    assert requests_after_typo == 0
    assert not first.is_error, first.content
    (result,) = first.structured_content["results"]
    assert result["status"] == "success" and result["stems"] == ["vocal", "drum"]
    assert sorted(Path(f["path"]) for f in result["files"]) == [
        tmp_path / "stems" / "song" / "drum.wav",
        tmp_path / "stems" / "song" / "vocal.wav",
    ]
    assert second.structured_content["results"][0]["reused"] == "job"
    assert box.store.job_count() == 1
    assert "Traceback" not in err


def call_in_process(name: str, arguments: dict[str, Any]) -> Any:
    """A tool call on the server object, in this process: for what is refused before any
    setting is read or request sent."""
    return anyio.run(build(GsepMcp()).call_tool, name, arguments)


@pytest.mark.slow
@settings(max_examples=40, deadline=None)
@given(
    tool=st.sampled_from(sorted(TOOLS)),
    unknown=st.text(min_size=1, max_size=20),
    value=JSON,
)
def test_an_argument_no_tool_takes_is_refused_in_one_line(
    tool: str, unknown: str, value: Any
) -> None:
    """Any name the tool's schema does not list, whatever its value: refused (naming
    it) before the tool runs; the SDK ignored it."""
    schema = {t.name: t for t in anyio.run(build(GsepMcp()).list_tools)}[tool].input_schema
    if unknown in schema["properties"]:
        return
    text = one_line_error(call_in_process(tool, {unknown: value}))
    assert f"{tool} takes no argument " in text


@settings(max_examples=60, deadline=None)
@given(tool=st.sampled_from(sorted(TEXT_ARGUMENT)), value=NOT_TEXT)
def test_a_value_of_the_wrong_type_is_one_line_without_pydantic_text(tool: str, value: Any) -> None:
    """Whatever JSON stands where text belongs: one line, gsep's form, naming the
    argument; the SDK answered pydantic's lines and its documentation URL."""
    name = TEXT_ARGUMENT[tool]
    arguments = {name: value, **({"out_dir": "x"} if tool == "download" else {})}
    if tool == "separate" and isinstance(value, list) and all(isinstance(v, str) for v in value):
        return  # a list of paths is what separate takes
    if tool == "job_record" and value is None:
        return  # job_record's job_id is optional
    text = one_line_error(call_in_process(tool, arguments))
    assert f"invalid arguments for {tool}: {name}" in text
    assert "pydantic" not in text


def test_an_unknown_tool_is_one_line_naming_the_tools() -> None:
    text = one_line_error(call_in_process("seperate", {}))
    assert "no tool 'seperate'" in text and "Did you mean 'separate'?" in text


HOSTILE = (
    "boom\x1b]0;PWNED\x07\nsecond line {key} "
    "https://s3.example/r?X-Amz-Signature=deadbeefcafe&X-Amz-Credential=AKIA123 \u202eend"
)


@pytest.mark.slow
def test_a_servers_hostile_text_in_a_result_is_one_printable_line(
    tmp_path: Path, box: Sandbox
) -> None:
    """A job's errorMessage and key info holding escape sequences, line breaks, the key
    and a presigned URL: redacted, and one printable line, in every result that carries
    them (they came back raw: an ESC and a newline in ``separate``'s per-input error, in
    ``key_info``, ``job_status`` and ``job_record``); local paths come back as they are."""
    hostile = HOSTILE.format(key=SECRET)
    song = make_wav(tmp_path / "odd\x1b name.wav", seconds=1.0)
    box.faults.add(f"job-fail:1:{hostile}")
    box.faults.add(f"key-info-text:1:{hostile}")

    async def body(client: Client) -> list[Any]:
        separated = await client.call_tool("separate", {"inputs": [str(song)]})
        job_id = separated.structured_content["results"][0]["jobId"]
        status = await client.call_tool("job_status", {"job_id": job_id})
        record = await client.call_tool("job_record", {"job_id": job_id})
        key = await client.call_tool("key_info", {})
        return [separated, status, record, key]

    (separated, status, record, key), err = drive(tmp_path, ["mcp"], body, **api_env(box))
    (result,) = separated.structured_content["results"]
    (job,) = record.structured_content["jobs"]
    assert result["input"] == job["input"] == str(song)  # a path stays the path it is
    texts = [
        result["error"]["message"],
        status.structured_content["errorMessage"],
        job["error"],
        key.structured_content["projectName"],
        key.structured_content["description"],
    ]
    for text in texts:
        assert "PWNED" in text and "<redacted>" in text, text
        assert not any(c in text for c in "\x1b\x07\n\u202e"), repr(text)
        assert SECRET not in text and "deadbeefcafe" not in text and "AKIA123" not in text
    assert SECRET not in err and "Traceback" not in err


def _strings(document: Any, keep: frozenset[str]) -> list[str]:
    if isinstance(document, str):
        return [document]
    if isinstance(document, dict):
        found = [str(k) for k in document]
        for k, v in document.items():
            if not (k in keep and isinstance(v, str)):
                found += _strings(v, keep)
        return found
    if isinstance(document, list):
        return [s for v in document for s in _strings(v, keep)]
    return []


@settings(max_examples=200, deadline=None)
@given(document=JSON, path=st.text())
def test_every_string_of_a_result_but_a_path_is_printable(document: Any, path: str) -> None:
    """The mechanism the results go through: whatever the document, no control
    character is left in any string but a ``keep`` key's, which is unchanged."""
    from gsep_cli.mcpserver.server import LOCAL_PATHS
    from gsep_cli.redact import printable_values

    whole = {"input": path, "nested": [{"path": path, "other": document}], "x": document}
    cleaned: Any = printable_values(whole, LOCAL_PATHS)
    assert cleaned["input"] == cleaned["nested"][0]["path"] == path
    for text in _strings(cleaned, LOCAL_PATHS):
        assert all(c.isprintable() or c == " " for c in text if ord(c) < 0xA0), repr(text)
        assert not any(c in text for c in "\n\r\x1b\x07\x9b\u2028\u202e")


@pytest.mark.slow
def test_separate_times_lyrics_with_the_lyrics_model(tmp_path: Path, box: Sandbox) -> None:
    """``separate`` took no lyrics nor language, so the lyrics model could only fail
    (``needs --language``, an option an agent cannot give)."""
    make_wav(tmp_path / "song.wav", seconds=1.0)
    (tmp_path / "song.txt").write_text("first line\nsecond line\n", encoding="utf-8")
    arguments = {
        "inputs": ["song.wav"],
        "model": "gts_lyrics_line_v1",
        "lyrics": "song.txt",
        "language": "en",
        "out_dir": "lyrics",
    }

    async def body(client: Client) -> list[Any]:
        first = await client.call_tool("separate", arguments)
        again = await client.call_tool("separate", arguments)
        return [first, again]

    (first, again), err = drive(tmp_path, ["mcp"], body, **api_env(box))
    assert not first.is_error, first.content
    (result,) = first.structured_content["results"]
    assert result["status"] == "success", result
    written = {Path(f["path"]).name for f in result["files"]}
    assert "lyrics.csv" in written and all(Path(f["path"]).is_file() for f in result["files"])
    assert again.structured_content["results"][0]["reused"] == "job"
    assert box.store.job_count() == 1 and "Traceback" not in err
