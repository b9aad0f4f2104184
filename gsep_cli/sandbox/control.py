"""The sandbox's control endpoints under ``/_sandbox/``: health, the request log, faults
added or cleared at run time, counters. Not part of the API: no key, no rate limit, no
faults.
"""

from __future__ import annotations

from .exchange import Exchange

CONTROL_PREFIX = "/_sandbox/"


class ControlRoutes(Exchange):
    """The ``/_sandbox/`` routes."""

    def _control(self, name: str) -> None:
        sandbox = self.server.sandbox
        method = self.command
        if name == "health" and method == "GET":
            self._json(200, {"ok": True, "baseUrl": sandbox.base_url})
        elif name == "requests" and method == "GET":
            self._json(200, {"requests": sandbox.requests})
        elif name == "requests" and method == "DELETE":
            sandbox.clear_requests()
            self._json(200, {"ok": True})
        elif name == "faults" and method == "GET":
            self._json(200, {"faults": sandbox.faults.describe()})
        elif name == "faults" and method == "POST":
            body = self._read_json()
            try:
                fault = sandbox.add_fault(str(body.get("fault", "")))
            except ValueError as exc:
                self._json(400, {"ok": False, "error": str(exc)})
                return
            self._json(200, {"ok": True, "fault": fault.describe()})
        elif name == "faults" and method == "DELETE":
            sandbox.faults.clear()
            self._json(200, {"ok": True})
        elif name == "stats" and method == "GET":
            store = sandbox.store
            self._json(
                200,
                {
                    "uploads": store.upload_count(),
                    "jobs": store.job_count(),
                    "creditsUsed": store.credits_used,
                    "creditsLeft": store.credits_left,
                },
            )
        else:
            self._json(404, {"ok": False, "error": f"no control endpoint {method} {name}"})
