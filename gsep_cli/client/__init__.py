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
    """A client for the GSEP API, one step at a time: :meth:`upload_file`,
    :meth:`create_job`, :meth:`get_job`, :meth:`wait`, :meth:`download`, :meth:`key_info`.

    ``GsepClient(base_url, api_key, *, listener=None, timeout=(10.0, 60.0), parallel=4)``:
    ``base_url`` as ``https://.../developers/api`` (a :class:`~gsep_cli.Sandbox`'s
    ``base_url``), ``api_key`` sent only to that host; ``listener`` receives progress
    (:class:`~gsep_cli.progress.Listener`; default none); ``timeout``: (connect, read)
    seconds per request; ``parallel``: upload parts sent at once. Making one sends
    nothing. Every request retries what is safe to retry and keeps under the API's rate
    limit; errors are :class:`~gsep_cli.errors.GsepError` subclasses.

    The client records nothing: each :meth:`create_job` is a new job that spends credits,
    however often it is called for the same file. :meth:`gsep_cli.Session.separate` is
    the call that keeps a ledger and never pays twice. Never prints. Made of its steps
    (:class:`~.uploads.Uploads`, :class:`~.jobs.Jobs`, :class:`~.results.Results`) on one
    :class:`~.base.ClientBase`; use it as a context manager, or call :meth:`close`."""

    def __enter__(self) -> GsepClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["GsepClient", "WrittenFile", "upload_name"]
