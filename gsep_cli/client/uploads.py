"""Uploads: the presigned multipart flow (GSEP_API.md 2.1-2.3), refused when the input
changed while it was sent."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import (
    ExpiredUrl,
    InputChanged,
    ServiceUnavailable,
)
from ..models import (
    UploadPlan,
)
from .base import ClientBase

if TYPE_CHECKING:
    from ..fileid import FileIdentity


class Uploads(ClientBase):
    """The client's upload steps."""

    def create_upload(self, file_name: str, file_size: int) -> UploadPlan:
        """Ask for an upload plan (upload id, chunk size, presigned URLs)."""
        data = self.api.call(
            "POST",
            "/v1/files/upload-multipart/create",
            {"fileName": file_name, "fileSize": file_size},
            creates=True,
        )
        upload_id = data.get("uploadId")
        urls = data.get("preSignedUrl")
        chunk = data.get("chunkSize")
        if not isinstance(upload_id, str) or not upload_id or not isinstance(urls, list):
            raise ServiceUnavailable("the API's upload plan lacks uploadId or preSignedUrl")
        return UploadPlan(upload_id, chunk if isinstance(chunk, int) else -1, tuple(urls))

    def complete_upload(self, upload_id: str, parts: Sequence[tuple[int, str]]) -> None:
        """Tell the API every part arrived (ascending part numbers, ETags as received)."""
        body = {
            "uploadId": upload_id,
            "parts": [{"awsETag": etag, "partNumber": n} for n, etag in sorted(parts)],
        }
        self.api.call("POST", "/v1/files/upload-multipart/complete", body)

    def upload_file(
        self,
        path: Path,
        *,
        name: str | None = None,
        identity: FileIdentity | None = None,
        sha256: str | None = None,
        block_map: bytes | None = None,
    ) -> str:
        """Upload a file (streamed, parallel parts) and return its upload id (a ``str``
        for :meth:`create_job`; the API keeps an upload 72 h). Spends no credits; reads
        the file in parts, never whole, and reports bytes to the listener. ``name``: the
        file name the API is told (default ``path.name``; only its extension matters).

        ``identity`` is the version of the file the caller checked (and hashed); by
        default the version found now. If the file is not that version any more once
        every part is sent, the upload is not completed and
        :class:`~gsep_cli.errors.InputChanged` is raised: what was sent may mix two
        versions, and no job may be paid for it. With ``sha256`` (hex, the content the
        caller hashed) what was sent is checked against that content before completing,
        and the upload is refused the same way when it differs: edits that leave the
        metadata alone are caught too (:mod:`gsep_cli.sentcheck`). With ``block_map``
        (taken with that hash, :mod:`gsep_cli.blockmap`) and parts on block boundaries,
        that check reads nothing; otherwise the file is read once more. An expired part
        URL restarts the upload once with a fresh plan.

        Raises :class:`~gsep_cli.errors.InputChanged` (exit 2), ``OSError`` when the file
        cannot be read, :class:`~gsep_cli.errors.AuthError` (3) for a refused key,
        :class:`~gsep_cli.errors.RequestRejected` (4),
        :class:`~gsep_cli.errors.ServiceUnavailable` (6) once retries are spent.
        """
        from ..fileid import FileIdentity
        from ..sentcheck import blocks_checkable, blocks_differ, sent_differs
        from ..upload_parts import upload_parts

        version = identity or FileIdentity.of(path)
        size = version.size
        file_name = upload_name(name or path.name)
        key = f"upload:{path}"
        self.listener.transfer_start(key, "upload", size, subject=path.name)
        ok = False
        try:
            for round_ in (1, 2):
                plan = self.create_upload(file_name, size)
                self._warn_about_clock()
                sent_md5: dict[int, str] = {}
                by_map = sha256 is not None and blocks_checkable(block_map, size, plan.chunk_size)
                sent_blocks: dict[int, bytes] | None = {} if by_map else None
                try:
                    parts = upload_parts(
                        path,
                        size,
                        plan,
                        listener=self.listener,
                        key=key,
                        parallel=self.parallel,
                        policy=self.policy,
                        timeout=self.timeout,
                        log=self.api.log,
                        stall=self.stall,
                        sent_md5=sent_md5,
                        sent_blocks=sent_blocks,
                        stopped=self._stopped,
                    )
                except ExpiredUrl:
                    if round_ == 2:
                        raise
                    self.listener.notice("upload URLs expired; starting again with fresh ones")
                    continue
                changed = version.changed(path)
                if changed is None and sha256 is not None:
                    if by_map and block_map is not None and sent_blocks is not None:
                        changed = blocks_differ(block_map, size, plan.chunk_size, sent_blocks)
                    else:  # no map to check against: read the file again
                        changed = sent_differs(path, sha256, plan.chunk_size, parts, sent_md5)
                if changed is not None:
                    raise InputChanged(
                        f"{path} changed while it was being uploaded ({changed}); the upload "
                        "was not completed and nothing was paid for",
                        "Wait until nothing writes to the file, then run the command again",
                    )
                self.complete_upload(plan.upload_id, parts)
                ok = True
                return plan.upload_id
            raise AssertionError("unreachable")  # pragma: no cover
        finally:
            self.listener.transfer_end(key, ok)

    def _warn_about_clock(self) -> None:
        """Say once when this machine's clock is minutes off the API's: presigned URLs
        carry their signing time, and a wrong clock makes them look expired or not."""
        skew = self.api.clock_skew
        if skew is None or abs(skew) < 300 or self._clock_told:
            return
        self._clock_told = True
        way = "ahead of" if skew > 0 else "behind"
        self.listener.notice(
            f"this machine's clock is {abs(skew) / 60:.0f} min {way} the API's; gsep leaves it "
            "to the storage server to say whether an upload URL expired"
        )


def upload_name(name: str) -> str:
    """The ``fileName`` sent for an upload (GSEP_API.md 2.1: "name with extension").

    Only its extension matters to the API, which refuses some names (1113, unsupported
    file-name format): so it gets valid UTF-8 (bytes that are not become U+FFFD) and no
    control characters, slashes or backslashes (each becomes ``_``). The local file and
    the output names keep the real name."""
    text = os.fsencode(name).decode("utf-8", "replace")
    return re.sub(r"[\x00-\x1f\x7f/\\]", "_", text)
