"""A vendor-like client: what Gaudio Lab's MCP server (gaudiolab-jp/gaudio-developers-mcp,
TypeScript) is documented and written to do, re-implemented here with requests.

This is NOT the vendor's code (there is no Node toolchain for it in these benchmarks, and
nothing of it is copied): it follows the behaviour read from that repository, so that
gsep can be measured against it on the same link:

* an upload reads the whole input into memory, asks for a multipart plan, PUTs the parts
  one after another (Content-Type from the file's extension; the ETag, unquoted, is
  required), then completes the upload;
* a separation creates the job, asks for its status at once and then every 10 s, at most
  30 times, and returns the download URLs without downloading anything;
* a 429 answer waits 61 s and retries, twice at most; one connection pool per client
  (Node's fetch keeps connections alive);
* several inputs: one tool call per input; ``--jobs K`` runs K calls at once, as an MCP
  host may.

    GSEP_BASE_URL=... GSEP_API_KEY=... python vendor_like.py upload FILE
    GSEP_BASE_URL=... GSEP_API_KEY=... python vendor_like.py separate FILE... [--jobs K]

Prints one JSON line per input on stdout; exits 1 if any input failed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests

RATE_LIMIT_WAIT = 61.0
MAX_RETRIES = 2
CONTENT_TYPES = {
    "wav": "audio/wav",
    "flac": "audio/flac",
    "mp3": "audio/mpeg",
    "m4a": "audio/mp4",
    "mov": "video/quicktime",
    "mp4": "video/mp4",
    "txt": "text/plain",
}


class VendorLike:
    """The API calls, in the order and with the waits the vendor's client uses.

    ``base_url`` is the API base (``.../developers/api``); raises ``RuntimeError`` on an
    HTTP error, a resultCode other than 1000 or a missing ETag."""

    def __init__(self, base_url: str, key: str, poll_interval: float = 10.0) -> None:
        self.base = base_url.rstrip("/") + "/v1"
        self.key = key
        self.poll_interval = poll_interval
        self.session = requests.Session()
        self.session.trust_env = False

    def request(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        for attempt in range(MAX_RETRIES + 1):
            r = self.session.request(
                method,
                self.base + path,
                headers={"x-ga-apikey": self.key, "Content-Type": "application/json"},
                data=json.dumps(body) if body is not None else None,
                timeout=600,
            )
            if r.status_code == 429:
                if attempt < MAX_RETRIES:
                    time.sleep(RATE_LIMIT_WAIT)
                    continue
                raise RuntimeError("429 Too Many Requests")
            if not r.ok:
                raise RuntimeError(f"HTTP {r.status_code} for {method} {path}")
            data: dict[str, Any] = r.json()
            if data.get("resultCode") != 1000:
                raise RuntimeError(f"resultCode {data.get('resultCode')} for {method} {path}")
            return data
        raise RuntimeError("Max retries exceeded")

    def upload_file(self, path: Path) -> str:
        """The whole file in memory, its parts PUT one after another; the uploadId."""
        buffer = path.read_bytes()
        content_type = CONTENT_TYPES.get(path.suffix.lstrip(".").lower(), "")
        content_type = content_type or "application/octet-stream"
        plan = self.request(
            "POST",
            "/files/upload-multipart/create",
            {"fileName": path.name, "fileSize": len(buffer)},
        )["resultData"]
        chunk = int(plan["chunkSize"])
        parts = []
        for i, url in enumerate(plan["preSignedUrl"]):
            # a view, not a copy (as Node's subarray); http.client sends any bytes-like body
            body = memoryview(buffer)[i * chunk : (i + 1) * chunk]
            r = self.session.put(
                url,
                data=body,  # type: ignore[arg-type]
                headers={"Content-Type": content_type},
                timeout=3600,
            )
            if not r.ok:
                raise RuntimeError(f"Chunk upload failed: {r.status_code}")
            etag = r.headers.get("ETag")
            if not etag:
                raise RuntimeError("ETag header missing from chunk upload response")
            parts.append({"awsETag": etag.replace('"', ""), "partNumber": i + 1})
        self.request(
            "POST",
            "/files/upload-multipart/complete",
            {"uploadId": plan["uploadId"], "parts": parts},
        )
        return str(plan["uploadId"])

    def separate(self, path: Path, model: str, stem_type: str | None) -> dict[str, Any]:
        """Upload, create the job, poll (at once, then every ``poll_interval`` s, 30 times
        at most); the final status document. Nothing is downloaded."""
        upload_id = self.upload_file(path)
        params: dict[str, Any] = {"audioUploadId": upload_id}
        if stem_type:
            params["type"] = stem_type
        job_id = self.request("POST", f"/{model}/jobs", params)["resultData"]["jobId"]
        for _ in range(30):
            data = self.request("GET", f"/{model}/jobs/{job_id}")["resultData"]
            if data.get("status") in ("success", "failed"):
                return {"jobId": job_id, "status": data["status"], "uploadId": upload_id}
            time.sleep(self.poll_interval)
        return {"jobId": job_id, "status": "polling_timeout", "uploadId": upload_id}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["upload", "separate"])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--model", default="gsep_music_hq_v1")
    parser.add_argument("--type", default="vocal")
    parser.add_argument("--jobs", type=int, default=1, help="tool calls at once")
    parser.add_argument("--poll-interval", type=float, default=10.0)
    args = parser.parse_args(argv)
    client = VendorLike(os.environ["GSEP_BASE_URL"], os.environ["GSEP_API_KEY"], args.poll_interval)
    lock = threading.Lock()
    failed = []

    def one(path: Path) -> None:
        try:
            if args.command == "upload":
                result: dict[str, Any] = {"uploadId": client.upload_file(path)}
            else:
                result = client.separate(path, args.model, args.type)
        except (RuntimeError, requests.RequestException) as exc:
            result = {"file": str(path), "error": str(exc)}
        with lock:
            if result.get("status", "success") != "success" or "error" in result:
                failed.append(path)
            print(json.dumps(result), flush=True)

    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        list(pool.map(one, args.files))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
