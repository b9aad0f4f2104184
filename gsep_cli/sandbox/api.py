"""The GSEP API routes under ``/developers/api``: the checks every call passes (faults,
rate limit, API key, method), then upload create/complete, key info, job create/get in
the JSON envelope, with business errors answered as result codes.
"""

from __future__ import annotations

import json
import math
import random
import re
from typing import Any

from ..models import MODELS
from .exchange import BadRequest, Exchange, backslash_location
from .faults import MISSING, Fault, result_code_arg, status_value
from .state import (
    BusinessError,
    JobFaults,
    iso_utc,
)
from .store import MAX_FILE_SIZE

BASE_PATH = "/developers/api"
HUGE_DEFAULT = 32 * 1024 * 1024  # api-huge: bytes of padding unless its ARG says

# (path, method, handler suffix, route name for the ``KIND@ROUTE`` fault selectors)
_API_ROUTES: list[tuple[re.Pattern[str], str, str, str]] = [
    (re.compile(r"^/v1/files/upload-multipart/create$"), "POST", "create_upload", "upload-create"),
    (
        re.compile(r"^/v1/files/upload-multipart/complete$"),
        "POST",
        "complete_upload",
        "upload-complete",
    ),
    (re.compile(r"^/v1/key/info$"), "GET", "key_info", "key-info"),
    (re.compile(r"^/v1/(?P<model>[^/]+)/jobs$"), "POST", "create_job", "job-create"),
    (re.compile(r"^/v1/(?P<model>[^/]+)/jobs/(?P<job>[^/]+)$"), "GET", "get_job", "job-get"),
]


class ApiRoutes(Exchange):
    """The API's routes."""

    def _api(self, path: str) -> None:
        fault = self.server.sandbox.faults.take("api", route=_api_route(path, self.command))
        if fault is not None and self._api_fault_first(fault):
            return
        if self._api_refused():
            return
        self._api_call(path, fault)

    def _api_fault_first(self, fault: Fault) -> bool:
        """Apply what an API fault does before the request is handled; True when that
        already answered it (a redirect or a fault status)."""
        sandbox = self.server.sandbox
        self._entry["fault"] = fault.kind
        if fault.kind == "api-reset":
            self._reset()
        if fault.kind == "api-hang":  # before any work: retrying after it is safe
            self._hang()
        if fault.kind in ("redirect", "api-redirect-http"):  # nothing handled
            self._discard_body()
            origin = sandbox.alt_origin if fault.kind == "redirect" else sandbox.plain_origin
            self._json(302, {"resultMessage": "moved"}, [("Location", origin + self.path)])
            return True
        if fault.kind == "api-redirect-backslash":  # nothing handled
            self._discard_body()
            location = backslash_location(sandbox.alt_origin, sandbox.origin, self.path)
            self._json(302, {"resultMessage": "moved"}, [("Location", location)])
            return True
        if fault.kind == "api-huge":  # nothing handled
            self._discard_body()
            self._huge_answer(int(fault.arg or HUGE_DEFAULT))
            return True
        if fault.kind == "api-retry-after":  # nothing handled
            self._discard_body()
            body = {"error": "too_many_requests", "message": "Too many requests"}
            self._json(429, body, [("Retry-After", fault.arg or "")])
            return True
        if fault.status is not None:
            self._discard_body()
            self._api_fault_status(fault)
            return True
        if fault.kind == "api-delay":
            self._pause(float(fault.arg or 2))
        if fault.kind == "api-jitter":  # the way in; the way out in _api_call
            self._pause(random.uniform(0, float(fault.arg or 1)))
        if fault.kind == "api-drip":  # handled as usual, whatever the answer is
            self._drip_rate = fault.drip_rate()
        return False

    def _huge_answer(self, pad: int) -> None:
        """``api-huge``: a 200 success envelope whose ``resultData`` holds a string of
        ``pad`` bytes, streamed (never built in memory)."""
        head, tail = b'{"resultCode": 1000, "resultData": {"pad": "', b'"}}'
        parts = [head, tail]
        left = [pad]

        def read(size: int) -> bytes:
            if parts[0]:
                out, parts[0] = parts[0][:size], parts[0][size:]
                return out
            if left[0]:
                count = min(size, left[0])
                left[0] -= count
                return b"a" * count
            out, parts[1] = parts[1][:size], parts[1][size:]
            return out

        length = len(head) + pad + len(tail)
        self._send_head(200, "application/json", length, [])
        self._write_body(read, length)

    def _api_refused(self) -> bool:
        """Answer a request over the rate limit, or without a valid API key; True if so."""
        sandbox = self.server.sandbox
        settings = sandbox.settings
        blocked = sandbox.store.rate.check(self.client_address[0], sandbox.now())
        if blocked is not None:
            self._discard_body()
            wait = str(max(1, math.ceil(blocked)))  # never less than the block really lasts
            headers = [("Retry-After", wait)] if settings.rate_retry_after else []
            self._json(
                429,
                {
                    "error": "too_many_requests",
                    "message": "Too many requests: limit is "
                    f"{settings.rate_limit} per "
                    f"{settings.rate_window:g} s per IP",
                },
                headers,
            )
            return True
        key = self.headers.get("x-ga-apikey", "")
        if not key.strip():
            self._discard_body()
            self._json(
                400,
                {
                    "resultMessage": "x-ga-apikey header is missing",
                    "message": "x-ga-apikey header is missing",
                },
            )
            return True
        if settings.api_keys is not None and key not in settings.api_keys:
            self._discard_body()
            self._json(
                401,
                {
                    "resultMessage": "invalid API key (unknown, deleted or inactive)",
                    "message": "invalid API key",
                },
            )
            return True
        return False

    def _api_call(self, path: str, fault: Fault | None) -> None:
        """Run the endpoint this path and method name and answer with what it returns
        (405 for another method, 404 for no endpoint)."""
        for pattern, method, action, _route in _API_ROUTES:
            match = pattern.match(path)
            if match is None:
                continue
            if self.command != method:
                self._discard_body()
                self._json(
                    405,
                    {
                        "resultCode": 1100,
                        "resultMessage": f"method {self.command} not allowed here",
                    },
                    [("Allow", method)],
                )
                return
            try:
                status, payload = getattr(self, "_api_" + action)(**match.groupdict())
            except BusinessError as exc:
                status = self.server.sandbox.settings.business_status
                payload = {"resultCode": exc.code, "resultMessage": exc.message}
            except BadRequest:
                self._after_handling(fault)  # an error answer is dropped or late all the same
                raise
            self._after_handling(fault)
            self._json(status, payload)
            return
        self._discard_body()
        self._json(404, {"resultCode": 1100, "resultMessage": f"no API endpoint {path}"})

    def _after_handling(self, fault: Fault | None) -> None:
        """The faults that act once the request did its work, before the answer goes out.

        ``api-drop`` resets the connection; ``api-late`` (and ``api-jitter``, by a random
        part of its seconds) holds the answer back. If the
        client gave up meanwhile, writing the late answer fails with a ConnectionError,
        which ``_dispatch`` logs quietly.
        """
        if fault is None:
            return
        if fault.kind == "api-drop":
            self._reset()
        if fault.kind == "api-late":
            self._pause(float(fault.arg or 5))
        if fault.kind == "api-jitter":
            self._pause(random.uniform(0, float(fault.arg or 1)))

    def _api_fault_status(self, fault: Fault) -> None:
        status = fault.status or 503
        if status == 429:
            headers = [("Retry-After", fault.arg)] if fault.arg else []
            self._json(429, {"error": "too_many_requests", "message": "Too many requests"}, headers)
        elif fault.arg is not None:  # CODE[:MESSAGE]: any code in any status's body
            code, message = result_code_arg(fault.arg)
            text = f"sandbox fault: HTTP {status}" if message is None else message
            self._json(status, {"resultCode": code, "resultMessage": text})
        else:
            self._json(
                status,
                {
                    "resultMessage": f"sandbox fault: HTTP {status}",
                    "message": "temporary server error",
                },
            )

    def _api_create_upload(self) -> tuple[int, dict[str, Any]]:
        body = self._read_json()
        name, size = body.get("fileName"), body.get("fileSize")
        if not isinstance(name, str) or not name.strip():
            raise BusinessError(1100, "fileName is required (a name with its extension)")
        if isinstance(size, bool) or not isinstance(size, int):
            raise BusinessError(1100, "fileSize is required (an integer number of bytes)")
        if size < 0 or size > MAX_FILE_SIZE:
            raise BusinessError(1100, f"fileSize must be between 0 and {MAX_FILE_SIZE}")
        sandbox = self.server.sandbox
        upload = sandbox.store.create_upload(name, size)
        urls = [sandbox.presign_part(upload, n) for n in range(1, upload.part_count + 1)]
        return 200, {
            "resultCode": 1000,
            "resultData": {
                "uploadId": upload.upload_id,
                "chunkSize": upload.chunk_size,
                "preSignedUrl": urls,
            },
        }

    def _api_complete_upload(self) -> tuple[int, dict[str, Any]]:
        body = self._read_json()
        upload_id, parts = body.get("uploadId"), body.get("parts")
        if not isinstance(upload_id, str) or not upload_id:
            raise BusinessError(1100, "uploadId is required")
        if not isinstance(parts, list) or not parts:
            raise BusinessError(1100, "parts is required (a list of {awsETag, partNumber})")
        pairs = []
        for item in parts:
            number = item.get("partNumber") if isinstance(item, dict) else None
            etag = item.get("awsETag") if isinstance(item, dict) else None
            if isinstance(number, bool) or not isinstance(number, int) or not isinstance(etag, str):
                raise BusinessError(1100, "each part needs an integer partNumber and awsETag")
            pairs.append((number, etag))
        self.server.sandbox.store.complete_upload(upload_id, pairs)
        return 200, {"resultCode": 1000, "resultData": {}}

    def _api_key_info(self) -> tuple[int, dict[str, Any]]:
        sandbox = self.server.sandbox
        left = sandbox.store.credits_left
        permitted = sorted(sandbox.settings.permitted_models or MODELS)
        name, description = "gsep sandbox", "local emulator key"
        text = sandbox.faults.take("key", ("key-info-text",))
        if text is not None:  # hostile text where a client shows it as is
            self._entry["fault"] = text.kind
            name = description = text.arg or ""
        return 200, {
            "resultCode": 1000,
            "resultData": {
                "projectName": name,
                "description": description,
                "status": "active",
                "createdAt": iso_utc(sandbox.started_at),
                "permittedModels": permitted,
                "credits": {"free": 1_000_000 if left is None else left, "paid": 0},
            },
        }

    def _model_or_error(self, model: str) -> None:
        if model not in MODELS:
            raise BadRequest(404, f"unknown model {model!r}", result_code=1100)
        permitted = self.server.sandbox.settings.permitted_models
        if permitted is not None and model not in permitted:
            raise BadRequest(403, f"model {model} is not permitted for this key", None)

    def _api_create_job(self, model: str) -> tuple[int, dict[str, Any]]:
        self._model_or_error(model)
        body = self._read_json()
        sandbox = self.server.sandbox

        def job_faults() -> JobFaults:  # spent only once the job is valid
            fail = sandbox.faults.take("job", ("job-fail",))
            as_string = sandbox.faults.take("job", ("job-url-string",))
            expired = sandbox.faults.take("job", ("job-expired",))
            message = (fail.arg or "sandbox: job failed (fault injection)") if fail else None
            return JobFaults(message, as_string is not None, expired is not None)

        job = sandbox.store.create_job(model, body, job_faults)
        return 200, {"resultCode": 1000, "resultData": {"jobId": job.job_id}}

    def _api_get_job(self, model: str, job: str) -> tuple[int, dict[str, Any]]:
        self._model_or_error(model)
        sandbox = self.server.sandbox
        found = sandbox.store.get_job(model, job)
        now = sandbox.now()
        status = found.status_at(now)
        data: dict[str, Any] = {
            "jobId": found.job_id,
            "status": status,
            "errorMessage": found.fail_message if status == "failed" else None,
            "expireAt": None,
        }
        if status == "success":
            # the URLs carry this time: past it they answer 403 (GSEP_API.md section 5)
            expire = found.expires_at(sandbox.settings.result_ttl)
            data["expireAt"] = iso_utc(expire)
            urls = sandbox.result_urls(found, expire)
            data["downloadUrl"] = json.dumps(urls) if found.url_as_string else urls
        override = sandbox.faults.take("job", ("job-status",))
        if override is not None:  # only the status lies: the rest tells the real state
            self._entry["fault"] = override.kind
            present, value = status_value(override.arg or MISSING)
            if present:
                data["status"] = value
            else:
                del data["status"]
        return 200, {"resultCode": 1000, "resultData": data}


def _api_route(path: str, method: str) -> str | None:
    """The route name of an API request (its path and method), None when it has none."""
    for pattern, route_method, _action, route in _API_ROUTES:
        if method == route_method and pattern.match(path):
            return route
    return None
