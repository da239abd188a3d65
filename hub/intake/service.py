"""Intake logic: the triage desk's key, references, and each referral's metadata and progress.

No HTTP here. The hub stores *that* a referral arrived and where it went, never what it said.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.agencies.enums import AgencyKind, AgencyStatus
from hub.agencies.models import Agency
from hub.audit.service import AuditEntry, append
from hub.intake.enums import ReferralStatus
from hub.intake.models import IntakeKey, PublicReferral
from onedoor.envelope.intake import intake_key_id, load_public
from onedoor.errors import Conflict, NotFound, ValidationFailed
from onedoor.ids import AgencyId

NO_TRIAGE_DESK: Final = "intake.no_triage_desk"
NOT_TRIAGE: Final = "intake.not_triage"
UNKNOWN_REFERENCE: Final = "intake.unknown_reference"
BAD_TRANSITION: Final = "intake.bad_transition"

REFERENCE_ALPHABET: Final = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
"""No 0/O, 1/I/L: a reference is read out over the phone."""
REFERENCE_CHARS: Final = 8


def new_reference() -> str:
    """A fresh reference: ``OD-`` and eight unambiguous characters (about 40 bits)."""
    return "OD-" + "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(REFERENCE_CHARS))


def is_reference(text: str) -> bool:
    """Whether ``text`` has the shape of a reference."""
    return (
        len(text) == 3 + REFERENCE_CHARS and text.startswith("OD-") and all(c in REFERENCE_ALPHABET for c in text[3:])
    )


def new_status_token() -> tuple[str, str]:
    """A private progress-link token and the SHA-256 hex digest the hub stores instead of it."""
    token = secrets.token_urlsafe(24)
    return token, token_hash(token)


def token_hash(token: str) -> str:
    """What the hub keeps of a progress-link token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class TriageDesk:
    """Where public referrals go: the triage agency and its intake public key."""

    agency: AgencyId
    key_id: str
    public_key: bytes


def register_key(session: Session, agency_id: AgencyId, public_raw: bytes, now: datetime, actor: str) -> TriageDesk:
    """Set ``agency_id``'s intake public key (replacing any earlier one); audited as ``intake.key_registered``.

    Raises:
        NotFound: ``agency.not_found``.
        Conflict: ``intake.not_triage`` if the agency is not of kind triage.
        ValidationFailed: ``intake.bad_public_key``.
    """
    load_public(public_raw)
    agency = session.get(Agency, str(agency_id))
    if agency is None:
        raise NotFound("agency.not_found", "no such agency")
    if agency.kind is not AgencyKind.TRIAGE:
        raise Conflict(NOT_TRIAGE, "only an agency of kind triage receives public referrals")
    key_id = intake_key_id(public_raw)
    row = session.get(IntakeKey, str(agency_id))
    if row is None:
        session.add(IntakeKey(agency_id=str(agency_id), key_id=key_id, public_key=public_raw, registered_at=now))
    else:
        row.key_id, row.public_key, row.registered_at = key_id, public_raw, now
    append(
        session,
        [
            AuditEntry(
                kind="intake.key_registered",
                outcome="permit",
                actor=actor,
                source=str(agency_id),
                detail=key_id,
                at=now,
            )
        ],
    )
    return TriageDesk(agency_id, key_id, public_raw)


def triage_desk(session: Session) -> TriageDesk:
    """The one active triage agency holding an intake key.

    Raises:
        Conflict: ``intake.no_triage_desk`` when there is none, or more than one (ambiguous).
    """
    rows = session.execute(
        select(IntakeKey)
        .join(Agency, Agency.id == IntakeKey.agency_id)
        .where(Agency.kind == AgencyKind.TRIAGE, Agency.status == AgencyStatus.ACTIVE)
    ).scalars()
    desks = list(rows)
    if len(desks) != 1:
        why = "none is registered" if not desks else "more than one is registered"
        raise Conflict(NO_TRIAGE_DESK, f"no single active triage desk with an intake key: {why}")
    desk = desks[0]
    return TriageDesk(AgencyId(desk.agency_id), desk.key_id, bytes(desk.public_key))


def record_received(
    session: Session, desk: TriageDesk, reference: str, received_at: datetime, status_token_hash: str | None
) -> PublicReferral:
    """Store a referral's metadata and audit ``intake.received`` (the reference, nothing it said)."""
    referral = PublicReferral(
        reference=reference,
        received_at=received_at,
        triage_agency_id=str(desk.agency),
        status=ReferralStatus.RECEIVED,
        status_token_hash=status_token_hash,
        status_updated_at=received_at,
    )
    session.add(referral)
    append(
        session,
        [
            AuditEntry(
                kind="intake.received",
                outcome="delivered",
                recipients=str(desk.agency),
                source="public-form",
                detail=f"reference={reference}; key_id={desk.key_id}",
                at=received_at,
            )
        ],
    )
    return referral


def record_publish_failed(session: Session, desk: TriageDesk, reference: str, now: datetime, why: str) -> None:
    """Take back a referral whose publishing failed: delete its row, audit ``intake.publish_failed``.

    The person was told to try again and holds no reference or progress link for it.
    """
    referral = session.get(PublicReferral, reference)
    if referral is not None:
        session.delete(referral)
    append(
        session,
        [
            AuditEntry(
                kind="intake.publish_failed",
                outcome="failed",
                recipients=str(desk.agency),
                source="public-form",
                detail=f"reference={reference}; code={why}",
                at=now,
            )
        ],
    )


def by_token(session: Session, token: str) -> PublicReferral | None:
    """The referral a progress-link token belongs to, if any."""
    if not token or len(token) > 64:
        return None
    return session.scalars(select(PublicReferral).where(PublicReferral.status_token_hash == token_hash(token))).first()


_ALLOWED: Final = {
    ReferralStatus.RECEIVED: {ReferralStatus.BEING_HANDLED, ReferralStatus.CLOSED},
    ReferralStatus.BEING_HANDLED: {ReferralStatus.BEING_HANDLED, ReferralStatus.CLOSED},
    ReferralStatus.CLOSED: {ReferralStatus.CLOSED},
}


def update_progress(
    session: Session, caller: AgencyId, reference: str, status: ReferralStatus, now: datetime
) -> PublicReferral:
    """Set a referral's status as its triage desk; audited as ``intake.progress``.

    Raises:
        NotFound: ``intake.unknown_reference`` when there is no such referral or it went to another
            agency (the same answer, so a desk cannot probe another's references).
        ValidationFailed: ``intake.bad_transition`` (a closed referral stays closed, nothing goes back to received).
    """
    referral = session.get(PublicReferral, reference) if is_reference(reference) else None
    if referral is None or referral.triage_agency_id != str(caller):
        raise NotFound(UNKNOWN_REFERENCE, "no such referral for this triage desk")
    if status not in _ALLOWED[referral.status]:
        raise ValidationFailed(
            BAD_TRANSITION, f"a referral that is {referral.status.value} cannot become {status.value}"
        )
    if status is not referral.status:
        referral.status, referral.status_updated_at = status, now
    append(
        session,
        [
            AuditEntry(
                kind="intake.progress",
                outcome="permit",
                actor=str(caller),
                source=f"reference={reference}",
                detail=f"status={status.value}",
                at=now,
            )
        ],
    )
    return referral
