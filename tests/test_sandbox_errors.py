"""Every HTTP status and result code the sandbox claims (GSEP_API.md sections 1 and 3)."""

from __future__ import annotations

import io
import wave

import pytest
import requests
from conftest import HQ, KEY, TIMEOUT, Api, business, wav_bytes
from mediatools import flac_bytes, id3v2_tag, mpeg_frame, vbr_mp3

CREATE = "/v1/files/upload-multipart/create"


def _raw_wav(frames: int, rate: int, channels: int, width: int = 1) -> bytes:
    """A WAV of silence, built fast (8-bit by default, so long inputs stay small)."""
    return wav_bytes(frames, rate, channels, width, silent=True)


# ---- HTTP-level: key, model, permission ---------------------------------------------------
def test_missing_key_is_400_on_every_endpoint(sandbox) -> None:
    sb = sandbox()
    api = Api(sb, key=None)
    for r in (
        api.post(CREATE, {"fileName": "a.wav", "fileSize": 1}),
        api.post("/v1/files/upload-multipart/complete", {"uploadId": "x", "parts": []}),
        api.post(f"/v1/{HQ}/jobs", {"audioUploadId": "x", "type": "vocal"}),
        api.get(f"/v1/{HQ}/jobs/x"),
        api.get("/v1/key/info"),
        api.post(CREATE, {}, headers={"x-ga-apikey": ""}),
    ):
        assert r.status_code == 400, r.text
        assert "resultCode" not in r.json() or r.json()["resultCode"] != 1000
        assert "x-ga-apikey" in r.json()["resultMessage"]
    assert sb.store.upload_count() == 0


def test_unknown_key_is_401_when_keys_are_configured(sandbox) -> None:
    sb = sandbox(api_keys=["good-key"])
    r = Api(sb, key="bad-key").get("/v1/key/info")
    assert r.status_code == 401
    assert r.json()["resultMessage"]
    assert Api(sb, key="good-key").get("/v1/key/info").status_code == 200
    # without api_keys, any non-empty key is accepted
    other = sandbox()
    assert Api(other, key="anything").get("/v1/key/info").status_code == 200


def test_unknown_model(sandbox) -> None:
    sb = sandbox()
    api = Api(sb)
    for r in (api.create_job("gsep_nope_v9", audioUploadId="x"), api.get("/v1/nope/jobs/1")):
        assert r.status_code == 404
        assert r.json()["resultCode"] == 1100
        assert "unknown model" in r.json()["resultMessage"]


def test_model_not_permitted_is_403(sandbox) -> None:
    sb = sandbox(permitted_models=[HQ])
    api = Api(sb)
    upload = api.upload(wav_bytes(frames=400))
    r = api.create_job("gsep_music_shq_v1", audioUploadId=upload, type="vocal")
    assert r.status_code == 403
    assert "not permitted" in r.json()["resultMessage"]
    assert api.get("/v1/gsep_music_shq_v1/jobs/whatever").status_code == 403
    api.job_id(HQ, audioUploadId=upload, type="vocal")
    assert sb.store.job_count() == 1


# ---- business codes -----------------------------------------------------------------------
def test_type_errors(sandbox) -> None:
    sb = sandbox()
    api = Api(sb)
    upload = api.upload(wav_bytes(frames=400))
    business(api.create_job(audioUploadId=upload), 1122)
    for empty in ("", "   ", None):
        business(api.create_job(audioUploadId=upload, type=empty), 1122)
    message = business(api.create_job(audioUploadId=upload, type="vocal,kazoo"), 1100)
    assert "kazoo" in message
    assert "others" in business(api.create_job(audioUploadId=upload, type="others"), 1100)
    business(api.create_job(audioUploadId=upload, type="vocal,others"), 1100)
    business(api.create_job(audioUploadId=upload, type="vocal,vocal"), 1100)
    business(api.create_job(audioUploadId=upload, type=["vocal"]), 1100)
    business(api.create_job(audioUploadId=upload, type="vocal,"), 1100)
    assert sb.store.job_count() == 0
    api.job_id(audioUploadId=upload, type=" vocal , drum ")


def test_upload_not_found_not_completed_expired(sandbox) -> None:
    sb = sandbox()
    api = Api(sb)
    business(api.create_job(audioUploadId="0123456789abcdef", type="vocal"), 1105)
    business(api.create_job(type="vocal"), 1105)
    business(api.create_job(audioUploadId=42, type="vocal"), 1105)
    data = wav_bytes(frames=400)
    plan = api.create_upload("a.wav", len(data))
    api.put_parts(plan, data)  # every part, but never completed
    business(api.create_job(audioUploadId=plan["uploadId"], type="vocal"), 1105)
    upload = api.upload(data)
    sb.advance(71 * 3600)
    api.job_id(audioUploadId=upload, type="vocal")
    sb.advance(1 * 3600 + 1)
    assert "expired" in business(api.create_job(audioUploadId=upload, type="vocal"), 1106)
    # complete on an unknown upload id
    business(api.complete("feedface", ["0" * 32]), 1105)


def test_job_not_found(sandbox) -> None:
    sb = sandbox()
    api = Api(sb)
    business(api.get(f"/v1/{HQ}/jobs/00000000-0000-1000-8000-000000000000"), 1104)
    job_id = api.job_id(audioUploadId=api.upload(wav_bytes(frames=400)), type="vocal")
    assert api.job(job_id)["status"] == "success"
    business(api.get(f"/v1/gsep_music_shq_v1/jobs/{job_id}"), 1104)


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("song.xyz", None),
        ("song.aiff", None),
        ("song.txt", None),
        ("song.mp3", None),  # WAV bytes under an .mp3 name
        ("song.flac", None),
        ("song.wav", b"this is not audio at all, only some text" * 10),
        ("song.wav", b"RIFF\x10\x00\x00\x00WAVEjunk\x04\x00\x00\x00abcd"),  # no fmt/data
    ],
)
def test_unsupported_format_1107(sandbox, name: str, content: bytes | None) -> None:
    sb = sandbox()
    api = Api(sb)
    upload = api.upload(content or wav_bytes(frames=400), name)
    business(api.create_job(audioUploadId=upload, type="vocal"), 1107)


def test_mp3_upload_is_accepted(sandbox) -> None:
    sb = sandbox()
    api = Api(sb)
    from gsep_cli.sandbox import silence

    buf = io.BytesIO()
    silence.write_mp3(buf, 1.0)
    upload = api.upload(buf.getvalue(), "song.MP3")
    done = api.wait(api.job_id(audioUploadId=upload, type="vocal"))
    assert done["status"] == "success"


def test_zero_length_1108(sandbox) -> None:
    sb = sandbox()
    api = Api(sb)
    plan = api.create_upload("empty.wav", 0)
    assert len(plan["preSignedUrl"]) == 1
    etags = api.put_parts(plan, b"")
    assert api.complete(plan["uploadId"], etags).json()["resultCode"] == 1000
    business(api.create_job(audioUploadId=plan["uploadId"], type="vocal"), 1108)
    header_only = api.upload(_raw_wav(0, 44100, 2, 2))
    business(api.create_job(audioUploadId=header_only, type="vocal"), 1108)


def test_too_long_1109_with_the_limit_knob(sandbox) -> None:
    sb = sandbox(max_seconds=0.5)
    api = Api(sb)
    business(api.create_job(audioUploadId=api.upload(_raw_wav(8001, 16000, 1)), type="vocal"), 1109)
    api.job_id(audioUploadId=api.upload(_raw_wav(8000, 16000, 1)), type="vocal")


def test_too_long_1109_at_the_real_lyrics_limit(sandbox) -> None:
    # gts_lyrics_line_v1 allows 10 min: 601 s of 16 kHz mono 8-bit is only ~9.6 MB.
    sb = sandbox(chunk_size=4 * 1024 * 1024)
    api = Api(sb)
    text = api.upload(b"la la\nla la la\n", "words.txt")
    long = api.upload(_raw_wav(601 * 16000, 16000, 1))
    fits = api.upload(_raw_wav(600 * 16000, 16000, 1))
    lyrics = "gts_lyrics_line_v1"
    business(api.create_job(lyrics, audioUploadId=long, textUploadId=text, language="en"), 1109)
    api.job_id(lyrics, audioUploadId=fits, textUploadId=text, language="en")
    # music allows 20 min: the same file is fine there
    api.job_id(audioUploadId=long, type="vocal")


def test_too_large_1110_with_the_limit_knob(sandbox) -> None:
    data = wav_bytes(frames=400)
    sb = sandbox(max_bytes=len(data) - 1)
    api = Api(sb)
    business(api.create_job(audioUploadId=api.upload(data), type="vocal"), 1110)
    ok = sandbox(max_bytes=len(data))
    Api(ok).job_id(audioUploadId=Api(ok).upload(data), type="vocal")


@pytest.mark.parametrize("rate", [8000, 15999, 192001])
def test_sample_rate_1014(sandbox, rate: int) -> None:
    sb = sandbox()
    api = Api(sb)
    business(api.create_job(audioUploadId=api.upload(_raw_wav(100, rate, 1)), type="vocal"), 1014)


def test_sample_rate_limits_are_inclusive(sandbox) -> None:
    sb = sandbox()
    api = Api(sb)
    for rate in (16000, 192000):
        api.job_id(audioUploadId=api.upload(_raw_wav(100, rate, 1)), type="vocal")


def test_channels_1015(sandbox) -> None:
    sb = sandbox()
    api = Api(sb)
    for channels in (3, 6):
        upload = api.upload(_raw_wav(100, 44100, channels))
        business(api.create_job(audioUploadId=upload, type="vocal"), 1015)


@pytest.mark.parametrize(
    ("name", "data", "code"),
    [
        ("low.flac", flac_bytes(8000, 2, 16, 800), 1014),
        ("high.flac", flac_bytes(192001, 2, 16, 1920), 1014),
        ("surround.flac", flac_bytes(48000, 6, 24, 4800), 1015),
        ("low.mp3", mpeg_frame(8, 8000, version="2.5") * 8, 1014),
        ("broken.flac", b"fLaC\x84\x00\x00\x22" + bytes(40), 1107),  # no STREAMINFO
    ],
)
def test_flac_and_mp3_headers_are_checked_too(sandbox, name: str, data: bytes, code: int) -> None:
    sb = sandbox()
    api = Api(sb)
    business(api.create_job(audioUploadId=api.upload(data, name), type="vocal"), code)


def test_id3v2_tags_in_front_are_skipped(sandbox) -> None:
    sb = sandbox()
    api = Api(sb)
    tags = id3v2_tag(bytes(100), footer=True) + id3v2_tag(bytes(7))
    for name, data, seconds in (
        ("tagged.flac", flac_bytes(44100, 2, 16, 4410), 0.1),  # from STREAMINFO
        ("tagged.wav", wav_bytes(frames=400), 400 / 16000),  # rendered from the samples
    ):
        done = api.wait(api.job_id(audioUploadId=api.upload(tags + data, name), type="vocal"))
        assert done["status"] == "success", done
        wav = api.http.get(done["downloadUrl"]["vocal"]["wav"], timeout=TIMEOUT)
        with wave.open(io.BytesIO(wav.content)) as stem:
            assert stem.getnframes() / stem.getframerate() == pytest.approx(seconds)


def test_duration_limit_only_where_the_length_is_exact(sandbox) -> None:
    sb = sandbox(max_seconds=1)
    api = Api(sb)
    long_flac = api.upload(flac_bytes(16000, 1, 16, 16001), "long.flac")
    business(api.create_job(audioUploadId=long_flac, type="vocal"), 1109)
    guessed = api.upload(vbr_mp3(0.5), "vbr.mp3")  # no Xing: its length is only a guess
    api.job_id(audioUploadId=guessed, type="vocal")


@pytest.mark.parametrize(
    "name",
    [
        "noextension",
        "dir/song.wav",
        "back\\slash.wav",
        "ctrl\x01.wav",
        ".wav",
        "new\nline.wav",
        "song.",
    ],
)
def test_bad_file_name_1113(sandbox, name: str) -> None:
    sb = sandbox()
    api = Api(sb)
    upload = api.upload(wav_bytes(frames=200), name)  # create never refuses a name
    business(api.create_job(audioUploadId=upload, type="vocal"), 1113)


def test_unusual_but_valid_file_names(sandbox) -> None:
    sb = sandbox()
    api = Api(sb)
    for name in ("My Song (live) 2.WAV", "노래.wav", "a.b.c.wav"):
        api.job_id(audioUploadId=api.upload(wav_bytes(frames=200), name), type="vocal")


def test_credits_run_out_1102(sandbox) -> None:
    sb = sandbox(credits=2)
    api = Api(sb)
    upload = api.upload(wav_bytes(frames=200))
    business(api.create_job(audioUploadId=upload, type="kazoo"), 1100)  # invalid: no charge
    api.job_id(audioUploadId=upload, type="vocal")
    api.job_id(audioUploadId=upload, type="drum")
    business(api.create_job(audioUploadId=upload, type="vocal"), 1102)
    assert sb.store.job_count() == 2
    assert api.get("/v1/key/info").json()["resultData"]["credits"]["free"] == 0
    stats = requests.get(sb.origin + "/_sandbox/stats", timeout=TIMEOUT).json()
    assert stats["creditsUsed"] == 2 and stats["creditsLeft"] == 0


def test_business_status_400_switch(sandbox) -> None:
    with pytest.raises(ValueError):
        sandbox(business_status=500)
    at_200, at_400 = sandbox(), sandbox(business_status=400)
    bodies = []
    for sb, status in ((at_200, 200), (at_400, 400)):
        api = Api(sb)
        r = api.create_job(audioUploadId="nope", type="vocal")
        business(r, 1105, status)
        bodies.append(r.json())
        upload = api.upload(wav_bytes(frames=200))
        business(api.create_job(audioUploadId=upload), 1122, status)
        business(api.get(f"/v1/{HQ}/jobs/nope"), 1104, status)
        # success is still 200
        assert api.create_job(audioUploadId=upload, type="vocal").status_code == 200
    assert bodies[0] == bodies[1]


# ---- rate limit ---------------------------------------------------------------------------
def _too_many(r: requests.Response) -> None:
    assert r.status_code == 429, r.text
    body = r.json()
    assert set(body) == {"error", "message"}
    assert body["error"] == "too_many_requests"
    assert isinstance(body["message"], str) and body["message"]


def test_rate_limit_blocks_then_lets_through(sandbox) -> None:
    sb = sandbox(rate_limit=3, rate_block=5)
    api = Api(sb)
    for _ in range(3):
        assert api.get("/v1/key/info").status_code == 200
    for _ in range(3):
        r = api.get("/v1/key/info")
        _too_many(r)
        assert "Retry-After" not in r.headers
    _too_many(Api(sb, key=None).get("/v1/key/info"))  # blocked before the key is looked at
    assert requests.get(sb.origin + "/_sandbox/health", timeout=TIMEOUT).status_code == 200
    sb.advance(4)
    _too_many(api.get("/v1/key/info"))
    sb.advance(1.5)
    assert api.get("/v1/key/info").status_code == 200  # the block is over
    assert api.get("/v1/key/info").status_code == 200
    assert [e["status"] for e in sb.requests].count(429) == 5


def test_rate_limit_counts_everything_under_the_base_url(sandbox) -> None:
    sb = sandbox(rate_limit=3)
    Api(sb, key=None).get("/v1/key/info")  # 400, counted
    Api(sb).get("/v1/no/such/endpoint")  # 404, counted
    Api(sb).post(CREATE, {"fileName": "a.wav"})  # business error, counted
    _too_many(Api(sb).get("/v1/key/info"))


def test_rate_limit_fixed_windows(sandbox) -> None:
    sb = sandbox(rate_limit=2, rate_window=10, rate_block=10)
    api = Api(sb)
    sb.advance(10 - sb.now() % 10 + 0.5)  # start of a window
    assert api.get("/v1/key/info").status_code == 200
    assert api.get("/v1/key/info").status_code == 200
    sb.advance(9)  # same window
    _too_many(api.get("/v1/key/info"))
    sb.advance(11)  # block over, new window
    for _ in range(2):
        assert api.get("/v1/key/info").status_code == 200
    sb.advance(10)  # next window: the count starts again
    assert api.get("/v1/key/info").status_code == 200


def test_rate_limit_retry_after_only_when_asked(sandbox) -> None:
    sb = sandbox(rate_limit=1, rate_block=7, rate_retry_after=True)
    api = Api(sb)
    assert api.get("/v1/key/info").status_code == 200
    r = api.get("/v1/key/info")
    _too_many(r)
    assert r.headers["Retry-After"] == "7"
    sb.advance(3)
    r = api.get("/v1/key/info")
    _too_many(r)
    assert r.headers["Retry-After"] == "4"


def test_rate_limit_ignores_presigned_and_cdn_traffic(sandbox) -> None:
    sb = sandbox(rate_limit=4, chunk_size=512)
    api = Api(sb)
    data = wav_bytes(frames=2000)
    upload = api.upload(data)  # create + complete = 2, and 16 part PUTs not counted
    assert len([e for e in sb.requests if e["kind"] == "s3"]) > 10
    job_id = api.job_id(audioUploadId=upload, type="vocal")  # 3
    done = api.job(job_id)  # 4
    for formats in done["downloadUrl"].values():
        for url in formats.values():
            assert requests.get(url, timeout=TIMEOUT).status_code == 200
    _too_many(api.get("/v1/key/info"))  # 5


def test_rate_limit_zero_disables_it(sandbox) -> None:
    sb = sandbox(rate_limit=0)
    api = Api(sb)
    assert all(api.get("/v1/key/info").status_code == 200 for _ in range(150))


def test_api_key_is_not_logged(sandbox) -> None:
    sb = sandbox()
    Api(sb, key=KEY).get("/v1/key/info")
    log = requests.get(sb.origin + "/_sandbox/requests", timeout=TIMEOUT)
    assert KEY not in log.text
    assert log.json()["requests"][0]["hasApiKey"] is True
