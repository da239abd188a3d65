"""Agency registry logic: register, suspend, rotate and revoke keys, snapshot the directory.

Functions work inside the caller's transaction and raise OneDoor errors with stable codes;
nothing here knows about HTTP.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hub.agencies.directory import AgencyDirectory, AgencyEntry, DirectoryKey
from hub.agencies.enums import AgencyStatus, KeyStatus, KeyUse
from hub.agencies.models import Agency, AgencyKey
from hub.agencies.schemas import AgencyCreate, KeyCreate
from hub.policy.changes import ChangeKind, mark_changed
from onedoor.errors import Conflict, NotFound, ValidationFailed
from onedoor.ids import AgencyId, KeyId


def _now(now: datetime | None) -> datetime:
    return now or datetime.now(UTC)


def _new_key(agency_id: str, use: KeyUse, raw: bytes, now: datetime, not_after: datetime | None) -> AgencyKey:
    return AgencyKey(
        key_id=KeyId.for_public_key(raw),
        agency_id=agency_id,
        use=use,
        algorithm=use.algorithm,
        public_key=raw,
        status=KeyStatus.CURRENT,
        created_at=now,
        not_after=not_after,
    )


def _refuse_known_key(session: Session, key_id: str) -> None:
    if session.get(AgencyKey, key_id) is not None:
        raise Conflict("agency.key_exists", f"key {key_id} is already registered")


def _flush(session: Session, code: str, message: str) -> None:
    # A concurrent writer can still win between our checks and the insert; report it as a conflict.
    try:
        session.flush()
    except IntegrityError:
        raise Conflict(code, message) from None


def register(session: Session, new: AgencyCreate, *, now: datetime | None = None) -> Agency:
    """Register an agency with its first signing and encryption keys, both current."""
    now = _now(now)
    if session.get(Agency, new.id) is not None:
        raise Conflict("agency.exists", f"agency {new.id} is already registered")
    if new.signing_public_key == new.encryption_public_key:
        raise ValidationFailed("agency.bad_public_key", "signing and encryption keys must differ")
    keys = [
        _new_key(new.id, KeyUse.SIGNING, new.signing_public_key, now, None),
        _new_key(new.id, KeyUse.ENCRYPTION, new.encryption_public_key, now, None),
    ]
    for key in keys:
        _refuse_known_key(session, key.key_id)
    agency = Agency(
        id=new.id,
        display_name=new.display_name,
        kind=new.kind,
        status=AgencyStatus.ACTIVE,
        created_at=now,
        keys=keys,
    )
    session.add(agency)
    _flush(session, "agency.exists", f"agency {new.id} or one of its keys is already registered")
    mark_changed(session, ChangeKind.REGISTRY, new.id)
    return agency


def get(session: Session, agency_id: AgencyId, *, for_update: bool = False) -> Agency:
    """The agency ``agency_id``, or NotFound ``agency.not_found``."""
    agency = session.get(Agency, agency_id, with_for_update=for_update)
    if agency is None:
        raise NotFound("agency.not_found", f"no agency {agency_id}")
    return agency


def list_all(session: Session) -> list[Agency]:
    """Every registered agency, by id."""
    return list(session.scalars(select(Agency).order_by(Agency.id)))


def _set_status(session: Session, agency_id: AgencyId, status: AgencyStatus) -> Agency:
    agency = get(session, agency_id, for_update=True)
    agency.status = status
    session.flush()
    mark_changed(session, ChangeKind.REGISTRY, agency_id)
    return agency


def suspend(session: Session, agency_id: AgencyId) -> Agency:
    """Stop routing to and from ``agency_id`` (idempotent)."""
    return _set_status(session, agency_id, AgencyStatus.SUSPENDED)


def reactivate(session: Session, agency_id: AgencyId) -> Agency:
    """Resume routing to and from ``agency_id`` (idempotent)."""
    return _set_status(session, agency_id, AgencyStatus.ACTIVE)


def add_key(
    session: Session,
    agency_id: AgencyId,
    new: KeyCreate,
    *,
    retire_grace: timedelta,
    now: datetime | None = None,
) -> AgencyKey:
    """Make ``new`` the current key of its use; the previous one retires after ``retire_grace``.

    The grace period lets messages signed or sealed with the old key while it was current
    (up to the envelope TTL) still verify and decrypt.
    """
    now = _now(now)
    if new.not_after is not None and new.not_after <= now:
        raise ValidationFailed("agency.bad_not_after", "not_after must be in the future")
    agency = get(session, agency_id, for_update=True)
    key_id = KeyId.for_public_key(new.public_key)
    _refuse_known_key(session, key_id)
    retire_at = now + retire_grace
    for old in agency.keys:
        if old.use is new.use and old.status is KeyStatus.CURRENT:
            old.status = KeyStatus.RETIRED
            old.not_after = retire_at if old.not_after is None else min(old.not_after, retire_at)
    # Retire first: the database allows one current key per agency and use at any moment.
    session.flush()
    key = _new_key(agency.id, new.use, new.public_key, now, new.not_after)
    agency.keys.append(key)
    _flush(session, "agency.key_conflict", "the key exists or a concurrent rotation won; retry")
    mark_changed(session, ChangeKind.REGISTRY, agency_id)
    return key


def revoke_key(session: Session, agency_id: AgencyId, key_id: KeyId, *, now: datetime | None = None) -> AgencyKey:
    """Never trust ``key_id`` again (idempotent); revoking the current key leaves none for its use."""
    now = _now(now)
    key = session.get(AgencyKey, key_id, with_for_update=True)
    if key is None or key.agency_id != agency_id:
        # Same answer whether the key is unknown or another agency's.
        raise NotFound("agency.key_not_found", f"agency {agency_id} has no key {key_id}")
    if key.status is not KeyStatus.REVOKED:
        key.status = KeyStatus.REVOKED
        key.not_after = now if key.not_after is None else min(key.not_after, now)
        session.flush()
        mark_changed(session, ChangeKind.REGISTRY, agency_id)  # stop trusting it at once, everywhere
    return key


def directory_snapshot(session: Session, *, now: datetime | None = None) -> AgencyDirectory:
    """Read the registry into an ``AgencyDirectory``: every agency, its trusted keys only."""
    now = _now(now)

    def trusted(agency: Agency, use: KeyUse) -> dict[KeyId, DirectoryKey]:
        found = {}
        for key in agency.keys:
            if key.use is not use or key.status is KeyStatus.REVOKED:
                continue
            entry = DirectoryKey(
                key_id=KeyId(key.key_id),
                use=use,
                public_key=key.public_key,
                current=key.status is KeyStatus.CURRENT,
                not_after=key.not_after,
            )
            if entry.valid_at(now):
                found[entry.key_id] = entry
        return found

    return AgencyDirectory.build(
        generated_at=now,
        entries=[
            AgencyEntry(
                agency_id=AgencyId(agency.id),
                display_name=agency.display_name,
                kind=agency.kind,
                active=agency.status is AgencyStatus.ACTIVE,
                signing_keys=trusted(agency, KeyUse.SIGNING),
                encryption_keys=trusted(agency, KeyUse.ENCRYPTION),
            )
            for agency in list_all(session)
        ],
    )
