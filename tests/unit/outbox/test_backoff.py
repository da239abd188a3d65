"""Backoff delays and the inbox's decision after a failed delivery."""

from __future__ import annotations

import random

import pytest

from connectors.adapters.base import DeliveryRefused, DeliveryRetry
from connectors.outbox.backoff import HANDLER_FAILED, Action, Backoff, disposition


def test_the_limit_doubles_up_to_the_cap_and_every_delay_is_within_it() -> None:
    backoff = Backoff(first_s=0.1, cap_s=1.0, rng=random.Random(7))
    limits = []
    for _ in range(8):
        limit = backoff.limit()
        delay = backoff.next()
        assert 0 <= delay <= limit
        limits.append(limit)
    assert limits == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0, 1.0, 1.0, 1.0])


def test_delays_are_jittered_not_identical() -> None:
    delays = {Backoff(first_s=1.0, cap_s=1.0, rng=random.Random(seed)).next() for seed in range(20)}
    assert len(delays) == 20, "full jitter: retries from many connectors do not arrive together"


def test_reset_starts_again_from_the_first_delay() -> None:
    backoff = Backoff(first_s=0.1, cap_s=5.0)
    for _ in range(5):
        backoff.next()
    backoff.reset()
    assert backoff.limit() == pytest.approx(0.1)


def test_a_huge_attempt_count_does_not_overflow() -> None:
    backoff = Backoff(first_s=0.1, cap_s=3.0, attempt=10_000)
    assert backoff.limit() == pytest.approx(3.0)


CASES = [
    (
        "a refusal is parked at once, with its code and message",
        DeliveryRefused("adapter.unmapped", "no column"),
        1,
        Action.PARK,
        "adapter.unmapped",
        "no column",
    ),
    (
        "a transient failure is retried, however many times it happened",
        DeliveryRetry("adapter.down", "503"),
        50,
        Action.RETRY,
        None,
        "",
    ),
    ("any other error is retried while attempts remain", KeyError("x"), 2, Action.RETRY, None, ""),
    (
        "then parked as handler.failed with the exception's type only",
        KeyError("Testy McFakeface"),
        3,
        Action.PARK,
        HANDLER_FAILED,
        "KeyError",
    ),
]


@pytest.mark.parametrize(("sentence", "error", "attempt", "expected"), [(c[0], c[1], c[2], c[3:]) for c in CASES])
def test_disposition(sentence: str, error: Exception, attempt: int, expected: tuple[Action, str | None, str]) -> None:
    decided = disposition(error, attempt=attempt, max_attempts=3)
    assert (decided.action, decided.reason, decided.detail) == expected, sentence
    assert "Testy" not in decided.detail, "a body value never reaches the parked reason"
