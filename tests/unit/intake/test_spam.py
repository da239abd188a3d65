"""The form's bot defences: the signed fill-time token and the per-address rate limit."""

from __future__ import annotations

from hub.intake.spam import FillCheck, FillTimer, RateLimiter


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


def test_rate_limiter_slides() -> None:
    limiter = RateLimiter(2)
    assert limiter.allow("a", 0.0)
    assert limiter.allow("a", 1.0)
    assert not limiter.allow("a", 2.0)
    assert limiter.allow("b", 2.0)
    assert limiter.allow("a", 60.5)
    assert not limiter.allow("a", 60.6)
