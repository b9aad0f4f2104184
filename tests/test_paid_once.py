"""Second round of trying to break "never pay twice, never lose a paid result".

Each case is one found by an outsider's run against the sandbox; each runs over real HTTP.
"""

from __future__ import annotations

import json
import mmap
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from clitools import Run, make_wav
from hypothesis import given, settings
from hypothesis import strategies as st
from paidtools import counts, job_create_in_flight

from gsep_cli import answers
from gsep_cli.client import GsepClient, upload_name
from gsep_cli.errors import InputChanged
from gsep_cli.sandbox import Sandbox


def test_pay_again_never_pays_twice_for_a_creation_of_the_same_run(
    tmp_path: Path, env: dict[str, str], gsep: Callable[..., Run]
) -> None:
    """Two identical inputs, the first creation's answer lost: the second input must not
    pay again for it, --pay-again or not (that flag is for creations of earlier runs)."""
    make_wav(tmp_path / "x.wav", seconds=0.3)
    (tmp_path / "y.wav").write_bytes((tmp_path / "x.wav").read_bytes())
    with Sandbox(job_seconds=0, chunk_size=8192, faults=["api-drop@job-create:1"]) as sb:
        env["GSEP_BASE_URL"] = sb.base_url
        run = gsep(["separate", "x.wav", "y.wav", "--pay-again", "-o", "out"])
        assert run.code != 0
        assert counts(sb) == (1, 1), run.err  # the dropped creation made the only job
        assert "x.wav: x.wav:" not in run.err  # each input named once
        assert "run the command again with --pay-again" in run.err
        # a later run may pay again, deliberately
        later = gsep(["separate", "x.wav", "y.wav", "--pay-again", "-o", "out"])
        assert later.code == 0, str(later)
        assert counts(sb)[1] == 2


def test_job_create_interrupted_in_flight_still_names_the_job(
    tmp_path: Path, env: dict[str, str]
) -> None:
    """SIGTERM while `gsep job create` waits for the answer: the answer is awaited, the
    id printed, then exit 130; nothing paid is lost."""
    song = make_wav(tmp_path / "s.wav", seconds=0.3)
    with Sandbox(job_seconds=0, chunk_size=8192) as sb:
        env["GSEP_BASE_URL"] = sb.base_url
        proc = job_create_in_flight(sb, env, song, late=2)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
        (job_id,) = [job.job_id for job in sb.store._jobs.values()]
    assert proc.returncode == 130, err
    assert out.strip() == job_id
    assert "waiting for the answer" in err


@pytest.mark.skipif(sys.platform != "linux", reason="mmap writes that leave mtime alone")
def test_an_edit_through_mmap_during_the_upload_is_caught(tmp_path: Path) -> None:
    """Pages already dirty take a write through mmap without a new mtime or ctime: only
    the content tells. The upload is not completed; no job can be paid for it."""
    song = make_wav(tmp_path / "m.wav", seconds=1.0)  # about 176 KiB: several parts
    size = song.stat().st_size
    with open(song, "r+b") as fh, mmap.mmap(fh.fileno(), size) as mapped:
        mapped[:] = bytes(mapped)  # dirty every page now, before anything is read
        from gsep_cli.fileid import FileIdentity
        from gsep_cli.ledger import Ledger

        with Ledger(tmp_path / "l.sqlite3") as ledger:
            sha, version = ledger.file_digest(song)
        with Sandbox(job_seconds=0, chunk_size=32 * 1024, faults=["part-slow:2:0.3"]) as sb:

            def edit() -> None:
                deadline = time.monotonic() + 20
                while not any(e["method"] == "PUT" for e in sb.requests):
                    if time.monotonic() > deadline:
                        return
                    time.sleep(0.01)
                mapped[size - 1000 : size - 10] = os.urandom(990)  # the last part changes

            before = song.stat()
            editor = threading.Thread(target=edit)
            editor.start()
            changed = pytest.raises(InputChanged, match="changed while it was being uploaded")
            with GsepClient(sb.base_url, "k-mmap-1", parallel=1) as client, changed:
                client.upload_file(song, identity=version, sha256=sha)
            editor.join()
            after = song.stat()
            completes = [e for e in sb.requests if e["path"].endswith("/complete")]
    assert (before.st_mtime_ns, before.st_size) == (after.st_mtime_ns, after.st_size)
    assert FileIdentity.of(song).changed(song) is None
    assert completes == []


def test_a_confirmation_the_ledger_could_not_take_is_kept_beside_it(tmp_path: Path) -> None:
    state = tmp_path / "state"
    assert answers.save(state, "unconfirmed-00ff", "job-1/x") is True
    assert answers.find(state, "unconfirmed-00ff") == "job-1/x"
    answers.forget(state, "unconfirmed-00ff")
    assert answers.find(state, "unconfirmed-00ff") is None
    assert answers.save(state, "../escape", "job") is False  # never outside its folder
    assert not (tmp_path / "escape").exists()


@given(st.text(min_size=1, max_size=40))
@settings(max_examples=200, deadline=None)
def test_the_name_sent_for_an_upload_is_one_the_api_takes(stem: str) -> None:
    """Whatever the local name, the fileName sent has no control character, slash or
    backslash (1113), is valid UTF-8, and keeps the extension."""
    sent = upload_name(stem + ".wav")
    assert sent.endswith(".wav")
    assert not any(ch < " " or ch in "/\\\x7f" for ch in sent)
    sent.encode("utf-8")


def test_file_names_the_api_refuses_are_sent_cleaned(
    tmp_path: Path, env: dict[str, str], gsep: Callable[..., Run]
) -> None:
    names = ["tab\tx.wav", "esc\x1b[31m.wav", "back\\slash.wav", "new\nline.wav"]
    for index, name in enumerate(names):
        make_wav(tmp_path / name, seconds=0.2 + 0.05 * index)  # four contents: four jobs
    with Sandbox(job_seconds=0, chunk_size=8192) as sb:  # it refuses [\x00-\x1f/\\] (1113)
        env["GSEP_BASE_URL"] = sb.base_url
        run = gsep(["separate", *names, "-o", "out"])
        assert run.code == 0, str(run)
        assert counts(sb) == (4, 4)


def test_a_manifest_json_that_is_not_gsep_s_is_never_overwritten(
    tmp_path: Path, env: dict[str, str], gsep: Callable[..., Run]
) -> None:
    make_wav(tmp_path / "g.wav", seconds=0.3)
    (tmp_path / "out").mkdir()
    theirs = tmp_path / "out" / "manifest.json"
    theirs.write_text('["my", "own", "manifest"]')
    with Sandbox(job_seconds=0, chunk_size=8192) as sb:
        env["GSEP_BASE_URL"] = sb.base_url
        run = gsep(["separate", "g.wav", "-o", "out", "--manifest", "out/manifest.json"])
        assert run.code == 2 and "not a gsep manifest" in run.err, str(run)
        assert counts(sb) == (0, 0)  # refused before paying
        assert theirs.read_text() == '["my", "own", "manifest"]'


def test_the_manifest_keeps_its_mode_and_a_new_one_follows_the_umask(
    tmp_path: Path, env: dict[str, str], gsep: Callable[..., Run]
) -> None:
    make_wav(tmp_path / "g.wav", seconds=0.3)
    with Sandbox(job_seconds=0, chunk_size=8192) as sb:
        env["GSEP_BASE_URL"] = sb.base_url
        listed = ["-o", "out", "--manifest", "out/manifest.json"]
        assert gsep(["separate", "g.wav", *listed]).code == 0
        manifest = tmp_path / "out" / "manifest.json"
        umask = os.umask(0o022)
        os.umask(umask)
        assert manifest.stat().st_mode & 0o777 == 0o666 & ~umask
        manifest.chmod(0o640)
        make_wav(tmp_path / "h.wav", seconds=0.4)
        assert gsep(["separate", "h.wav", *listed]).code == 0
        assert manifest.stat().st_mode & 0o777 == 0o640
        assert len(json.loads(manifest.read_text())["files"]) == 2


@pytest.mark.skipif(sys.platform == "win32", reason="flock")
def test_a_manifest_lock_held_elsewhere_is_waited_for_within_a_bound(
    tmp_path: Path, env: dict[str, str], gsep: Callable[..., Run], monkeypatch: pytest.MonkeyPatch
) -> None:
    import fcntl

    from gsep_cli import manifest

    monkeypatch.setattr(manifest, "LOCK_WAIT", 0.5)
    make_wav(tmp_path / "h.wav", seconds=0.3)
    (tmp_path / "out").mkdir()
    fd = os.open(tmp_path / "out", os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)  # another program, for ever
    try:
        with Sandbox(job_seconds=0, chunk_size=8192) as sb:
            env["GSEP_BASE_URL"] = sb.base_url
            started = time.monotonic()
            run = gsep(["separate", "h.wav", "-o", "out", "--manifest", "out/manifest.json"])
            took = time.monotonic() - started
            (job_id,) = [job.job_id for job in sb.store._jobs.values()]
    finally:
        os.close(fd)
    assert run.code == 2 and took < 10, str(run)
    assert job_id in run.err and "files are written" in run.err
    assert (tmp_path / "out" / "h" / "vocal.wav").is_file()


def test_a_fully_qualified_api_host_is_the_same_host() -> None:
    from gsep_cli.ledger import api_host

    plain = api_host("https://restapi.gaudiolab.io/developers/api")
    assert api_host("https://RESTAPI.gaudiolab.io.:443/developers/api") == plain


def test_a_result_that_appeared_with_the_same_content_is_the_result(tmp_path: Path) -> None:
    """A gsep that took over this work may have written the very file meanwhile: the
    same bytes are this job's result, not a file in the way."""
    import hashlib

    from gsep_cli.download import _put_in_place
    from gsep_cli.errors import UsageError

    body = os.urandom(5000)
    dest, tmp = tmp_path / "vocal.wav", tmp_path / ".vocal.wav.part"
    dest.write_bytes(body)
    tmp.write_bytes(body)
    _put_in_place(tmp, dest, force=False, sha256=hashlib.sha256(body).hexdigest())
    assert dest.read_bytes() == body
    other = os.urandom(5000)
    tmp.write_bytes(other)
    with pytest.raises(UsageError, match="appeared while downloading"):
        _put_in_place(tmp, dest, force=False, sha256=hashlib.sha256(other).hexdigest())
    assert dest.read_bytes() == body


def test_a_plain_prune_never_makes_a_rerun_pay_again(
    tmp_path: Path, env: dict[str, str], gsep: Callable[..., Run]
) -> None:
    make_wav(tmp_path / "x.wav", seconds=0.3)
    with Sandbox(job_seconds=0, chunk_size=8192, faults=["job-expired"]) as sb:
        env["GSEP_BASE_URL"] = sb.base_url
        first = gsep(["separate", "x.wav", "-o", "out"])
        assert first.code == 4, str(first)  # the results were never served
        assert gsep(["ledger", "prune"]).code == 0
        again = gsep(["separate", "x.wav", "-o", "out"])
        assert again.code == 4 and "--pay-again" in again.err, str(again)
        assert counts(sb) == (1, 1)


def test_a_job_status_reads_as_its_word_in_messages() -> None:
    from gsep_cli.models import JobStatus

    assert f"(status {JobStatus.WAITING})" == "(status waiting)"


# ---- third round -----------------------------------------------------------------------------
def test_an_edit_undone_before_completion_is_caught_even_with_opaque_etags(
    tmp_path: Path,
) -> None:
    """A byte changed while its part is sent and put back before the upload completes:
    the file's SHA-256 is the old one again and the ETags are no MD5s (SSE-KMS), so only
    the MD5 of what each part really sent can tell. The uploader records that MD5 for
    every part (checked over HTTP), and the check before completing compares it."""
    import hashlib

    from gsep_cli.sentcheck import sent_differs

    song = make_wav(tmp_path / "e.wav", seconds=1.0)
    body = song.read_bytes()
    chunk = 32 * 1024
    sha = hashlib.sha256(body).hexdigest()
    with Sandbox(job_seconds=0, chunk_size=chunk, faults=["part-etag-opaque:*"]) as sb:
        sent: dict[int, str] = {}
        with GsepClient(sb.base_url, "k-undo-1", parallel=2) as client:
            plan = client.create_upload("e.wav", len(body))
            from gsep_cli.upload_parts import upload_parts

            parts = upload_parts(
                song, len(body), plan, listener=client.listener, key="k", sent_md5=sent
            )
    pieces = [body[i : i + chunk] for i in range(0, len(body), chunk)]
    assert sent == {n: hashlib.md5(b).hexdigest() for n, b in enumerate(pieces, 1)}
    assert all(
        etag.startswith('"opaque-kms-') or etag.startswith("opaque-kms-") for _, etag in parts
    )
    assert sent_differs(song, sha, chunk, parts, sent) is None
    edited = bytearray(pieces[3])
    edited[100] ^= 0xFF  # what part 4 carried while the byte was changed
    sent_then = {**sent, 4: hashlib.md5(bytes(edited)).hexdigest()}
    assert (
        sent_differs(song, sha, chunk, parts, sent_then)
        == "part 4 as sent differs from the file now"
    )
    assert sent_differs(song, sha, chunk, parts) is None  # the ETags alone could not tell


def test_an_input_that_gets_shorter_while_uploading_is_refused_at_once(tmp_path: Path) -> None:
    song = make_wav(tmp_path / "t.wav", seconds=1.0)
    chunk = 32 * 1024
    with Sandbox(job_seconds=0, chunk_size=chunk, faults=["part-slow:1:0.5"]) as sb:

        def cut() -> None:
            deadline = time.monotonic() + 30
            while not sb.requests and time.monotonic() < deadline:
                time.sleep(0.005)
            os.truncate(song, 2 * chunk)  # parts 3 on now end early

        cutter = threading.Thread(target=cut)
        cutter.start()
        started = time.monotonic()
        with (
            GsepClient(sb.base_url, "k-short-1", parallel=1) as client,
            pytest.raises(InputChanged, match=r"got shorter|changed while"),
        ):
            client.upload_file(song)
        cutter.join()
        assert time.monotonic() - started < 15  # not a wait for an answer that never comes
        assert not [e for e in sb.requests if e["path"].endswith("/complete")]


def test_one_refused_result_link_is_asked_again_before_any_talk_of_paying(
    tmp_path: Path, env: dict[str, str], gsep: Callable[..., Run]
) -> None:
    make_wav(tmp_path / "r.wav", seconds=0.3)
    with Sandbox(job_seconds=0, chunk_size=8192, faults=["download-403:1"]) as sb:
        env["GSEP_BASE_URL"] = sb.base_url
        run = gsep(["separate", "r.wav", "-o", "out"])
        assert run.code == 0, str(run)
        assert "asking for fresh ones" in run.err
        assert counts(sb) == (1, 1)


def test_a_second_interrupt_during_job_create_says_the_job_may_exist(
    tmp_path: Path, env: dict[str, str]
) -> None:
    song = make_wav(tmp_path / "s.wav", seconds=0.3)
    with Sandbox(job_seconds=0, chunk_size=8192) as sb:
        env["GSEP_BASE_URL"] = sb.base_url
        proc = job_create_in_flight(sb, env, song, late=5)
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert "may exist and have cost credits" in err, err


@pytest.mark.skipif(sys.platform == "win32", reason="mkfifo")
@pytest.mark.parametrize("content", ["fifo", "job\x1b]0;PWNED\x07", "", "x" * 300])
def test_an_answer_file_gsep_did_not_write_is_ignored(tmp_path: Path, content: str) -> None:
    state = tmp_path / "state"
    (state / answers.FOLDER).mkdir(parents=True)
    target = state / answers.FOLDER / "unconfirmed-ab12"
    if content == "fifo":
        os.mkfifo(target)
    else:
        target.write_text(content)
    assert answers.find(state, "unconfirmed-ab12") is None  # and it returned: no hang


def test_stacked_gzip_is_decoded_strictly() -> None:
    import gzip

    from gsep_cli.resume import _Chain, _StrictDecoder
    from gsep_cli.storage import Retryable

    body = os.urandom(3000)
    twice = gzip.compress(gzip.compress(body))
    chain = _Chain([_StrictDecoder("gzip"), _StrictDecoder("gzip")])
    assert chain.feed(twice) == body
    chain.finish()
    cut = _Chain([_StrictDecoder("gzip"), _StrictDecoder("gzip")])
    cut.feed(twice[: len(twice) // 2])
    with pytest.raises(Retryable):
        cut.finish()


def test_prune_never_drops_a_creation_that_may_have_been_paid(
    tmp_path: Path, env: dict[str, str], gsep: Callable[..., Run]
) -> None:
    make_wav(tmp_path / "u.wav", seconds=0.3)
    with Sandbox(job_seconds=0, chunk_size=8192, faults=["api-drop@job-create:1"]) as sb:
        env["GSEP_BASE_URL"] = sb.base_url
        assert gsep(["separate", "u.wav", "-o", "out"]).code == 6
        assert gsep(["ledger", "prune", "--older-than", "0"]).code == 0
        again = gsep(["separate", "u.wav", "-o", "out"])
        assert again.code == 2 and "no answer came" in again.err, str(again)
        assert counts(sb) == (1, 1)


@pytest.mark.parametrize("value", ["1_0", "1e2", "\u0661\u0660", " 5 5", "0x10"])
def test_a_retry_after_in_another_notation_is_no_retry_after(value: str) -> None:
    import requests

    from gsep_cli.retry import retry_after_seconds

    response = requests.Response()
    response.headers["Retry-After"] = value
    assert retry_after_seconds(response) is None


def test_line_separators_from_a_server_are_escaped() -> None:
    from gsep_cli.redact import printable

    assert printable("a\u2028b\u2029c") == "a\\u2028b\\u2029c"
