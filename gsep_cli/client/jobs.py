"""Jobs: creating one (never sent twice), asking for it, and waiting for it within a bound
(GSEP_API.md 2.4-2.6)."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from ..choices import (
    get_model,
    job_path_segment,
    type_value,
)
from ..errors import (
    CreationUnconfirmed,
    DeadlineReached,
    JobFailed,
    ServiceUnavailable,
    UsageError,
    WaitTimeout,
)
from ..jobtimes import Pace
from ..models import (
    DEFAULT_MODEL,
    LYRICS_LANGUAGES,
    Job,
    JobStatus,
    parse_download_urls,
    parse_status,
)
from ..polling import PacedPlan, Plan
from ..ratelimit import Reservation
from .base import ClientBase


class Jobs(ClientBase):
    """The client's job steps."""

    def create_job(
        self,
        upload_id: str,
        *,
        model: str = DEFAULT_MODEL,
        stems: Sequence[str] = ("vocal",),
        extra: dict[str, Any] | None = None,
    ) -> str:
        """Create a job on an upload and return its job id (``str``).

        **Spends credits** (one job's) when it succeeds; nothing is recorded locally, so a
        second call is a second paid job (:meth:`gsep_cli.Session.separate` is the call
        that never pays twice). ``model``: a name from ``gsep models``; ``stems``: output
        names (``others`` is never sent; the API makes it anyway); ``extra``: more body
        fields (``textUploadId``/``language`` for the lyrics models). Never retried
        blindly: a request that may have reached the server is not sent again.

        Raises :class:`~gsep_cli.errors.UsageError` (exit 2, before any request) for no
        stem besides ``others`` or a lyrics model without lyrics,
        :class:`~gsep_cli.errors.AccountError` (5) for no credits or contract,
        :class:`~gsep_cli.errors.RequestRejected` (4) for an upload or input the API
        refuses, :class:`~gsep_cli.errors.AuthError` (3),
        :class:`~gsep_cli.errors.CreationUnconfirmed` (6) when the job may or may not
        exist (check before paying again), :class:`~gsep_cli.errors.ServiceUnavailable`
        (6)."""
        spec = get_model(model)
        body: dict[str, Any] = {"audioUploadId": upload_id}
        if spec.needs_type:
            body["type"] = type_value(stems)
            if not body["type"]:
                raise UsageError(
                    "choose at least one stem besides 'others'",
                    f"Choose from: {', '.join(spec.stems)}",
                )
        body.update(extra or {})
        if spec.needs_lyrics and not (body.get("textUploadId") and body.get("language")):
            raise UsageError(
                f"{model} needs a lyrics text and its language",
                "Give --lyrics FILE.txt and --language " + "|".join(LYRICS_LANGUAGES),
            )
        data = self.api.call("POST", f"/v1/{model}/jobs", body, creates=True, paid=True)
        job_id = data.get("jobId")
        if not isinstance(job_id, str) or not job_id:  # accepted (and paid?) but unnamed
            raise CreationUnconfirmed(
                "the API accepted the job but sent no jobId",
                "The job may exist and have cost credits: check before repeating it",
            )
        return job_id

    def get_job(
        self,
        job_id: str,
        *,
        model: str = DEFAULT_MODEL,
        deadline: float | None = None,
        urgent: bool = False,
    ) -> Job:
        """Fetch a job's status, error message, expiry and download URLs.

        ``deadline`` (``time.monotonic()``) bounds the request, retries included;
        ``urgent`` (a poll of a job expected to have finished) goes first when requests
        wait for the rate limit (:mod:`gsep_cli.ratelimit`). A
        missing, empty or non-string ``status`` is a broken answer
        (:class:`~gsep_cli.errors.ServiceUnavailable`, GSEP_API.md 2.5's client rule); an
        unknown string is kept as it is (the caller decides how long to wait on it).

        Returns a :class:`~gsep_cli.models.Job`; one GET, spends nothing. Raises
        :class:`~gsep_cli.errors.RequestRejected` (exit 4) for a job the API does not
        know under ``model`` (1104), :class:`~gsep_cli.errors.AuthError` (3),
        :class:`~gsep_cli.errors.ServiceUnavailable` (6).
        """
        get_model(model)
        path = f"/v1/{model}/jobs/{job_path_segment(job_id)}"
        data = self.api.call("GET", path, deadline=deadline, urgent=urgent)
        raw_status = data.get("status")
        if not isinstance(raw_status, str) or not raw_status.strip():
            shown = "no status" if "status" not in data else f"status {_shown_json(raw_status)}"
            raise ServiceUnavailable(
                f"the API answered job {job_id} with {shown}, which is not a job status",
                f"This is a server problem; the job may still run: gsep job status {job_id} "
                f"--model {model} --wait, later",
            )
        error = data.get("errorMessage")
        expire = data.get("expireAt")
        return Job(
            job_id=str(data.get("jobId") or job_id),
            status=parse_status(raw_status),
            error_message=error if isinstance(error, str) else None,
            expire_at=expire if isinstance(expire, str) else None,
            outputs=parse_download_urls(data.get("downloadUrl")),
            raw=data,
        )

    def wait(
        self,
        job_id: str,
        *,
        model: str = DEFAULT_MODEL,
        timeout: float | None = None,
        pace: Pace | None = None,
        subject: str = "",
        fresh: bool = False,
    ) -> Job:
        """Poll until the job ends; raise JobFailed or WaitTimeout. Backs off to a cap.

        ``timeout`` (seconds, default :attr:`max_wait`) is a wall-clock bound on the whole
        wait: it also interrupts a request in flight, however slowly its answer drips. A
        status gsep does not know is reported once and waited on, within that bound.
        ``fresh``: the job was created just now, so it cannot have finished: the first
        poll waits for the plan's first delay (else it is asked about at once).
        ``pace`` (a job of a batch, :class:`gsep_cli.jobtimes.JobTimes`): polls come when
        the batch's finished jobs ended, and a sleep ends early when another one
        finishes. ``subject`` names the input in progress reports.

        Returns the finished :class:`~gsep_cli.models.Job` (status ``success``, its
        ``outputs`` ready for :meth:`download`); each poll goes to the listener's
        ``job_status``. Spends nothing. Raises :class:`~gsep_cli.errors.JobFailed` (exit
        7, with the API's reason), :class:`~gsep_cli.errors.WaitTimeout` (8: the job may
        still finish; the message says how to resume), and what :meth:`get_job` raises.
        """
        started = time.monotonic()
        bound = timeout if timeout is not None else self.max_wait
        limit = started + bound
        plan = (
            Plan(self.poll, self.sleep)
            if pace is None
            else PacedPlan(self.poll, pace, started, limit)
        )
        try:
            with self._waiting(pace):
                return self._poll_until_done(
                    job_id, model, plan, (limit, bound, timeout), subject, fresh
                )
        finally:
            plan.close()

    def _poll_until_done(
        self,
        job_id: str,
        model: str,
        plan: Plan,
        bounds: tuple[float, float, float | None],
        subject: str,
        fresh: bool,
    ) -> Job:
        """:meth:`wait`'s loop; ``bounds``: (its end, its length, the caller's timeout)."""
        limit, bound, timeout = bounds
        started = limit - bound
        status: str | None = None  # none seen yet
        unknown: set[str] = set()
        reservation: Reservation | None = None
        try:
            if fresh:
                reservation = self._sleep_until_poll(plan, limit, reservation)
            while True:
                asked = time.monotonic() - started
                try:
                    # --timeout 0 still asks once (bounded by the request's own limit)
                    job = self.get_job(
                        job_id,
                        model=model,
                        deadline=limit if bound > 0 else None,
                        urgent=plan.urgent(),
                    )
                except DeadlineReached:
                    raise self._gave_up(job_id, model, status, timeout, started) from None
                elapsed = time.monotonic() - started
                # the poll's own start (its turn at the rate limit is no part of the job's)
                sent = max(asked, (self.api.sent_at() or started + asked) - started)
                status = job.status.value if isinstance(job.status, JobStatus) else str(job.status)
                self.listener.job_status(job_id, status, elapsed, subject=subject)
                if job.status == JobStatus.SUCCESS:
                    plan.finished_at(sent, elapsed)
                    return job
                if job.status == JobStatus.FAILED:
                    raise JobFailed(
                        f"job {job_id} failed: {job.error_message or 'no reason given'}",
                        "Check the input file; run the job again if it looks fine",
                    )
                plan.running_at(sent)
                if not isinstance(job.status, JobStatus) and status not in unknown:
                    unknown.add(status)
                    self.listener.notice(
                        f"job {job_id}: the API says {status!r}, a status gsep does not know; "
                        f"waiting on (at most {bound:g} s in all)"
                    )
                if limit - time.monotonic() <= 0:
                    raise self._gave_up(job_id, model, status, timeout, started)
                reservation = self._sleep_until_poll(plan, limit, reservation)
        finally:
            if reservation is not None:
                reservation.cancel()

    def _sleep_until_poll(
        self, plan: Plan, limit: float, reservation: Reservation | None
    ) -> Reservation | None:
        """Sleep until the plan's next poll (at most until ``limit``), keeping room in the
        rate limit's budget for it when it is one at the job's expected end."""
        delay = min(plan.next_delay(), max(0.0, limit - time.monotonic()))
        if plan.urgent():
            at = time.monotonic() + delay
            if reservation is None:
                reservation = self.api.limiter.reserve(at)
            else:
                reservation.move(at)
        elif reservation is not None:
            reservation.cancel()
            reservation = None
        plan.sleep(delay)
        return reservation

    def _gave_up(
        self, job_id: str, model: str, status: str | None, timeout: float | None, started: float
    ) -> WaitTimeout:
        elapsed = time.monotonic() - started
        limit = (
            "--timeout"
            if timeout is not None
            else f"the longest gsep waits by default, GSEP_MAX_WAIT={self.max_wait:g} s"
        )
        what = (
            f"job {job_id} is still {status}"
            if status is not None
            else f"no answer about job {job_id} came"
        )
        return WaitTimeout(
            f"{what} after {elapsed:.0f} s ({limit})",
            f"It may still finish: gsep job status {job_id} --model {model} --wait,"
            f" then gsep download {job_id} --model {model}",
        )

    def key_info(self) -> dict[str, Any]:
        """The key's project, status, permitted models and credits: the API's
        ``resultData`` as sent (a ``dict``; its fields are the API's, GSEP_API.md 2.6).
        Spends nothing. Raises :class:`~gsep_cli.errors.AuthError` (exit 3) for a refused
        key, :class:`~gsep_cli.errors.ServiceUnavailable` (6)."""
        return self.api.call("GET", "/v1/key/info")


def _shown_json(value: Any) -> str:
    """A value from an answer, for a message: JSON, short, one line."""
    try:
        text = json.dumps(value, ensure_ascii=True)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
