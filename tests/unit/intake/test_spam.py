"""The form's bot defences: the signed fill-time token; and the shared sliding-window rate limiter."""

from __future__ import annotations

import threading

import pytest

from hub.intake.spam import FillCheck, FillTimer
from onedoor import govuk
from onedoor.intake_topic import INTAKE_RETENTION_MS, intake_topic_config
from onedoor.ratelimit import SlidingWindowLimiter


def test_fill_timer() -> None:
    timer = FillTimer(b"k" * 32)
    token = timer.issue(1000.0)
    assert timer.check(token, 1010.0, min_seconds=3, max_seconds=60) is FillCheck.OK
    assert timer.check(token, 1001.0, min_seconds=3, max_seconds=60) is FillCheck.TOO_FAST
    assert timer.check(token, 1100.0, min_seconds=3, max_seconds=60) is FillCheck.EXPIRED
    forged = "1.".join(token.split(".", 1))
    assert timer.check(forged, 1010.0, min_seconds=3, max_seconds=60) is FillCheck.INVALID
    assert timer.check("", 1010.0, min_seconds=3, max_seconds=60) is FillCheck.INVALID
    assert FillTimer(b"x" * 32).check(token, 1010.0, min_seconds=3, max_seconds=60) is FillCheck.INVALID


@pytest.mark.parametrize(
    "token",
    ["1.\u00e9", "1000000.\u00e9" * 2, "\u0661\u0660\u0660\u0660\u0660\u0660\u0660.abc", "1." + "a" * 200, "\udcff.x"],
)
def test_any_text_is_a_verdict_never_an_error(token: str) -> None:
    """Finding 3: non-ASCII (which ``hmac.compare_digest`` refuses as str) is simply INVALID."""
    assert FillTimer(b"k" * 32).check(token, 1010.0, min_seconds=3, max_seconds=60) is FillCheck.INVALID


def test_a_valid_token_with_a_non_ascii_tail_is_invalid() -> None:
    timer = FillTimer(b"k" * 32)
    token = timer.issue(1000.0)
    assert timer.check(token + "\u00e9", 1010.0, min_seconds=3, max_seconds=60) is FillCheck.INVALID


def test_rate_limiter_slides() -> None:
    limiter = SlidingWindowLimiter(2, 60.0)
    assert limiter.allow("a", 0.0)
    assert limiter.allow("a", 1.0)
    assert not limiter.allow("a", 2.0)
    assert limiter.allow("b", 2.0)
    assert limiter.allow("a", 60.5)
    assert not limiter.allow("a", 60.6)
    assert limiter.count("a", 60.6) == 2  # the refused attempts were not counted


def test_failure_counting_for_sign_ins() -> None:
    """The check-then-record style the workbench's sign-in needs: failures only, per username and address."""
    clock = [0.0]
    limiter = SlidingWindowLimiter(3, 900.0, clock=lambda: clock[0])
    for _ in range(3):
        assert limiter.allowed("user:testy", "addr:10.0.0.1")
        limiter.record("user:testy", "addr:10.0.0.1")
    assert not limiter.allowed("user:testy", "addr:10.0.0.1")
    assert not limiter.allowed("addr:10.0.0.1")
    assert limiter.allowed("user:synthia")
    limiter.reset("user:testy")  # a good sign-in forgets the username's failures
    assert limiter.allowed("user:testy")
    assert not limiter.allowed("user:testy", "addr:10.0.0.1")  # but not the address's
    clock[0] = 900.5
    assert limiter.allowed("user:testy", "addr:10.0.0.1")


def test_rate_limiter_memory_is_bounded_and_thread_safe() -> None:
    limiter = SlidingWindowLimiter(1, 10.0, max_keys=100)
    for n in range(1000):
        limiter.allow(f"client-{n}", float(n))
    assert len(limiter._events) <= 101
    shared = SlidingWindowLimiter(50, 60.0)
    results: list[bool] = []
    threads = [threading.Thread(target=lambda: results.append(shared.allow("x", 1.0))) for _ in range(200)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results.count(True) == 50
    with pytest.raises(ValueError, match="limit"):
        SlidingWindowLimiter(0, 60.0)


def test_secure_headers() -> None:
    headers = govuk.secure_headers("n0nce")
    assert "'nonce-n0nce'" in headers["Content-Security-Policy"]
    assert headers["Cache-Control"] == "no-store"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert "Content-Security-Policy" not in govuk.secure_headers()  # a redirect has no page to protect


def test_intake_topic_config_is_one_thing() -> None:
    config = intake_topic_config(3)
    assert (config.partitions, config.replication_factor) == (1, 3)
    assert config.configs == {"cleanup.policy": "delete", "retention.ms": str(INTAKE_RETENTION_MS)}
    assert INTAKE_RETENTION_MS == 14 * 24 * 3600 * 1000
