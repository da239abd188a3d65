"""Pydantic in/out models of the fleet API: heartbeats in, the three ops figures out (metadata only)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

KeyIdText = Annotated[str, Field(pattern=r"^k1_[0-9a-f]{32}$")]
ProblemCode = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")]

ConnectorStatus = Literal["ok", "late", "never"]
EffectKind = Literal["revocation", "withdrawal", "other"]


class HeartbeatIn(BaseModel):
    """What a connector says about itself every interval: no message, no person, no secret."""

    model_config = ConfigDict(extra="forbid")

    version: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9.+_-]{0,63}$")
    """The connector's software version (``onedoor`` package version)."""
    sent_at: datetime
    """The connector's clock when it sent this (aware, any zone)."""
    rtt_ms: int | None = Field(default=None, ge=0, le=600_000)
    """The round trip of its previous heartbeat; half of it corrects the clock skew."""
    interval_s: float = Field(gt=0, le=86_400)
    """How often it sends one."""
    signing_key_id: KeyIdText
    encryption_key_id: KeyIdText
    outbox_pending: int | None = Field(default=None, ge=0)
    parked: int | None = Field(default=None, ge=0)
    problems: list[ProblemCode] = Field(default_factory=list, max_length=32)
    """Codes of what the connector finds wrong with itself (``connector.inbox_stopped`` ...)."""


class HeartbeatOut(BaseModel):
    """The hub's answer: when it got the heartbeat and the skew it computed."""

    agency: str
    received_at: datetime
    clock_skew_ms: int
    """Hub time minus connector time (corrected by half the last round trip): positive = connector behind."""


class KeyExpiry(BaseModel):
    """When the soonest of the agency's keys in use stops being trusted, from the hub's registry."""

    key_id: str | None = None
    """The key that expires first; ``None``: no key in use has an end."""
    not_after: datetime | None = None
    days_left: float | None = None


class ConnectorHealth(BaseModel):
    """One agency's connector as the hub last heard from it."""

    agency: str
    agency_status: str
    status: ConnectorStatus
    """``ok``; ``late``: nothing for three of its intervals; ``never``: no heartbeat yet."""
    last_seen: datetime | None = None
    seconds_since: float | None = None
    version: str | None = None
    clock_skew_ms: int | None = None
    key_expiry: KeyExpiry = Field(default_factory=KeyExpiry)
    signing_key_id: str | None = None
    encryption_key_id: str | None = None
    outbox_pending: int | None = None
    parked: int | None = None
    problems: list[str] = Field(default_factory=list)
    """What the connector reported wrong with itself."""
    flags: list[str] = Field(default_factory=list)
    """What the hub finds worth a look: ``connector.late``, ``connector.never_seen``, ``connector.clock_skew``,
    ``connector.key_expiring``, ``connector.key_not_trusted``, ``connector.parked``, ``connector.problems``."""


class TriageTimes(BaseModel):
    """Public referrals: how long from received to first triaged (being handled or closed)."""

    window_s: int
    count: int
    """Referrals first triaged in the window."""
    p50_s: float | None = None
    p95_s: float | None = None
    waiting: int
    """Referrals still ``received`` (not yet triaged), whenever they arrived."""
    oldest_wait_s: float | None = None


class EffectFigures(BaseModel):
    """Effect times of one kind of change in the window, in milliseconds."""

    count: int = 0
    last_ms: int | None = None
    last_at: datetime | None = None
    p50_ms: float | None = None
    max_ms: int | None = None


class PolicyEffects(BaseModel):
    """How long changes took to take effect at the router: announcement commit to reload finished."""

    window_s: int
    revocation: EffectFigures = Field(default_factory=EffectFigures)
    """Agreement revocations."""
    withdrawal: EffectFigures = Field(default_factory=EffectFigures)
    """Consent withdrawals."""
    other: EffectFigures = Field(default_factory=EffectFigures)
    """Every other announced change (approvals, suspensions, other consent records)."""
