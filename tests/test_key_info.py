"""gsep key info: whatever the API says about the key, shown generically."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gsep_cli.cli import run
from gsep_cli.cli._output import flatten as _flatten
from gsep_cli.sandbox import Sandbox


@pytest.fixture(autouse=True)
def _env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GSEP_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("GSEP_API_KEY", "good-key-7777")
    monkeypatch.delenv("GSEP_BASE_URL", raising=False)


def test_text_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    with Sandbox(credits=5, permitted_models=["gsep_music_hq_v1"]) as sb:
        assert run(["--base-url", sb.base_url, "key", "info"]) == 0
        lines = capsys.readouterr().out.splitlines()
        assert "credits.free: 5" in lines and "permittedModels: gsep_music_hq_v1" in lines
        assert run(["--base-url", sb.base_url, "--json", "key", "info"]) == 0
        doc = json.loads(capsys.readouterr().out)
        assert doc["credits"] == {"free": 5, "paid": 0} and doc["status"] == "active"
        assert [e["path"] for e in sb.requests] == ["/developers/api/v1/key/info"] * 2


def test_unknown_key_is_exit_3(capsys: pytest.CaptureFixture[str]) -> None:
    with Sandbox(api_keys=["another-key"]) as sb:
        assert run(["--base-url", sb.base_url, "key", "info"]) == 3
    err = capsys.readouterr().err
    assert "401" in err and "good-key-7777" not in err


def test_flatten_any_shape() -> None:
    data = {"a": {"b": [1, 2], "c": None}, "d": [{"e": 1}, {"f": [True]}], "g": "x"}
    assert _flatten(data) == [
        ("a.b", "1, 2"),
        ("a.c", "null"),
        ("d[0].e", "1"),
        ("d[1].f", "True"),
        ("g", "x"),
    ]
