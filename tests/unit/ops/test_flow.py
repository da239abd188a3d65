"""The dashboard's pure aggregation: rolling windows, percentiles, agency pairs, the chart series."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import pytest

from hub.ops.flow import DELIVERED, REJECTED, FlowEvent, FlowWindows, batch_from_rows, percentile, quantise

T0 = 1_800_000_000.0


def delivered(
    at: float, sender: str = "met-police", recipients: tuple[str, ...] = ("lb-csc",), **kw: object
) -> FlowEvent:
    return FlowEvent(at_s=at, kind=DELIVERED, sender=sender, recipients=recipients, **kw)  # type: ignore[arg-type]


def rejected(at: float, reason: str) -> FlowEvent:
    return FlowEvent(at_s=at, kind=REJECTED, sender="met-police", reason=reason)


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        (50, 50.0),  # nearest rank: the 50th of 1..100
        (95, 95.0),
        (99, 99.0),
        (100, 100.0),
        (1, 1.0),
    ],
)
def test_percentile_is_nearest_rank(q: float, expected: float) -> None:
    histogram = Counter(range(1, 101))
    assert percentile(histogram, q) == expected


def test_percentile_of_nothing_is_none_and_of_weighted_counts_follows_weights() -> None:
    assert percentile(Counter(), 50) is None
    # 90 fast, 10 slow: the median is fast, the p95 slow.
    histogram = Counter({5: 90, 800: 10})
    assert percentile(histogram, 50) == 5.0
    assert percentile(histogram, 95) == 800.0


@pytest.mark.parametrize(
    ("ms", "expected", "why"),
    [
        (0.4, 0, "rounds to the millisecond"),
        (999, 999, "exact below a second"),
        (1234, 1230, "three significant digits above"),
        (98765, 98800, "three significant digits, rounded"),
        (-5, 0, "a sender clock ahead of the hub never gives a negative latency"),
    ],
)
def test_quantise(ms: float, expected: int, why: str) -> None:
    assert quantise(ms) == expected, why


def test_counts_by_contract_pair_and_reason_within_a_minute() -> None:
    flow = FlowWindows(started_s=T0 - 3600)
    events = [
        delivered(T0 - 10, contract="onedoor.referral.MasterReferral", recipients=("lb-csc", "nhs-trust")),
        delivered(T0 - 5, contract="onedoor.referral.MasterReferral"),
        delivered(T0 - 1, contract="onedoor.alert.Alert", sender="lb-csc", recipients=("met-police",)),
        rejected(T0 - 2, "agreement.none"),
        rejected(T0 - 3, "agreement.none"),
        rejected(T0 - 4, "envelope.expired"),
    ]
    assert flow.ingest(events, T0) == 6
    one = flow.window("1m")
    assert one.totals.delivered == 3
    assert one.totals.rejected == 3
    assert [(c.contract, c.count) for c in one.flow_by_contract] == [
        ("onedoor.referral.MasterReferral", 2),
        ("onedoor.alert.Alert", 1),
    ]
    # One copy per recipient: the two-recipient referral counts for both pairs.
    assert {(p.sender, p.recipient): p.count for p in one.flow_by_pair} == {
        ("met-police", "lb-csc"): 2,
        ("met-police", "nhs-trust"): 1,
        ("lb-csc", "met-police"): 1,
    }
    assert [(r.reason, r.count) for r in one.rejections] == [("agreement.none", 2), ("envelope.expired", 1)]
    assert one.rejections[0].per_s == pytest.approx(2 / 60, abs=1e-3)


def test_events_leave_each_window_when_it_moves_past_them() -> None:
    flow = FlowWindows(started_s=T0 - 3600)
    flow.ingest([delivered(T0 - 30), delivered(T0 - 200), delivered(T0 - 1000)], T0)
    assert flow.window("1m").totals.delivered == 1
    assert flow.window("5m").totals.delivered == 2
    assert flow.window("1h").totals.delivered == 3
    flow.ingest([], T0 + 31)  # the 30 s old one is now 61 s old
    assert flow.window("1m").totals.delivered == 0
    assert flow.window("1m").flow_by_pair == []
    assert flow.window("5m").totals.delivered == 2
    flow.ingest([], T0 + 2700)  # the 1000 s old one is past the hour, the others not yet
    assert flow.window("1h").totals.delivered == 2
    assert flow.window("5m").totals.delivered == 0
    flow.ingest([], T0 + 3600)
    assert flow.window("1h").totals.delivered == 0
    assert flow.window("1h").flow_by_contract == []
    # The cumulative counters (Prometheus) never go down.
    assert flow.cumulative.delivered == 3


def test_a_jump_longer_than_a_window_empties_it() -> None:
    flow = FlowWindows(started_s=T0)
    flow.ingest([delivered(T0)], T0)
    flow.ingest([], T0 + 10 * 3600)
    assert flow.window("1h").totals.delivered == 0
    flow.ingest([delivered(T0 + 10 * 3600)], T0 + 10 * 3600)
    assert flow.window("1m").totals.delivered == 1


def test_late_and_future_events() -> None:
    flow = FlowWindows(started_s=T0 - 3600)
    flow.ingest([delivered(T0)], T0)
    # A late one (3 s ago) lands in its own second; a future one (clock ahead) in the current one.
    flow.ingest([delivered(T0 - 3), delivered(T0 + 50)], T0 + 1)
    assert flow.window("1m").totals.delivered == 3
    series = {p.t: p.delivered for p in flow.series()}
    assert series[datetime.fromtimestamp(int(T0 - 3), UTC)] == 1
    assert series[datetime.fromtimestamp(int(T0 + 1), UTC)] == 1
    # One older than the longest window counts only since start.
    flow.ingest([delivered(T0 - 7200)], T0 + 1)
    assert flow.window("1h").totals.delivered == 3
    assert flow.cumulative.delivered == 4


def test_latency_percentiles_over_the_window() -> None:
    flow = FlowWindows(started_s=T0 - 3600)
    events = [delivered(T0 - 1, latency_ms=ms) for ms in range(1, 101)]
    events.append(delivered(T0 - 1))  # no latency recorded (an old audit row): not in the percentiles
    flow.ingest(events, T0)
    latency = flow.window("1m").latency_ms
    assert (latency.p50, latency.p95, latency.p99, latency.count) == (50.0, 95.0, 99.0, 100)
    # Prometheus buckets are cumulative: <= 5 ms holds 5 of them, <= 100 ms all 100.
    assert flow.latency_buckets[0] == 5
    assert flow.latency_buckets[4] == 100
    assert flow.latency_sum_ms == sum(range(1, 101))


def test_rates_are_over_the_time_the_process_has_been_up() -> None:
    flow = FlowWindows(started_s=T0 - 9)  # up 10 s (this second included)
    flow.ingest([delivered(T0 - 1) for _ in range(20)], T0)
    assert flow.window("1m").flow_by_contract[0].per_s == pytest.approx(2.0)
    assert flow.window("1h").window_s == 3600


def test_series_covers_the_last_120_seconds_oldest_first() -> None:
    flow = FlowWindows(started_s=T0 - 3600)
    flow.ingest([delivered(T0 - 119), rejected(T0, "envelope.expired"), delivered(T0 - 500)], T0)
    series = flow.series()
    assert len(series) == 120
    assert series[0].t == datetime.fromtimestamp(int(T0 - 119), UTC)
    assert (series[0].delivered, series[-1].rejected) == (1, 1)
    assert sum(p.delivered for p in series) == 1


def test_other_audit_kinds_are_ignored() -> None:
    flow = FlowWindows(started_s=T0)
    assert flow.ingest([FlowEvent(at_s=T0, kind="api.authz")], T0) == 0
    assert flow.window("1m").totals.delivered == 0


def test_audit_rows_as_postgresql_and_sqlite_return_them() -> None:
    at = datetime.fromtimestamp(T0, UTC)
    sqlite_text = at.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")  # naive UTC, as stored
    rows = [
        (at, DELIVERED, "met-police", None, "onedoor.referral.MasterReferral", "a-csc,b-csc", 42),
        (sqlite_text, DELIVERED, "met-police", None, "onedoor.referral.MasterReferral", "a-csc", None),
        (sqlite_text, REJECTED, "met-police", "envelope.expired", None, None, None),
        (sqlite_text, "api.authz", "someone", None, None, None, None),
    ]
    batch = batch_from_rows(rows)
    assert batch.count == 3, "the authorization row is not a routing decision"
    [(second, tally)] = batch.tallies(now=int(T0)).items()
    assert second == int(T0), "both forms of the time give the same second"
    assert (tally.delivered, tally.rejected) == (2, 1)
    assert tally.pairs == Counter({("met-police", "a-csc"): 2, ("met-police", "b-csc"): 1})
    assert tally.latencies == Counter({42: 1})
    flow = FlowWindows(started_s=T0)
    assert flow.ingest_batch(batch, T0) == 3
    assert (flow.latency_sum_ms, flow.latency_buckets[-1]) == (42, 1)
