"""The CDN-like result download: ``GET``/``HEAD`` of a finished job's file at a signed
URL, whole or one byte range, with the ``download-*`` faults; and the file names those
URLs carry.
"""

from __future__ import annotations

import contextlib
import gzip
import re
import shutil
import tempfile

from ..models import MODELS
from .exchange import IO_BLOCK, Exchange, backslash_location
from .faults import Fault
from .state import (
    Result,
    SandboxJob,
)
from .store import Store

CDN_PREFIX = "/cdn/results/"

_CONTENT_TYPES = {
    "wav": "audio/wav",
    "mp3": "audio/mpeg",
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
}


UNSATISFIABLE = (-1, -1)


def _parse_range(header: str, size: int) -> tuple[int, int] | None:
    """One ``bytes=`` range → (start, end) inclusive; :data:`UNSATISFIABLE` (answer 416);
    or None when the header is not one valid byte range: ignored, the whole file is sent
    (RFC 9110 section 14.2, as S3 does for multiple ranges)."""
    match = re.fullmatch(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*", header)
    if match is None or (not match[1] and not match[2]):
        return None
    if not match[1]:
        suffix = int(match[2])
        if suffix == 0 or size == 0:
            return UNSATISFIABLE
        return max(0, size - suffix), size - 1
    start = int(match[1])
    end = int(match[2]) if match[2] else None
    if end is not None and end < start:
        return None  # an invalid range-spec, not an unsatisfiable one
    if start >= size:
        return UNSATISFIABLE
    return start, size - 1 if end is None else min(end, size - 1)


def result_names(job: SandboxJob, store: Store) -> dict[tuple[str, str], str]:
    """(output, format) → file name on the CDN path."""
    names = {}
    for name in job.outputs:
        for fmt in store.result_formats(job, name):
            ext = (MODELS[job.model].file_ext(name) or "bin") if fmt == "file" else fmt
            names[(name, fmt)] = f"{name}.{ext}"
    return names


class DownloadRoutes(Exchange):
    """The result download route."""

    def _download(self, path: str) -> None:
        result = self._signed_result(path)
        if result is None:
            return
        range_header = self.headers.get("Range")
        fault = self._take_download_fault(range_header is not None)
        if fault is not None and self._download_fault_first(fault):
            return
        if fault is not None and fault.kind == "download-no-range":
            range_header = None
        if range_header and self.headers.get("If-Range") not in (None, f'"{result.etag}"'):
            range_header = None
        content_type = _CONTENT_TYPES.get(result.path.suffix.lstrip("."), "audio/octet-stream")
        fault_kind = fault.kind if fault is not None else None
        if fault_kind in ("download-gzip", "download-gzip-truncated", "download-gzip-trailing"):
            self._send_gzipped(result, content_type, fault_kind)
        else:
            self._send_file(result, content_type, range_header, fault_kind)

    def _signed_result(self, path: str) -> Result | None:
        """The result file a ``GET``/``HEAD`` at a signed, unexpired URL names; else None,
        the refusal answered (also when the job is not finished or has no such file)."""
        sandbox = self.server.sandbox
        if self.command not in ("GET", "HEAD"):
            self._discard_body()
            self._s3_error(405, "MethodNotAllowed", "The specified method is not allowed")
            return None
        match = re.match(re.escape(CDN_PREFIX) + r"(?P<job>[^/]+)/(?P<file>[^/]+)$", path)
        params = dict(self._query)
        signature = params.pop("Signature", "")
        if match is None or not sandbox.store.signer.check("GET", path, params, signature):
            self._s3_error(403, "AccessDenied", "Access denied")
            return None
        if sandbox.now() > float(params.get("Expires", "0")):
            self._s3_error(403, "AccessDenied", "Request has expired")
            return None
        job = sandbox.store.find_job(match["job"])
        if job is None or job.status_at(sandbox.now()) != "success":
            self._s3_error(404, "NoSuchKey", "The specified key does not exist.")
            return None
        result = next(
            (
                r
                for (name, fmt), r in sandbox.store.results(job).items()
                if r.path.name == match["file"]
            ),
            None,
        )
        if result is None:
            self._s3_error(404, "NoSuchKey", "The specified key does not exist.")
        return result

    def _download_fault_first(self, fault: Fault) -> bool:
        """Apply what a download fault does before the file goes out; True when that
        already answered the request. (``download-no-range``, ``-range-slice``,
        ``-truncate`` and ``-gzip`` bend the answer itself: see :meth:`_download` and
        :meth:`_send_file`.)"""
        sandbox = self.server.sandbox
        self._entry["fault"] = fault.kind
        if fault.kind == "download-no-head":  # as CDNs whose signature covers the method
            self._s3_error(501, "NotImplemented", "HEAD is not implemented for this URL")
            return True
        if fault.kind == "download-delay":
            self._pause(float(fault.arg or 2))
        if fault.kind == "download-reset":
            self._reset()
        if fault.kind == "download-hang":
            self._hang()
        if fault.kind == "download-drip":
            self._drip_rate = fault.drip_rate()
        if fault.kind == "download-nolength-drip":  # see _send_unframed
            self._drip_rate = fault.drip_rate()
        if fault.kind in ("download-redirect", "download-redirect-http"):
            http = fault.kind == "download-redirect-http"
            origin = sandbox.plain_origin if http else sandbox.alt_origin
            self._s3_error(302, "Found", "moved", [("Location", origin + self.path)])
            return True
        if fault.kind == "download-retry-after":
            headers = [("Retry-After", fault.arg or "")]
            self._s3_error(503, "SlowDown", "Please reduce your request rate.", headers)
            return True
        if fault.kind == "download-backslash":
            location = backslash_location(sandbox.alt_origin, sandbox.origin, self.path)
            self._s3_error(302, "Found", "moved", [("Location", location)])
            return True
        if fault.status is not None:
            self._s3_error(fault.status, "SandboxFault", f"sandbox fault: HTTP {fault.status}")
            return True
        return False

    def _take_download_fault(self, ranged: bool) -> Fault | None:
        """The download fault this request spends, if any.

        A HEAD only spends ``download-no-head`` (made for it), so a client's probing does
        not use up the faults meant for its GETs; a GET never spends that one, and spends
        ``download-no-range`` and ``download-range-slice`` only when it asks for a range.
        """
        book = self.server.sandbox.faults
        if self.command == "HEAD":
            return book.take("download", kinds=("download-no-head",))
        exclude: tuple[str, ...] = ("download-no-head",)
        if not ranged:
            exclude += ("download-no-range", "download-range-slice")
        return book.take("download", exclude=exclude)

    def _send_file(
        self, result: Result, content_type: str, range_header: str | None, fault_kind: str | None
    ) -> None:
        """A result file, whole or the one range asked for; ``fault_kind`` may bend it
        (``download-range-slice``, ``download-truncate``)."""
        size, etag = result.size, result.etag
        start, end = 0, size - 1
        status = 200
        if range_header:
            parsed = _parse_range(range_header, size)
            if parsed == UNSATISFIABLE:
                self._s3_error(
                    416,
                    "InvalidRange",
                    "The requested range is not satisfiable",
                    [("Content-Range", f"bytes */{size}")],
                )
                return
            if parsed is not None:
                start, end = parsed
                status = 206
        length = end - start + 1 if size else 0
        headers = [("Accept-Ranges", "bytes"), ("ETag", f'"{etag}"')]
        if fault_kind == "download-nolength-drip" and self.command == "GET":
            self._send_unframed(result, status, start, length, content_type, headers)
            return
        if fault_kind == "download-206-unasked" and size > 1:
            start, end, status = 0, size // 2 - 1, 206  # the first half, whatever was asked
            length = end + 1
        if status == 206 and fault_kind == "download-range-slice":
            status = 200  # the slice, yet "200": a server that ignores what 200 means
        elif status == 206:
            headers.append(("Content-Range", f"bytes {start}-{end}/{size}"))
        self._send_head(status, content_type, length, headers)
        if self.command == "HEAD":
            return
        truncate = fault_kind == "download-truncate"
        with open(result.path, "rb") as fh:
            fh.seek(start)
            self._write_body(fh.read, length // 2 if truncate else length)
        if truncate:
            with contextlib.suppress(OSError):
                self.wfile.flush()
            self._reset()

    def _send_unframed(
        self,
        result: Result,
        status: int,
        start: int,
        length: int,
        content_type: str,
        headers: list[tuple[str, str]],
    ) -> None:
        """``download-nolength-drip``: no ``Content-Length`` (the body ends when the
        connection closes), the first half at once, then the rest dripped."""
        self._discard_body()
        if status == 206:
            headers.append(("Content-Range", f"bytes {start}-{start + length - 1}/{result.size}"))
        self.close_connection = True
        self._entry["status"] = status
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Connection", "close")
        self.end_headers()
        with open(result.path, "rb") as fh:
            fh.seek(start)
            self.wfile.write(fh.read(length // 2))
            self._drip(fh.read, length - length // 2, self._drip_rate or 1.0)

    def _send_gzipped(self, result: Result, content_type: str, fault_kind: str) -> None:
        """``download-gzip``: the whole file gzip-compressed, whatever the request accepts
        or asks for (a ``Range`` too), with the compressed size as ``Content-Length``.
        ``download-gzip-truncated`` sends only the first half of that stream,
        ``download-gzip-trailing`` adds bytes that are not gzip after it (either with a
        ``Content-Length`` that matches what is sent)."""
        with tempfile.TemporaryFile(dir=self.server.sandbox.store.root) as packed:
            with (
                open(result.path, "rb") as source,
                gzip.GzipFile(fileobj=packed, mode="wb", mtime=0) as compressed,
            ):
                shutil.copyfileobj(source, compressed, IO_BLOCK)
            if fault_kind == "download-gzip-trailing":
                packed.write(b"GARBAGE-NOT-GZIP" * 10)
            length = packed.tell()
            if fault_kind == "download-gzip-truncated":
                length //= 2
            packed.seek(0)
            headers = [("Content-Encoding", "gzip"), ("ETag", f'"{result.etag}"')]
            self._send_head(200, content_type, length, headers)
            if self.command != "HEAD":
                self._write_body(packed.read, length)
