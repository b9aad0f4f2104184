"""Pure pieces of the HTTP layer: rate limiter, backoff, retry decisions, origin checks."""

from __future__ import annotations

import socket

import pytest
import requests

from gsep_cli.http import ApiTransport, same_origin
from gsep_cli.ratelimit import RateLimiter
from gsep_cli.retry import RetryPolicy, never_reached_server


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_rate_limiter_keeps_a_process_under_the_limit() -> None:
    fake = FakeClock()
    limiter = RateLimiter(limit=100, window=60.0, clock=fake.clock, sleep=fake.sleep)
    stamps = []
    for _ in range(250):
        limiter.acquire().done()  # answered at once
        stamps.append(fake.now)
    for i in range(len(stamps) - 100):  # any 101 consecutive requests span >= one window
        assert stamps[i + 100] - stamps[i] >= 60.0
    assert fake.slept and max(fake.slept) <= 60.01 + 1e-9


def test_rate_limiter_reports_long_waits() -> None:
    fake = FakeClock()
    waits: list[tuple[str, float]] = []
    limiter = RateLimiter(limit=2, window=10.0, clock=fake.clock, sleep=fake.sleep)
    for _ in range(3):
        limiter.acquire(lambda reason, seconds: waits.append((reason, seconds))).done()
    assert len(waits) == 1 and "rate limit" in waits[0][0]
    assert waits[0][1] == pytest.approx(10.0, abs=0.02)  # a window after the answer


def test_backoff_is_jittered_and_capped() -> None:
    policy = RetryPolicy(base=1.0, cap=20.0)
    for attempt in range(1, 12):
        delays = [policy.backoff(attempt) for _ in range(50)]
        assert all(0 <= d <= min(20.0, 2 ** (attempt - 1)) for d in delays)
        assert len(set(delays)) > 1
    assert policy.wait_for_429(None) == 60.0
    assert policy.wait_for_429(5) == 5
    assert policy.wait_for_429(10_000) == policy.retry_after_cap


def test_connection_refused_provably_never_reached_the_server() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    with pytest.raises(requests.ConnectionError) as info:
        requests.post(f"http://127.0.0.1:{port}/x", timeout=5)
    assert never_reached_server(info.value)


def test_a_read_timeout_may_have_reached_the_server() -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    try:
        with pytest.raises(requests.ReadTimeout) as info:
            requests.post(f"http://127.0.0.1:{server.getsockname()[1]}/x", timeout=(5, 0.2))
        assert not never_reached_server(info.value)
    finally:
        server.close()


def test_create_post_to_a_closed_port_is_retried_then_fails() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    fake = FakeClock()
    transport = ApiTransport(
        f"http://127.0.0.1:{port}/developers/api",
        "k",
        policy=RetryPolicy(attempts=3),
        sleep=fake.sleep,
    )
    from gsep_cli.errors import ServiceUnavailable

    with pytest.raises(ServiceUnavailable, match="connection refused"):
        transport.call("POST", "/v1/files/upload-multipart/create", {}, creates=True)
    assert transport.calls == 3  # provably unsent, so retrying cannot create a duplicate
    assert len(fake.slept) == 2


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("https://api.example/x", "https://api.example:443/y", True),
        ("http://127.0.0.1:80/a", "http://127.0.0.1/b", True),
        ("http://127.0.0.1:8000/a", "http://127.0.0.1:8001/a", False),
        ("https://api.example/x", "http://api.example/x", False),
        ("https://api.example/x", "https://cdn.example/x", False),
    ],
)
def test_same_origin(a: str, b: str, same: bool) -> None:
    assert same_origin(a, b) is same


def test_models_lists_the_registry(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from gsep_cli.cli import run
    from gsep_cli.models import MODELS

    assert run(["--json", "models"]) == 0
    rows = json.loads(capsys.readouterr().out)["models"]
    assert [r["name"] for r in rows] == list(MODELS)
    hq = rows[0]
    assert hq["stems"] == ["vocal", "drum", "bass", "electric_guitar", "acoustic_piano"]
    assert hq["outputs"][-1] == "others" and hq["maxBytes"] == 1000**3
