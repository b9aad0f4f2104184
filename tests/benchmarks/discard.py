"""A loopback receiver that reads request bodies and drops them, and a sandbox whose
presigned part URLs point at it.

Into the sandbox, an upload measures the sandbox as much as the sender: it writes and
hashes every part (about 290 MiB/s here). To see the sender's own cost per byte, the parts
go to :func:`receiver` instead: a process of its own (never sharing a GIL with the
sender) that reads each body into one reused buffer with ``recv_into`` and answers
``200`` with an ``ETag``. The ETag is the part's real MD5 when the caller gives the
part MD5s (so gsep's ETag check runs and passes, as with S3), else a dummy that is no
MD5. Its own ceiling is what curl reaches into it.

For the API (create, complete, jobs), ``common.launched_sandbox(settings,
parts_to=ORIGIN)`` starts the sandbox with part URLs that name the receiver
(``launcher.py``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from common import MiB, SandboxProcess

RECEIVER = r"""
import json, socket, sys, threading

etags = json.loads(sys.argv[1])  # "PART:LENGTH" (the URL's last path segment) -> ETag
server = socket.create_server(("127.0.0.1", 0), backlog=64)
print(server.getsockname()[1], flush=True)
HEAD_LIMIT = 64 * 1024


def answer(conn, status, etag=None):
    head = f"HTTP/1.1 {status}\r\nContent-Length: 0\r\n"
    if etag is not None:
        head += f'ETag: "{etag}"\r\n'
    conn.sendall((head + "\r\n").encode())


def handle(conn):
    buffer = bytearray(1 << 20)
    view = memoryview(buffer)
    pending = b""
    with conn:
        while True:
            while b"\r\n\r\n" not in pending:
                data = conn.recv(65536)
                if not data or len(pending) > HEAD_LIMIT:
                    return
                pending += data
            head, _, pending = pending.partition(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            target = lines[0].split(" ")[1]
            fields = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                fields[name.strip().lower()] = value.strip()
            if "content-length" not in fields:  # a chunked part: S3 answers 411
                answer(conn, "411 Length Required")
                return
            if fields.get("expect", "").lower() == "100-continue":
                conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
            left = int(fields["content-length"])
            taken = min(left, len(pending))
            pending, left = pending[taken:], left - taken
            while left:
                got = conn.recv_into(view[: min(left, len(buffer))])
                if not got:
                    return
                left -= got
            part = target.split("?")[0].rstrip("/").rsplit("/", 1)[-1]
            answer(conn, "200 OK", etags.get(f"{part}:{fields['content-length']}", "discarded"))


while True:
    conn, _ = server.accept()
    threading.Thread(target=handle, args=(conn,), daemon=True).start()
"""


def part_md5s(path: Path, chunk: int) -> dict[str, str]:
    """``"PART:LENGTH"`` (part number from 1, its bytes) -> hex MD5 of that part of
    ``path``: the ETags S3 gives, for :func:`receiver`."""
    found: dict[str, str] = {}
    with open(path, "rb") as fh:
        number = 1
        while True:
            digest = hashlib.md5(usedforsecurity=False)
            left = chunk
            while left and (block := fh.read(min(left, 4 * MiB))):
                digest.update(block)
                left -= len(block)
            if left == chunk:
                return found
            found[f"{number}:{chunk - left}"] = digest.hexdigest()
            number += 1


@contextlib.contextmanager
def receiver(etags: dict[str, str] | None = None) -> Iterator[str]:
    """A discarding receiver in its own process; yields its origin (``http://127.0.0.1:P``).

    ``etags``: ``"PART:LENGTH"`` (the URL's last path segment, the body's length) -> the
    ETag to answer (:func:`part_md5s`); other parts get the dummy ETag ``discarded``."""
    command = [sys.executable, "-c", RECEIVER, json.dumps(etags or {})]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    try:
        yield f"http://127.0.0.1:{proc.stdout.readline().strip()}"
    finally:
        proc.kill()
        proc.wait(timeout=30)


def plan_urls(box: SandboxProcess, name: str, size: int) -> Sequence[str]:
    """A fresh upload plan's presigned part URLs (for curl to send the parts to)."""
    plan = box.api(
        "POST", "/v1/files/upload-multipart/create", {"fileName": name, "fileSize": size}
    )
    return list(plan["preSignedUrl"])
