"""The pure judgements behind the ops figures: skew, liveness, key expiry, percentiles, flags.

Reference cases, one human sentence each.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from connectors.agent.check import KEY_WARN_DAYS as CHECK_KEY_WARN_DAYS
from connectors.agent.check import MAX_SKEW_S as CHECK_MAX_SKEW_S
from hub.agencies.enums import KeyStatus
from hub.fleet import service
from hub.fleet.models import ConnectorHeartbeat
from hub.fleet.service import (
    KeyView,
    attribute,
    clock_skew_ms,
    effect_figures,
    judge,
    key_expiry,
    liveness,
    percentile,
)
from hub.fleet.tail import Effect

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
SIGNING = "k1_" + "a" * 32
ENCRYPTION = "k1_" + "b" * 32
OLD_SIGNING = "k1_" + "c" * 32


def _beat(**changes: object) -> ConnectorHeartbeat:
    values: dict[str, object] = {
        "agency_id": "met-police",
        "received_at": NOW - timedelta(seconds=10),
        "connector_time": NOW - timedelta(seconds=10),
        "clock_skew_ms": 120,
        "rtt_ms": 8,
        "interval_s": 30.0,
        "version": "0.7.0",
        "signing_key_id": SIGNING,
        "encryption_key_id": ENCRYPTION,
        "outbox_pending": 0,
        "parked": 0,
        "problems": "",
        "beats": 3,
    }
    values.update(changes)
    return ConnectorHeartbeat(**values)


CURRENT = [KeyView(SIGNING, KeyStatus.CURRENT, None), KeyView(ENCRYPTION, KeyStatus.CURRENT, None)]


def test_the_thresholds_are_the_connector_checks() -> None:
    assert service.MAX_SKEW_S == CHECK_MAX_SKEW_S, "the dashboard flags the skew `onedoor connector check` fails"
    assert service.KEY_EXPIRY_WARN_DAYS == CHECK_KEY_WARN_DAYS, "and warns about keys as early as it does"


@pytest.mark.parametrize(
    ("received_after_s", "rtt_ms", "expected_ms"),
    [
        pytest.param(0.0, None, 0, id="same clock, no round trip known yet: no skew"),
        pytest.param(40.0, None, 40_000, id="connector 40 s behind: positive skew"),
        pytest.param(-5.0, None, -5_000, id="connector 5 s ahead: negative skew"),
        pytest.param(0.1, 200, 0, id="100 ms on the wire is half a 200 ms round trip, not skew"),
    ],
)
def test_clock_skew_is_hub_minus_connector_less_half_the_round_trip(
    received_after_s: float, rtt_ms: int | None, expected_ms: int
) -> None:
    sent = NOW
    assert clock_skew_ms(sent + timedelta(seconds=received_after_s), sent, rtt_ms) == expected_ms


@pytest.mark.parametrize(
    ("silent_s", "interval_s", "expected"),
    [
        pytest.param(None, None, "never", id="no heartbeat ever: never"),
        pytest.param(5.0, 30.0, "ok", id="heard 5 s ago on a 30 s interval: ok"),
        pytest.param(90.0, 30.0, "ok", id="exactly three intervals is still ok"),
        pytest.param(90.5, 30.0, "late", id="more than three intervals of silence: late"),
        pytest.param(20.0, 5.0, "late", id="the connector's own interval counts, not a global one"),
    ],
)
def test_liveness(silent_s: float | None, interval_s: float | None, expected: str) -> None:
    last = None if silent_s is None else NOW - timedelta(seconds=silent_s)
    assert liveness(last, interval_s, NOW) == expected


def test_key_expiry_names_the_soonest_end_among_the_keys_in_use() -> None:
    registry = [
        *CURRENT,
        KeyView(OLD_SIGNING, KeyStatus.RETIRED, NOW + timedelta(days=3)),
        KeyView("k1_" + "d" * 32, KeyStatus.RETIRED, NOW + timedelta(days=1)),  # not in use: ignored
    ]
    expiry, untrusted = key_expiry([OLD_SIGNING, ENCRYPTION], registry, NOW)
    assert (expiry.key_id, expiry.days_left, untrusted) == (OLD_SIGNING, 3.0, False)


def test_current_keys_without_an_end_have_no_expiry() -> None:
    expiry, untrusted = key_expiry([SIGNING, ENCRYPTION], CURRENT, NOW)
    assert (expiry.key_id, expiry.days_left, untrusted) == (None, None, False)


@pytest.mark.parametrize(
    ("registry", "why"),
    [
        ([KeyView(OLD_SIGNING, KeyStatus.REVOKED, None)], "a revoked key"),
        ([], "a key the registry does not hold"),
        ([KeyView(OLD_SIGNING, KeyStatus.RETIRED, NOW - timedelta(hours=1))], "a retired key past its end"),
    ],
)
def test_a_key_in_use_that_the_hub_no_longer_trusts_is_said(registry: list[KeyView], why: str) -> None:
    _expiry, untrusted = key_expiry([OLD_SIGNING], registry, NOW)
    assert untrusted, why


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        pytest.param([], 50, None, id="no values: no percentile"),
        pytest.param([7.0], 95, 7.0, id="one value is every percentile"),
        pytest.param([1.0, 2.0, 3.0, 4.0], 50, 2.5, id="median of an even count interpolates"),
        pytest.param([4.0, 1.0, 3.0, 2.0, 5.0], 50, 3.0, id="order does not matter"),
        pytest.param([float(v) for v in range(1, 101)], 95, 95.05, id="p95 of 1..100 interpolates"),
        pytest.param([1.0, 100.0], 100, 100.0, id="p100 is the maximum"),
    ],
)
def test_percentile(values: list[float], q: float, expected: float | None) -> None:
    assert percentile(values, q) == (None if expected is None else pytest.approx(expected))


def test_a_healthy_connector_has_no_flags() -> None:
    health = judge("met-police", "active", _beat(), CURRENT, NOW)
    assert (health.status, health.flags, health.version, health.clock_skew_ms) == ("ok", [], "0.7.0", 120)
    assert health.seconds_since == 10.0


@pytest.mark.parametrize(
    ("changes", "registry", "flag"),
    [
        pytest.param({"received_at": NOW - timedelta(minutes=5)}, CURRENT, service.LATE, id="late"),
        pytest.param({"clock_skew_ms": 31_000}, CURRENT, service.CLOCK_SKEW, id="31 s behind"),
        pytest.param({"clock_skew_ms": -45_000}, CURRENT, service.CLOCK_SKEW, id="45 s ahead"),
        pytest.param(
            {"signing_key_id": OLD_SIGNING},
            [*CURRENT, KeyView(OLD_SIGNING, KeyStatus.RETIRED, NOW + timedelta(days=2))],
            service.KEY_EXPIRING,
            id="still signing with a retired key that ends in 2 days",
        ),
        pytest.param(
            {"signing_key_id": OLD_SIGNING},
            [*CURRENT, KeyView(OLD_SIGNING, KeyStatus.REVOKED, None)],
            service.KEY_NOT_TRUSTED,
            id="signing with a revoked key",
        ),
        pytest.param({"parked": 2}, CURRENT, service.PARKED, id="parked messages"),
        pytest.param({"problems": "connector.inbox_stopped"}, CURRENT, service.PROBLEMS, id="reported problem"),
    ],
)
def test_what_is_flagged(changes: dict[str, object], registry: list[KeyView], flag: str) -> None:
    health = judge("met-police", "active", _beat(**changes), registry, NOW)
    assert health.flags == [flag]


def test_skew_within_the_limit_is_not_flagged() -> None:
    assert judge("met-police", "active", _beat(clock_skew_ms=29_000), CURRENT, NOW).flags == []


def test_an_agency_never_heard_from_is_never_seen_with_its_registry_key_expiry() -> None:
    registry = [KeyView(SIGNING, KeyStatus.CURRENT, NOW + timedelta(days=10))]
    health = judge("met-police", "active", None, registry, NOW)
    assert health.status == "never"
    assert health.flags == [service.NEVER_SEEN, service.KEY_EXPIRING]
    assert health.key_expiry.days_left == 10.0


def test_a_key_ending_in_more_than_fourteen_days_is_not_flagged() -> None:
    registry = [*CURRENT, KeyView(OLD_SIGNING, KeyStatus.RETIRED, NOW + timedelta(days=15))]
    health = judge("met-police", "active", _beat(signing_key_id=OLD_SIGNING), registry, NOW)
    assert health.flags == []
    assert health.key_expiry.days_left == 15.0


def test_effect_figures_give_last_by_time_median_and_maximum() -> None:
    timed = [(NOW - timedelta(seconds=30), 900), (NOW, 120), (NOW - timedelta(seconds=60), 300)]
    figures = effect_figures(timed)
    assert (figures.count, figures.last_ms, figures.last_at, figures.p50_ms, figures.max_ms) == (3, 120, NOW, 300, 900)
    assert effect_figures([]).count == 0


def _effect(row_id: int, kind: str, committed_ms: int, key: str | None = "isa-x", effect_ms: int = 100) -> Effect:
    at = datetime.fromtimestamp((committed_ms + effect_ms) / 1000, tz=UTC)
    return Effect(row_id, at, kind, effect_ms, key)  # type: ignore[arg-type]


def test_an_older_announcement_reloaded_after_the_revocation_is_not_taken_for_it() -> None:
    # The approval (committed at 1000) was reloaded after the revocation (written at 1300) committed,
    # so the router found the agreement revoked for both announcements.
    effects = [_effect(1, "revocation", 1_000, effect_ms=400), _effect(2, "revocation", 1_305, effect_ms=150)]
    assert attribute(effects, {"isa-x": [1_300]}) == {1: "other", 2: "revocation"}


def test_every_replicas_row_of_the_announcement_keeps_its_class() -> None:
    effects = [_effect(1, "withdrawal", 2_000, "st1_t"), _effect(2, "withdrawal", 2_000, "st1_t", effect_ms=90)]
    assert attribute(effects, {"st1_t": [1_999]}) == {1: "withdrawal", 2: "withdrawal"}


def test_later_announcements_about_a_revoked_agreement_are_other() -> None:
    effects = [_effect(1, "revocation", 1_305), _effect(2, "revocation", 9_000)]
    assert attribute(effects, {"isa-x": [1_300]}) == {1: "revocation", 2: "other"}


def test_a_revocation_with_no_record_of_the_change_is_other() -> None:
    assert attribute([_effect(1, "revocation", 1_305), _effect(2, "other", 1_400)], {}) == {1: "other", 2: "other"}


def test_a_withdrawal_given_again_twice_counts_each_time() -> None:
    effects = [
        _effect(1, "withdrawal", 1_000, "st1_t"),
        _effect(2, "other", 2_000, "st1_t"),
        _effect(3, "withdrawal", 3_000, "st1_t"),
    ]
    assert attribute(effects, {"st1_t": [990, 2_990]}) == {1: "withdrawal", 2: "other", 3: "withdrawal"}
