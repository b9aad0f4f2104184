"""``gsep mcp``: the installed command driven through the MCP SDK's own stdio client
against a sandbox in this process (so its job count proves what was paid for), and raw
JSON-RPC on its stdout.

Skipped without the ``mcp`` extra (CI's newest run installs it)."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from clitools import SECRET, api_requests, clean_env, gsep_exe, make_wav

from gsep_cli.sandbox import Sandbox

pytest.importorskip("mcp.client.stdio")
import anyio
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client

TOOLS = {
    "separate",
    "upload",
    "create_job",
    "job_status",
    "download",
    "list_models",
    "key_info",
    "job_record",
}
Drive = Callable[[Client], Awaitable[Any]]


def drive(tmp: Path, args: list[str], body: Drive, **env: str | None) -> tuple[Any, str]:
    """Start ``gsep ARGS`` in ``tmp`` as an MCP stdio server, run ``body`` with a
    connected client; returns what ``body`` returned and the server's stderr."""
    errlog = tmp / "server-stderr.txt"
    params = StdioServerParameters(
        command=gsep_exe(), args=args, env=clean_env(tmp, **env), cwd=str(tmp)
    )

    async def main() -> Any:
        with errlog.open("w") as err:
            async with Client(stdio_client(params, errlog=err)) as client:
                with anyio.fail_after(60):
                    return await body(client)

    # the default environment of stdio_client is a short list: ours is merged over it
    return anyio.run(main), errlog.read_text()


def structured(result: Any) -> dict[str, Any]:
    assert not result.is_error, result.content
    document = result.structured_content
    assert document == json.loads(result.content[0].text)  # the same, for any client
    return document


@pytest.fixture
def box() -> Any:
    with Sandbox(job_seconds=0, chunk_size=4096) as sb:
        yield sb


def api_env(sb: Sandbox) -> dict[str, str]:
    return {"GSEP_BASE_URL": sb.base_url, "GSEP_API_KEY": SECRET}


def test_tools_separate_progress_files_and_no_second_job(tmp_path: Path, box: Sandbox) -> None:
    song = make_wav(tmp_path / "song.wav", seconds=2.0)
    progress: list[tuple[float, str | None]] = []

    async def body(client: Client) -> Any:
        listed = (await client.list_tools()).tools
        arguments = {"inputs": [str(song)], "stems": ["vocal", "drum"], "out_dir": "stems"}

        async def on_progress(done: float, total: float | None, message: str | None) -> None:
            progress.append((done, message))

        first = await client.call_tool("separate", arguments, progress_callback=on_progress)
        jobs_after_first = box.store.job_count()
        second = await client.call_tool("separate", arguments)
        return listed, first, jobs_after_first, second

    (listed, first, jobs_after_first, second), err = drive(tmp_path, ["mcp"], body, **api_env(box))
    by_name = {tool.name: tool for tool in listed}
    assert set(by_name) == TOOLS
    schema = by_name["separate"].input_schema
    assert schema["required"] == ["inputs"]
    assert {"inputs", "stems", "formats", "out_dir", "model", "pay_again"} <= set(
        schema["properties"]
    )
    assert by_name["create_job"].input_schema["required"] == ["upload_id"]
    assert "COSTS CREDITS" in (by_name["create_job"].description or "")
    assert set(by_name["download"].input_schema["required"]) == {"job_id", "out_dir"}

    result = structured(first)["results"][0]
    assert result["status"] == "success" and result["reused"] is None
    paths = sorted(f["path"] for f in result["files"])
    assert paths == sorted(str(tmp_path / "stems" / "song" / f"{s}.wav") for s in ("drum", "vocal"))
    assert all(Path(p).stat().st_size > 0 for p in paths)
    assert result["jobId"] and result["expireAt"]
    assert progress, "no progress notification arrived"
    assert [p for p, _ in progress] == sorted({p for p, _ in progress})  # always growing
    assert any(result["jobId"] in (m or "") for _, m in progress)

    again = structured(second)["results"][0]
    assert again["reused"] == "job" and again["jobId"] == result["jobId"]
    assert box.store.job_count() == jobs_after_first == 1
    assert SECRET not in err and "Traceback" not in err


@pytest.mark.slow
def test_step_tools_and_ledger_in_sandbox_mode(tmp_path: Path) -> None:
    song = make_wav(tmp_path / "song.wav", seconds=1.0)

    async def body(client: Client) -> list[Any]:
        up = structured(await client.call_tool("upload", {"path": str(song)}))
        job = structured(
            await client.call_tool("create_job", {"upload_id": up["uploadId"], "stems": ["bass"]})
        )
        again = structured(
            await client.call_tool("create_job", {"upload_id": up["uploadId"], "stems": ["bass"]})
        )
        status = structured(
            await client.call_tool("job_status", {"job_id": job["jobId"], "wait": True})
        )
        got = structured(
            await client.call_tool("download", {"job_id": job["jobId"], "out_dir": "dl"})
        )
        record = structured(await client.call_tool("job_record", {"job_id": job["jobId"]}))
        recent = structured(await client.call_tool("job_record", {}))
        models = structured(await client.call_tool("list_models", {}))
        key = structured(await client.call_tool("key_info", {}))
        return [up, job, again, status, got, record, recent, models, key]

    # --sandbox after the command, as a global option may be; no key anywhere
    (up, job, again, status, got, record, recent, models, key), err = drive(
        tmp_path, ["mcp", "--sandbox"], body, GSEP_API_KEY=None
    )
    assert up["bytes"] == song.stat().st_size
    assert again["jobId"] == job["jobId"]  # on record: nothing paid twice
    assert status["status"] == "success"
    assert [Path(f["path"]).name for f in got["files"]] == ["bass.wav"]
    assert Path(got["files"][0]["path"]).is_file()
    assert str(tmp_path / "dl") in got["files"][0]["path"]
    assert record["jobs"][0]["stems"] == ["bass"] and record["jobs"][0]["files"]
    assert [r["jobId"] for r in recent["jobs"]] == [job["jobId"]]
    assert "gsep_music_hq_v1" in {m["name"] for m in models["models"]}
    assert "sandbox-key" not in json.dumps(key)
    assert "Traceback" not in err


def test_tool_errors_are_one_line_with_the_hint(tmp_path: Path, box: Sandbox) -> None:
    song = make_wav(tmp_path / "song.wav", seconds=1.0)

    async def body(client: Client) -> list[Any]:
        missing = await client.call_tool("separate", {"inputs": [str(tmp_path / "gone.wav")]})
        model = await client.call_tool("separate", {"inputs": [str(song)], "model": "gsep_hq"})
        unknown = await client.call_tool("job_record", {"job_id": "no-such-job"})
        return [missing, model, unknown]

    results, err = drive(tmp_path, ["mcp"], body, **api_env(box))
    texts = []
    for result in results:
        assert result.is_error
        (content,) = result.content
        text = content.text
        assert "\n" not in text and "Traceback" not in text and SECRET not in text
        assert text.startswith("gsep: error: ") and " — " in text  # message — what to do
        texts.append(text)
    assert "gone.wav" in texts[0]
    assert "gsep_hq" in texts[1] and "gsep_music_hq_v1" in texts[1]  # did you mean
    assert "no-such-job" in texts[2]
    assert box.store.job_count() == 0  # refused before paying
    assert "Traceback" not in err and SECRET not in err


def test_a_presigned_url_in_a_server_error_comes_back_redacted(
    tmp_path: Path, box: Sandbox
) -> None:
    song = make_wav(tmp_path / "song.wav", seconds=1.0)
    leak = "see https://s3.example/x?X-Amz-Signature=deadbeefcafe&X-Amz-Credential=AKIA123"
    box.faults.add(f"api-400@job-create:2:1999:{leak}")

    async def body(client: Client) -> list[Any]:
        up = structured(await client.call_tool("upload", {"path": str(song)}))
        created = await client.call_tool("create_job", {"upload_id": up["uploadId"]})
        separated = await client.call_tool("separate", {"inputs": [str(song)]})
        return [created, separated]

    (created, separated), err = drive(tmp_path, ["mcp"], body, **api_env(box))
    assert created.is_error
    whole = created.content[0].text + json.dumps(separated.structured_content)
    assert "X-Amz-Signature=<redacted>" in created.content[0].text
    assert "deadbeefcafe" not in whole and "AKIA123" not in whole
    assert "deadbeefcafe" not in err and SECRET not in err
    failure = separated.structured_content["results"][0]
    assert failure["status"] == "failed" and "<redacted>" in failure["error"]["message"]


def _rpc(message_id: int, method: str, params: dict[str, Any]) -> str:
    return json.dumps({"jsonrpc": "2.0", "id": message_id, "method": method, "params": params})


def test_stdout_carries_only_json_rpc_and_eof_ends_the_server(tmp_path: Path) -> None:
    song = make_wav(tmp_path / "song.wav", seconds=1.0)
    hello = {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "test", "version": "0"},
    }
    call = {
        "name": "separate",
        "arguments": {"inputs": [str(song)], "out_dir": "out"},
        "_meta": {"progressToken": "p1"},
    }
    lines = [
        _rpc(1, "initialize", hello),
        json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        _rpc(2, "tools/call", call),
    ]
    process = subprocess.Popen(
        [gsep_exe(), "--sandbox", "mcp"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=clean_env(tmp_path),
        cwd=tmp_path,
        text=True,
    )
    assert process.stdin is not None and process.stdout is not None
    for line in lines:
        process.stdin.write(line + "\n")
    process.stdin.flush()
    answers: list[dict[str, Any]] = []
    while not any(a.get("id") == 2 for a in answers):  # the call's answer, then EOF
        line = process.stdout.readline()
        assert line, process.stderr.read() if process.stderr else ""
        answers.append(json.loads(line))
    process.stdin.close()
    process.stdin = None  # closed: communicate() must not flush it
    started = time.monotonic()
    out, err = process.communicate(timeout=20)
    assert process.returncode == 0, err
    assert time.monotonic() - started < 5  # stdin's end ends it promptly
    answers += [json.loads(line) for line in out.splitlines()]
    assert all(a["jsonrpc"] == "2.0" for a in answers)
    assert any(a.get("method") == "notifications/progress" for a in answers)
    final = next(a for a in answers if a.get("id") == 2)["result"]
    assert not final.get("isError") and (tmp_path / "out" / "song" / "vocal.wav").is_file()
    assert "sandbox" not in out  # the banner and every notice stay off the protocol channel
    assert "gsep: serving the built-in sandbox at http://127.0.0.1:" in err


def test_sigterm_ends_the_server(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [gsep_exe(), "mcp", "--sandbox"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=clean_env(tmp_path),
    )
    time.sleep(0.5)
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    out, _ = process.communicate(timeout=10)
    assert time.monotonic() - started < 5
    assert process.returncode in (0, 130, -signal.SIGTERM)
    assert out == b""  # nothing but the protocol (and nothing was asked)


def test_without_the_extra_one_line_and_the_install_command(tmp_path: Path) -> None:
    """The extra hidden from a real run of the command (a path entry that makes
    ``import mcp`` fail), as in a venv without it."""
    blocker = tmp_path / "block"
    (blocker / "mcp").mkdir(parents=True)
    (blocker / "mcp" / "__init__.py").write_text("raise ImportError('not installed here')\n")
    env = clean_env(tmp_path, PYTHONPATH=str(blocker))
    done = subprocess.run(
        [gsep_exe(), "mcp"], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1
    assert done.stderr.startswith("gsep: error: ")
    assert "pip install 'gsep-cli[mcp]'" in done.stderr


@pytest.mark.slow
def test_a_cancelled_call_stops_its_requests_and_the_server_goes_on(tmp_path: Path) -> None:
    song = make_wav(tmp_path / "song.wav", seconds=1.0)
    with Sandbox(job_seconds=60, chunk_size=4096) as slow:

        def polls() -> int:
            return sum(1 for r in api_requests(slow) if r["method"] == "GET")

        async def body(client: Client) -> tuple[int, int, Any, Any]:
            with anyio.move_on_after(1.5):  # the job is created, then polled
                await client.call_tool("separate", {"inputs": [str(song)]})
            await anyio.sleep(1.0)  # a poll already sent is still answered
            before = polls()
            await anyio.sleep(1.0)
            models = await client.call_tool("list_models", {})
            record = await client.call_tool("job_record", {})
            return before, polls(), models, record

        (before, after, models, record), err = drive(tmp_path, ["mcp"], body, **api_env(slow))
        assert slow.store.job_count() == 1
    assert before > 0 and after == before  # no request since the cancellation
    assert not models.is_error  # the server still answers
    (job,) = structured(record)["jobs"]
    assert job["status"] == "submitted"  # on record: a re-run re-attaches, paying nothing
    assert "Traceback" not in err


@pytest.mark.slow
def test_a_settings_warning_is_said_on_stderr_at_start_never_on_stdout(tmp_path: Path) -> None:
    """A config file other users can read: the command line warns on every command; the
    server warns once as it starts (the agent's client shows its stderr), never on the
    protocol's stdout."""
    env = clean_env(tmp_path)
    config = Path(env["GSEP_CONFIG_DIR"]) / "config.json"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(json.dumps({"profiles": {"default": {"format": "wav"}}}))
    config.chmod(0o644)
    run = subprocess.run(
        [gsep_exe(), "mcp", "--sandbox"],
        input="",  # the client leaves at once: the server ends
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=30,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout == ""
    assert "readable by other users" in run.stderr
