"""Rolling windows over routing decisions: the pure core of the ops dashboard.

Events go into one bucket per second (by the second they were decided); each window keeps
running sums, adding an event as it arrives and subtracting a second's bucket as it leaves the
window, so building a view costs the size of the figures, not the number of events. Latencies
are kept as a histogram quantised to three significant digits (exact below 1 s), so the
percentiles of an hour of traffic need no per-message memory. Cumulative counters since start
(for Prometheus) are kept beside the windows.

Only metadata enters: the sender and recipient agency ids, the contract name, the reason code
and the latency. Never a message id, a subject token or a body.
"""

from __future__ import annotations

import math
from collections import Counter, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from hub.ops.schemas import ContractFlow, Latency, PairFlow, Rejections, SeriesPoint, Totals, WindowView

DELIVERED = "route.delivered"
REJECTED = "route.rejected"

WINDOWS: dict[str, int] = {"1m": 60, "5m": 300, "1h": 3600}
"""The windows every snapshot reports, by name, in seconds."""
SERIES_SECONDS = 120
LATENCY_BUCKETS_S: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
"""The Prometheus histogram's upper bounds, in seconds."""


@dataclass(frozen=True, slots=True)
class FlowEvent:
    """One routing decision, as the dashboard needs it (from an audit row)."""

    at_s: float
    """When it was decided, seconds since the epoch."""
    kind: str
    """``route.delivered`` or ``route.rejected``; other kinds are ignored."""
    sender: str | None = None
    recipients: tuple[str, ...] = ()
    contract: str | None = None
    reason: str | None = None
    latency_ms: int | None = None


def quantise(ms: float) -> int:
    """``ms`` rounded to 3 significant digits (exact to the millisecond below 1,000 ms)."""
    value = max(0, round(ms))
    if value < 1000:
        return value
    step = int(10 ** (len(str(value)) - 3))
    return round(value / step) * step


def percentile(histogram: Counter[int], q: float) -> float | None:
    """The nearest-rank ``q`` percentile (0-100) of a value → count histogram; ``None`` when empty."""
    total = sum(histogram.values())
    if total <= 0:
        return None
    rank = max(1, math.ceil(q / 100 * total))
    seen = 0
    for value in sorted(histogram):
        seen += histogram[value]
        if seen >= rank:
            return float(value)
    return float(max(histogram))  # pragma: no cover - rank never exceeds the total


@dataclass(slots=True)
class Tally:
    """Counts of one second, one window, or everything since start."""

    delivered: int = 0
    rejected: int = 0
    contracts: Counter[str] = field(default_factory=Counter)
    pairs: Counter[tuple[str, str]] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)
    latencies: Counter[int] = field(default_factory=Counter)

    def add(self, other: Tally) -> None:
        """Add ``other``'s counts to these."""
        self.delivered += other.delivered
        self.rejected += other.rejected
        self.contracts.update(other.contracts)
        self.pairs.update(other.pairs)
        self.reasons.update(other.reasons)
        self.latencies.update(other.latencies)

    def subtract(self, other: Tally) -> None:
        """Take ``other``'s counts away (dropping keys that reach zero)."""
        self.delivered -= other.delivered
        self.rejected -= other.rejected
        for mine, theirs in (
            (self.contracts, other.contracts),
            (self.pairs, other.pairs),
            (self.reasons, other.reasons),
            (self.latencies, other.latencies),
        ):
            mine.subtract(theirs)  # type: ignore[arg-type]
            for key in [k for k, n in mine.items() if n <= 0]:
                del mine[key]


def _rate(count: int, span_s: float) -> float:
    return round(count / span_s, 3) if span_s > 0 else 0.0


def view(tally: Tally, window_s: int, span_s: float) -> WindowView:
    """The figures of ``tally`` over a window of ``window_s`` seconds, rates over ``span_s`` of it."""
    return WindowView(
        window_s=window_s,
        flow_by_contract=[
            ContractFlow(contract=c, per_s=_rate(n, span_s), count=n)
            for c, n in sorted(tally.contracts.items(), key=lambda kv: (-kv[1], kv[0]))
        ],
        flow_by_pair=[
            PairFlow(sender=s, recipient=r, per_s=_rate(n, span_s), count=n)
            for (s, r), n in sorted(tally.pairs.items(), key=lambda kv: (-kv[1], kv[0]))
        ],
        rejections=[
            Rejections(reason=c, count=n, per_s=_rate(n, span_s))
            for c, n in sorted(tally.reasons.items(), key=lambda kv: (-kv[1], kv[0]))
        ],
        latency_ms=Latency(
            p50=percentile(tally.latencies, 50),
            p95=percentile(tally.latencies, 95),
            p99=percentile(tally.latencies, 99),
            count=sum(tally.latencies.values()),
        ),
        totals=Totals(delivered=tally.delivered, rejected=tally.rejected),
    )


@dataclass(slots=True)
class _Window:
    span_s: int
    horizon: int
    """The oldest second inside the window."""
    tally: Tally = field(default_factory=Tally)


class FlowWindows:
    """Per-second buckets and the running sums of every window; fed in time order, roughly.

    ``ingest(events, now_s)`` first moves every window to end at ``now_s`` (whole seconds),
    then counts the events: one from the future counts in the current second, one older than
    the longest window is dropped, one late by a few seconds lands in its own second.
    """

    def __init__(self, started_s: float, windows: dict[str, int] | None = None, series_s: int = SERIES_SECONDS) -> None:
        self.started_s = started_s
        self.windows = dict(windows or WINDOWS)
        self.series_s = series_s
        self.longest = max([*self.windows.values(), series_s])
        self.now = int(started_s)
        self._buckets: dict[int, Tally] = {}
        self._order: deque[int] = deque()
        self._windows = {name: _Window(span, self.now - span + 1) for name, span in self.windows.items()}
        self.cumulative = Tally()
        """Everything counted since start (Prometheus counters)."""
        self.latency_sum_ms = 0
        self.latency_buckets = [0] * len(LATENCY_BUCKETS_S)
        """Cumulative counts per Prometheus bucket (``le`` = :data:`LATENCY_BUCKETS_S`)."""

    def ingest(self, events: Iterable[FlowEvent], now_s: float) -> int:
        """Advance to ``now_s`` and count ``events``; return how many were counted."""
        batch = Batch()
        for event in events:
            batch.add(
                int(event.at_s),
                event.kind,
                sender=event.sender,
                contract=event.contract,
                recipients=",".join(event.recipients),
                reason=event.reason,
                latency_ms=event.latency_ms,
            )
        return self.ingest_batch(batch, now_s)

    def ingest_batch(self, batch: Batch, now_s: float) -> int:
        """Advance to ``now_s`` and count a pre-counted ``batch``; return how many events it held."""
        self.advance(now_s)
        oldest = self.now - self.longest + 1
        for second, tally in batch.tallies(self.now).items():
            self.cumulative.add(tally)
            if second < oldest:
                continue  # older than every window: counted since start only
            bucket = self._buckets.get(second)
            if bucket is None:
                bucket = self._buckets[second] = Tally()
                self._insert_second(second)
            bucket.add(tally)
            for window in self._windows.values():
                if second >= window.horizon:
                    window.tally.add(tally)
        for value, n in batch.latency_values().items():
            self.latency_sum_ms += value * n
            for i, bound in enumerate(LATENCY_BUCKETS_S):
                if value <= bound * 1000:
                    self.latency_buckets[i] += n
        return batch.count

    def advance(self, now_s: float) -> None:
        """Move every window to end at second ``now_s`` (never backwards)."""
        now = int(now_s)
        if now <= self.now:
            return
        self.now = now
        for window in self._windows.values():
            new_horizon = now - window.span_s + 1
            if new_horizon - window.horizon >= window.span_s:
                window.tally = Tally()  # the whole window passed: nothing of it is left
            else:
                for second in range(window.horizon, new_horizon):
                    bucket = self._buckets.get(second)
                    if bucket is not None:
                        window.tally.subtract(bucket)
            window.horizon = new_horizon
        oldest = now - self.longest + 1
        while self._order and self._order[0] < oldest:
            del self._buckets[self._order.popleft()]

    def window(self, name: str) -> WindowView:
        """The figures of window ``name``; rates over the part of it the process has been up."""
        held = self._windows[name]
        span = min(float(held.span_s), max(1.0, self.now + 1 - self.started_s))
        return view(held.tally, held.span_s, span)

    def series(self) -> list[SeriesPoint]:
        """Delivered and rejected in each of the last ``series_s`` seconds, oldest first."""
        points = []
        for second in range(self.now - self.series_s + 1, self.now + 1):
            bucket = self._buckets.get(second)
            points.append(
                SeriesPoint(
                    t=datetime.fromtimestamp(second, UTC),
                    delivered=bucket.delivered if bucket else 0,
                    rejected=bucket.rejected if bucket else 0,
                )
            )
        return points

    def _insert_second(self, second: int) -> None:
        if not self._order or second > self._order[-1]:
            self._order.append(second)
            return
        # A late event for a second not seen yet: rare, and only a few seconds from the end.
        items = sorted([*self._order, second])
        self._order = deque(items)


def recipients_of(column: str | None) -> tuple[str, ...]:
    """The recipients of an audit row's comma-separated ``recipients`` column."""
    return tuple(r for r in (column or "").split(",") if r)


class Batch:
    """Routing decisions counted by what the dashboard distinguishes, before they enter the windows.

    Two counter increments per decision, whatever its shape; the windows then add one tally per
    second of the batch instead of one event at a time.
    """

    def __init__(self) -> None:
        self.shapes: Counter[tuple[int, str, str | None, str | None, str | None, str | None]] = Counter()
        self.latencies: Counter[tuple[int, int]] = Counter()
        self.count = 0

    def add(
        self,
        second: int,
        kind: str,
        *,
        sender: str | None,
        contract: str | None,
        recipients: str | None,
        reason: str | None,
        latency_ms: float | None,
    ) -> None:
        """Count one decision (other kinds than delivered and rejected are ignored)."""
        if kind == DELIVERED:
            self.shapes[(second, kind, sender, contract, recipients, None)] += 1
            if latency_ms is not None:
                self.latencies[(second, quantise(latency_ms))] += 1
        elif kind == REJECTED:
            self.shapes[(second, kind, None, None, None, reason)] += 1
        else:
            return
        self.count += 1

    def tallies(self, now: int) -> dict[int, Tally]:
        """One tally per second (a second later than ``now`` counts as ``now``)."""
        found: dict[int, Tally] = {}
        for (second, kind, sender, contract, recipients, reason), n in self.shapes.items():
            tally = found.setdefault(min(second, now), Tally())
            if kind == DELIVERED:
                tally.delivered += n
                tally.contracts[contract or "unknown"] += n
                for recipient in recipients_of(recipients):
                    tally.pairs[(sender or "unknown", recipient)] += n
            else:
                tally.rejected += n
                tally.reasons[reason or "unknown"] += n
        for (second, value), n in self.latencies.items():
            found.setdefault(min(second, now), Tally()).latencies[value] += n
        return found

    def latency_values(self) -> Counter[int]:
        """Every latency in the batch (quantised), with how often it occurred."""
        values: Counter[int] = Counter()
        for (_second, value), n in self.latencies.items():
            values[value] += n
        return values


_EPOCH = datetime(1970, 1, 1)


def batch_from_rows(rows: Iterable[Sequence[object]]) -> Batch:
    """Count ``(at, kind, actor, reason_code, contract, recipients, latency_ms)`` audit tuples.

    ``at`` is a datetime (PostgreSQL) or SQLite's stored text (``YYYY-MM-DD HH:MM:SS[.ffffff]``,
    UTC); the second of each distinct text is parsed once.
    """
    batch = Batch()
    seconds: dict[str, int] = {}
    for at, kind, actor, reason, contract, recipients, latency in rows:
        if isinstance(at, str):
            head = at[:19]
            second = seconds.get(head)
            if second is None:
                second = seconds[head] = int((datetime.fromisoformat(head) - _EPOCH).total_seconds())
        elif isinstance(at, datetime):
            stamp = at if at.tzinfo is not None else at.replace(tzinfo=UTC)
            second = int(stamp.timestamp())
        else:
            continue
        # The columns are typed (text, or integer for the latency): no per-value checks on this path.
        batch.add(
            second,
            kind,  # type: ignore[arg-type]
            sender=actor,  # type: ignore[arg-type]
            contract=contract,  # type: ignore[arg-type]
            recipients=recipients,  # type: ignore[arg-type]
            reason=reason,  # type: ignore[arg-type]
            latency_ms=latency,  # type: ignore[arg-type]
        )
    return batch
