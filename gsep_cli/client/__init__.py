"""``GsepClient``: the library's front door. Never prints; reports through a listener.

>>> from gsep_cli.client import GsepClient
>>> with GsepClient(base_url, api_key) as client:          # doctest: +SKIP
...     upload_id = client.upload_file(Path("song.wav"))
...     job_id = client.create_job(upload_id, stems=["vocal"])
...     job = client.wait(job_id, timeout=600, fresh=True)  # just created: no poll at once
...     files = client.download(job, Path("out"), track="song")
"""

from __future__ import annotations

from .jobs import Jobs
from .results import Results, WrittenFile
from .uploads import Uploads, upload_name


class GsepClient(Uploads, Jobs, Results):
    """A client for the GSEP API: upload, create jobs, poll, download, or all at once.

    Made of its steps (:class:`~.uploads.Uploads`, :class:`~.jobs.Jobs`,
    :class:`~.results.Results`) on one :class:`~.base.ClientBase`; use it as a context
    manager, or call :meth:`close`."""

    def __enter__(self) -> GsepClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["GsepClient", "WrittenFile", "upload_name"]
