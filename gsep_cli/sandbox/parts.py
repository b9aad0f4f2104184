"""The S3-like presigned part upload: ``PUT`` of one part to a signed URL, its checks
(signature, expiry, unsigned headers, framing), the ``part-*`` faults and the receiving
of the body to disk, answered with the part's MD5 as ETag.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from .exchange import IO_BLOCK, ConnectionAborted, Exchange
from .faults import Fault
from .state import (
    Upload,
)

S3_PREFIX = "/s3/gsep-sandbox-uploads/"
# Headers a presigned PUT may carry without having signed them. Anything x-amz-*,
# Content-MD5 or the API key is refused, as S3 does ("headers ... which were not signed").
REFUSED_PART_HEADERS = ("x-ga-apikey", "content-md5", "authorization")
SLOW_TICK = 0.05  # part-slow: seconds between two pieces of a slowly read body


def _slow_pace(length: int, seconds: float) -> tuple[int, float]:
    """``part-slow``: (piece size, pause before each piece) spreading ``length`` bytes over
    about ``seconds``, in ticks of :data:`SLOW_TICK` (fewer for a body of a few bytes)."""
    steps = max(1, min(length, math.ceil(seconds / SLOW_TICK)))
    return max(1, math.ceil(length / steps)), seconds / steps


def _amz_expiry(params: dict[str, str]) -> float:
    try:
        signed = datetime.strptime(params["X-Amz-Date"], "%Y%m%dT%H%M%SZ")
        return signed.replace(tzinfo=timezone.utc).timestamp() + int(params["X-Amz-Expires"])
    except (KeyError, ValueError):
        return 0.0


class PartRoutes(Exchange):
    """The presigned part upload route."""

    def _part_upload(self, path: str) -> None:
        match = self._signed_part(path)
        if match is None:
            return
        length = self._part_length()
        if length is None:
            return
        sandbox = self.server.sandbox
        upload = sandbox.store.get_upload(match["upload"])
        number = int(match["part"])
        if upload is None or upload.completed is not None:
            self._discard_body()
            self._s3_error(404, "NoSuchUpload", "The specified multipart upload does not exist")
            return
        fault = sandbox.faults.take("part")
        if fault is not None and self._part_fault_first(fault):
            return
        self._receive_part(upload, number, length, fault)

    def _signed_part(self, path: str) -> re.Match[str] | None:
        """The path's upload id and part number when the request is a ``PUT`` whose
        signature checks, has not expired and carries no unsigned header; else None, the
        refusal answered."""
        sandbox = self.server.sandbox
        if self.command != "PUT":
            self._discard_body()
            self._s3_error(405, "MethodNotAllowed", "The specified method is not allowed")
            return None
        match = re.match(re.escape(S3_PREFIX) + r"(?P<upload>[0-9a-f]+)/(?P<part>\d+)$", path)
        params = dict(self._query)
        signature = params.pop("X-Amz-Signature", "")
        if match is None or not sandbox.store.signer.check("PUT", path, params, signature):
            self._discard_body()
            self._s3_error(
                403, "SignatureDoesNotMatch", "The request signature we calculated does not match"
            )
            return None
        if sandbox.now() > _amz_expiry(params):
            self._discard_body()
            self._s3_error(403, "AccessDenied", "Request has expired")
            return None
        refused = [
            h
            for h in self.headers
            if h.lower() in REFUSED_PART_HEADERS or h.lower().startswith("x-amz-")
        ]
        if refused:
            self._discard_body()
            self._s3_error(
                403,
                "AccessDenied",
                "There were headers present in the request "
                f"which were not signed: {', '.join(sorted(refused)).lower()}",
            )
            return None
        return match

    def _part_length(self) -> int | None:
        """The part's Content-Length; None (answered) for a chunked body or none given."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self._s3_error(
                501,
                "NotImplemented",
                "A header you provided implies "
                "functionality that is not implemented: Transfer-Encoding",
            )
            return None
        length = self._content_length()
        if length is None:
            self.close_connection = True
            self._s3_error(
                411, "MissingContentLength", "You must provide the Content-Length HTTP header."
            )
        return length

    def _part_fault_first(self, fault: Fault) -> bool:
        """Apply what a part fault does before the body is received; True when that
        already answered the request."""
        self._entry["fault"] = fault.kind
        if fault.kind == "part-delay":
            self._pause(float(fault.arg or 2))
        if fault.kind == "part-hang":  # the body is read, not stored
            self._hang()
        if fault.kind == "part-redirect-http":  # the body is read, not stored
            self._discard_body()
            location = self.server.sandbox.plain_origin + self.path
            self._s3_error(302, "Found", "moved", [("Location", location)])
            return True
        if fault.kind == "part-expired":
            self._discard_body()
            self._s3_error(403, "AccessDenied", "Request has expired")
            return True
        if fault.status is not None:
            self._discard_body()
            self._s3_error(
                fault.status,
                "InternalError" if fault.status >= 500 else "SandboxFault",
                f"sandbox fault: HTTP {fault.status}",
            )
            return True
        return False

    def _receive_part(self, upload: Upload, number: int, length: int, fault: Fault | None) -> None:
        sandbox = self.server.sandbox
        self._body_done = True
        folder = sandbox.store.part_path(upload.upload_id, number).parent
        fd, tmp_name = tempfile.mkstemp(dir=folder, prefix=".incoming-")
        tmp = Path(tmp_name)
        digest = hashlib.md5(usedforsecurity=False)
        reset_at = length // 2 if fault is not None and fault.kind == "part-reset" else None
        piece, pause = (0, 0.0)
        if fault is not None and fault.kind == "part-slow":
            piece, pause = _slow_pace(length, float(fault.arg or 2))
            if length == 0:
                self._pause(pause)  # nothing to spread: the whole wait at once
        try:
            with os.fdopen(fd, "wb") as out:
                remaining = length
                received = 0
                while remaining > 0:
                    if reset_at is not None and received >= reset_at:
                        self._reset()
                    want = min(IO_BLOCK, remaining)
                    if reset_at is not None:
                        want = min(want, max(1, reset_at - received))
                    if piece:  # part-slow: a pause before each piece, never across one
                        if received % piece == 0:
                            self._pause(pause)
                        want = min(want, piece - received % piece)
                    block = self.rfile.read(want)
                    if not block:
                        raise ConnectionAborted
                    out.write(block)
                    digest.update(block)
                    remaining -= len(block)
                    received += len(block)
                if reset_at is not None:  # an empty part: reset all the same
                    self._reset()
            md5 = digest.hexdigest()
            sandbox.store.store_part(upload, number, tmp, length, md5)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        etag = (
            md5
            if fault is None or fault.kind not in ("part-bad-etag", "part-etag-upper")
            else hashlib.md5(md5.encode(), usedforsecurity=False).hexdigest()
        )
        if fault is not None and fault.kind == "part-etag-upper":
            etag = etag.upper()
        if fault is not None and fault.kind == "part-etag-opaque":
            etag = f"opaque-kms-{number}-{md5[:8]}"
        if fault is not None and fault.kind == "part-answer-drip":
            self._drip_head(200, [("ETag", f'"{etag}"')], fault.drip_rate())
            return
        self._send(200, b"", "application/xml", [("ETag", f'"{etag}"')])
