"""The vendor's sample flow, end to end over real HTTP, plus the lyrics/dme models,
key info and many uploads at once (GSEP_API.md sections 2 and 4)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import socket
import threading
import time
import wave
from datetime import datetime, timezone
from urllib.parse import urlsplit

import miniaudio
import pytest
import requests
from conftest import HQ, KEY, TIMEOUT, Api, business, wav_bytes

from gsep_cli.models import MODELS


def _wav_params(data: bytes) -> tuple[int, int, int, int]:
    with wave.open(io.BytesIO(data)) as w:
        return w.getframerate(), w.getnchannels(), w.getsampwidth(), w.getnframes()


def _peak(data: bytes) -> int:
    with wave.open(io.BytesIO(data)) as w:
        assert w.getsampwidth() == 2
        frames = w.readframes(w.getnframes())
    samples = memoryview(frames).cast("h")
    return max(abs(s) for s in samples)


def test_vendor_sample_flow(sandbox) -> None:
    sb = sandbox(job_seconds=0.6, chunk_size=4096)
    data = wav_bytes(frames=6000, rate=44100, channels=2)
    http = requests.Session()
    base = sb.base_url
    key = {"x-ga-apikey": KEY}

    # 2.1 create upload
    r = http.post(
        base + "/v1/files/upload-multipart/create",
        json={"fileName": "song.wav", "fileSize": len(data)},
        headers=key,
        timeout=TIMEOUT,
    )
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"resultCode", "resultData"}
    assert body["resultCode"] == 1000
    plan = body["resultData"]
    assert set(plan) == {"uploadId", "chunkSize", "preSignedUrl"}
    assert isinstance(plan["uploadId"], str) and plan["uploadId"]
    assert plan["chunkSize"] == 4096
    urls = plan["preSignedUrl"]
    assert isinstance(urls, list)
    assert len(urls) == math.ceil(len(data) / 4096) > 1
    assert all(u.startswith(sb.origin + "/") for u in urls)

    # 2.2 PUT each chunk (with a Content-Type like the vendor's client, no key)
    etags = []
    for i, url in enumerate(urls):
        chunk = data[i * 4096 : (i + 1) * 4096]
        put = http.put(url, data=chunk, headers={"Content-Type": "audio/wav"}, timeout=TIMEOUT)
        assert put.status_code == 200, put.text
        assert put.headers["ETag"] == f'"{hashlib.md5(chunk).hexdigest()}"'
        etags.append(put.headers["ETag"].strip('"'))

    # 2.3 complete
    r = http.post(
        base + "/v1/files/upload-multipart/complete",
        json={
            "uploadId": plan["uploadId"],
            "parts": [{"awsETag": e, "partNumber": n} for n, e in enumerate(etags, 1)],
        },
        headers=key,
        timeout=TIMEOUT,
    )
    assert r.status_code == 200
    assert r.json()["resultCode"] == 1000
    assert r.json().get("resultData") in ({}, None)

    # 2.4 create a job
    r = http.post(
        f"{base}/v1/{HQ}/jobs",
        json={"audioUploadId": plan["uploadId"], "type": "vocal,drum"},
        headers=key,
        timeout=TIMEOUT,
    )
    assert r.status_code == 200
    assert r.json()["resultCode"] == 1000
    assert set(r.json()["resultData"]) == {"jobId"}
    job_id = r.json()["resultData"]["jobId"]
    assert isinstance(job_id, str) and job_id

    # 2.5 poll until success (bounded)
    order = {"waiting": 0, "running": 1, "success": 2}
    seen: list[str] = []
    for _ in range(500):
        r = http.get(f"{base}/v1/{HQ}/jobs/{job_id}", headers=key, timeout=TIMEOUT)
        assert r.status_code == 200 and r.json()["resultCode"] == 1000
        result = r.json()["resultData"]
        assert result["jobId"] == job_id
        seen.append(result["status"])
        if result["status"] == "success":
            break
        assert result["status"] in ("waiting", "running")
        assert result["errorMessage"] is None
        assert "downloadUrl" not in result or result["downloadUrl"] is None
        time.sleep(0.02)
    assert seen[-1] == "success", seen
    assert [order[s] for s in seen] == sorted(order[s] for s in seen), seen
    finished = sb.now()

    assert set(result) == {"jobId", "status", "errorMessage", "expireAt", "downloadUrl"}
    assert result["errorMessage"] is None
    expire = result["expireAt"]
    assert isinstance(expire, str) and expire.endswith("Z")
    when = datetime.strptime(expire, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    assert abs(when.timestamp() - (finished + 48 * 3600)) < 5
    urls_by_name = result["downloadUrl"]
    assert set(urls_by_name) == {"vocal", "drum", "others"}

    rate, channels, width, frames = _wav_params(data)
    for name, formats in urls_by_name.items():
        assert set(formats) == {"mp3", "wav"}, (name, formats)
        for url in formats.values():
            assert urlsplit(url).netloc == urlsplit(sb.origin).netloc
        got = http.get(formats["wav"], timeout=TIMEOUT)  # no key on CDN URLs
        assert got.status_code == 200
        assert got.headers["Content-Type"] == "audio/wav"
        assert int(got.headers["Content-Length"]) == len(got.content)
        assert _wav_params(got.content) == (rate, channels, width, frames), name
        assert _peak(got.content) > 100, f"{name}.wav is silent"
        mp3 = http.get(formats["mp3"], timeout=TIMEOUT)
        assert mp3.status_code == 200
        assert mp3.headers["Content-Type"] == "audio/mpeg"
        decoded = miniaudio.decode(mp3.content, nchannels=2, sample_rate=48000)
        assert abs(decoded.duration - frames / rate) < 0.05, (name, decoded.duration)

    log = sb.requests
    assert {e["kind"] for e in log} == {"api", "s3", "cdn"}
    assert all(e["hasApiKey"] == (e["kind"] == "api") for e in log)
    assert all(e["headers"].get("x-ga-apikey") in (None, "<redacted>") for e in log)
    assert sum(e["kind"] == "s3" for e in log) == len(urls)
    assert sum(e["kind"] == "cdn" for e in log) == 6


def test_job_status_follows_the_sandbox_clock(sandbox) -> None:
    sb = sandbox(job_seconds=100)
    api = Api(sb)
    upload = api.upload(wav_bytes(frames=1600))
    job_id = api.job_id(audioUploadId=upload, type="bass")
    first = api.job(job_id)
    assert first["status"] == "waiting"
    assert first["errorMessage"] is None and first["expireAt"] is None
    assert "downloadUrl" not in first
    sb.advance(30)
    assert api.job(job_id)["status"] == "running"
    sb.advance(80)
    done = api.job(job_id)
    assert done["status"] == "success"
    assert set(done["downloadUrl"]) == {"bass", "others"}


def test_upload_id_serves_several_jobs_and_single_part_plans(sandbox) -> None:
    sb = sandbox(chunk_size=1024**3)
    api = Api(sb)
    data = wav_bytes(frames=1000, rate=22050, channels=1)
    plan = api.create_upload("mono.wav", len(data))
    assert plan["chunkSize"] == 1024**3
    assert len(plan["preSignedUrl"]) == 1
    assert api.complete(plan["uploadId"], api.put_parts(plan, data)).json()["resultCode"] == 1000
    for stems in ("vocal", "drum,bass,electric_guitar,acoustic_piano"):
        job_id = api.job_id(audioUploadId=plan["uploadId"], type=stems)
        done = api.wait(job_id)
        assert set(done["downloadUrl"]) == {*stems.split(","), "others"}
        wav = requests.get(done["downloadUrl"]["others"]["wav"], timeout=TIMEOUT).content
        assert _wav_params(wav) == (22050, 1, 2, 1000)


def test_other_sample_widths_keep_the_input_format(sandbox) -> None:
    sb = sandbox()
    api = Api(sb)
    for width in (1, 3):
        data = wav_bytes(frames=800, rate=48000, channels=2, width=width)
        job_id = api.job_id(audioUploadId=api.upload(data), type="vocal")
        url = api.wait(job_id)["downloadUrl"]["vocal"]["wav"]
        assert _wav_params(requests.get(url, timeout=TIMEOUT).content) == (48000, 2, width, 800)


def test_key_info(sandbox) -> None:
    sb = sandbox(credits=5, permitted_models=[HQ, "gts_lyrics_line_v1"])
    r = Api(sb).get("/v1/key/info")
    assert r.status_code == 200
    body = r.json()
    assert body["resultCode"] == 1000
    info = body["resultData"]
    assert set(info) >= {
        "projectName",
        "description",
        "status",
        "createdAt",
        "permittedModels",
        "credits",
    }
    assert info["permittedModels"] == sorted([HQ, "gts_lyrics_line_v1"])
    assert info["credits"] == {"free": 5, "paid": 0}
    assert info["createdAt"].endswith("Z")


def test_dme_model_needs_no_type_and_has_no_residual(sandbox) -> None:
    sb = sandbox()
    api = Api(sb)
    data = wav_bytes(frames=1200)
    upload = api.upload(data)
    for model in (m for m, spec in MODELS.items() if spec.category == "dme"):
        job_id = api.job_id(model, audioUploadId=upload)
        done = api.wait(job_id, model)
        assert done["status"] == "success"
        outputs = done["downloadUrl"]
        assert "others" not in outputs
        assert set(outputs) == set(MODELS[model].outputs)
        for formats in outputs.values():
            assert set(formats) == {"mp3", "wav"}
            wav = requests.get(formats["wav"], timeout=TIMEOUT).content
            assert _wav_params(wav) == _wav_params(data)
    # A ``type`` sent to a dme model is ignored, not an error.
    api.job_id("gsep_dme_dtrack_v1", audioUploadId=upload, type="vocal")


def test_dme_accepts_mov_that_music_refuses(sandbox) -> None:
    sb = sandbox()
    api = Api(sb)
    mov = (20).to_bytes(4, "big") + b"ftypqt  " + b"\x00" * 8 + b"\x00" * 100
    upload = api.upload(mov, "clip.mov")
    done = api.wait(api.job_id("gsep_dme_dtrack_v1", audioUploadId=upload), "gsep_dme_dtrack_v1")
    assert done["status"] == "success"
    business(api.create_job(HQ, audioUploadId=upload, type="vocal"), 1107)


def test_other_stem_models(sandbox) -> None:
    sb = sandbox()
    api = Api(sb)
    upload = api.upload(wav_bytes(frames=800))
    done = api.wait(
        api.job_id("gsep_music_shq_v1", audioUploadId=upload, type="vocal"), "gsep_music_shq_v1"
    )
    assert set(done["downloadUrl"]) == {"vocal", "others"}
    done = api.wait(
        api.job_id("gsep_speech_hq_v1", audioUploadId=upload, type="speech"), "gsep_speech_hq_v1"
    )
    assert set(done["downloadUrl"]) == {"speech", "others"}
    business(api.create_job("gsep_music_shq_v1", audioUploadId=upload, type="drum"), 1100)


LYRICS = "gts_lyrics_line_v1"


def test_lyrics_model_outputs_csv_and_json(sandbox) -> None:
    sb = sandbox()
    api = Api(sb)
    audio = api.upload(wav_bytes(frames=3200))
    text = api.upload(b"first line\nsecond line\n\nthird line\n", "lyrics.txt")
    job_id = api.job_id(LYRICS, audioUploadId=audio, textUploadId=text, language="en")
    done = api.wait(job_id, LYRICS)
    assert done["status"] == "success"
    outputs = done["downloadUrl"]
    assert set(outputs) == {"lyrics", "reports"}
    assert set(outputs["lyrics"]) == {"file"} and set(outputs["reports"]) == {"file"}
    lyrics = requests.get(outputs["lyrics"]["file"], timeout=TIMEOUT)
    assert lyrics.status_code == 200
    assert lyrics.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(lyrics.text)))
    assert rows[0] == ["timestamp", "lyric_text", "confidence_score"]
    assert [row[1] for row in rows[1:]] == ["first line", "second line", "third line"]
    report = requests.get(outputs["reports"]["file"], timeout=TIMEOUT)
    assert report.headers["Content-Type"].startswith("application/json")
    assert json.loads(report.content)["language"] == "en"
    assert urlsplit(outputs["lyrics"]["file"]).path.endswith(".csv")
    assert urlsplit(outputs["reports"]["file"]).path.endswith(".json")


def test_lyrics_model_errors(sandbox) -> None:
    sb = sandbox()
    api = Api(sb)
    audio = api.upload(wav_bytes(frames=800))
    text = api.upload(b"one\ntwo\n", "words.txt")
    one_line = api.upload(b"only one line\n\n", "one.txt")
    not_txt = api.upload(b"one\ntwo\n", "words.md")
    not_utf8 = api.upload(b"\xff\xfe\xfa\nbad\n", "latin.txt")
    ok = {"audioUploadId": audio, "textUploadId": text, "language": "ko"}
    api.job_id(LYRICS, **ok)
    for language in ("fr", "EN", "", None, 1):
        business(api.create_job(LYRICS, **{**ok, "language": language}), 1111)
    business(api.create_job(LYRICS, **{k: v for k, v in ok.items() if k != "language"}), 1111)
    business(api.create_job(LYRICS, **{**ok, "textUploadId": one_line}), 1008)
    business(api.create_job(LYRICS, **{**ok, "textUploadId": not_txt}), 1112)
    business(api.create_job(LYRICS, **{**ok, "textUploadId": not_utf8}), 1112)
    business(api.create_job(LYRICS, **{**ok, "textUploadId": "nope"}), 1105)
    business(api.create_job(LYRICS, **{k: v for k, v in ok.items() if k != "textUploadId"}), 1105)
    # a text file is not audio
    business(api.create_job(LYRICS, **{**ok, "audioUploadId": text}), 1107)
    for language in ("en", "ja", "zh-cn"):
        api.job_id(LYRICS, **{**ok, "language": language})


def test_twenty_parallel_uploads_do_not_mix(sandbox) -> None:
    sb = sandbox(chunk_size=2048, job_seconds=0.05, rate_limit=0)
    count = 20
    inputs = {
        i: wav_bytes(frames=900 + 37 * i, rate=16000, channels=1, seed=i) for i in range(count)
    }
    results: dict[int, tuple[str, str, bytes]] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(count, timeout=30)

    def worker(i: int) -> None:
        try:
            with requests.Session() as http:
                api = Api(sb, session=http)
                start.wait()
                upload = api.upload(inputs[i], f"track-{i}.wav")
                job_id = api.job_id(audioUploadId=upload, type="vocal,bass")
                done = api.wait(job_id)
                assert done["status"] == "success"
                wav = http.get(done["downloadUrl"]["bass"]["wav"], timeout=TIMEOUT)
                assert wav.status_code == 200
                results[i] = (upload, job_id, wav.content)
        except BaseException as exc:  # reported below, with the thread's own assertion
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    assert not errors, errors
    assert len(results) == count
    assert len({upload for upload, _, _ in results.values()}) == count
    assert len({job for _, job, _ in results.values()}) == count
    for i, (_, _, wav) in results.items():
        assert _wav_params(wav) == (16000, 1, 2, 900 + 37 * i)
    assert sb.store.upload_count() == count
    assert sb.store.job_count() == count
    stats = requests.get(sb.origin + "/_sandbox/stats", timeout=TIMEOUT).json()
    assert stats["uploads"] == count and stats["jobs"] == count
    assert stats["creditsUsed"] == count


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
            sock.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _has_ipv6_loopback(), reason="no IPv6 loopback here")
def test_ipv6_loopback(sandbox) -> None:
    sb = sandbox(host="::1")
    assert sb.base_url.startswith("http://[::1]:")
    assert sb.alt_origin.startswith("http://[::1]:")
    api = Api(sb)
    done = api.wait(api.job_id(audioUploadId=api.upload(wav_bytes(frames=500)), type="drum"))
    url = done["downloadUrl"]["drum"]["wav"]
    assert url.startswith("http://[::1]:")
    assert requests.get(url, timeout=TIMEOUT).status_code == 200
    assert {e["client"] for e in sb.requests} == {"::1"}
