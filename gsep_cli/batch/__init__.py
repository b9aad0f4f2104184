"""Many inputs, bounded concurrency, and re-runs that never pay twice.

For each input the runner (in a worker thread, at most ``jobs`` at once):

1. checks the file locally and hashes it (the ledger caches hashes per file version);
2. claims its work (content, model, stems, API host, key) in the ledger, waiting while
   another gsep process — or another input of this batch with the same content — holds
   it, and taking over a claim whose holder died. A work another process holds is first
   put aside, once, while inputs not yet started are left: runners given the same list
   (sharing one ledger) each take what no one holds, and come back to the rest at the end;
3. unless ``pay_again``: re-attaches to a job the ledger knows for that work — keeps the
   files it already wrote (same size and SHA-256) and downloads the rest from the same
   job, or polls it if it is still running; an expired or forgotten job, or a creation
   that was never answered, is reported and only paid for again with ``pay_again``.
   Otherwise it reuses an upload younger than its 72 h life (minus a safety margin);
4. uploads (refusing an input that changed since it was hashed), records the job
   creation *before* sending it, creates the job, waits and downloads, recording each
   file (size and SHA-256) before it is moved into place, and, when asked
   (``manifest``), each written file in that manifest.

One input failing never stops the others. Every request of every worker goes through the
client's one shared rate limiter, so the whole process stays under the API's budget.
"""

from .inputs import collect_inputs
from .plan import (
    BatchOptions,
    InputResult,
    batch_exit_code,
    content_placeholders,
    file_recorder,
    job_key,
    planned_paths,
)
from .runner import BatchRunner

__all__ = [
    "BatchOptions",
    "BatchRunner",
    "InputResult",
    "batch_exit_code",
    "collect_inputs",
    "content_placeholders",
    "file_recorder",
    "job_key",
    "planned_paths",
]
