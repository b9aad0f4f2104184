"""Starts ``gsep_cli.sandbox.server.Sandbox`` in a process of its own for a benchmark,
with what ``gsep sandbox serve`` has no option for (a benchmark-side script, never part
of gsep):

* ``--advertise ORIGIN``: the origin its URLs name (base URL, presigned part URLs,
  result URLs), e.g. an emulated link's proxy in front of it (:mod:`behind`);
* ``--parts-to ORIGIN``: presigned part URLs that name a discarding receiver instead
  (:mod:`discard`); a completion is then taken at the receiver's word, since the parts
  never reached the sandbox: each is recorded as the size the plan expects, with the
  ETag the client sent.

The last argument is a JSON object of :class:`Sandbox` keyword arguments. Prints one line,
``BASE_URL PORT`` (the port it really listens on), and serves until SIGINT.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from gsep_cli.sandbox.server import Sandbox
from gsep_cli.sandbox.state import Part


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--advertise", default=None)
    parser.add_argument("--parts-to", default=None)
    parser.add_argument("settings", type=json.loads)
    args = parser.parse_args()
    advertise, parts_to = args.advertise, args.parts_to

    class Launched(Sandbox):
        @property
        def origin(self) -> str:
            return advertise or str(Sandbox.origin.fget(self))  # type: ignore[attr-defined]

        def presign_part(self, upload: Any, number: int) -> str:
            if parts_to is None:
                return super().presign_part(upload, number)
            return f"{parts_to}/parts/{upload.upload_id}/{number}"

    box = Launched(**args.settings).start()
    if parts_to is not None:
        _complete_at_the_receivers_word(box)
    print(box.base_url, box.port, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        box.stop()


def _complete_at_the_receivers_word(box: Sandbox) -> None:
    store = box.store
    complete = store.complete_upload

    def complete_at_its_word(upload_id: str, parts: list[tuple[int, str]]) -> None:
        upload = store.get_upload(upload_id)
        if upload is not None:
            for number, etag in parts:
                md5 = etag.strip('"').lower()
                where = store.part_path(upload_id, number)
                upload.parts[number] = Part(where, upload.expected_size(number), md5)
        complete(upload_id, parts)

    store.complete_upload = complete_at_its_word  # type: ignore[method-assign]


if __name__ == "__main__":
    main()
