"""GsepClient, the library layer: works without typer/rich, reports through callbacks, and
talks to the sandbox over real HTTP (loopback only)."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import clitools
import pytest
from clitools import SECRET, files_under, make_wav

from gsep_cli.choices import (
    check_job_id,
    get_model,
    resolve_formats,
    resolve_stems,
    select_outputs,
    type_value,
)
from gsep_cli.client import GsepClient, WrittenFile
from gsep_cli.errors import (
    ExitCode,
    GsepError,
    JobFailed,
    RequestRejected,
    ServiceUnavailable,
    UsageError,
    WaitTimeout,
)
from gsep_cli.models import Job, JobStatus, Output
from gsep_cli.polling import PollPolicy
from gsep_cli.preflight import check_input_file
from gsep_cli.retry import RetryPolicy
from gsep_cli.sandbox import Sandbox

FAST_POLICY = RetryPolicy(attempts=3, base=0.01, cap=0.05, rate_limit_wait=0.1)
FAST_POLL = PollPolicy(initial=0.05, cap=0.2)


class Recorder:
    """A Listener that records every callback (thread-safe)."""

    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []
        self._lock = threading.Lock()

    def _add(self, *event: Any) -> None:
        with self._lock:
            self.events.append(event)

    def transfer_start(self, key: str, label: str, total: int | None, *, subject: str = "") -> None:
        self._add("start", key, label, total, subject)

    def transfer_advance(self, key: str, delta: int) -> None:
        self._add("advance", key, delta)

    def transfer_end(self, key: str, ok: bool) -> None:
        self._add("end", key, ok)

    def job_status(self, job_id: str, status: str, elapsed: float, *, subject: str = "") -> None:
        self._add("status", job_id, status, elapsed, subject)

    def notice(self, message: str) -> None:
        self._add("notice", message)

    def of(self, kind: str) -> list[tuple[Any, ...]]:
        return [e for e in self.events if e[0] == kind]

    def advanced(self, key: str) -> int:
        return sum(e[2] for e in self.events if e[0] == "advance" and e[1] == key)


def make_client(sb: Sandbox, listener: Any = None, **kwargs: Any) -> GsepClient:
    options: dict[str, Any] = {"policy": FAST_POLICY, "poll": FAST_POLL, "timeout": (5.0, 20.0)}
    options.update(kwargs)
    return GsepClient(sb.base_url, SECRET, listener=listener, **options)


@pytest.fixture
def wav(tmp_path: Path) -> Path:
    return make_wav(tmp_path / "song.wav", seconds=0.3)


def finished_job(sb: Sandbox, wav: Path, stems: list[str]) -> tuple[GsepClient, Job]:
    client = make_client(sb)
    upload_id = client.upload_file(wav)
    job_id = client.create_job(upload_id, stems=stems)
    return client, client.wait(job_id, timeout=30)


# ---- the whole flow through the library ---------------------------------------------------
def test_full_flow_reports_through_callbacks_and_never_prints(
    sb: Sandbox, wav: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rec = Recorder()
    log: list[str] = []
    size = wav.stat().st_size
    with make_client(sb, rec, log=log.append, parallel=3) as client:
        upload_id = client.upload_file(wav)
        job_id = client.create_job(upload_id, stems=["vocal", "drum"])
        job = client.wait(job_id, timeout=30)
        written = client.download(
            job, tmp_path / "out", stems=["vocal", "drum"], formats=["wav", "mp3"], track="song"
        )

    assert isinstance(upload_id, str) and upload_id
    assert job.status == JobStatus.SUCCESS and job.job_id == job_id
    assert job.expire_at and job.expire_at.endswith("Z")
    # upload progress: one transfer of the file's size, fully advanced, ended ok
    key = f"upload:{wav}"
    assert ("start", key, "upload", size, "song.wav") in rec.events  # names its input
    assert rec.advanced(key) == size
    assert ("end", key, True) in rec.events
    # live status: every poll reported, ending in success
    statuses = [e[2] for e in rec.of("status")]
    assert statuses[-1] == "success"
    assert set(statuses) <= {"waiting", "running", "success"}
    # downloads: names from stem + format, in the order asked
    out = tmp_path / "out" / "song"
    assert [(w.stem, w.format, w.path) for w in written] == [
        ("vocal", "wav", out / "vocal.wav"),
        ("vocal", "mp3", out / "vocal.mp3"),
        ("drum", "wav", out / "drum.wav"),
        ("drum", "mp3", out / "drum.mp3"),
    ]
    for item in written:
        assert item.path.stat().st_size == item.bytes > 0
        assert not item.skipped
        assert rec.advanced(f"download:{item.path}") == item.bytes
    assert files_under(tmp_path / "out") == [
        "song/drum.mp3",
        "song/drum.wav",
        "song/vocal.mp3",
        "song/vocal.wav",
    ]
    assert out.joinpath("vocal.wav").read_bytes()[:4] == b"RIFF"
    # the library printed nothing; its log never holds the key
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""
    assert log and not any(SECRET in line for line in log)


def test_the_key_goes_only_to_the_api_host(sb: Sandbox, wav: Path, tmp_path: Path) -> None:
    client, job = finished_job(sb, wav, ["vocal"])
    client.download(job, tmp_path, formats=["wav", "mp3"], track="t")
    kinds: dict[str, list[bool]] = {}
    for entry in sb.requests:
        kinds.setdefault(entry["kind"], []).append(entry["hasApiKey"])
        assert entry["port"] == sb.port
    assert set(kinds) == {"api", "s3", "cdn"}
    assert all(kinds["api"])
    assert not any(kinds["s3"]) and not any(kinds["cdn"])
    # the file went up in ceil(size / chunkSize) parts, each with an exact length
    puts = [e for e in sb.requests if e["kind"] == "s3"]
    assert len(puts) == math.ceil(wav.stat().st_size / 4096) > 5
    for put in puts:
        assert put["method"] == "PUT"
        assert put["headers"].get("content-length", "").isdigit()
        assert "transfer-encoding" not in put["headers"]
        assert not any(h.startswith("x-amz-") or h == "content-md5" for h in put["headers"])


def test_others_is_downloadable_but_never_sent_in_type(
    sb: Sandbox, wav: Path, tmp_path: Path
) -> None:
    assert type_value(["vocal", "others", "drum"]) == "vocal,drum"
    client, job = finished_job(sb, wav, ["vocal", "others"])
    stored = sb.store.find_job(job.job_id)
    assert stored is not None and stored.outputs == ("vocal", "others")  # type was "vocal"
    written = client.download(job, tmp_path, stems=["others"], track="t")
    assert [w.path.name for w in written] == ["others.wav"]


def test_only_others_is_refused_before_any_request(sb: Sandbox) -> None:
    client = make_client(sb)
    with pytest.raises(UsageError, match="besides 'others'"):
        client.create_job("some-upload", stems=["others"])
    assert sb.requests == []


def test_download_url_sent_as_a_json_string(sb: Sandbox, wav: Path, tmp_path: Path) -> None:
    sb.add_fault("job-url-string:1")
    client, job = finished_job(sb, wav, ["bass"])
    assert isinstance(job.raw["downloadUrl"], str)
    assert {(o.name, o.format) for o in job.outputs} == {
        ("bass", "wav"),
        ("bass", "mp3"),
        ("others", "wav"),
        ("others", "mp3"),
    }
    written = client.download(job, tmp_path, stems=["bass"], formats=["mp3"], track="t")
    assert written[0].path == tmp_path / "t" / "bass.mp3"


def test_upload_id_can_be_used_for_several_jobs(sb: Sandbox, wav: Path) -> None:
    client = make_client(sb)
    upload_id = client.upload_file(wav)
    first = client.create_job(upload_id, stems=["vocal"])
    second = client.create_job(upload_id, stems=["drum"])
    assert first != second
    assert client.get_job(first).status in (JobStatus.WAITING, JobStatus.RUNNING)


def test_get_job_of_another_model_is_not_found(sb: Sandbox, wav: Path) -> None:
    client = make_client(sb)
    job_id = client.create_job(client.upload_file(wav), stems=["vocal"])
    with pytest.raises(RequestRejected) as info:
        client.get_job(job_id, model="gsep_music_shq_v1")
    assert info.value.result_code == 1104
    assert info.value.exit_code == ExitCode.REJECTED


def test_key_info_is_passed_through(sb: Sandbox) -> None:
    info = make_client(sb).key_info()
    assert "credits" in info and "permittedModels" in info


# ---- job end states -----------------------------------------------------------------------
def test_failed_job_raises_job_failed_with_the_message(sb: Sandbox, wav: Path) -> None:
    sb.add_fault("job-fail:1:boom")
    client = make_client(sb)
    job_id = client.create_job(client.upload_file(wav), stems=["vocal"])
    with pytest.raises(JobFailed) as info:
        client.wait(job_id, timeout=30)
    assert info.value.exit_code == ExitCode.JOB_FAILED
    assert "boom" in info.value.message and job_id in info.value.message
    job = client.get_job(job_id)
    assert job.status == JobStatus.FAILED and job.error_message == "boom"
    with pytest.raises(RequestRejected, match="no results"):
        client.download(job, Path("unused"))


def test_wait_timeout_says_how_to_resume(wav: Path) -> None:
    with Sandbox(job_seconds=120, chunk_size=4096) as slow:
        client = make_client(slow)
        job_id = client.create_job(client.upload_file(wav), stems=["vocal"])
        with pytest.raises(WaitTimeout) as info:
            client.wait(job_id, timeout=0.3)
    assert info.value.exit_code == ExitCode.TIMEOUT
    assert f"gsep job status {job_id}" in (info.value.hint or "")
    assert f"gsep download {job_id}" in (info.value.hint or "")


def test_wait_polls_with_growing_delays(wav: Path) -> None:
    slept: list[float] = []

    class Enough(Exception):
        pass

    def fake_sleep(seconds: float) -> None:
        slept.append(seconds)
        if len(slept) >= 6:
            raise Enough

    with Sandbox(job_seconds=120, chunk_size=1024**2) as slow:
        client = GsepClient(slow.base_url, SECRET, policy=FAST_POLICY, sleep=fake_sleep)
        job_id = client.create_job(client.upload_file(wav), stems=["vocal"])
        with pytest.raises(Enough):
            client.wait(job_id, timeout=3600)
    nominal = [2.0, 3.0, 4.5, 6.75, 10.125, 15.1875]
    for got, want in zip(slept, nominal, strict=True):
        assert want * 0.8 - 1e-9 <= got <= want * 1.2 + 1e-9


def test_poll_policy_starts_near_2s_and_is_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    import random

    from gsep_cli import polling

    monkeypatch.setattr(polling, "random", random.Random(1234))
    delays = PollPolicy().delays()
    values = [next(delays) for _ in range(40)]
    assert 1.6 <= values[0] <= 2.4
    assert all(0.05 <= v <= 30 for v in values)
    assert max(values[-10:]) >= 30 * 0.8  # reached the cap
    assert len(set(values[-10:])) > 1  # jittered, not a fixed beat


def test_cli_poll_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    from gsep_cli import environment

    monkeypatch.delenv("GSEP_POLL_INTERVAL", raising=False)
    monkeypatch.delenv("GSEP_POLL_CAP", raising=False)
    policy = environment.poll_policy()
    assert (policy.initial, policy.cap) == (2.0, 30.0)


# ---- retries and what they must not do -------------------------------------------------------
def test_get_is_retried_on_503(sb: Sandbox, wav: Path) -> None:
    rec = Recorder()
    client = make_client(sb, rec)
    job_id = client.create_job(client.upload_file(wav), stems=["vocal"])
    sb.add_fault("api-503:2")
    assert client.get_job(job_id).job_id == job_id
    statuses = [e["status"] for e in clitools.api_requests(sb)[-3:]]
    assert statuses == [503, 503, 200]


def test_job_creation_is_not_retried_after_the_server_acted(sb: Sandbox, wav: Path) -> None:
    client = make_client(sb)
    upload_id = client.upload_file(wav)
    before = sb.store.job_count()
    sb.add_fault("api-drop:1")  # the job IS created, then the connection drops
    with pytest.raises(ServiceUnavailable) as info:
        client.create_job(upload_id, stems=["vocal"])
    assert sb.store.job_count() == before + 1  # exactly one job: no blind retry
    assert "pay twice" in (info.value.hint or "")


@pytest.mark.parametrize("fault", ["api-503:1", "api-429:1"])
def test_job_creation_is_retried_when_the_server_did_nothing(
    sb: Sandbox, wav: Path, fault: str
) -> None:
    client = make_client(sb)
    upload_id = client.upload_file(wav)
    before = sb.store.job_count()
    sb.add_fault(fault)
    assert client.create_job(upload_id, stems=["vocal"])
    assert sb.store.job_count() == before + 1


def test_job_creation_500_is_not_retried(sb: Sandbox, wav: Path) -> None:
    client = make_client(sb)
    upload_id = client.upload_file(wav)
    sb.add_fault("api-500:1")
    with pytest.raises(ServiceUnavailable) as info:
        client.create_job(upload_id, stems=["vocal"])
    assert info.value.status == 500
    assert len([e for e in clitools.api_requests(sb) if e["method"] == "POST"]) == 3


def test_redirect_to_another_port_is_refused_and_the_key_stays(sb: Sandbox) -> None:
    sb.add_fault("redirect:1")
    with pytest.raises(RequestRejected, match="redirected to another host"):
        make_client(sb).get_job("some-job")
    assert all(e["port"] == sb.port for e in sb.requests)


def test_unreachable_api_is_exit_6(tmp_path: Path) -> None:
    client = GsepClient("http://127.0.0.1:9/api", SECRET, policy=FAST_POLICY, timeout=(2, 2))
    with pytest.raises(ServiceUnavailable) as info:
        client.get_job("abc")
    assert info.value.exit_code == ExitCode.UNAVAILABLE
    assert SECRET not in info.value.message


def test_expired_part_urls_restart_the_upload_once(sb: Sandbox, wav: Path) -> None:
    rec = Recorder()
    sb.add_fault("part-expired:1")
    upload_id = make_client(sb, rec).upload_file(wav)
    assert upload_id
    assert any("expired" in e[1] for e in rec.of("notice"))
    assert rec.advanced(f"upload:{wav}") == wav.stat().st_size  # progress rolled back


def test_bad_etag_and_reset_parts_are_sent_again(sb: Sandbox, wav: Path) -> None:
    sb.add_fault("part-bad-etag:1")
    sb.add_fault("part-reset:1")
    rec = Recorder()
    assert make_client(sb, rec).upload_file(wav)
    assert rec.advanced(f"upload:{wav}") == wav.stat().st_size


# ---- downloads ----------------------------------------------------------------------------
def test_failed_download_leaves_no_file(sb: Sandbox, wav: Path, tmp_path: Path) -> None:
    client, job = finished_job(sb, wav, ["vocal"])
    sb.add_fault("download-500:*")
    with pytest.raises(ServiceUnavailable) as info:
        client.download(job, tmp_path / "out", track="t")
    assert info.value.exit_code == ExitCode.UNAVAILABLE
    assert files_under(tmp_path / "out") == []  # no final file, no hidden .part either


def test_truncated_download_is_resumed_to_the_exact_bytes(
    sb: Sandbox, wav: Path, tmp_path: Path
) -> None:
    client, job = finished_job(sb, wav, ["vocal"])
    clean = client.download(job, tmp_path / "clean", stems=["vocal"], track="t")[0]
    sb.add_fault("download-truncate:2")
    resumed = client.download(job, tmp_path / "resumed", stems=["vocal"], track="t")[0]
    assert resumed.path.read_bytes() == clean.path.read_bytes()
    assert any(e.get("fault") == "download-truncate" for e in sb.requests)
    assert files_under(tmp_path / "resumed") == ["t/vocal.wav"]


def test_download_refuses_existing_files_unless_asked(
    sb: Sandbox, wav: Path, tmp_path: Path
) -> None:
    client, job = finished_job(sb, wav, ["vocal", "drum"])
    out = tmp_path / "out"
    existing = out / "t" / "drum.wav"
    existing.parent.mkdir(parents=True)
    existing.write_bytes(b"mine")
    with pytest.raises(UsageError, match="already exists") as info:
        client.download(job, out, track="t", stems=["vocal", "drum"])
    assert "--force" in (info.value.hint or "")
    assert files_under(out) == ["t/drum.wav"]  # nothing else written either
    kept = client.download(job, out, track="t", stems=["vocal", "drum"], skip_existing=True)
    assert [(w.stem, w.skipped) for w in kept] == [("vocal", False), ("drum", True)]
    assert existing.read_bytes() == b"mine"
    forced = client.download(job, out, track="t", stems=["drum"], force=True)
    assert forced[0].bytes == existing.stat().st_size > 4


def test_download_refuses_a_template_that_collides(sb: Sandbox, wav: Path, tmp_path: Path) -> None:
    client, job = finished_job(sb, wav, ["vocal", "drum"])
    with pytest.raises(UsageError, match="same file"):
        client.download(job, tmp_path / "out", template="{track}.{ext}", track="t")
    assert files_under(tmp_path / "out") == []


def test_download_refuses_a_file_where_a_folder_must_go(
    sb: Sandbox, wav: Path, tmp_path: Path
) -> None:
    client, job = finished_job(sb, wav, ["vocal"])
    (tmp_path / "t").write_text("a file named like the track folder")
    with pytest.raises(UsageError, match="a file has that name"):
        client.download(job, tmp_path, track="t")


# ---- pure helpers --------------------------------------------------------------------------
HQ = get_model("gsep_music_hq_v1")


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["vocal"], ["vocal"]),
        (["vocal,drum"], ["vocal", "drum"]),
        (["vocal", "drum"], ["vocal", "drum"]),
        ([" vocal , drum ,"], ["vocal", "drum"]),
        (["drum,vocal"], ["drum", "vocal"]),
        (["vocal,others"], ["vocal", "others"]),
        (["all"], ["vocal", "drum", "bass", "electric_guitar", "acoustic_piano", "others"]),
    ],
)
def test_resolve_stems(values: list[str], expected: list[str]) -> None:
    assert resolve_stems(HQ, values) == expected


@pytest.mark.parametrize(
    ("model", "values", "fragment"),
    [
        ("gsep_music_hq_v1", ["vocal,vocal"], "twice"),
        ("gsep_music_hq_v1", ["vocal", "vocal"], "twice"),
        ("gsep_music_hq_v1", ["guitar"], "unknown stem"),
        ("gsep_music_hq_v1", ["Vocal"], "unknown stem"),
        ("gsep_music_hq_v1", [""], "no stems"),
        ("gsep_music_hq_v1", [" , "], "no stems"),
        ("gsep_music_shq_v1", ["drum"], "unknown stem"),
        ("gsep_speech_hq_v1", ["vocal"], "unknown stem"),
        ("gsep_dme_dtrack_v1", ["others"], "unknown stem"),
    ],
)
def test_resolve_stems_rejects(model: str, values: list[str], fragment: str) -> None:
    with pytest.raises(UsageError, match=fragment) as info:
        resolve_stems(get_model(model), values)
    assert info.value.hint


def test_unknown_model_lists_the_known_ones() -> None:
    with pytest.raises(UsageError) as info:
        get_model("gsep_music_hq_v9")
    assert "gsep_music_hq_v1" in (info.value.hint or "")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("wav", ["wav"]),
        ("mp3", ["mp3"]),
        ("both", ["wav", "mp3"]),
        ("BOTH", ["wav", "mp3"]),
        (" MP3 ", ["mp3"]),
        ("mp3,wav", ["mp3", "wav"]),
        ("wav,wav", ["wav"]),
    ],
)
def test_resolve_formats(value: str, expected: list[str]) -> None:
    assert resolve_formats(value) == expected


@pytest.mark.parametrize("value", ["aac", "", " , ", "wav,vorbis", "m4a"])
def test_resolve_formats_rejects(value: str) -> None:
    with pytest.raises(UsageError) as info:
        resolve_formats(value)
    assert "wav, mp3" in (info.value.hint or "") or "opus or mp3" in (info.value.hint or "")


@pytest.mark.parametrize(
    "job_id",
    ["2f1c3a10-e786-11f1-8e10-02fc00000001", "abc", "A_b-C.9", " padded-id "],
)
def test_check_job_id_accepts_opaque_ids(job_id: str) -> None:
    assert check_job_id(job_id) == job_id.strip()


@pytest.mark.parametrize(
    "job_id",
    [
        *("", "  ", ".", "..", "a/b", "../x", "a\\b", "a?b", "a#b", "a%2f", "a b", "x" * 201),
        *("a\x00b", "a\x1bb", "a\nb"),
    ],
)
def test_check_job_id_rejects(job_id: str) -> None:
    with pytest.raises(UsageError, match="malformed job id"):
        check_job_id(job_id)


def test_check_input_file(tmp_path: Path) -> None:
    wav = make_wav(tmp_path / "Song.WAV")
    assert check_input_file(wav, HQ) == wav.stat().st_size
    (tmp_path / "clip.mov").write_bytes(b"\0" * 16)
    assert check_input_file(tmp_path / "clip.mov", get_model("gsep_dme_dtrack_v1")) == 16


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("missing.wav", "file not found"),
        ("folder.wav", "is a directory"),
        ("empty.wav", "is empty"),
        ("notes.txt", "unsupported file type '.txt'"),
        ("noext", "unsupported file type '(none)'"),
        ("clip.mov", "unsupported file type '.mov'"),
        ("huge.wav", "over gsep_music_hq_v1's limit"),
    ],
)
def test_check_input_file_rejects(tmp_path: Path, name: str, fragment: str) -> None:
    (tmp_path / "folder.wav").mkdir()
    (tmp_path / "empty.wav").write_bytes(b"")
    for other in ("notes.txt", "noext", "clip.mov"):
        (tmp_path / other).write_bytes(b"data")
    with open(tmp_path / "huge.wav", "wb") as sparse:
        sparse.truncate(HQ.max_bytes + 1)
    with pytest.raises(UsageError, match=fragment.replace("(", r"\(").replace(")", r"\)")) as info:
        check_input_file(tmp_path / name, HQ)
    assert info.value.hint  # names the fix too


def test_select_outputs_order_and_generic_formats() -> None:
    outputs = (
        Output("vocal", "mp3", "u1"),
        Output("vocal", "wav", "u2"),
        Output("others", "wav", "u3"),
        Output("lyrics", "file", "u4"),
    )
    chosen = select_outputs(outputs, ["vocal"], ["wav", "mp3"])
    assert [o.url for o in chosen] == ["u2", "u1"]
    assert [o.url for o in select_outputs(outputs, None, ["wav"])] == ["u2", "u3", "u4"]
    with pytest.raises(RequestRejected, match="no result for drum"):
        select_outputs(outputs, ["drum"], ["wav"])
    with pytest.raises(RequestRejected, match="chosen format"):
        select_outputs(outputs[:1], ["vocal"], ["wav"])


def test_written_file_is_plain_data(tmp_path: Path) -> None:
    item = WrittenFile("vocal", "wav", tmp_path / "v.wav", 3)
    assert item.skipped is False


def test_all_client_errors_are_gsep_errors() -> None:
    for cls in (UsageError, RequestRejected, ServiceUnavailable, JobFailed, WaitTimeout):
        assert issubclass(cls, GsepError)


def test_library_imports_without_typer_or_rich() -> None:
    code = (
        "import sys; import gsep_cli.client, gsep_cli.sandbox, gsep_cli.config; "
        "assert 'typer' not in sys.modules and 'rich' not in sys.modules, "
        "sorted(m for m in sys.modules if m.split('.')[0] in ('typer', 'rich', 'click'))"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GSEP_", "GAUDIO_"))}
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env
    )
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize(
    ("value", "expected"),
    [("both,flac", ["wav", "mp3", "flac"]), ("FLAC, mp3,both", ["flac", "mp3", "wav"])],
)
def test_both_inside_a_list_is_the_apis_two(value: str, expected: list[str]) -> None:
    assert resolve_formats(value) == expected
