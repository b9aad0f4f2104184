"""One error hierarchy for gsep: every expected failure is a :class:`GsepError`.

Each class carries the process exit code the CLI uses for it, and the table that maps
the API's ``resultCode`` values and HTTP statuses to a class lives here, in one place.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Documented process exit codes (README, ``gsep --help``): an ``int`` enum; each
    :class:`GsepError` class carries one as ``exit_code``."""

    OK = 0
    INTERNAL = 1
    USAGE = 2
    AUTH = 3
    REJECTED = 4
    ACCOUNT = 5
    UNAVAILABLE = 6
    JOB_FAILED = 7
    TIMEOUT = 8
    PARTIAL = 9
    INTERRUPTED = 130


class GsepError(Exception):
    """Base of every expected gsep failure: one message line plus an optional hint.

    Attributes: ``message`` (one line: what went wrong; also ``str(error)``), ``hint``
    (what to do, or None), ``exit_code`` (an :class:`ExitCode`, the class's: what
    ``gsep`` exits with), ``status`` (the HTTP status behind it, or None),
    ``result_code`` (the API's ``resultCode``, or None). Every class has a
    :attr:`default_hint`, what to do when the raiser gave no hint: :attr:`what_to_do` is
    the hint, else that (so every error line has its "— what to do" part). Neither
    message nor hint ever holds the API key."""

    exit_code: ExitCode = ExitCode.INTERNAL
    default_hint = "Please report it (set GSEP_DEBUG=1 for details)"

    def __init__(
        self,
        message: str,
        hint: str | None = None,
        *,
        status: int | None = None,
        result_code: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.status = status
        self.result_code = result_code

    def __str__(self) -> str:
        return self.message

    @property
    def what_to_do(self) -> str:
        """The hint given, else the class's :attr:`default_hint` (never empty)."""
        return (self.hint or "").strip() or self.default_hint


class UsageError(GsepError):
    """Bad command-line usage or bad local input (missing file, unknown stem...)."""

    exit_code = ExitCode.USAGE
    default_hint = "Check the command line and its inputs (gsep COMMAND --help)"


class InputChanged(UsageError):
    """An input is not a regular file, or changed while gsep read or uploaded it."""

    default_hint = "Leave the file unchanged while gsep reads it, then run the command again"


class OutputClosed(UsageError):
    """Standard output (``-o -``) could not take the result: the reader quit, disk full."""

    default_hint = "Check where stdout goes (the reading program, free disk space)"


class SpendingLimit(UsageError):
    """A run would create more new jobs than ``--max-jobs`` allows: refused before any
    request (or, for the input that would go over it during the run, before its upload).
    A limit the command line set, so exit 2 like other usage errors."""

    default_hint = "Raise --max-jobs, or give fewer inputs (--dry-run lists them)"


class LedgerError(GsepError):
    """The local record (the ledger) cannot be used: locked by another gsep for too
    long, unreadable, not a database, from a newer gsep, or in a folder that cannot be
    written. Local state, so exit 2 like other bad local input; never exit 3, which says
    the key or the configuration is wrong."""

    exit_code = ExitCode.USAGE
    default_hint = "Check the state folder (GSEP_STATE_DIR) and that no other gsep holds it"


class NotOnRecord(UsageError):
    """A job id that the local record does not hold (``gsep ledger show``): a local
    question, not an answer from the API (exit 2, not 4)."""

    default_hint = "See the jobs on record: gsep ledger list"


class ConfigError(GsepError):
    """Missing or invalid configuration, such as no API key."""

    exit_code = ExitCode.AUTH
    default_hint = "Check the settings: gsep config show"


class LedgerUnreachable(ConfigError):
    """The shared ledger's database (``GSEP_LEDGER_URL``) cannot be reached, or refuses
    the connection (a wrong host, database, user or password): configuration, exit 3,
    and nothing was started."""

    default_hint = "Check GSEP_LEDGER_URL (or --ledger): gsep config show"


class AuthError(GsepError):
    """The API refused the key (HTTP 400/401/403)."""

    exit_code = ExitCode.AUTH
    default_hint = "Check the key: gsep key info, or set a new one with gsep config set-key"


class RequestRejected(GsepError):
    """The API rejected the request (other 4xx, or a business resultCode)."""

    exit_code = ExitCode.REJECTED
    default_hint = "Check the values sent against gsep models; -v shows the requests"


class AccountError(GsepError):
    """Credits, contract or project problems (1102, 1103, 1114)."""

    exit_code = ExitCode.ACCOUNT
    default_hint = "Check the account's credits and contract: gsep key info"


class ServiceUnavailable(GsepError):
    """Network failure, rate limit or server error that outlasted the retries."""

    exit_code = ExitCode.UNAVAILABLE
    default_hint = (
        "Try again later (the ledger keeps paid jobs: a re-run does not pay again); "
        "check the connection and --base-url"
    )


class CreationUnconfirmed(ServiceUnavailable):
    """A request that creates an upload or a job may have reached the server, but no
    answer says what it did (a timeout or a reset after sending, a gateway error): the
    job may exist, and may have cost credits."""


class RateLimited(ServiceUnavailable):
    """HTTP 429 from the API; ``retry_after`` is the wait it asked for, if any."""

    def __init__(
        self,
        message: str,
        hint: str | None = None,
        *,
        retry_after: float | None = None,
        status: int | None = 429,
    ) -> None:
        super().__init__(message, hint, status=status)
        self.retry_after = retry_after

    default_hint = "Wait a minute, then run the same command again"


class ExpiredUrl(RequestRejected):
    """A presigned URL has expired (the storage server answered 403 "Request has
    expired"): retrying the same URL cannot help; a new upload plan can."""

    default_hint = "Run the same command again: it asks for fresh links"


class JobFailed(GsepError):
    """The job ended with status ``failed``."""

    exit_code = ExitCode.JOB_FAILED
    default_hint = "See the job with gsep job status JOB_ID; another model or input may work"


class WaitTimeout(GsepError):
    """Waiting for a job gave up; the job may still finish."""

    exit_code = ExitCode.TIMEOUT
    default_hint = "The job may still finish: gsep job status JOB_ID --wait"


class InternalError(GsepError):
    """A bug met while processing one input of a batch (before any job existed): that
    input fails with exit 1, the others go on."""

    exit_code = ExitCode.INTERNAL
    default_hint = "Please report it (set GSEP_DEBUG=1 for details)"


class DeadlineReached(WaitTimeout):
    """A caller's wall-clock limit (``--timeout``) passed, a request in flight included."""


class LocalFailure(GsepError):
    """Something failed on this machine after a job was paid for (an unexpected error
    while writing or reporting its results). The job is on record; the message says how
    to resume. Exit 2, never 1: the job itself did not fail."""

    exit_code = ExitCode.USAGE
    default_hint = "Fix what the message says, then run the same command again"


class Interrupted(GsepError):
    """The user pressed Ctrl-C."""

    exit_code = ExitCode.INTERRUPTED
    default_hint = "Run the command again when ready"


#: What each exit code means: ``gsep --help`` and the README's table say the same.
EXIT_CODE_MEANINGS: dict[ExitCode, str] = {
    ExitCode.OK: "ok",
    ExitCode.INTERNAL: "internal error",
    ExitCode.USAGE: "usage or bad local input (files, folders, the local record)",
    ExitCode.AUTH: "authentication or configuration (no key, HTTP 400/401/403)",
    ExitCode.REJECTED: "request rejected by the API",
    ExitCode.ACCOUNT: "account: credits or contract",
    ExitCode.UNAVAILABLE: "network or server unavailable after retries",
    ExitCode.JOB_FAILED: "job failed",
    ExitCode.TIMEOUT: "timed out waiting (the job may still finish)",
    ExitCode.PARTIAL: "some of several inputs failed",
    ExitCode.INTERRUPTED: "interrupted",
}


def exit_codes_help() -> str:
    """One paragraph for ``--help``: ``Exit codes: 0 ok · 1 internal error · ...``."""
    items = " · ".join(f"{int(code)} {text}" for code, text in EXIT_CODE_MEANINGS.items())
    return f"Exit codes: {items}."


#: Business result codes → (error class, human text). 1000 is success.
RESULT_CODES: dict[int, tuple[type[GsepError], str]] = {
    1007: (RequestRejected, "the lyrics language does not match the text"),
    1008: (RequestRejected, "the lyrics text has fewer than 2 lines"),
    1014: (RequestRejected, "unsupported sample rate (16-192 kHz accepted)"),
    1015: (RequestRejected, "unsupported channel layout (mono or stereo only)"),
    1100: (RequestRejected, "unknown error"),
    1102: (AccountError, "not enough credits"),
    1103: (AccountError, "contract invalid or expired"),
    1104: (RequestRejected, "job not found"),
    1105: (RequestRejected, "upload id not found"),
    1106: (RequestRejected, "upload id expired (uploads are kept 72 h)"),
    1107: (RequestRejected, "unsupported file format"),
    1108: (RequestRejected, "audio length is zero"),
    1109: (RequestRejected, "audio is longer than the model allows"),
    1110: (RequestRejected, "file is larger than the model allows"),
    1111: (RequestRejected, "unsupported language"),
    1112: (RequestRejected, "unsupported text file format"),
    1113: (RequestRejected, "unsupported file-name format"),
    1114: (AccountError, "project deleted"),
    1122: (RequestRejected, "required parameter 'type' is missing"),
}

RESULT_HINTS: dict[int, str] = {
    1102: "Top up the credits of this key's project, or use another key.",
    1103: "Check the contract of this key's project with Gaudio Lab.",
    1104: "Check the job id and the model (--model); results are kept 48 h.",
    1105: "Upload the file again (gsep upload FILE), or check the upload id.",
    1106: "Uploads are kept 72 h: upload the file again.",
    1107: "Use WAV, FLAC, MP3, M4A or MP4 (MOV for the dme models).",
    1109: "Trim the audio to the model's maximum duration (see gsep models).",
    1110: "Use a smaller file (see the model's size limit in gsep models).",
    1114: "The key's project was deleted: create a new key.",
}

#: HTTP statuses → (error class, human text), used when the body carries no resultCode.
HTTP_STATUSES: dict[int, tuple[type[GsepError], str]] = {
    400: (AuthError, "the API key header is missing or the request is malformed"),
    401: (AuthError, "the API key is invalid, deleted or inactive"),
    403: (AuthError, "this key is not permitted to do that (model or upload not permitted)"),
    404: (RequestRejected, "not found"),
    405: (RequestRejected, "the model is currently unavailable"),
    429: (RateLimited, "rate limited by the API (100 requests per minute per IP)"),
}

AUTH_HINT = "Check the key: gsep config show; set a new one with: gsep config set-key"


def error_for_result_code(code: int, message: str | None, status: int | None = None) -> GsepError:
    """Build the typed error for a business ``resultCode`` (any code other than 1000)."""
    cls, text = RESULT_CODES.get(code, (RequestRejected, "request rejected"))
    if message and message.strip() and message.strip().lower() != text.lower():
        line = f"API error {code} ({text}): {message.strip()}"
    else:
        line = f"API error {code}: {text}"
    return cls(line, RESULT_HINTS.get(code), status=status, result_code=code)


def error_for_status(status: int, message: str | None = None) -> GsepError:
    """Build the typed error for an HTTP status when the body has no resultCode."""
    if status in HTTP_STATUSES:
        cls, text = HTTP_STATUSES[status]
    elif status >= 500:
        cls, text = ServiceUnavailable, "the API had a server error"
    elif status >= 400:
        cls, text = RequestRejected, "the API rejected the request"
    else:
        cls, text = ServiceUnavailable, "unexpected response from the API"
    detail = f"{text} ({message})" if message and message.strip() else text
    hint = AUTH_HINT if cls is AuthError else None
    return cls(f"HTTP {status}: {detail}", hint, status=status)
