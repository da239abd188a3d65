"""Consumer lag from offsets (pure)."""

from __future__ import annotations

from hub.ops.lag import _reason, group_of, inbox_lag, unknown


def test_lag_sums_partitions_from_the_committed_offset() -> None:
    lag = inbox_lag("lb-csc", ends={0: 10, 1: 7, 2: 0}, beginnings={0: 0, 1: 0, 2: 0}, committed={0: 4, 1: 7})
    # 6 behind on partition 0, none on 1, and partition 2 is empty.
    assert (lag.agency, lag.lag, lag.status) == ("lb-csc", 6, "ok")


def test_a_partition_never_committed_counts_from_its_first_offset() -> None:
    lag = inbox_lag("lb-csc", ends={0: 10}, beginnings={0: 3}, committed={0: -1})
    assert lag.lag == 7


def test_unknown_lag_names_a_reason_and_no_figure() -> None:
    entry = unknown("lb-csc", "lag.broker_unavailable")
    assert (entry.lag, entry.status, entry.reason) == (None, "unknown", "lag.broker_unavailable")
    assert _reason(TimeoutError()) == "lag.broker_unavailable"
    assert _reason(ValueError()) == "lag.failed"


def test_the_group_is_the_connectors() -> None:
    assert group_of("onedoor", "lb-csc") == "onedoor.connector.lb-csc"
