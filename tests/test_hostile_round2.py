"""What a second outside tester's hostile servers found (round 2), each over real HTTP
against a sandbox fault with small timeouts: the outcome, exit code, wall time and the
files on disk. Where a rule has a shape, a hypothesis property proves it.
"""

from __future__ import annotations

import contextlib
import io
import math
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from clitools import assert_clean_error, make_wav, run_gsep
from hostiletools import drip_relay, hostile_env, make_cert, timed
from hostiletools import job_on as hostile_job
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from urllib3.util import parse_url

from gsep_cli.errors import GsepError
from gsep_cli.http import ApiTransport
from gsep_cli.ratelimit import RateLimiter
from gsep_cli.resume import _StrictDecoder
from gsep_cli.retry import RetryPolicy, retry_after_seconds
from gsep_cli.sandbox import Sandbox
from gsep_cli.sessions import ThreadSessions, make_session
from gsep_cli.storage import Retryable

KEY = "hostile-key-round2"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return hostile_env(tmp_path, KEY, GSEP_RETRIES="3")


def job_on(sb: Sandbox, song: Path) -> str:
    return hostile_job(sb, song, KEY)


def outputs(folder: Path) -> list[Path]:
    """Every file gsep wrote (or left) in the output folder."""
    return [p for p in (folder / "out").rglob("*") if p.is_file()]


# ---- 1: the API key never follows a redirect that two URL parsers read differently ------
@pytest.mark.parametrize(
    ("fault", "args"),
    [
        ("api-redirect-backslash@key-info", ["key", "info"]),
        ("api-redirect-backslash@upload-create", ["upload", "song.wav"]),
    ],
)
def test_a_backslash_redirect_never_carries_the_key_away(
    tmp_path: Path, env: dict[str, str], fault: str, args: list[str]
) -> None:
    make_wav(tmp_path / "song.wav", seconds=0.3)
    with Sandbox(job_seconds=0, chunk_size=1 << 20, faults=[fault]) as sb:
        env["GSEP_BASE_URL"] = sb.base_url
        run = run_gsep(args, env, cwd=tmp_path)
        elsewhere = [e for e in sb.requests if e["port"] != sb.port]
    assert_clean_error(run, 4, "unsafe URL", "backslash", "not following")
    assert elsewhere == []  # nothing (above all no key) reached the other listener
    assert KEY not in run.err + run.out


def test_a_backslash_redirect_of_a_result_is_refused(tmp_path: Path, env: dict[str, str]) -> None:
    song = make_wav(tmp_path / "song.wav", seconds=0.3)
    with Sandbox(job_seconds=0, chunk_size=1 << 20) as sb:
        job = job_on(sb, song)
        sb.add_fault("download-backslash")
        env["GSEP_BASE_URL"] = sb.base_url
        run = run_gsep(["download", job, "-o", "out"], env, cwd=tmp_path)
        elsewhere = [e for e in sb.requests if e["port"] != sb.port]
    assert_clean_error(run, 4, "unsafe URL", "not following")
    assert elsewhere == []
    assert outputs(tmp_path) == []


class _Recorder(requests.adapters.BaseAdapter):
    """A transport adapter: answers the first request with a redirect to ``location``,
    every later one with success, and records where each would have connected (urllib3's
    own parse of the URL requests prepared) and whether it carried the key."""

    def __init__(self, location: str) -> None:
        super().__init__()
        self.location = location
        self.sent: list[tuple[tuple[str | None, str | None, int | None], bool]] = []

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        where = parse_url(request.url)
        self.sent.append(((where.scheme, where.host, where.port), "x-ga-apikey" in request.headers))
        response = requests.Response()
        response.request, response.url = request, str(request.url)
        if len(self.sent) == 1:
            response.status_code = 307
            response.headers["Location"] = self.location
            response.raw = io.BytesIO(b"")
        else:
            response.status_code = 200
            response.raw = io.BytesIO(b'{"resultCode": 1000, "resultData": {}}')
        return response

    def close(self) -> None:
        pass


_PIECES = st.sampled_from(
    [
        "http", "https", "HTTP", "ftp", "://", ":/", ":\\\\", "//", "\\", "\\\\", "@", ":",
        "127.0.0.1", "127.0.0.2", "[::1]", "[::ffff:127.0.0.2]", "evil.example", "localhost",
        ":8080", ":8081", ":80", ":0", ":99999", "%40", "%5C", "%2e", "%3A", "/", "?", "#",
        "user:pw", ".", "..", "\t", " ", "\x00", "%", "xn--bcher-kva.example", "bücher",
    ]
)  # fmt: skip
_HOSTS = st.sampled_from(
    ["127.0.0.1", "127.0.0.2", "[::1]", "evil.example", "LOCALHOST", "127.1", "%31%32%37.0.0.1"]
)
_PORTS = st.sampled_from(["", ":8080", ":8081", ":80", ":", ":08080"])
# scheme, separator, a first authority, something that may or may not end it, a second one
_SHAPED = st.tuples(
    st.sampled_from(["http", "https", "HTTP", ""]),
    st.sampled_from(["://", ":\\\\", "//", ":/", "\\\\"]),
    st.sampled_from(["", "user:pw@", "u@"]),
    _HOSTS,
    _PORTS,
    st.sampled_from(["", "\\", "%5C", "/", "\\/", "?", "#", "\t"]),
    st.sampled_from(["", "@", "%40", ":@"]),
    _HOSTS,
    _PORTS,
    st.sampled_from(["", "/developers/api/v1/key/info", "/x?y=1"]),
).map("".join)
_LOCATIONS = _SHAPED | st.lists(_PIECES | st.text(max_size=4), max_size=10).map("".join)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_LOCATIONS)
def test_the_key_goes_only_where_urllib3_reads_the_api_origin(location: str) -> None:
    base = "http://127.0.0.1:8080/developers/api"
    recorder = _Recorder(location)

    def session() -> requests.Session:
        made = make_session()  # gsep's own session, its transport replaced
        made.mount("http://", recorder)
        made.mount("https://", recorder)
        return made

    transport = ApiTransport(
        base, KEY, policy=RetryPolicy(attempts=1), limiter=RateLimiter(0), sleep=lambda s: None
    )
    transport._sessions = ThreadSessions(session)
    with contextlib.suppress(GsepError):
        transport.call("POST", "/v1/key/info", {"a": 1})
    assert recorder.sent[0] == (("http", "127.0.0.1", 8080), True)
    for where, keyed in recorder.sent[1:]:
        if keyed:
            assert where[0] == "http"
            assert (where[1] or "").lower() == "127.0.0.1"
            assert where[2] in (8080,)


# ---- 6: a Retry-After that is not a number of seconds is no Retry-After ---------------------
@pytest.mark.parametrize("value", ["nan", "-1", "inf", "1e999", "-inf"])
def test_a_retry_after_that_is_no_number_waits_as_if_missing(
    tmp_path: Path, env: dict[str, str], value: str
) -> None:
    make_wav(tmp_path / "song.wav", seconds=0.3)
    faults = [f"api-retry-after@job-get:1:{value}", f"download-retry-after:1:{value}"]
    with Sandbox(job_seconds=0, chunk_size=1 << 20, faults=faults) as sb:
        env["GSEP_BASE_URL"] = sb.base_url
        run, took = timed(["separate", "song.wav"], env, tmp_path)
        statuses = [e["status"] for e in sb.requests]
    assert run.code == 0, str(run)
    assert 429 in statuses and 503 in statuses  # both faults were met...
    assert "internal error" not in run.err and "Traceback" not in run.err
    assert took < 15  # ...and waited on as if they had no Retry-After
    assert (tmp_path / "song" / "vocal.wav").stat().st_size > 44


@given(st.text(max_size=12) | st.floats().map(repr) | st.integers().map(str))
def test_every_retry_after_gives_a_wait_sleep_accepts(value: str) -> None:
    response = requests.Response()
    response.headers["Retry-After"] = value
    seconds = retry_after_seconds(response)
    assert seconds is None or (math.isfinite(seconds) and seconds >= 0)
    policy = RetryPolicy()
    for wait in (
        policy.wait_for_429(seconds),
        policy.capped(policy.delay(1, seconds)),
        policy.delay(1, None if seconds is None else policy.capped(seconds)),
    ):
        assert 0 <= wait <= policy.retry_after_cap
        time.sleep(wait * 0)  # what the API transport and the transfers do with it


# ---- 2: a part's answer must arrive whole within the connect plus read timeout ----------------
@pytest.mark.slow
def test_a_part_answer_that_drips_is_cut_off_and_sent_again(
    tmp_path: Path, env: dict[str, str]
) -> None:
    make_wav(tmp_path / "song.wav", seconds=0.3)
    env["GSEP_STALL_TIME"] = "30"  # the answer's bound is connect + read (2 s), not a stall
    with Sandbox(job_seconds=0, chunk_size=1 << 20, faults=["part-answer-drip:1:20"]) as sb:
        env["GSEP_BASE_URL"] = sb.base_url
        run, took = timed(["upload", "song.wav"], env, tmp_path)
        parts = [e for e in sb.requests if e["kind"] == "s3"]
    assert run.code == 0, str(run)
    assert "did not arrive whole within 2 s" in run.err
    assert len(parts) == 2
    assert took < 10


@pytest.mark.slow
def test_a_part_answer_that_always_drips_ends_in_bounded_time(
    tmp_path: Path, env: dict[str, str]
) -> None:
    make_wav(tmp_path / "song.wav", seconds=0.3)
    env.update(GSEP_RETRIES="2", GSEP_READ_TIMEOUT="0.5", GSEP_CONNECT_TIMEOUT="0.5")
    with Sandbox(job_seconds=0, chunk_size=1 << 20, faults=["part-answer-drip:*:5"]) as sb:
        env["GSEP_BASE_URL"] = sb.base_url
        run, took = timed(["upload", "song.wav"], env, tmp_path)
    assert_clean_error(run, 6, "part 1", "did not arrive whole within 1 s")
    assert took < 8  # two attempts of a 1 s bound, not forever


# ---- 3: a download cut by the stall watchdog is never taken as complete ----------------------
@pytest.mark.slow
def test_a_stalled_download_without_length_is_resumed_not_kept_short(
    tmp_path: Path, env: dict[str, str]
) -> None:
    song = make_wav(tmp_path / "song.wav", seconds=0.5)
    with Sandbox(job_seconds=0, chunk_size=1 << 20) as sb:
        job = job_on(sb, song)
        expected = whole_result(sb, job)
        sb.add_fault("download-nolength-drip:1:100")
        env["GSEP_BASE_URL"] = sb.base_url
        run, took = timed(["download", job, "-o", "out"], env, tmp_path)
    assert run.code == 0, str(run)
    assert "stalled (less than 2000 bytes/s for 1 s)" in run.err
    assert (tmp_path / "out" / job / "vocal.wav").read_bytes() == expected
    assert took < 10


@pytest.mark.slow
def test_a_download_that_always_stalls_without_length_saves_nothing(
    tmp_path: Path, env: dict[str, str]
) -> None:
    song = make_wav(tmp_path / "song.wav", seconds=0.5)
    env["GSEP_RETRIES"] = "2"
    with Sandbox(job_seconds=0, chunk_size=1 << 20) as sb:
        job = job_on(sb, song)
        sb.add_fault("download-nolength-drip:*:100")
        env["GSEP_BASE_URL"] = sb.base_url
        run, took = timed(["download", job, "-o", "out"], env, tmp_path)
    assert_clean_error(run, 6, "stalled")
    assert outputs(tmp_path) == []
    assert took < 10


def whole_result(sb: Sandbox, job: str, stem: str = "vocal") -> bytes:
    """The bytes of a job's WAV result, fetched with plain requests."""
    from conftest import Api

    url = Api(sb, key=KEY).job(job)["downloadUrl"][stem]["wav"]
    return requests.get(url, timeout=30).content


# ---- 4: a 206 nobody asked for is a slice, never the whole file --------------------------------
@pytest.mark.parametrize(("count", "code"), [("1", 0), ("*", 6)])
def test_an_unasked_206_is_never_saved_short(
    tmp_path: Path, env: dict[str, str], count: str, code: int
) -> None:
    song = make_wav(tmp_path / "song.wav", seconds=0.5)
    with Sandbox(job_seconds=0, chunk_size=1 << 20) as sb:
        job = job_on(sb, song)
        expected = whole_result(sb, job)
        sb.add_fault(f"download-206-unasked:{count}")
        env["GSEP_BASE_URL"] = sb.base_url
        run = run_gsep(["download", job, "-o", "out"], env, cwd=tmp_path)
    if code == 0:  # the size came from Content-Range; the rest was asked for with Range
        assert run.code == 0, str(run)
        assert (tmp_path / "out" / job / "vocal.wav").read_bytes() == expected
    else:
        assert_clean_error(run, 6, "download failed")
        assert outputs(tmp_path) == []


# ---- 5: a gzip stream must end where it says, and nothing may follow it ------------------------
@pytest.mark.parametrize("kind", ["download-gzip-truncated", "download-gzip-trailing"])
@pytest.mark.parametrize(("count", "code"), [("1", 0), ("*", 6)])
def test_gzip_that_lies_is_fetched_again_never_kept(
    tmp_path: Path, env: dict[str, str], kind: str, count: str, code: int
) -> None:
    song = make_wav(tmp_path / "song.wav", seconds=0.5)
    with Sandbox(job_seconds=0, chunk_size=1 << 20) as sb:
        job = job_on(sb, song)
        expected = whole_result(sb, job)
        sb.add_fault(f"{kind}:{count}")
        env["GSEP_BASE_URL"] = sb.base_url
        run = run_gsep(["download", job, "-o", "out"], env, cwd=tmp_path)
    if code == 0:
        assert run.code == 0, str(run)
        assert "compressed body" in run.err
        assert (tmp_path / "out" / job / "vocal.wav").read_bytes() == expected
    else:
        assert_clean_error(run, 6, "compressed body")
        assert outputs(tmp_path) == []


@given(st.binary(min_size=0, max_size=3000), st.integers(0, 64), st.binary(max_size=40))
@settings(max_examples=150, deadline=None)
def test_only_a_whole_gzip_stream_decodes(data: bytes, cut: int, tail: bytes) -> None:
    import gzip

    packed = gzip.compress(data)
    for wire, whole in ((packed, True), (packed[: len(packed) - 1 - cut % len(packed)], False)):
        decoder = _StrictDecoder("gzip")
        try:
            got = b"".join(decoder.feed(wire[i : i + 7]) for i in range(0, len(wire), 7))
            decoder.finish()
        except Retryable:
            assert not whole
        else:
            assert whole and got == data
    if tail and not tail.startswith(b"\x1f"):
        decoder = _StrictDecoder("gzip")
        with pytest.raises(Retryable):
            decoder.feed(packed + tail)
            decoder.finish()


# ---- 8: an MD5 ETag in upper case is compared too ------------------------------------------
def test_an_upper_case_md5_etag_is_compared(tmp_path: Path, env: dict[str, str]) -> None:
    make_wav(tmp_path / "song.wav", seconds=0.3)
    with Sandbox(job_seconds=0, chunk_size=1 << 20, faults=["part-etag-upper:1"]) as sb:
        env["GSEP_BASE_URL"] = sb.base_url
        run = run_gsep(["upload", "song.wav"], env, cwd=tmp_path)
        parts = [e for e in sb.requests if e["kind"] == "s3"]
    assert run.code == 0, str(run)
    assert "part 1: checksum mismatch; sending it again" in run.err
    assert len(parts) == 2


# ---- 7: the client-side rate limit waits no longer than --timeout --------------------------
@pytest.mark.slow
def test_the_rate_limiter_ends_at_the_timeout(tmp_path: Path, env: dict[str, str]) -> None:
    song = make_wav(tmp_path / "song.wav", seconds=0.3)
    with Sandbox(job_seconds=60, chunk_size=1 << 20) as sb:
        from conftest import Api

        api = Api(sb, key=KEY)
        job = api.job_id(audioUploadId=api.upload(song.read_bytes()), type="vocal")
        env.update(GSEP_BASE_URL=sb.base_url, GSEP_RATE_LIMIT="1/3600")
        run, took = timed(["job", "status", job, "--wait", "--timeout", "1.5"], env, tmp_path)
    assert_clean_error(run, 8, job, "--timeout")
    assert 1.4 < took < 6  # not an hour


def test_a_limiter_turn_given_up_at_a_deadline_passes_to_the_next() -> None:
    import threading

    from gsep_cli.errors import DeadlineReached

    limiter = RateLimiter(1, 0.6)
    limiter.acquire().done()
    with pytest.raises(DeadlineReached):
        limiter.acquire(deadline=time.monotonic() + 0.1)
    done = threading.Event()
    later = threading.Thread(target=lambda: (limiter.acquire(), done.set()))
    later.start()
    assert done.wait(3)  # the turn given up did not block the one behind it
    later.join()


# ---- 10: GSEP_RATE_LIMIT takes ASCII decimals only, as every other GSEP_* number -----------
@pytest.mark.parametrize("value", ["١٠٠/60", "100/٦٠", "1_0/60", "１００/60"])
def test_a_rate_limit_in_other_digits_is_refused(
    tmp_path: Path, env: dict[str, str], value: str
) -> None:
    env.update(GSEP_RATE_LIMIT=value, GSEP_BASE_URL="http://127.0.0.1:9/developers/api")
    run = run_gsep(["job", "status", "J"], env, cwd=tmp_path)
    assert_clean_error(run, 3, "GSEP_RATE_LIMIT")


@given(st.text(max_size=12))
def test_parse_rate_takes_only_ascii_decimals(text: str) -> None:
    from gsep_cli.ratelimit import parse_rate
    from gsep_cli.units import DECIMAL, INTEGER

    try:
        limit, window = parse_rate(text)
    except ValueError:
        return
    count, _, per = text.strip().partition("/")
    assert INTEGER.fullmatch(count) and text.strip().isascii()
    assert not per or DECIMAL.fullmatch(per)
    assert limit >= 0 and 0 < window <= 86400


# ---- 9: an API answer is small; a huge one is a broken server, not a memory hog ------------
def test_a_huge_api_answer_is_refused_past_the_cap(tmp_path: Path, env: dict[str, str]) -> None:
    with Sandbox(job_seconds=0, faults=["api-huge@key-info:1:40000000"]) as sb:
        env["GSEP_BASE_URL"] = sb.base_url
        run, took = timed(["key", "info"], env, tmp_path)
    assert_clean_error(run, 6, "more than 16 MiB")
    assert took < 10


# ---- 11: a TLS handshake that drips is bounded by --timeout -------------------------------
@pytest.mark.slow
def test_a_dripping_tls_handshake_ends_at_the_timeout(
    tmp_path: Path, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    if shutil.which("openssl") is None:
        pytest.skip("needs openssl")
    crt, key = make_cert(tmp_path)
    for name in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"):
        env[name] = str(crt)
    env["GSEP_CONNECT_TIMEOUT"] = "10"  # the handshake's own bound (ssl's), not --timeout's
    with Sandbox(job_seconds=0, tls_cert=crt, tls_key=key) as sb:
        port, stop = drip_relay(sb.port, rate=20)
        try:
            env["GSEP_BASE_URL"] = f"https://127.0.0.1:{port}/developers/api"
            run, took = timed(["job", "status", "J1", "--wait", "--timeout", "1.5"], env, tmp_path)
        finally:
            stop()
    assert_clean_error(run, 8, "--timeout")
    assert took < 5  # not the 10 s connect timeout the handshake alone would be given


def test_a_redirect_target_no_connection_could_be_made_of_is_refused() -> None:
    """Found by the property above: urllib3 cannot parse it, so it is refused (exit 4),
    never an internal error."""
    from gsep_cli.origins import UnsafeUrl, redirect_target

    with pytest.raises(UnsafeUrl, match="cannot be read"):
        redirect_target("http://127.0.0.1:1/developers/api/v1/key/info", "evil.example:8080http")
