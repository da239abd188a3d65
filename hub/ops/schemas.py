"""The ops dashboard snapshot: metadata only (agency ids, contract names, reason codes, counts).

Never a subject token, a message id, a body or a person's name. The console's dashboard page
(``/console``) and ``GET /ops/dashboard``/``GET /ops/stream`` render exactly this model.
Sections another component fills (connectors, triage, policy effect, dead letters) are optional:
``None`` means "not available in this hub", an empty list means "available, nothing to show".
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

WindowName = Literal["1m", "5m", "1h"]


class ContractFlow(BaseModel):
    """Delivered messages of one contract in the window."""

    contract: str
    per_s: float
    count: int


class PairFlow(BaseModel):
    """Delivered messages from one sender to one recipient in the window (one per recipient)."""

    sender: str
    recipient: str
    per_s: float
    count: int


class Rejections(BaseModel):
    """Refused messages with one reason code in the window."""

    reason: str
    count: int
    per_s: float


class Latency(BaseModel):
    """End-to-end latency (envelope created to routed) of delivered messages in the window, in ms."""

    p50: float | None = None
    p95: float | None = None
    p99: float | None = None
    count: int = 0


class InboxLag(BaseModel):
    """How far an agency's connector is behind its inbox topic (summed over partitions)."""

    agency: str
    lag: int | None = None
    """Records not yet committed by the connector's consumer group; ``None`` when unknown."""
    status: Literal["ok", "unknown"] = "ok"
    reason: str | None = None
    """Why the lag is unknown (a stable code such as ``lag.broker_unavailable``)."""


class Totals(BaseModel):
    """Counts in the window."""

    delivered: int = 0
    rejected: int = 0


class SeriesPoint(BaseModel):
    """One second of the chart: messages delivered and rejected during it."""

    t: datetime
    delivered: int
    rejected: int


class WindowView(BaseModel):
    """The flow figures over one window (the top level repeats the default window's)."""

    window_s: int
    flow_by_contract: list[ContractFlow] = Field(default_factory=list)
    flow_by_pair: list[PairFlow] = Field(default_factory=list)
    rejections: list[Rejections] = Field(default_factory=list)
    latency_ms: Latency = Field(default_factory=Latency)
    totals: Totals = Field(default_factory=Totals)


class Snapshot(BaseModel):
    """What the ops dashboard shows; rebuilt once a second by the hub's snapshot task."""

    generated_at: datetime
    window_s: int
    """The default window the top-level flow figures cover (60 s)."""
    flow_by_contract: list[ContractFlow] = Field(default_factory=list)
    flow_by_pair: list[PairFlow] = Field(default_factory=list)
    rejections: list[Rejections] = Field(default_factory=list)
    latency_ms: Latency = Field(default_factory=Latency)
    totals: Totals = Field(default_factory=Totals)
    lag: list[InboxLag] = Field(default_factory=list)
    series: list[SeriesPoint] = Field(default_factory=list)
    """Per second delivered/rejected, oldest first (the last 120 s)."""
    windows: dict[str, WindowView] = Field(default_factory=dict)
    """The same figures over every window: ``"1m"``, ``"5m"``, ``"1h"``."""
    # Sections filled by other components when present (None: not available in this hub).
    connectors: list[dict[str, Any]] | None = None
    """Connector health (hub.fleet): agency, last seen, version, clock skew, key expiry."""
    triage: dict[str, Any] | None = None
    """Time-to-triage figures (hub.fleet)."""
    policy_effect: dict[str, Any] | None = None
    """How long consent withdrawals and agreement revocations took to take effect (hub.fleet)."""
    dead_letters: dict[str, Any] | None = None
    """Dead-letter counts by reason and state (hub.deadletters)."""
    sections_unavailable: dict[str, str] = Field(default_factory=dict)
    """Optional sections whose provider failed this second, with a short reason code."""
