"""--version and --help stay light: no requests, rich.progress, sandbox or ledger import;
and tab completion and commands import nothing heavy beyond what typer itself does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import pytest

HEAVY = (
    "requests",
    "urllib3",
    "rich.progress",
    "gsep_cli.sandbox",
    "gsep_cli.client",
    "gsep_cli.ledger",
    "sqlite3",
    "mutagen",
    "mcp",  # the MCP SDK (the mcp extra): only gsep mcp imports it
    "gsep_cli.mcpserver",
)


@pytest.mark.parametrize(
    "args", [["--version"], ["--help"], ["separate", "--help"], ["job", "status", "--help"]]
)
def test_help_and_version_import_nothing_heavy(args: list[str]) -> None:
    code = (
        "import sys\n"
        "from gsep_cli.__main__ import main\n"
        f"rc = main({args!r})\n"
        f"heavy = [m for m in {HEAVY!r} if m in sys.modules]\n"
        "print(rc, heavy, file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip().splitlines()[-1] == "0 []"
    assert done.stdout  # the version or the help text went to stdout


MINIMAL_APP = Path(__file__).resolve().parent / "benchmarks" / "minimal_app.py"
# Runs gsep (argv[1] == "gsep") or a script, then prints the modules it imported.
IMPORTED = (
    "import json, runpy, sys\n"
    "try:\n"
    "    if sys.argv[1] == 'gsep':\n"
    "        from gsep_cli.__main__ import main\n"
    "        main(sys.argv[2:])\n"
    "    else:\n"
    "        sys.argv = sys.argv[1:]\n"
    "        runpy.run_path(sys.argv[0], run_name='__main__')\n"
    "except SystemExit:\n"
    "    pass\n"
    "print(json.dumps(sorted(sys.modules)), file=sys.stderr)\n"
)


def _imported(args: list[str], env: dict[str, str], stdout: str | None = None) -> set[str]:
    """The modules (full names) gsep or the script imported for ``args``: a completion or
    a usage error, both done before any request."""
    done = subprocess.run(
        [sys.executable, "-c", IMPORTED, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if stdout is not None:
        assert done.stdout.split() == stdout.split(), done.stderr
    return set(json.loads(done.stderr.strip().splitlines()[-1]))


def _modules(code: str) -> set[str]:
    """The modules a Python running ``code`` has imported (``code`` failing to import
    is no error: on another typer the module may not exist)."""
    child = f"import json, sys\ntry:\n    {code}\nexcept ImportError:\n    pass\n"
    child += "print(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, timeout=60)
    return set(json.loads(done.stdout))


def test_tab_completion_and_commands_import_nothing_a_minimal_typer_app_does_not(
    tmp_path: Path,
) -> None:
    """Every TAB runs gsep again. What typer itself imports is the floor any typer CLI pays
    (typer 0.29 imports pydantic to coerce parameters: so does a two-command typer app on
    it); on top of that, gsep's completion and option parsing import only gsep_cli and
    light standard modules: none of HEAVY, no pydantic when typer does not bring it."""
    env = {
        **os.environ,
        "GSEP_CONFIG_DIR": str(tmp_path / "config"),
        "GSEP_STATE_DIR": str(tmp_path / "state"),
    }
    tab = {"COMP_WORDS": "gsep download abc --format ", "COMP_CWORD": "4"}
    peer_tab = {"COMP_WORDS": "minimal hello --name ", "COMP_CWORD": "3"}
    completion = _imported(
        ["gsep"],
        {**env, **tab, "_GSEP_COMPLETE": "complete_bash"},
        "both wav flac aiff mp3 ogg opus csv lrc srt",
    )
    peer_completion = _imported(
        [str(MINIMAL_APP)], {**env, **peer_tab, "_MINIMAL_COMPLETE": "complete_bash"}
    )
    # a command with options parsed and a usage error (no request is made)
    command = _imported(["gsep", "download", "not a job id", "--format", "flac"], env)
    peer_command = _imported([str(MINIMAL_APP), "hello", "--name", "x"], env)
    pairs = [(completion, peer_completion), (command, peer_command)]
    banned = (*HEAVY, "pydantic", "pydantic_core")
    for ours, peers in pairs:
        extra = ours - peers
        heavy = {m for m in extra for b in banned if m == b or m.startswith(b + ".")}
        assert not heavy, sorted(heavy)


# ---- what each hot command imports: pinned against the floor of a status query ----
MINIMAL_STATUS = Path(__file__).resolve().parent / "benchmarks" / "minimal_status.py"
# What a hot command may import beyond a typer app making one requests GET
# (minimal_status.py), outside gsep_cli (fnmatch patterns, any typer/click version):
EVERY = (  # what every command may import
    "typer._click._textwrap",  # help wrapping (cli/_help.py)
    "click._textwrap",
    "dataclasses",  # gsep's records and settings (on typer >= 0.2x in the floor already)
    "difflib",  # click < 8.2 imports it while parsing options (on the oldest supported)
)
LEDGER = ("sqlite3", "sqlite3.*", "_sqlite3", "secrets")  # the job ledger (claim tokens)
THREADS = ("concurrent", "concurrent.futures", "concurrent.futures.*")  # parallel parts
CELLS = ("rich", "rich.cells", "rich._*")  # display widths of names in listings (_cells)
DRAIN = ("termios", "fcntl")  # how much a sent body's socket still holds (Guard.body_sent)
# gsep_cli's own packages a command must not load (a status query is no download)
NOT_FOR_STATUS = ("gsep_cli.ledger", "gsep_cli.download", "gsep_cli.batch", "gsep_cli.media")
HOT = {
    "job status --model": (
        ["job", "status", "{job}", "--model", "gsep_music_hq_v1"],
        EVERY,
        (*NOT_FOR_STATUS, "gsep_cli.upload_parts", "gsep_cli.naming"),
    ),
    "job status": (["job", "status", "{job}"], EVERY + LEDGER, NOT_FOR_STATUS[1:]),
    "download": (
        ["download", "{job}", "-o", "{out}"],
        EVERY + LEDGER + THREADS,
        ("gsep_cli.upload_parts", "gsep_cli.fileslice"),
    ),
    "upload": (["upload", "{wav}"], EVERY + LEDGER + THREADS + DRAIN, ("gsep_cli.download",)),
    "separate": (
        ["separate", "{wav}", "-o", "{out}"],
        EVERY + LEDGER + THREADS + DRAIN,
        ("mcp", "mcp_types", "gsep_cli.mcpserver"),  # the MCP server's: only gsep mcp's
    ),
    "ledger list": (
        ["ledger", "list"],
        EVERY + LEDGER + CELLS,
        ("requests", "urllib3", "gsep_cli.client", "gsep_cli.http"),
    ),
}


@pytest.fixture(scope="module")
def hot_setup(
    shared_sandbox: Any, tmp_path_factory: pytest.TempPathFactory
) -> tuple[dict[str, str], set[str], dict[str, str]]:
    """A finished job and a WAV on the module's sandbox, the environment to reach it, and
    the floor: the modules minimal_status.py imports for one GET to the sandbox."""
    from clitools import clean_env, make_wav
    from conftest import KEY, Api, wav_bytes

    tmp = tmp_path_factory.mktemp("hot")
    api = Api(shared_sandbox)
    job = api.job_id(audioUploadId=api.upload(wav_bytes()), type="vocal")
    api.wait(job)
    env = clean_env(tmp, GSEP_BASE_URL=shared_sandbox.base_url, GSEP_API_KEY=KEY)
    floor = _imported(
        [str(MINIMAL_STATUS), "status"], {**env, "MINIMAL_URL": shared_sandbox.base_url}
    )
    assert "requests" in floor and "typer" in floor  # the peer made its request
    # typer 0.2x's own coercion brings pydantic into the peer: what only pydantic brings is
    # no floor for gsep, which coerces without it (gsep_cli/cli/_coerce.py)
    floor -= _modules("import requests, typer, typer._adapters") - _modules(
        "import requests, typer"
    )
    fields = {"job": job, "wav": str(make_wav(tmp / "song.wav", 0.2)), "out": str(tmp / "out")}
    return env, floor, fields


@pytest.mark.parametrize("name", list(HOT))
def test_hot_commands_import_only_what_they_use(
    name: str, hot_setup: tuple[dict[str, str], set[str], dict[str, str]]
) -> None:
    """Each hot command (a real run against the sandbox) imports, outside gsep_cli, only
    the floor of a status query (typer, and requests making one GET) plus what it is
    pinned to use (HOT); and none of gsep_cli's packages it has no use for. A new import
    fails here, named. (The pin is an upper bound: an import that goes away needs no edit.)"""
    env, floor, fields = hot_setup
    args, allowed, banned = HOT[name]
    ours = _imported(["gsep", *(a.format(**fields) for a in args)], env)
    assert "gsep_cli.cli" in ours  # it ran
    extra = {m for m in ours - floor if not m.startswith(("gsep_cli", "__editable__"))}
    extra -= set(sys.builtin_module_names)  # compiled into the interpreter: free (gc)
    unpinned = sorted(m for m in extra if not any(fnmatch(m, p) for p in allowed))
    assert not unpinned, f"gsep {name} imports {unpinned}"
    loaded = sorted(m for m in ours for b in banned if m == b or m.startswith(b + "."))
    assert not loaded, f"gsep {name} imports {loaded}"
    assert "pydantic" not in ours and "gsep_cli.sandbox" not in ours
