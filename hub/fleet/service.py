"""Connector health, time-to-triage and policy effect times: what ops see of the fleet.

The judging functions (``clock_skew_ms``, ``liveness``, ``key_expiry``, ``percentile``, ``judge``)
are pure; the three query functions read the registry, the heartbeats, the public referrals
and the audit log. Metadata only: agency ids, key ids, counts, durations, codes.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.agencies.enums import KeyStatus
from hub.agencies.models import Agency, AgencyKey
from hub.agreements.lifecycle import VersionState
from hub.agreements.models import AgreementVersion
from hub.consents.enums import RecordedStatus
from hub.consents.models import ConsentRecord
from hub.fleet import tail
from hub.fleet.effect import EffectClass
from hub.fleet.models import ConnectorHeartbeat
from hub.fleet.schemas import (
    ConnectorHealth,
    ConnectorStatus,
    EffectFigures,
    HeartbeatIn,
    KeyExpiry,
    PolicyEffects,
    TriageTimes,
)
from hub.intake.enums import ReferralStatus
from hub.intake.models import PublicReferral
from onedoor.errors import ValidationFailed
from onedoor.ids import AgencyId

MAX_SKEW_S: Final = 30.0
"""Clock skew worth a flag: the same limit as ``onedoor connector check`` (``connectors.agent.check.MAX_SKEW_S``)."""
LATE_AFTER_INTERVALS: Final = 3
"""A connector is ``late`` when nothing came for this many of its own intervals."""
KEY_EXPIRY_WARN_DAYS: Final = 14.0
"""A key in use that stops being trusted sooner than this is flagged (``connectors.agent.check.KEY_WARN_DAYS``)."""
NAIVE_TIME: Final = "fleet.naive_time"

LATE: Final = "connector.late"
NEVER_SEEN: Final = "connector.never_seen"
CLOCK_SKEW: Final = "connector.clock_skew"
KEY_EXPIRING: Final = "connector.key_expiring"
KEY_NOT_TRUSTED: Final = "connector.key_not_trusted"
PARKED: Final = "connector.parked"
PROBLEMS: Final = "connector.problems"


@dataclass(frozen=True, slots=True)
class KeyView:
    """One registry key as the health judgement needs it."""

    key_id: str
    status: KeyStatus
    not_after: datetime | None


def _utc(moment: datetime) -> datetime:
    # SQLite hands back naive UTC for plain DateTime columns (the audit table).
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


# Pure judgements


def clock_skew_ms(received_at: datetime, sent_at: datetime, rtt_ms: int | None) -> int:
    """Hub time minus connector time: the transit (half the last round trip) is taken off; positive = behind."""
    raw = (received_at - sent_at).total_seconds() * 1000
    return round(raw - (rtt_ms or 0) / 2)


def liveness(last_seen: datetime | None, interval_s: float | None, now: datetime) -> ConnectorStatus:
    """``never`` without a heartbeat, ``late`` after ``LATE_AFTER_INTERVALS`` intervals of silence, else ``ok``."""
    if last_seen is None or interval_s is None:
        return "never"
    return "late" if (now - last_seen).total_seconds() > LATE_AFTER_INTERVALS * interval_s else "ok"


def key_expiry(in_use: Iterable[str], registry: Sequence[KeyView], now: datetime) -> tuple[KeyExpiry, bool]:
    """The soonest end among the keys in use, and whether one of them is not trusted (revoked, unknown, ended)."""
    by_id = {k.key_id: k for k in registry}
    untrusted = False
    soonest: KeyView | None = None
    for key_id in in_use:
        key = by_id.get(key_id)
        if key is None or key.status is KeyStatus.REVOKED:
            untrusted = True
            continue
        if key.not_after is None:
            continue
        if key.not_after <= now:
            untrusted = True
        if soonest is None or (soonest.not_after is not None and key.not_after < soonest.not_after):
            soonest = key
    if soonest is None or soonest.not_after is None:
        return KeyExpiry(), untrusted
    days = (soonest.not_after - now).total_seconds() / 86_400
    return KeyExpiry(key_id=soonest.key_id, not_after=soonest.not_after, days_left=round(days, 3)), untrusted


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0-100) with linear interpolation between ranks; ``None`` for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def judge(
    agency: str,
    agency_status: str,
    beat: ConnectorHeartbeat | None,
    registry: Sequence[KeyView],
    now: datetime,
    *,
    skew_limit_s: float = MAX_SKEW_S,
) -> ConnectorHealth:
    """One agency's connector health from its latest heartbeat (or none) and its registry keys."""
    current = [k.key_id for k in registry if k.status is KeyStatus.CURRENT]
    if beat is None:
        expiry, untrusted = key_expiry(current, registry, now)
        flags = [NEVER_SEEN] + ([KEY_EXPIRING] if _expiring(expiry) else [])
        return ConnectorHealth(
            agency=agency, agency_status=agency_status, status="never", key_expiry=expiry, flags=flags
        )
    seen = _utc(beat.received_at)
    status = liveness(seen, beat.interval_s, now)
    in_use = dict.fromkeys([beat.signing_key_id, beat.encryption_key_id, *current])
    expiry, untrusted = key_expiry(in_use, registry, now)
    problems = [p for p in beat.problems.split(",") if p]
    flags = [
        flag
        for flag, raised in (
            (LATE, status == "late"),
            (CLOCK_SKEW, abs(beat.clock_skew_ms) > skew_limit_s * 1000),
            (KEY_NOT_TRUSTED, untrusted),
            (KEY_EXPIRING, _expiring(expiry)),
            (PARKED, bool(beat.parked)),
            (PROBLEMS, bool(problems)),
        )
        if raised
    ]
    return ConnectorHealth(
        agency=agency,
        agency_status=agency_status,
        status=status,
        last_seen=seen,
        seconds_since=round((now - seen).total_seconds(), 3),
        version=beat.version,
        clock_skew_ms=beat.clock_skew_ms,
        key_expiry=expiry,
        signing_key_id=beat.signing_key_id,
        encryption_key_id=beat.encryption_key_id,
        outbox_pending=beat.outbox_pending,
        parked=beat.parked,
        problems=problems,
        flags=flags,
    )


def _expiring(expiry: KeyExpiry) -> bool:
    return expiry.days_left is not None and expiry.days_left < KEY_EXPIRY_WARN_DAYS


# The database side


def record_heartbeat(
    session: Session, agency: AgencyId, body: HeartbeatIn, received_at: datetime
) -> ConnectorHeartbeat:
    """Keep the agency's latest heartbeat (replacing the one before), with the skew the hub computed.

    Raises:
        ValidationFailed: ``fleet.naive_time`` when ``sent_at`` has no time zone.
    """
    if body.sent_at.tzinfo is None:
        raise ValidationFailed(NAIVE_TIME, "sent_at must carry a time zone (e.g. 2026-11-22T11:00:00Z)")
    skew = clock_skew_ms(received_at, body.sent_at, body.rtt_ms)
    row = session.get(ConnectorHeartbeat, str(agency))
    if row is None:
        row = ConnectorHeartbeat(agency_id=str(agency), beats=0)
        session.add(row)
    row.received_at = received_at
    row.connector_time = body.sent_at.astimezone(UTC)
    row.clock_skew_ms = skew
    row.rtt_ms = body.rtt_ms
    row.interval_s = body.interval_s
    row.version = body.version
    row.signing_key_id = body.signing_key_id
    row.encryption_key_id = body.encryption_key_id
    row.outbox_pending = body.outbox_pending
    row.parked = body.parked
    row.problems = ",".join(dict.fromkeys(body.problems))
    row.beats += 1
    session.flush()
    return row


def connector_health(session: Session, now: datetime) -> list[ConnectorHealth]:
    """Every registered agency's connector: last seen, version, clock skew, key expiry, outbox; by agency id."""
    beats = {b.agency_id: b for b in session.scalars(select(ConnectorHeartbeat))}
    keys: dict[str, list[KeyView]] = {}
    for key in session.scalars(select(AgencyKey)):
        not_after = None if key.not_after is None else _utc(key.not_after)
        keys.setdefault(key.agency_id, []).append(KeyView(key.key_id, key.status, not_after))
    agencies = session.execute(select(Agency.id, Agency.status).order_by(Agency.id)).all()
    return [judge(a, s.value, beats.get(a), keys.get(a, []), now) for a, s in agencies]


def time_to_triage(session: Session, now: datetime, window: timedelta = timedelta(days=7)) -> TriageTimes:
    """Received to first triaged (being handled or closed) for referrals triaged in the window; and who waits."""
    since = now - window
    first_moves = tail.read(session).first_moves
    durations: list[float] = []
    waiting: list[datetime] = []
    for reference, received, status, updated in session.execute(
        select(
            PublicReferral.reference,
            PublicReferral.received_at,
            PublicReferral.status,
            PublicReferral.status_updated_at,
        )
    ):
        if status is ReferralStatus.RECEIVED:
            waiting.append(received)
            continue
        # The first progress report; the row's last change if its audit row is missing.
        triaged = first_moves.get(reference, updated)
        if since <= triaged <= now:
            durations.append(max(0.0, (triaged - received).total_seconds()))
    oldest = min(waiting, default=None)
    return TriageTimes(
        window_s=int(window.total_seconds()),
        count=len(durations),
        p50_s=_rounded(percentile(durations, 50)),
        p95_s=_rounded(percentile(durations, 95)),
        waiting=len(waiting),
        oldest_wait_s=None if oldest is None else round((now - oldest).total_seconds(), 3),
    )


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def attribute(effects: Sequence[tail.Effect], changed: Mapping[str, Iterable[int]]) -> dict[int, EffectClass]:
    """Each effect's class, by row id: a revocation or withdrawal only for the change's own announcement.

    The router classes a row by what it found once reloaded, so an older announcement for the same
    agreement or young person, reloaded just after the revocation or withdrawal committed, would be
    taken for it and timed from its own (earlier) commit. ``changed`` holds, per key, when each
    revocation or withdrawal was written (Unix ms, the API's clock, before its commit); the row of
    the first announcement committed at or after that time keeps its class (every replica's row of
    it), the others become ``other``.
    """
    firsts: set[tuple[str, int]] = set()
    commits: dict[str, list[int]] = {}
    for effect in effects:
        if effect.kind != "other" and effect.key is not None:
            commits.setdefault(effect.key, []).append(effect.committed_ms)
    for key, times in commits.items():
        ordered = sorted(set(times))
        for change in changed.get(key, ()):
            first = next((t for t in ordered if t >= change), None)
            if first is not None:
                firsts.add((key, first))
    return {e.row_id: e.kind if e.key is not None and (e.key, e.committed_ms) in firsts else "other" for e in effects}


def _change_times(session: Session, effects: Sequence[tail.Effect]) -> dict[str, list[int]]:
    """When each agreement among the effects' keys was revoked, and each young person's consent withdrawn."""
    agreements = sorted({e.key for e in effects if e.kind == "revocation" and e.key})
    tokens = sorted({e.key for e in effects if e.kind == "withdrawal" and e.key})
    found: list[tuple[str, datetime]] = []
    if agreements:
        found.extend(
            session.execute(
                select(AgreementVersion.agreement_id, AgreementVersion.changed_at).where(
                    AgreementVersion.state == VersionState.REVOKED, AgreementVersion.agreement_id.in_(agreements)
                )
            ).tuples()
        )
    if tokens:
        found.extend(
            session.execute(
                select(ConsentRecord.subject_token, ConsentRecord.recorded_at).where(
                    ConsentRecord.status == RecordedStatus.WITHDRAWN, ConsentRecord.subject_token.in_(tokens)
                )
            ).tuples()
        )
    changed: dict[str, list[int]] = {}
    for key, at in found:
        changed.setdefault(key, []).append(math.floor(_utc(at).timestamp() * 1000))
    return changed


def policy_effect_times(
    session: Session, window: timedelta = timedelta(days=1), *, now: datetime | None = None
) -> PolicyEffects:
    """Last, median and longest effect time of revocations, withdrawals and other changes in the window."""
    since = (now or datetime.now(UTC)) - window
    effects = [e for e in tail.read(session).effects if e.at >= since]
    classes = attribute(effects, _change_times(session, effects))
    seen: dict[EffectClass, list[tuple[datetime, int]]] = {"revocation": [], "withdrawal": [], "other": []}
    for effect in effects:
        seen[classes[effect.row_id]].append((effect.at, effect.effect_ms))
    return PolicyEffects(
        window_s=int(window.total_seconds()),
        revocation=effect_figures(seen["revocation"]),
        withdrawal=effect_figures(seen["withdrawal"]),
        other=effect_figures(seen["other"]),
    )


def effect_figures(timed: Sequence[tuple[datetime, int]]) -> EffectFigures:
    """Count, last (by time), median and maximum of ``(applied at, effect ms)`` pairs."""
    if not timed:
        return EffectFigures()
    last_at, last_ms = max(timed, key=lambda pair: pair[0])
    values = [ms for _, ms in timed]
    return EffectFigures(
        count=len(values),
        last_ms=last_ms,
        last_at=last_at,
        p50_ms=_rounded(percentile(values, 50)),
        max_ms=max(values),
    )
