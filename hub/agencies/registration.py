"""Approve an agency's signed registration request; let an agency rotate and revoke its own keys.

``approve`` verifies the request (``hub.agencies.request``) and registers the agency with the
keys inside it, with an ``agency.register`` audit row in the same transaction. A refused
request is audited too, by the caller, in a transaction of its own (``refusal_entry``): the
request's transaction rolls back.

``add_own_key`` and ``revoke_own_key`` are the agency-assertion paths (``POST /agencies/me/...``):
only the agency's **current** signing key may announce or revoke a key (a retired key still in its
grace period may not: whoever holds an old key must not revoke the new ones), and an agency may
not revoke its own current signing key (it would lock itself out): it rotates first, then revokes
the old key. A refusal for a key that is not current is audited by the caller (``refusal_key_entry``).
``revoke_key_as`` applies the same rule to an agency admin revoking with its token
(``POST /agencies/{id}/keys/{key_id}/revoke``, the console); the hub operator may revoke any key.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Final

from sqlalchemy.orm import Session

from hub.agencies import service
from hub.agencies.enums import KeyStatus, KeyUse
from hub.agencies.models import Agency, AgencyKey
from hub.agencies.request import verify_request
from hub.agencies.schemas import KeyCreate
from hub.audit.service import AuditEntry, append
from onedoor.errors import Forbidden, NotFound
from onedoor.ids import AgencyId, KeyId

REGISTER_KIND: Final = "agency.register"
KEY_ADDED_KIND: Final = "agency.key_added"
KEY_REVOKED_KIND: Final = "agency.key_revoked"
KEY_NOT_CURRENT: Final = "agency.key_not_current"
REVOKE_CURRENT_SIGNING: Final = "agency.revoke_current_signing_key"


def approve(session: Session, document: object, *, actor: str, now: datetime | None = None) -> Agency:
    """Verify a registration request and register its agency with both keys current (audited).

    Raises:
        ValidationFailed: ``registration.*`` for a malformed, tampered, stale or future request;
            ``agency.bad_public_key``.
        Conflict: ``agency.exists`` or ``agency.key_exists``.
    """
    moment = now or datetime.now(UTC)
    new = verify_request(document, now=moment)
    agency = service.register(session, new, now=moment)
    keys = {key.use: key.key_id for key in agency.keys}
    created = document.get("created_at") if isinstance(document, dict) else None
    append(
        session,
        [
            AuditEntry(
                kind=REGISTER_KIND,
                outcome="approved",
                actor=actor,
                source=f"agency:{agency.id}",
                detail=(
                    f"agency_id={agency.id}; kind={agency.kind.value}; signing_key_id={keys[KeyUse.SIGNING]}; "
                    f"encryption_key_id={keys[KeyUse.ENCRYPTION]}; request_created_at={created}"
                ),
                at=moment,
            )
        ],
    )
    return agency


def refusal_entry(document: object, *, actor: str, code: str) -> AuditEntry:
    """The ``agency.register`` row of a refused request (ids only, as far as they are text)."""
    agency = document.get("agency_id") if isinstance(document, dict) else None
    named = str(agency)[:64] if isinstance(agency, str) else "?"
    return AuditEntry(
        kind=REGISTER_KIND,
        outcome="refused",
        actor=actor,
        reason_code=code,
        source=f"agency:{named}"[:255],
        detail=f"registration request for {named} refused ({code})",
    )


def require_current_signing(agency: Agency, signed_with: KeyId, action: str) -> None:
    """Refuse unless ``signed_with`` is ``agency``'s current signing key.

    Raises:
        Forbidden: ``agency.key_not_current``.
    """
    current = next((k for k in agency.keys if k.use is KeyUse.SIGNING and k.status is KeyStatus.CURRENT), None)
    if current is None or current.key_id != signed_with:
        raise Forbidden(
            KEY_NOT_CURRENT,
            f"only the agency's current signing key may {action}: this request was signed with {signed_with}, "
            "which is retired or revoked",
        )


def refuse_own_current_signing(key: AgencyKey) -> None:
    """Refuse an agency revoking its own current signing key: it would lock itself out.

    The agency rotates first (``onedoor connector rotate-keys``), then revokes the old key; the hub
    operator may revoke any key. Applied on every path an agency revokes its own keys: the agency
    assertion (``revoke_own_key``), its agency admin's token (``revoke_key_as``) and the console.

    Raises:
        Forbidden: ``agency.revoke_current_signing_key``.
    """
    if key.use is KeyUse.SIGNING and key.status is KeyStatus.CURRENT:
        raise Forbidden(
            REVOKE_CURRENT_SIGNING,
            "an agency cannot revoke its own current signing key: rotate first "
            "(onedoor connector rotate-keys), then revoke the old key; or ask the hub operator",
        )


def revoke_key_as(
    session: Session, agency_id: AgencyId, key_id: KeyId, *, operator: bool, now: datetime | None = None
) -> AgencyKey:
    """Revoke ``key_id`` as the hub operator (any key) or as the agency's own admin (``operator=False``).

    Raises:
        Forbidden: ``agency.revoke_current_signing_key`` (an agency admin, its current signing key).
        NotFound: ``agency.key_not_found`` (unknown, or another agency's).
    """
    if not operator:
        key = session.get(AgencyKey, key_id)
        if key is not None and key.agency_id == agency_id:
            refuse_own_current_signing(key)
    return service.revoke_key(session, agency_id, key_id, now=now)


def refusal_key_entry(kind: str, agency_id: AgencyId, signed_with: KeyId, code: str, what: str) -> AuditEntry:
    """The audit row of an agency-assertion key request refused (ids only)."""
    return AuditEntry(
        kind=kind,
        outcome="refused",
        actor=str(agency_id),
        reason_code=code,
        source=f"agency:{agency_id}",
        detail=f"{what}; signed_with={signed_with}"[:2000],
    )


def add_own_key(
    session: Session,
    agency_id: AgencyId,
    signed_with: KeyId,
    new: KeyCreate,
    *,
    retire_grace: timedelta,
    now: datetime | None = None,
) -> AgencyKey:
    """An agency announces a new key, proven by an assertion signed with ``signed_with`` (audited).

    Raises:
        Forbidden: ``agency.key_not_current`` when ``signed_with`` is not the current signing key.
        ValidationFailed, Conflict, NotFound: as ``service.add_key``.
    """
    agency = service.get(session, agency_id, for_update=True)
    require_current_signing(agency, signed_with, "announce a new key")
    old = next((k.key_id for k in agency.keys if k.use is new.use and k.status is KeyStatus.CURRENT), None)
    key = service.add_key(session, agency_id, new, retire_grace=retire_grace, now=now)
    append(
        session,
        [
            AuditEntry(
                kind=KEY_ADDED_KIND,
                outcome="current",
                actor=str(agency_id),
                source=f"agency:{agency_id}",
                detail=f"use={new.use.value}; key_id={key.key_id}; retired={old or '-'}; signed_with={signed_with}",
            )
        ],
    )
    return key


def revoke_own_key(
    session: Session, agency_id: AgencyId, key_id: KeyId, signed_with: KeyId, *, now: datetime | None = None
) -> AgencyKey:
    """An agency revokes one of its keys, proven with its current signing key ``signed_with`` (audited).

    Raises:
        Forbidden: ``agency.key_not_current`` when ``signed_with`` is not the current signing key;
            ``agency.revoke_current_signing_key``.
        NotFound: ``agency.key_not_found`` (unknown, or another agency's).
    """
    require_current_signing(service.get(session, agency_id, for_update=True), signed_with, "revoke a key")
    key = session.get(AgencyKey, key_id)
    if key is None or key.agency_id != agency_id:
        raise NotFound("agency.key_not_found", f"agency {agency_id} has no key {key_id}")
    refuse_own_current_signing(key)
    revoked = service.revoke_key(session, agency_id, key_id, now=now)
    append(
        session,
        [
            AuditEntry(
                kind=KEY_REVOKED_KIND,
                outcome="revoked",
                actor=str(agency_id),
                source=f"agency:{agency_id}",
                detail=f"use={revoked.use.value}; key_id={key_id}; signed_with={signed_with}",
            )
        ],
    )
    return revoked
