"""The one settings/key loader (gsep_cli.config) and the ``gsep config ...`` commands."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import clitools
import pytest
from clitools import SECRET, assert_clean_error, assert_no_secret, run_cli

from gsep_cli import config
from gsep_cli.apikey import mask_key
from gsep_cli.config import (
    DEFAULT_BASE_URL,
    check_base_url,
    config_path,
    load_settings,
    read_config,
    set_profile_value,
    write_config,
)
from gsep_cli.errors import ConfigError, ExitCode, UsageError


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No GSEP_*/GAUDIO_* variables, config in tmp_path/config, cwd tmp_path."""
    clitools.set_env(monkeypatch, tmp_path)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _write(profiles: dict[str, dict[str, str]]) -> Path:
    return write_config({"profiles": profiles})


# ---- mask_key ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("key", "masked"),
    [
        ("abcdefghijkl9876", "********9876"),
        (SECRET, "********1234"),
        ("123456789", "********6789"),
        ("12345678", "********"),  # short keys: nothing shown at all
        ("abc", "********"),
        ("", "********"),
    ],
)
def test_mask_key(key: str, masked: str) -> None:
    assert mask_key(key) == masked


def test_mask_key_never_shows_more_than_four_characters() -> None:
    key = "k" * 10 + "ABCDEFGH"
    assert mask_key(key).replace("*", "") == "EFGH"


# ---- check_base_url --------------------------------------------------------------------
@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (DEFAULT_BASE_URL, DEFAULT_BASE_URL),
        (DEFAULT_BASE_URL + "/", DEFAULT_BASE_URL),
        ("  https://api.example.com/x  ", "https://api.example.com/x"),
        ("http://127.0.0.1:8080/developers/api", "http://127.0.0.1:8080/developers/api"),
        ("http://localhost:1/api", "http://localhost:1/api"),
        ("http://[::1]:8080/developers/api", "http://[::1]:8080/developers/api"),
        ("HTTPS://Example.com/api", "HTTPS://Example.com/api"),
    ],
)
def test_check_base_url_accepts(url: str, expected: str) -> None:
    assert check_base_url(url) == expected


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("ftp://example.com/api", "not an http(s) URL"),
        ("file:///etc/passwd", "not an http(s) URL"),
        ("example.com/api", "not an http(s) URL"),
        ("https://", "not an http(s) URL"),
        ("", "not an http(s) URL"),
        ("javascript:alert(1)", "not an http(s) URL"),
        ("http://example.com/api", "plain http"),
        ("http://127.0.0.1.evil.example/api", "plain http"),
        ("http://localhost.evil.example/api", "plain http"),
        ("http://10.0.0.1/api", "plain http"),
        ("https://example.com/api?x=1", "query or fragment"),
        ("https://example.com/api#frag", "query or fragment"),
    ],
)
def test_check_base_url_rejects(url: str, fragment: str) -> None:
    with pytest.raises(UsageError) as info:
        check_base_url(url)
    assert fragment in info.value.message
    assert info.value.hint  # every refusal says what to do
    assert info.value.exit_code == ExitCode.USAGE


# ---- precedence: flag > env > profile > default ------------------------------------------
def test_defaults(env: Path) -> None:
    settings = load_settings()
    assert settings.profile == "default"
    assert settings.values == {
        "base_url": DEFAULT_BASE_URL,
        "format": "wav",
        "stems": "vocal",
        "output_dir": ".",
        "model": "gsep_music_hq_v1",
        "ledger_url": "",  # the state folder's SQLite file
    }
    assert set(settings.sources.values()) == {"default", "not set"}
    assert settings.api_key is None
    assert settings.sources["api_key"] == "not set"


def test_precedence_flag_env_profile_default(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write(
        {
            "default": {
                "base_url": "https://profile.example/api",
                "format": "mp3",
                "stems": "drum",
                "model": "gsep_music_shq_v1",
            }
        }
    )
    monkeypatch.setenv("GSEP_BASE_URL", "https://env.example/api")
    monkeypatch.setenv("GSEP_FORMAT", "both")
    settings = load_settings(base_url="https://flag.example/api")
    assert settings.base_url == "https://flag.example/api"
    assert settings.sources["base_url"] == "flag --base-url"
    assert settings.get("format") == "both"
    assert settings.sources["format"] == "env GSEP_FORMAT"
    assert settings.get("stems") == "drum"
    assert settings.sources["stems"] == "config profile 'default'"
    assert settings.get("model") == "gsep_music_shq_v1"
    assert settings.get("output_dir") == "."
    assert settings.sources["output_dir"] == "default"
    # without the flag, the environment wins over the profile
    assert load_settings().base_url == "https://env.example/api"
    monkeypatch.delenv("GSEP_BASE_URL")
    assert load_settings().base_url == "https://profile.example/api"


def test_empty_env_values_fall_through(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write({"default": {"format": "mp3"}})
    monkeypatch.setenv("GSEP_FORMAT", "")
    monkeypatch.setenv("GSEP_BASE_URL", "")
    settings = load_settings()
    assert settings.get("format") == "mp3"
    assert settings.base_url == DEFAULT_BASE_URL


def test_invalid_base_url_from_any_source_is_refused(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write({"default": {"base_url": "http://evil.example/api"}})
    with pytest.raises(ConfigError, match=r"base_url in config profile 'default'.*plain http"):
        load_settings()
    monkeypatch.setenv("GSEP_BASE_URL", "ftp://x")
    with pytest.raises(ConfigError, match="GSEP_BASE_URL 'ftp://x' is not an http"):
        load_settings()
    with pytest.raises(UsageError, match=r"--base-url .* is not an http") as info:
        load_settings(base_url="gopher://y")
    assert info.value.exit_code == ExitCode.USAGE


def test_profile_selection_flag_over_env(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write({"default": {"format": "wav"}, "work": {"format": "mp3"}, "home": {"format": "both"}})
    monkeypatch.setenv("GSEP_PROFILE", "home")
    assert load_settings().get("format") == "both"
    settings = load_settings(profile="work")
    assert settings.profile == "work"
    assert settings.get("format") == "mp3"
    assert settings.sources["format"] == "config profile 'work'"


def test_unknown_profile_warns_and_lists_profiles(env: Path) -> None:
    _write({"default": {"format": "mp3"}, "work": {}})
    settings = load_settings(profile="nope")
    assert settings.get("format") == "wav"
    assert any("'nope'" in w and "default, work" in w for w in settings.warnings)


# ---- key order: GSEP_API_KEY > GAUDIO_API_KEY > profile ------------------------------------
def test_key_order(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write({"default": {"api_key": "stored-key-0000"}})
    monkeypatch.setenv("GSEP_API_KEY", "gsep-key-1111")
    monkeypatch.setenv("GAUDIO_API_KEY", "gaudio-key-2222")
    settings = load_settings()
    assert (settings.api_key, settings.sources["api_key"]) == ("gsep-key-1111", "env GSEP_API_KEY")
    monkeypatch.delenv("GSEP_API_KEY")
    settings = load_settings()
    assert (settings.api_key, settings.sources["api_key"]) == (
        "gaudio-key-2222",
        "env GAUDIO_API_KEY",
    )
    monkeypatch.delenv("GAUDIO_API_KEY")
    settings = load_settings()
    assert settings.api_key == "stored-key-0000"
    assert settings.sources["api_key"] == "config profile 'default'"


def test_blank_key_variables_are_ignored(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GSEP_API_KEY", "   ")
    monkeypatch.setenv("GAUDIO_API_KEY", " gaudio-key-2222\n")
    settings = load_settings()
    assert settings.api_key == "gaudio-key-2222"


def test_key_comes_from_the_selected_profile(env: Path) -> None:
    _write({"default": {"api_key": "default-key-0000"}, "work": {"api_key": "work-key-9999"}})
    assert load_settings(profile="work").api_key == "work-key-9999"


def test_missing_key_is_a_config_error_that_says_how(env: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings().require_key()
    assert info.value.exit_code == ExitCode.AUTH
    text = f"{info.value.message} {info.value.hint}"
    for hint in ("GSEP_API_KEY", "gsep config set-key", "--sandbox"):
        assert hint in text


def test_settings_repr_hides_the_key(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GSEP_API_KEY", SECRET)
    settings = load_settings()
    assert SECRET not in repr(settings)
    assert SECRET not in str(settings)


# ---- the file: location, modes, warnings, bad content -------------------------------------
def test_config_dir_order(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    clitools.set_env(monkeypatch, tmp_path)
    assert config_path() == tmp_path / "config" / "config.json"
    monkeypatch.delenv("GSEP_CONFIG_DIR")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert config_path() == tmp_path / "xdg" / "gsep" / "config.json"
    monkeypatch.delenv("XDG_CONFIG_HOME")
    assert config_path().name == "config.json"
    assert config_path().parent.name == "gsep"


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_file_0600_and_folder_0700_under_umask_022(env: Path) -> None:
    old = os.umask(0o022)
    try:
        path = set_profile_value("default", "api_key", SECRET)
        set_profile_value("default", "format", "mp3")  # rewriting keeps the modes
    finally:
        os.umask(old)
    assert path == env / "config" / "config.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    data = json.loads(path.read_text())
    assert data == {"profiles": {"default": {"api_key": SECRET, "format": "mp3"}}}
    leftovers = [p.name for p in path.parent.iterdir() if p.name != "config.json"]
    assert leftovers == []  # the temporary file was renamed, not left behind


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_an_existing_folder_keeps_its_mode(env: Path) -> None:
    folder = env / "config"
    folder.mkdir(mode=0o1777)
    os.chmod(folder, 0o1777)  # e.g. a shared folder the user chose: never gsep's to change
    set_profile_value("default", "format", "mp3")
    assert stat.S_IMODE(folder.stat().st_mode) == 0o1777
    assert stat.S_IMODE((folder / "config.json").stat().st_mode) == 0o600


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o620])
def test_warning_for_a_file_others_can_access(env: Path, mode: int) -> None:
    path = set_profile_value("default", "format", "mp3")
    os.chmod(path, mode)
    _, warnings = read_config()
    assert len(warnings) == 1
    assert "readable by other users" in warnings[0]
    assert f"chmod 600 {path}" in warnings[0]
    os.chmod(path, 0o600)
    assert read_config()[1] == []


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_cli_shows_the_permission_warning_even_with_quiet(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = set_profile_value("default", "format", "mp3")
    os.chmod(path, 0o644)
    run = run_cli(capsys, ["-q", "config", "get", "format"])
    assert run.code == 0, run
    assert run.out == "mp3\n"
    assert "gsep: warning: config file" in run.err
    assert "chmod 600" in run.err


@pytest.mark.parametrize(
    ("content", "fragment"),
    [("{not json", "not valid JSON"), ("[1, 2]", "JSON object")],
)
def test_broken_config_file_is_a_clear_error(
    env: Path, capsys: pytest.CaptureFixture[str], content: str, fragment: str
) -> None:
    path = config_path()
    path.parent.mkdir(parents=True)
    path.write_text(content)
    with pytest.raises(ConfigError, match=fragment):
        load_settings()
    run = run_cli(capsys, ["config", "show"])
    assert_clean_error(run, ExitCode.AUTH, fragment)


def test_empty_config_file_is_fine(env: Path) -> None:
    path = config_path()
    path.parent.mkdir(parents=True)
    path.write_text("  \n")
    assert load_settings().profile == "default"


def test_odd_shapes_in_the_file_are_ignored(env: Path) -> None:
    write_config({"profiles": {"default": {"format": 5, "stems": "", "api_key": "  "}}})
    settings = load_settings()
    assert settings.get("format") == "wav"
    assert settings.get("stems") == "vocal"
    assert settings.api_key is None
    write_config({"profiles": "nonsense"})
    assert load_settings().get("format") == "wav"
    with pytest.raises(ConfigError, match="profiles"):
        set_profile_value("default", "format", "mp3")


def test_set_profile_value_none_removes(env: Path) -> None:
    set_profile_value("default", "format", "mp3")
    set_profile_value("default", "format", None)
    assert read_config()[0] == {"profiles": {"default": {}}}


# ---- gsep config commands (in-process) -----------------------------------------------------
def test_config_path_command(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = run_cli(capsys, ["config", "path"])
    assert run.code == 0
    assert run.out == f"{env / 'config' / 'config.json'}\n"
    assert run.err == ""


def test_set_key_from_stdin_then_show_masks_it(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = run_cli(capsys, ["config", "set-key"], stdin=SECRET + "\n")
    assert run.code == 0, run
    assert run.out == ""
    assert "saved" in run.err
    assert_no_secret(run)
    assert read_config()[0]["profiles"]["default"]["api_key"] == SECRET
    assert stat.S_IMODE(config_path().stat().st_mode) == 0o600

    show = run_cli(capsys, ["config", "show"])
    assert show.code == 0, show
    assert_no_secret(show)
    line = next(ln for ln in show.lines if ln.startswith("api_key"))
    assert "********1234" in line
    assert "config profile 'default'" in line

    as_json = run_cli(capsys, ["--json", "config", "show"])
    doc = as_json.json()
    assert set(doc) >= {"profile", "configFile", "values", "sources"}
    assert doc["values"]["api_key"] == "********1234"
    assert doc["sources"]["api_key"] == "config profile 'default'"
    assert doc["configFile"] == str(config_path())
    assert_no_secret(as_json)


def test_set_key_into_another_profile(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = run_cli(capsys, ["--profile", "work", "config", "set-key"], stdin="work-key-abcd")
    assert run.code == 0, run
    assert read_config()[0]["profiles"] == {"work": {"api_key": "work-key-abcd"}}
    show = run_cli(capsys, ["--profile", "work", "--json", "config", "show"]).json()
    assert show["profile"] == "work"
    assert show["values"]["api_key"] == "********abcd"


def test_show_says_env_key_wins_over_stored_key(
    env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    run_cli(capsys, ["config", "set-key"], stdin="stored-key-0000")
    monkeypatch.setenv("GAUDIO_API_KEY", SECRET)
    doc = run_cli(capsys, ["--json", "config", "show"]).json()
    assert doc["values"]["api_key"] == "********1234"
    assert doc["sources"]["api_key"] == "env GAUDIO_API_KEY"


def test_show_without_a_key(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = run_cli(capsys, ["config", "show"])
    assert run.code == 0
    line = next(ln for ln in run.lines if ln.startswith("api_key"))
    assert line.split() == ["api_key", "not", "set"]  # said once (was "(not set)  [not set]")
    for name in ("base_url", "model", "stems", "format", "output_dir"):
        assert any(ln.startswith(name) and ln.endswith("  default") for ln in run.lines), name
    doc = run_cli(capsys, ["--json", "config", "show"]).json()
    assert doc["values"]["api_key"] is None


def test_set_key_with_a_hidden_prompt(
    env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import getpass
    import io

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    prompts: list[str] = []

    def fake_getpass(prompt: str = "") -> str:
        prompts.append(prompt)
        return "  prompted-key-5678  "

    monkeypatch.setattr(getpass, "getpass", fake_getpass)
    monkeypatch.setattr("sys.stdin", Tty())
    run = run_cli(capsys, ["config", "set-key"])
    assert run.code == 0, run
    assert len(prompts) == 1 and "hidden" in prompts[0]
    assert read_config()[0]["profiles"]["default"]["api_key"] == "prompted-key-5678"


@pytest.mark.parametrize(
    ("stdin", "fragment"),
    [("", "no key given"), ("   \n", "no key given"), ("two words", "does not look like")],
)
def test_set_key_refuses_bad_input(
    env: Path, capsys: pytest.CaptureFixture[str], stdin: str, fragment: str
) -> None:
    run = run_cli(capsys, ["config", "set-key"], stdin=stdin)
    assert_clean_error(run, ExitCode.USAGE, fragment)
    assert not config_path().exists()


@pytest.mark.parametrize("args", [[SECRET], ["--key", SECRET], [f"--key={SECRET}"]])
def test_set_key_never_from_an_argument_and_never_echoed(
    env: Path, capsys: pytest.CaptureFixture[str], args: list[str]
) -> None:
    run = run_cli(capsys, ["config", "set-key", *args], stdin="")
    assert_clean_error(run, ExitCode.USAGE, "not accepted as an argument", "Pipe it")
    assert_no_secret(run)
    assert not config_path().exists()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("format", "mp3"),
        ("format", "both"),
        ("stems", "vocal,drum"),
        ("stems", "all"),
        ("model", "gsep_music_shq_v1"),
        ("output_dir", "stems-out"),
        ("base_url", "http://127.0.0.1:9/developers/api/"),
    ],
)
def test_config_set_then_get(
    env: Path, capsys: pytest.CaptureFixture[str], name: str, value: str
) -> None:
    run = run_cli(capsys, ["config", "set", name, value])
    assert run.code == 0, run
    assert run.out == ""
    got = run_cli(capsys, ["config", "get", name])
    assert got.code == 0, got
    assert got.out == value.rstrip("/") + "\n"
    doc = run_cli(capsys, ["--json", "config", "show"]).json()
    assert doc["sources"][name] == "config profile 'default'"


def test_config_get_follows_precedence(
    env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    run_cli(capsys, ["config", "set", "format", "mp3"])
    monkeypatch.setenv("GSEP_FORMAT", "both")
    assert run_cli(capsys, ["config", "get", "format"]).out == "both\n"
    assert run_cli(capsys, ["config", "get", "base_url"]).out == DEFAULT_BASE_URL + "\n"
    flag = run_cli(capsys, ["--base-url", "http://localhost:5/x", "config", "get", "base_url"])
    assert flag.out == "http://localhost:5/x\n"


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["set", "api_key", "x"], "set-key"),
        (["set", "key", "x"], "set-key"),
        (["set", "colour", "red"], "unknown setting"),
        (["get", "colour"], "unknown setting"),
        (["set", "format", "flack"], "unknown format"),
        (["set", "stems", "guitar"], "unknown stem"),
        (["set", "stems", "vocal,vocal"], "twice"),
        (["set", "stems", "others"], "besides 'others'"),
        (["set", "model", "nope"], "unknown model"),
        (["set", "base_url", "http://example.com/api"], "plain http"),
        (["set", "base_url", "ftp://example.com/api"], "not an http"),
    ],
)
def test_config_set_get_refuse_bad_values(
    env: Path, capsys: pytest.CaptureFixture[str], args: list[str], fragment: str
) -> None:
    run = run_cli(capsys, ["config", *args])
    assert_clean_error(run, ExitCode.USAGE, fragment)
    assert not config_path().exists()


def test_config_set_into_profile_from_env(
    env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GSEP_PROFILE", "work")
    assert run_cli(capsys, ["config", "set", "format", "mp3"]).code == 0
    assert read_config()[0]["profiles"] == {"work": {"format": "mp3"}}
    assert run_cli(capsys, ["config", "get", "format"]).out == "mp3\n"
    monkeypatch.delenv("GSEP_PROFILE")
    assert run_cli(capsys, ["config", "get", "format"]).out == "wav\n"


def test_json_config_path_and_get_are_json(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = run_cli(capsys, ["--json", "config", "path"])
    assert path.json() == {"configFile": str(config_path())}
    got = run_cli(capsys, ["--json", "config", "get", "format"])
    assert got.json() == {"name": "format", "value": "wav", "source": "default"}


def test_config_module_has_one_key_order() -> None:
    assert config.KEY_ENV_VARS == ("GSEP_API_KEY", "GAUDIO_API_KEY")
