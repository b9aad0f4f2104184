"""What a request meets before the store: the HMAC signatures of the presigned part and
result URLs, and the per-IP rate limit of the API.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import threading

from .state import SandboxSettings


class Signer:
    """HMAC signatures for the presigned part URLs and the CDN result URLs."""

    def __init__(self) -> None:
        self._secret = secrets.token_bytes(32)

    def sign(self, method: str, path: str, params: dict[str, str]) -> str:
        """Signature over the method, path and every query parameter but the signature."""
        canonical = "&".join(f"{k}={params[k]}" for k in sorted(params))
        message = f"{method}\n{path}\n{canonical}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def check(self, method: str, path: str, params: dict[str, str], signature: str) -> bool:
        """Constant-time check of a signature made by :meth:`sign`."""
        expected = self.sign(method, path, params).encode()
        return hmac.compare_digest(expected, signature.encode("utf-8", "replace"))


class SandboxRateLimiter:
    """Fixed one-window counting per client IP, with a block after going over."""

    def __init__(self, settings: SandboxSettings) -> None:
        self._settings = settings
        self._lock = threading.Lock()
        self._windows: dict[str, tuple[float, int]] = {}
        self._blocked_until: dict[str, float] = {}

    def check(self, ip: str, now: float) -> float | None:
        """Count one request; return None if allowed, else the seconds left in the block."""
        s = self._settings
        if s.rate_limit <= 0:
            return None
        with self._lock:
            until = self._blocked_until.get(ip, 0.0)
            if now < until:
                return until - now
            window = math.floor(now / s.rate_window) * s.rate_window
            start, count = self._windows.get(ip, (window, 0))
            if start != window:
                start, count = window, 0
            count += 1
            self._windows[ip] = (start, count)
            if count > s.rate_limit:
                # the count starts afresh once the block is over (with the real 60 s/60 s
                # the block always outlasts the window; a shorter block must not re-block)
                self._blocked_until[ip] = now + s.rate_block
                del self._windows[ip]
                return s.rate_block
        return None
