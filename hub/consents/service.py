"""Consent store logic: record statuses and emergency overrides, review overrides; what the engine is given.

Functions work inside the caller's transaction. Every change appends one ``consent.*`` audit
row (codes and ids only, never free text) and marks the subject token as changed, so the
routers are told once the transaction commits: a withdrawal then applies to every new message.
They raise OneDoor errors with stable codes and know nothing about HTTP; a refused request
changes nothing and leaves no ``consent.*`` row.

The consent state is global per subject token: the latest record (by ``recorded_at``, then
``id``) sets the status, whichever agency recorded it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from consent.errors import Invalid, invalid
from consent.subject import MAX_OVERRIDE, ConsentState, EmergencyOverride
from hub.agencies.models import Agency
from hub.audit.service import AuditEntry, append
from hub.consents.enums import RecordedStatus
from hub.consents.models import ConsentOverride, ConsentRecord
from hub.consents.schemas import ConsentIn, OverrideIn, ReviewIn
from hub.policy.changes import ChangeKind, mark_changed
from onedoor.errors import Conflict, NotFound, ValidationFailed
from onedoor.ids import SubjectToken

OVERRIDE_NOT_FOUND: Final = "consent.override_not_found"
JUSTIFICATION_REQUIRED: Final = "consent.justification_required"
JUSTIFICATION_NOT_APPLICABLE: Final = "consent.justification_not_applicable"
UNKNOWN_AGENCY: Final = "consent.unknown_agency"
NOTHING_TO_OVERRIDE: Final = "consent.nothing_to_override"
ALREADY_REVIEWED: Final = "consent.already_reviewed"
SAME_REVIEWER: Final = "consent.same_reviewer"
OVERRIDE_EXPIRED: Final = "consent.override_expired"
SKEW: Final = timedelta(minutes=5)
"""How far in the past an override may start: clock skew between the agency and the hub, no more."""
_OVERRIDABLE: Final = frozenset({RecordedStatus.REFUSED, RecordedStatus.WITHDRAWN})


def _now(now: datetime | None) -> datetime:
    return now or datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class ConsentHistory:
    """Every record and override of one subject token, oldest first."""

    token: SubjectToken
    records: Sequence[ConsentRecord]
    """By ``recorded_at``, then ``id``: the last one sets the status."""
    overrides: Sequence[ConsentOverride]
    """By ``id``."""

    @property
    def latest(self) -> ConsentRecord | None:
        """The record that sets the consent status, if any."""
        return self.records[-1] if self.records else None

    def override(self, now: datetime | None = None) -> ConsentOverride | None:
        """The reviewed override the engine is given at ``now``, if any (``applicable_override``)."""
        return applicable_override(self.latest, self.overrides, _now(now))

    def state(self, now: datetime | None = None) -> ConsentState:
        """The consent engine's state for this token at ``now``."""
        return engine_state(self.latest, self.override(now))

    def agencies(self) -> frozenset[str]:
        """Every agency that recorded a status or an override for this token."""
        return frozenset(r.agency_id for r in self.records) | {o.agency_id for o in self.overrides}


def applicable_override(
    latest: ConsentRecord | None, overrides: Iterable[ConsentOverride], now: datetime
) -> ConsentOverride | None:
    """Of the reviewed overrides, the one the engine should judge at ``now``; unreviewed ones never count.

    Preference: one in force now and recorded for the current status; else the next to start;
    else the one that ended last, or the latest one that the current status superseded, so the
    engine can say why it does not apply.
    """
    reviewed = [o for o in overrides if o.reviewed_by is not None]
    if not reviewed:
        return None
    since = latest.recorded_at if latest is not None else None
    current = [o for o in reviewed if since is None or o.starts_at >= since]
    in_force = [o for o in current if o.starts_at <= now < o.expires_at]
    if in_force:
        return max(in_force, key=lambda o: (o.expires_at, o.id))
    upcoming = [o for o in current if o.starts_at > now]
    if upcoming:
        return min(upcoming, key=lambda o: (o.starts_at, o.id))
    return max(current or reviewed, key=lambda o: (o.expires_at, o.id))


def engine_state(latest: ConsentRecord | None, override: ConsentOverride | None) -> ConsentState:
    """The consent engine's ``ConsentState`` for a latest record and a reviewed override."""
    if latest is None:
        state = ConsentState.not_recorded()
    elif latest.status is RecordedStatus.NOT_SOUGHT_RISK:
        ground = latest.justification
        if ground is None:  # unreachable: a CHECK constraint requires it
            raise invalid(Invalid.CONSENT_RECORD, "a not-sought-risk record lacks its justification")
        state = ConsentState.not_sought_risk(
            latest.recorded_at, justification=ground.justification, recorded_by=latest.recorded_by
        )
    else:
        state = ConsentState(latest.status.engine, latest.recorded_at, latest.recorded_by)
    if override is None or override.reviewed_by is None:
        return state
    return state.with_override(
        EmergencyOverride(
            justification=override.justification.justification,
            recorded_by=override.recorded_by,
            reviewed_by=override.reviewed_by,
            starts_at=override.starts_at,
            expires_at=override.expires_at,
        )
    )


def _token(token: str) -> SubjectToken:
    return SubjectToken(token)  # ValidationFailed subject_token.invalid


def _records(session: Session, token: str | None = None) -> list[ConsentRecord]:
    stmt = select(ConsentRecord).order_by(ConsentRecord.subject_token, ConsentRecord.recorded_at, ConsentRecord.id)
    if token is not None:
        stmt = stmt.where(ConsentRecord.subject_token == token)
    return list(session.scalars(stmt))


def _overrides(session: Session, token: str | None = None) -> list[ConsentOverride]:
    stmt = select(ConsentOverride).order_by(ConsentOverride.subject_token, ConsentOverride.id)
    if token is not None:
        stmt = stmt.where(ConsentOverride.subject_token == token)
    return list(session.scalars(stmt))


def history(session: Session, token: str) -> ConsentHistory:
    """Every record and override of ``token``, oldest first (empty when nothing was recorded)."""
    subject = _token(token)
    return ConsentHistory(subject, _records(session, subject), _overrides(session, subject))


def consent_state(session: Session, token: str, now: datetime | None = None) -> ConsentState:
    """The consent engine's state for ``token`` at ``now``; ``not-recorded`` when nothing was recorded."""
    return history(session, token).state(now)


def consent_states(session: Session, now: datetime | None = None) -> dict[str, ConsentState]:
    """The consent engine's state at ``now`` of every subject token that has any record or override."""
    now = _now(now)
    records: dict[str, list[ConsentRecord]] = {}
    for record in _records(session):
        records.setdefault(record.subject_token, []).append(record)
    overrides: dict[str, list[ConsentOverride]] = {}
    for override in _overrides(session):
        overrides.setdefault(override.subject_token, []).append(override)
    states = {}
    for token in sorted(records.keys() | overrides.keys()):
        latest = records[token][-1] if token in records else None
        states[token] = engine_state(latest, applicable_override(latest, overrides.get(token, ()), now))
    return states


def recording_agencies(session: Session, token: str) -> frozenset[str]:
    """Agencies that recorded a status or an override for ``token``; empty for a malformed token."""
    if not SubjectToken.pattern.fullmatch(token):
        return frozenset()
    in_records = select(ConsentRecord.agency_id).where(ConsentRecord.subject_token == token)
    in_overrides = select(ConsentOverride.agency_id).where(ConsentOverride.subject_token == token)
    return frozenset(session.scalars(in_records.union(in_overrides)))


def override_agency(session: Session, token: str, override_id: int) -> str | None:
    """The agency that recorded override ``override_id`` of ``token``, or ``None`` if there is none."""
    stmt = select(ConsentOverride.agency_id).where(
        ConsentOverride.id == override_id, ConsentOverride.subject_token == token
    )
    return session.scalar(stmt)


def _known_agency(session: Session, agency_id: str) -> None:
    if session.get(Agency, agency_id) is None:
        raise ValidationFailed(UNKNOWN_AGENCY, f"agency {agency_id} is not registered")


def _audit(session: Session, entry: AuditEntry) -> None:
    # Every change is announced to the routers once it commits: a withdrawal applies at once.
    mark_changed(session, ChangeKind.CONSENT, str(entry.subject_token))
    append(session, [entry])


def record(session: Session, token: str, new: ConsentIn, *, now: datetime | None = None) -> ConsentRecord:
    """Append a consent status for ``token``; it becomes the consent state at once, whichever agency recorded it.

    Raises:
        ValidationFailed: ``subject_token.invalid``, ``consent.justification_required`` (a
            ``not-sought-risk`` status without a ground), ``consent.justification_not_applicable``
            (a ground with another status), ``consent.unknown_agency``.
    """
    now = _now(now)
    subject = _token(token)
    if new.status is RecordedStatus.NOT_SOUGHT_RISK and new.justification is None:
        raise ValidationFailed(
            JUSTIFICATION_REQUIRED, "not seeking consent needs a justification: one of the grounds for it"
        )
    if new.status is not RecordedStatus.NOT_SOUGHT_RISK and new.justification is not None:
        raise ValidationFailed(
            JUSTIFICATION_NOT_APPLICABLE, f"a justification is recorded only with not-sought-risk, not {new.status}"
        )
    _known_agency(session, new.agency_id)
    row = ConsentRecord(
        subject_token=subject,
        status=new.status,
        recorded_at=now,
        recorded_by=new.recorded_by,
        agency_id=new.agency_id,
        justification=new.justification,
        reference=new.reference,
    )
    session.add(row)
    session.flush()
    ground = f"; justification={row.justification}" if row.justification is not None else ""
    _audit(
        session,
        AuditEntry(
            kind="consent.record",
            outcome=row.status.value,
            actor=row.recorded_by,
            source=f"consent:record:{row.id}",
            subject_token=subject,
            detail=f"record_id={row.id}; agency_id={row.agency_id}{ground}",
            at=now,
        ),
    )
    return row


def record_override(session: Session, token: str, new: OverrideIn, *, now: datetime | None = None) -> ConsentOverride:
    """Append an emergency override of ``token``'s refusal or withdrawal; it applies only once reviewed.

    Raises:
        ValidationFailed: ``subject_token.invalid``, ``consent.invalid_override`` (it does not
            expire after it starts, lasts longer than ``MAX_OVERRIDE``, starts in the past or has
            already ended), ``consent.unknown_agency``.
        Conflict: ``consent.nothing_to_override`` when the current status is not ``refused`` or
            ``withdrawn``.
    """
    now = _now(now)
    subject = _token(token)
    starts = new.starts_at or now
    expires = new.expires_at
    if expires <= starts:
        raise invalid(Invalid.OVERRIDE, "an emergency override must expire after it starts")
    if expires - starts > MAX_OVERRIDE:
        raise invalid(Invalid.OVERRIDE, f"an emergency override lasts at most {MAX_OVERRIDE}")
    if starts < now - SKEW:
        raise invalid(Invalid.OVERRIDE, "an emergency override cannot start in the past")
    _known_agency(session, new.agency_id)
    latest = history(session, subject).latest
    if latest is None or latest.status not in _OVERRIDABLE:
        status = latest.status.value if latest is not None else "not-recorded"
        raise Conflict(NOTHING_TO_OVERRIDE, f"an emergency override applies to a refusal or withdrawal, not {status}")
    row = ConsentOverride(
        subject_token=subject,
        agency_id=new.agency_id,
        recorded_by=new.recorded_by,
        recorded_at=now,
        starts_at=starts,
        expires_at=expires,
        justification=new.justification,
        reference=new.reference,
    )
    session.add(row)
    session.flush()
    _audit(
        session,
        AuditEntry(
            kind="consent.override",
            outcome="pending-review",
            actor=row.recorded_by,
            source=f"consent:override:{row.id}",
            subject_token=subject,
            detail=f"override_id={row.id}; agency_id={row.agency_id}; justification={row.justification}; "
            f"starts_at={_iso(row.starts_at)}; expires_at={_iso(row.expires_at)}",
            at=now,
        ),
    )
    return row


def review_override(
    session: Session, token: str, override_id: int, review: ReviewIn, *, now: datetime | None = None
) -> ConsentOverride:
    """Record a second person's review of an override: from then on the engine is given it.

    Raises:
        NotFound: ``consent.override_not_found`` (no such override for this token).
        ValidationFailed: ``consent.same_reviewer`` when the reviewer is the recorder
            (case-insensitive).
        Conflict: ``consent.already_reviewed``, ``consent.override_expired``.
    """
    now = _now(now)
    subject = _token(token)
    stmt = (
        select(ConsentOverride)
        .where(ConsentOverride.id == override_id, ConsentOverride.subject_token == subject)
        .with_for_update()
    )
    row = session.scalar(stmt)
    if row is None:
        raise NotFound(OVERRIDE_NOT_FOUND, f"no emergency override {override_id} for this subject token")
    if row.reviewed_by is not None:
        raise Conflict(ALREADY_REVIEWED, f"emergency override {override_id} has already been reviewed")
    if review.reviewed_by.casefold() == row.recorded_by.casefold():
        raise ValidationFailed(SAME_REVIEWER, "an emergency override must be reviewed by a second person")
    if row.expires_at <= now:
        raise Conflict(OVERRIDE_EXPIRED, f"emergency override {override_id} has expired; record a new one")
    # Conditional on "not reviewed yet": of two concurrent reviews, exactly one succeeds.
    done = session.execute(
        update(ConsentOverride)
        .where(ConsentOverride.id == row.id, ConsentOverride.reviewed_by.is_(None))
        .values(reviewed_by=review.reviewed_by, reviewed_at=now)
        .execution_options(synchronize_session=False)
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict(ALREADY_REVIEWED, f"emergency override {override_id} has already been reviewed")
    session.refresh(row)
    _audit(
        session,
        AuditEntry(
            kind="consent.review",
            outcome="reviewed",
            actor=review.reviewed_by,
            source=f"consent:override:{row.id}",
            subject_token=subject,
            detail=f"override_id={row.id}; agency_id={row.agency_id}; expires_at={_iso(row.expires_at)}",
            at=now,
        ),
    )
    return row


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat()
