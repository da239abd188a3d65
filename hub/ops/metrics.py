"""Prometheus exposition (``GET /metrics``): the dashboard's figures, plus HTTP request metrics.

Message figures are read at scrape time from the snapshot task's cumulative counters
(``hub.ops.flow``), so ``/metrics`` and ``/ops/dashboard`` always agree and a scrape computes
nothing but the text. Labels are low-cardinality metadata only: contract name, agency ids
(sender, recipient), reason code, HTTP method, route template and status. Never a message id,
a subject token or a path with an id in it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub.ops.flow import LATENCY_BUCKETS_S

if TYPE_CHECKING:
    from hub.ops.snapshot import OpsHub

HTTP_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class FlowCollector(Collector):
    """Message counters, latency histogram and inbox lag from the API's :class:`OpsHub`."""

    def __init__(self, ops: OpsHub | None = None) -> None:
        self.ops = ops

    def collect(self) -> Iterator[Metric]:
        """The current figures (nothing when the snapshot task is not running)."""
        ops = self.ops
        if ops is None:
            return
        with ops.lock:  # the snapshot task counts in a worker thread
            families = list(self._families(ops))
        yield from families

    def _families(self, ops: OpsHub) -> Iterator[Metric]:
        flow = ops.flow
        total = flow.cumulative
        by_contract = CounterMetricFamily(
            "onedoor_messages_delivered", "Envelopes the router delivered, by contract.", labels=["contract"]
        )
        for contract, n in sorted(total.contracts.items()):
            by_contract.add_metric([contract], n)
        yield by_contract
        by_pair = CounterMetricFamily(
            "onedoor_flow_copies_delivered",
            "Copies delivered from a sender agency to a recipient agency (one per recipient).",
            labels=["sender", "recipient"],
        )
        for (sender, recipient), n in sorted(total.pairs.items()):
            by_pair.add_metric([sender, recipient], n)
        yield by_pair
        rejected = CounterMetricFamily(
            "onedoor_messages_rejected", "Envelopes the router refused, by reason code.", labels=["reason"]
        )
        for reason, n in sorted(total.reasons.items()):
            rejected.add_metric([reason], n)
        yield rejected
        latency = HistogramMetricFamily(
            "onedoor_route_latency_seconds", "End-to-end latency of delivered envelopes: created to routed."
        )
        buckets = [(str(bound), float(n)) for bound, n in zip(LATENCY_BUCKETS_S, flow.latency_buckets, strict=True)]
        count = sum(total.latencies.values())
        buckets.append(("+Inf", float(count)))
        latency.add_metric([], buckets, sum_value=flow.latency_sum_ms / 1000)
        yield latency
        lag = GaugeMetricFamily(
            "onedoor_inbox_lag_records",
            "Records in an agency's inbox its connector has not committed.",
            labels=["agency"],
        )
        known = GaugeMetricFamily(
            "onedoor_inbox_lag_known", "1 when the inbox's lag could be read, 0 when unknown.", labels=["agency"]
        )
        for entry in ops.lag:
            if entry.agency == "*":
                continue
            known.add_metric([entry.agency], 1.0 if entry.lag is not None else 0.0)
            if entry.lag is not None:
                lag.add_metric([entry.agency], float(entry.lag))
        yield lag
        yield known
        yield GaugeMetricFamily(
            "onedoor_ops_snapshot_age_seconds",
            "Seconds since the dashboard snapshot was last rebuilt.",
            value=max(0.0, time.time() - ops.snapshot.generated_at.timestamp()),
        )


class HubMetrics:
    """One registry per app (tests build many apps): flow figures and HTTP request metrics."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.flow = FlowCollector()
        self.registry.register(self.flow)
        self.requests = Counter(
            "onedoor_http_requests",
            "HTTP requests served, by method, route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.durations = Histogram(
            "onedoor_http_request_duration_seconds",
            "HTTP request durations, by method and route template.",
            ["method", "route"],
            buckets=HTTP_BUCKETS_S,
            registry=self.registry,
        )


class HttpMetricsMiddleware:
    """Count each HTTP request and time it, labelled by route template (never the raw path)."""

    def __init__(self, app: ASGIApp, metrics: HubMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        started = time.perf_counter()

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            # Unmatched paths share one label: a scanner's random paths must not add series.
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            method = scope["method"] if scope["method"] in _METHODS else "OTHER"
            self.metrics.requests.labels(method, route, str(status)).inc()
            self.metrics.durations.labels(method, route).observe(time.perf_counter() - started)


_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
