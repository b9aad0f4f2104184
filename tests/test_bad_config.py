"""Bad configuration never crashes: any config file, any GSEP_* value, any --base-url.

Each example runs the CLI in-process with a fresh config folder: the exit code is 0, 2 or
3; a failure is exactly one ``gsep: error:`` line (any other stderr line is a ``gsep:``
warning or notice); there is never a traceback; and the API key, wherever it came from,
never appears.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from clitools import FAST_ENV, assert_clean_error, make_wav, run_cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gsep_cli import cli

SECRET = "SECRET-key-7c1f"
NUMBERS = [
    "GSEP_CONNECT_TIMEOUT",
    "GSEP_READ_TIMEOUT",
    "GSEP_RETRIES",
    "GSEP_RETRY_CAP",
    "GSEP_RATE_LIMIT_WAIT",
    "GSEP_POLL_INTERVAL",
    "GSEP_POLL_CAP",
]
VARIABLES = [
    *NUMBERS,
    "GSEP_RATE_LIMIT",
    "GSEP_BASE_URL",
    "GSEP_PROFILE",
    "GSEP_STEMS",
    "GSEP_FORMAT",
    "GSEP_MODEL",
    "GSEP_OUTPUT_DIR",
    "GSEP_CONFIG_DIR",
    "GSEP_STATE_DIR",
    "GSEP_SANDBOX_FAULTS",
]
ODD = [
    "",
    " ",
    "0",
    "-1",
    "nan",
    "inf",
    "-inf",
    "1e999",
    "1e308",
    "1/inf",
    "1/0",
    "100/1e-400",
    "9" * 400,
    "\x00",
    "a\nb",
    "k€y",
    "~nosuchuser/x",
    "http://user:PASS@127.0.0.1:1/developers/api",
    "https://example.com/api?x=1",
    "ftp://x",
    "http://[::1",
    "vocal,,drum",
    "all",
    "both",
    "gsep_music_hq_v1",
]
values = st.sampled_from(ODD) | st.text(max_size=30)
env_values = values.filter(lambda v: "\x00" not in v)  # no environment can hold a NUL
keys = st.text(max_size=20).map(lambda tail: SECRET + tail)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
_SETTING = values | json_values
profiles = st.dictionaries(
    st.sampled_from(["default", "work", "x"]),
    st.fixed_dictionaries(
        {},
        optional={
            "api_key": keys | json_values,  # the one place a key may be
            "base_url": _SETTING,
            "format": _SETTING,
            "stems": _SETTING,
            "output_dir": _SETTING,
            "model": _SETTING,
        },
    )
    | json_values,
    max_size=3,
)
config_files = (
    st.none()
    | st.binary(max_size=120)
    | json_values.map(json.dumps).map(str.encode)
    | st.fixed_dictionaries({"profiles": profiles | json_values}).map(json.dumps).map(str.encode)
    | st.fixed_dictionaries({"profiles": profiles}).map(json.dumps).map(str.encode)
)
COMMANDS = [
    ["config", "show"],
    ["config", "get", "format"],
    ["config", "set", "format", "mp3"],
    ["separate", "song.wav", "--dry-run"],
    ["upload", "song.wav", "--dry-run"],
]


def _run(args: list[str], env: dict[str, str], cwd: Path) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with (
        mock.patch.dict(os.environ, env, clear=True),
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
        contextlib.chdir(cwd),
    ):
        code = cli.run(args)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def song_dir() -> Any:
    with tempfile.TemporaryDirectory() as folder:
        make_wav(Path(folder) / "song.wav", seconds=0.1)
        yield Path(folder)


@pytest.mark.slow
@given(
    config=config_files,
    variables=st.dictionaries(st.sampled_from(VARIABLES), env_values, max_size=5),
    key=st.none() | keys.filter(lambda k: "\x00" not in k),
    base_url=st.none() | values,
    profile=st.none() | st.sampled_from(["default", "work", "x"]) | st.text(max_size=8),
    command=st.sampled_from(COMMANDS),
)
@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_any_configuration_is_one_line_never_a_crash(
    song_dir: Path,
    config: bytes | None,
    variables: dict[str, str],
    key: str | None,
    base_url: str | None,
    profile: str | None,
    command: list[str],
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "song.wav").write_bytes((song_dir / "song.wav").read_bytes())
        env = {"PATH": os.environ.get("PATH", ""), **FAST_ENV}
        env["GSEP_CONFIG_DIR"] = str(root / "config")
        env["GSEP_STATE_DIR"] = str(root / "state")
        for name, value in variables.items():
            if name in ("GSEP_CONFIG_DIR", "GSEP_STATE_DIR"):
                value = "./" + value  # arbitrary, but never outside this example's folder
            env[name] = value
        if key is not None:
            env["GSEP_API_KEY"] = key
        if config is not None:
            (root / "config").mkdir()
            (root / "config" / "config.json").write_bytes(config)
            os.chmod(root / "config" / "config.json", 0o600)
        args = [f"--base-url={base_url}"] if base_url is not None else []
        args += [f"--profile={profile}"] if profile is not None else []
        args += command
        code, out, err = _run(args, env, root)
    assert code in (0, 2, 3), (args, code, out, err)
    assert "Traceback" not in err and "internal error" not in err, err
    lines = err.splitlines()
    errors = [line for line in lines if line.startswith("gsep: error:")]
    assert len(errors) == (0 if code == 0 else 1), err
    assert all(line.startswith("gsep: ") for line in lines), err  # messages, never a dump
    for text in (out, err):
        assert SECRET not in text.replace("<redacted>", ""), (args, text)


# ---- the listed cases, one by one --------------------------------------------------------
@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    from clitools import set_env

    set_env(monkeypatch, tmp_path)
    monkeypatch.chdir(tmp_path)
    make_wav(tmp_path / "song.wav", seconds=0.1)
    (tmp_path / "config").mkdir()
    return tmp_path


def _config(home: Path, content: bytes | str) -> None:
    path = home / "config" / "config.json"
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    os.chmod(path, 0o600)


@pytest.mark.parametrize(
    ("content", "args", "code", "fragment"),
    [
        ('{"profiles":[1]}', ["--profile", "x", "config", "show"], 0, None),
        (
            '{"profiles":{"default":"x"}}',
            ["config", "set", "format", "mp3"],
            3,
            "must be an object",
        ),
        (b"\xff\xfe not utf-8", ["config", "show"], 3, "not UTF-8"),
        ("{broken", ["config", "show"], 3, "not valid JSON"),
    ],
)
def test_listed_config_files(
    home: Path,
    capsys: pytest.CaptureFixture[str],
    content: str | bytes,
    args: list[str],
    code: int,
    fragment: str | None,
) -> None:
    _config(home, content)
    run = run_cli(capsys, args)
    if fragment is None:
        assert run.code == 0, str(run)
        assert "Traceback" not in run.err
    else:
        assert_clean_error(run, code, fragment, "config.json")


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("GSEP_API_KEY", "k€y", "not ASCII"),
        ("GSEP_API_KEY", "line\nbreak-key", "line break"),
        ("GSEP_RATE_LIMIT", "1/inf", "GSEP_RATE_LIMIT"),
        ("GSEP_READ_TIMEOUT", "1e308", "GSEP_READ_TIMEOUT"),
        ("GSEP_BASE_URL", "http://user:PASS@127.0.0.1:1/developers/api", "user name or password"),
    ],
)
def test_listed_variables(
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    name: str,
    value: str,
    fragment: str,
) -> None:
    monkeypatch.setenv("GSEP_API_KEY", "a-good-key-1234")
    monkeypatch.setenv(name, value)
    for args in (["separate", "song.wav", "--dry-run"], ["key", "info"]):
        run = run_cli(capsys, args)
        line = assert_clean_error(run, 3, fragment)
        assert "PASS" not in line and "k€y" not in line and "break-key" not in line


def test_credentials_in_the_base_url_are_never_shown_or_sent(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GSEP_API_KEY", "a-good-key-1234")
    url = "http://user:PASS@127.0.0.1:9/developers/api"
    for args in (
        ["config", "show"],
        ["-v", "--base-url", url, "key", "info"],
        ["config", "set", "base_url", url],
    ):
        monkeypatch.setenv("GSEP_BASE_URL", url)
        run = run_cli(capsys, args)
        assert run.code in (2, 3), str(run)
        assert "PASS" not in run.out + run.err
    assert not (home / "config" / "config.json").exists()


def test_an_unreadable_config_file_does_not_block_env_settings(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _config(home, b"\xff\xfe broken")
    monkeypatch.setenv("GSEP_API_KEY", "a-good-key-1234")
    blocked = run_cli(capsys, ["separate", "song.wav", "--dry-run"])
    assert_clean_error(blocked, 3, "config.json")  # the file could hold the base URL
    monkeypatch.setenv("GSEP_BASE_URL", "https://restapi.gaudiolab.io/developers/api")
    run = run_cli(capsys, ["separate", "song.wav", "--dry-run"])
    assert run.code == 0, str(run)
    assert "ignoring the config file" in run.err and "not UTF-8" in run.err


def _file_where_the_folder_is(cfg: Path) -> None:
    cfg.parent.mkdir(parents=True, exist_ok=True)
    cfg.write_text("")


def _link_loop(cfg: Path) -> None:
    cfg.mkdir(parents=True)
    (cfg / "config.json").symlink_to("config.json")


def _folder_as_config(cfg: Path) -> None:
    (cfg / "config.json").mkdir(parents=True)


def _fifo_as_config(cfg: Path) -> None:
    cfg.mkdir(parents=True)
    os.mkfifo(cfg / "config.json")


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (_file_where_the_folder_is, "Not a directory"),
        (_link_loop, "Too many levels of symbolic links"),
        (_folder_as_config, "Is a directory"),
        (_fifo_as_config, "not a regular file"),
    ],
)
@pytest.mark.parametrize("args", [["config", "show"], ["config", "set", "format", "mp3"]])
def test_a_config_that_cannot_be_reached_is_said_never_ignored(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    make: Any,
    says: str,
    args: list[str],
) -> None:
    """A config location that is not a readable regular file is one line and exit 3:
    never silently taken as "no config" (a stored key would vanish without a word),
    never an internal error, never a hang (a FIFO)."""
    cfg = tmp_path / "cfg"
    make(cfg)
    monkeypatch.setenv("GSEP_CONFIG_DIR", str(cfg))
    for name in ("GSEP_API_KEY", "GAUDIO_API_KEY", "GSEP_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    line = assert_clean_error(run_cli(capsys, args), 3, says)
    assert "audio" not in line
