"""The status-check settings reach the router's book, and refuse a soft deadline after the hard one."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from hub.router.runtime import status_limits
from hub.router.status import StatusLimits
from onedoor.settings import RouterSettings, Settings


def test_defaults_are_the_documented_ones() -> None:
    limits = status_limits(Settings(router=RouterSettings()))
    assert (limits.hard_deadline_ms, limits.soft_deadline_ms) == (10_000, 2_000)
    assert (limits.rate_per_s, limits.burst) == (5.0, 20)
    assert (limits.enumeration_threshold, limits.enumeration_window_ms) == (120, 600_000)
    assert limits.max_outstanding == 100_000
    assert limits == StatusLimits(), "the book's own defaults match the settings' defaults"


def test_environment_variables_set_the_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONEDOOR_ROUTER__STATUS_HARD_DEADLINE_SECONDS", "4.5")
    monkeypatch.setenv("ONEDOOR_ROUTER__STATUS_SOFT_DEADLINE_SECONDS", "0.5")
    monkeypatch.setenv("ONEDOOR_ROUTER__STATUS_RATE_PER_SECOND", "50")
    monkeypatch.setenv("ONEDOOR_ROUTER__STATUS_RATE_BURST", "100")
    limits = status_limits(Settings())
    assert (limits.hard_deadline_ms, limits.soft_deadline_ms, limits.rate_per_s, limits.burst) == (
        4_500,
        500,
        50.0,
        100,
    )


def test_a_soft_deadline_after_the_hard_one_is_refused() -> None:
    with pytest.raises(ValidationError, match="status_soft_deadline_seconds"):
        RouterSettings(status_soft_deadline_seconds=11, status_hard_deadline_seconds=10)
