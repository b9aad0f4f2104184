"""Every model through the CLI, and the lyrics model's text input (issue 6).

Runs ``gsep_cli.cli.run`` in-process against a sandbox over loopback; the sandbox's store
and request log prove what was sent.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
from clitools import (
    SECRET,
    api_requests,
    assert_clean_error,
    files_under,
    key_info_requests,
    make_wav,
    run_cli,
)
from clitools import set_env as _set_env

from gsep_cli.choices import (
    check_language,
    check_lyrics_file,
    lyrics_body,
    output_ext,
    planned_outputs,
)
from gsep_cli.errors import UsageError
from gsep_cli.models import MODELS, Output
from gsep_cli.sandbox import Sandbox

LYRICS = "gts_lyrics_line_v1"
TEXT = "first line of the song\nsecond line\n\nthird line\n"


@pytest.fixture
def sb(sandbox: Any) -> Sandbox:
    # a fresh sandbox per test (not the module's shared one), jobs that end at once
    box: Sandbox = sandbox(rate_limit=0)
    return box


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sb: Sandbox) -> Path:
    _set_env(monkeypatch, tmp_path, GSEP_API_KEY=SECRET, GSEP_BASE_URL=sb.base_url)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _creates(sb: Sandbox) -> tuple[int, int]:
    log = api_requests(sb)
    uploads = sum(1 for e in log if e["method"] == "POST" and e["path"].endswith("/create"))
    jobs = sum(1 for e in log if e["method"] == "POST" and e["path"].endswith("/jobs"))
    return uploads, jobs


def _song(folder: Path, name: str = "song", text: str | None = TEXT) -> Path:
    wav = make_wav(folder / f"{name}.wav", seconds=0.3)
    if text is not None:
        (folder / f"{name}.txt").write_text(text, encoding="utf-8")
    return wav


# ---- every model, end to end -------------------------------------------------------------
def _expected_files(model: str, track: str) -> list[str]:
    spec = MODELS[model]
    stems = list(spec.stems[:1] or spec.outputs)
    return sorted(f"{track}/{stem}.{ext}" for stem, ext in planned_outputs(spec, stems, ["wav"]))


@pytest.mark.parametrize("model", sorted(MODELS))
def test_every_model_separates_then_downloads_again_by_job_id(
    capsys: Any, env: Path, sb: Sandbox, model: str
) -> None:
    spec = MODELS[model]
    _song(env)
    args = ["--json", "separate", "song.wav", "--model", model, "-o", "out"]
    if spec.needs_type:
        args += ["--stems", spec.stems[0]]
    if spec.needs_lyrics:
        args += ["--language", "ko"]
    run = run_cli(capsys, args)
    assert run.code == 0, str(run)
    document = run.json()
    assert document["model"] == model
    assert document["status"] == "success"
    assert files_under(env / "out") == _expected_files(model, "song")
    job = sb.store.find_job(document["jobId"])
    assert job is not None and job.model == model
    body_log = [e for e in api_requests(sb) if e["path"].endswith(f"/{model}/jobs")]
    assert len(body_log) == 1  # exactly one job, under the model's own path

    status = run_cli(capsys, ["job", "status", document["jobId"], "--model", model])
    assert (status.code, status.out) == (0, "success\n")
    again = run_cli(capsys, ["download", document["jobId"], "--model", model, "-o", "again"])
    assert again.code == 0, str(again)
    # the ledger remembers the input, so {track} is still its name
    assert files_under(env / "again") == _expected_files(model, "song")


def test_dme_model_refuses_stems_it_does_not_have(capsys: Any, env: Path, sb: Sandbox) -> None:
    _song(env)
    run = run_cli(capsys, ["separate", "song.wav", "-m", "gsep_dme_dtrack_v1", "-s", "vocal"])
    assert_clean_error(run, 2, "unknown stem 'vocal'", "dialogue")
    assert api_requests(sb) == []


# ---- the lyrics model ------------------------------------------------------------------
def test_lyrics_separate_uploads_text_and_writes_csv_and_json(
    capsys: Any, env: Path, sb: Sandbox
) -> None:
    _song(env, text=None)
    (env / "words.txt").write_text(TEXT, encoding="utf-8")
    run = run_cli(
        capsys,
        [
            "separate",
            "song.wav",
            "-m",
            LYRICS,
            "--lyrics",
            "words.txt",
            "--language",
            "JA",
            "--manifest",
            "manifest.json",
        ],
    )
    assert run.code == 0, str(run)
    assert run.lines == ["song/lyrics.csv", "song/reports.json"]
    assert _creates(sb) == (2, 1)  # the audio and the text, then one job
    rows = list(csv.reader((env / "song/lyrics.csv").open(encoding="utf-8")))
    assert [r[1] for r in rows[1:]] == ["first line of the song", "second line", "third line"]
    report = json.loads((env / "song/reports.json").read_text(encoding="utf-8"))
    assert report["language"] == "ja"  # lower-cased before sending
    manifest = json.loads((env / "manifest.json").read_text(encoding="utf-8"))
    entry = manifest["files"]["song/lyrics.csv"]
    assert (entry["lyrics"], entry["language"]) == ("words.txt", "ja")


def test_lyrics_beside_each_input_in_a_batch(capsys: Any, env: Path, sb: Sandbox) -> None:
    for i in range(3):
        _song(env / "in", f"s{i}", text=f"song {i} line one\nsong {i} line two\n")
    run = run_cli(capsys, ["separate", "in", "-m", LYRICS, "--language", "en", "--jobs", "3"])
    assert run.code == 0, str(run)
    for i in range(3):
        rows = list(csv.reader((env / f"s{i}/lyrics.csv").open(encoding="utf-8")))
        assert rows[1][1] == f"song {i} line one"  # each input got its own text
    assert _creates(sb) == (6, 3)


def test_lyrics_rerun_reattaches_but_new_text_or_language_is_a_new_job(
    capsys: Any, env: Path, sb: Sandbox
) -> None:
    _song(env)
    base = ["separate", "song.wav", "-m", LYRICS, "-o", "out"]
    assert run_cli(capsys, [*base, "--language", "en"]).code == 0
    sb.clear_requests()
    again = run_cli(capsys, [*base, "--language", "en"])
    assert again.code == 0, str(again)
    assert _creates(sb) == (0, 0)  # same audio, text and language: nothing paid
    assert "already done" in again.err

    (env / "song.txt").write_text("new first\nnew second\n", encoding="utf-8")
    sb.clear_requests()
    changed = run_cli(capsys, [*base, "--language", "en", "--force"])
    assert changed.code == 0, str(changed)
    # new text: a new job; the audio upload is reused (--force only overwrites the files)
    assert _creates(sb) == (1, 1)
    sb.clear_requests()
    (env / "song.txt").write_text("third version\nof the words\n", encoding="utf-8")
    newer = run_cli(capsys, [*base, "--language", "en", "--skip-existing"])
    assert newer.code == 0, str(newer)
    assert _creates(sb) == (1, 1)  # new text: a new job; the audio upload is reused
    sb.clear_requests()
    korean = run_cli(capsys, [*base, "--language", "ko", "--skip-existing"])
    assert korean.code == 0, str(korean)
    assert _creates(sb) == (0, 1)  # new language: a new job, both uploads reused


@pytest.mark.parametrize(
    ("args", "text", "fragments"),
    [
        (["-m", LYRICS], TEXT, ["needs --language", "en, ko, ja, zh-cn"]),
        (["-m", LYRICS, "--language", "fr"], TEXT, ["unsupported language 'fr'"]),
        (["--language", "en"], TEXT, ["for gts_lyrics_line_v1", "gsep_music_hq_v1"]),
        (["--lyrics", "song.txt"], TEXT, ["for gts_lyrics_line_v1"]),
        (["-m", LYRICS, "--language", "en"], None, ["lyrics file not found", "song.txt"]),
        (["-m", LYRICS, "--language", "en"], "only one line\n", ["fewer than 2 lines"]),
        (["-m", LYRICS, "--language", "en", "--lyrics", "song.wav"], TEXT, ["must be a .txt"]),
        (["-m", LYRICS, "--language", "en", "--lyrics", "extra.txt"], TEXT, ["not a file"]),
    ],
)
def test_lyrics_mistakes_are_refused_before_any_request(
    capsys: Any, env: Path, sb: Sandbox, args: list[str], text: str | None, fragments: list[str]
) -> None:
    _song(env, text=text)
    (env / "extra.txt").mkdir()
    run = run_cli(capsys, ["separate", "song.wav", *args])
    assert_clean_error(run, 2, *fragments)
    assert api_requests(sb) == []


def test_lyrics_not_utf8_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "latin.txt"
    path.write_bytes("caf\xe9 au lait\nd\xe9j\xe0 vu\n".encode("latin-1"))
    with pytest.raises(UsageError, match="not UTF-8"):
        check_lyrics_file(path)
    path.write_bytes("\ufeffcafé\ndéjà vu\n".encode())  # a BOM is fine
    assert check_lyrics_file(path) == path.stat().st_size


def test_one_lyrics_file_for_several_inputs_is_refused(capsys: Any, env: Path, sb: Sandbox) -> None:
    _song(env, "a")
    _song(env, "b")
    run = run_cli(
        capsys,
        ["separate", "a.wav", "b.wav", "-m", LYRICS, "--language", "en", "--lyrics", "a.txt"],
    )
    assert_clean_error(run, 2, "--lyrics gives the text of one input")
    assert api_requests(sb) == []


def test_lyrics_job_create_with_file_or_upload_id(capsys: Any, env: Path, sb: Sandbox) -> None:
    _song(env)
    audio = run_cli(capsys, ["upload", "song.wav"])
    text = run_cli(capsys, ["upload", "song.txt"])  # a .txt uploads as lyrics
    assert audio.code == text.code == 0, str(text)
    audio_id, text_id = audio.out.strip(), text.out.strip()
    made = run_cli(
        capsys,
        ["--json", "job", "create", audio_id, "-m", LYRICS, "--lyrics-id", text_id,
         "--language", "zh-cn"],
    )  # fmt: skip
    assert made.code == 0, str(made)
    document = made.json()
    assert (document["textUploadId"], document["language"]) == (text_id, "zh-cn")
    job = sb.store.find_job(document["jobId"])
    assert job is not None and (job.text_upload_id, job.language) == (text_id, "zh-cn")

    sb.clear_requests()
    direct = run_cli(
        capsys,
        ["job", "create", audio_id, "-m", LYRICS, "--lyrics", "song.txt", "--language", "en"],
    )
    assert direct.code == 0, str(direct)
    assert _creates(sb) == (1, 1)  # the text was uploaded, then the job created

    sb.clear_requests()
    neither = run_cli(capsys, ["job", "create", audio_id, "-m", LYRICS, "--language", "en"])
    assert_clean_error(neither, 2, "--lyrics FILE.txt or --lyrics-id")
    both = run_cli(
        capsys,
        ["job", "create", audio_id, "-m", LYRICS, "--language", "en", "--lyrics", "song.txt",
         "--lyrics-id", text_id],
    )  # fmt: skip
    assert_clean_error(both, 2, "not both")
    assert api_requests(sb) == []


def test_lyrics_dry_run_shows_the_text_and_language(capsys: Any, env: Path, sb: Sandbox) -> None:
    _song(env)
    args = ["separate", "song.wav", "-m", LYRICS, "--language", "en", "--dry-run"]
    run = run_cli(capsys, args)
    assert run.code == 0, str(run)
    size = (env / "song.txt").stat().st_size
    assert f"and song.txt ({size} bytes, lyrics text)" in run.out
    assert "then create gts_lyrics_line_v1 job language=en" in run.out
    assert "would write song/lyrics.csv, song/reports.json" in run.out
    document = run_cli(capsys, ["--json", *args]).json()
    assert document["lyrics"] == {"path": "song.txt", "bytes": size}
    assert document["language"] == "en"
    assert document["wouldWrite"] == ["song/lyrics.csv", "song/reports.json"]
    assert key_info_requests(sb) == 2  # each dry run's one request: the credits left


def test_format_flag_on_the_lyrics_model_only_warns(capsys: Any, env: Path, sb: Sandbox) -> None:
    _song(env)
    run = run_cli(
        capsys, ["separate", "song.wav", "-m", LYRICS, "--language", "en", "--format", "mp3"]
    )
    assert run.code == 0, str(run)
    assert "--format mp3 does not apply" in run.err
    assert run.lines == ["song/lyrics.csv", "song/reports.json"]


# ---- pure logic ------------------------------------------------------------------------------
def test_language_and_body_and_extensions() -> None:
    assert check_language(" ZH-CN ") == "zh-cn"
    for bad in (None, "", "fr", "zh"):
        with pytest.raises(UsageError):
            check_language(bad)
    assert lyrics_body("t1", "EN") == {"textUploadId": "t1", "language": "en"}
    spec = MODELS[LYRICS]
    assert planned_outputs(spec, ["lyrics", "reports"], ["wav", "mp3"]) == [
        ("lyrics", "csv"),
        ("reports", "json"),
    ]
    music = MODELS["gsep_music_hq_v1"]
    assert planned_outputs(music, ["vocal"], ["wav", "mp3"]) == [("vocal", "wav"), ("vocal", "mp3")]
    assert output_ext(spec, Output("lyrics", "file", "https://cdn/x/whatever")) == "csv"
    assert output_ext(music, Output("vocal", "mp3", "https://cdn/x/v.wav")) == "mp3"
    assert output_ext(music, Output("extra", "file", "https://cdn/x/notes.TXT?sig=1")) == "txt"


def test_client_refuses_a_lyrics_job_without_text(sb: Sandbox) -> None:
    from gsep_cli.client import GsepClient

    with GsepClient(sb.base_url, SECRET) as client, pytest.raises(UsageError, match="lyrics"):
        client.create_job("some-upload", model=LYRICS, stems=())
    assert api_requests(sb) == []
