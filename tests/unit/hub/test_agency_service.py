"""The agency registry service on in-memory SQLite, and the directory snapshot it produces."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hub.agencies import service
from hub.agencies.enums import AgencyKind, AgencyStatus, KeyStatus, KeyUse
from hub.agencies.models import AgencyKey
from hub.agencies.schemas import AgencyCreate, KeyCreate
from onedoor.errors import Conflict, NotFound, ValidationFailed
from onedoor.ids import AgencyId, KeyId
from tests.unit.hub.conftest import new_encryption_key, new_signing_key

NOW = datetime(2030, 6, 1, 12, tzinfo=UTC)
GRACE = timedelta(days=7)
MET = AgencyId("met-police")


def _create(agency: str = "met-police", sign: bytes | None = None, enc: bytes | None = None) -> AgencyCreate:
    return AgencyCreate(
        id=AgencyId(agency),
        display_name=agency.replace("-", " ").title(),
        kind=AgencyKind.POLICE,
        signing_public_key=sign or new_signing_key(),
        encryption_public_key=enc or new_encryption_key(),
    )


def _key(use: KeyUse, raw: bytes | None = None, not_after: datetime | None = None) -> KeyCreate:
    raw = raw or (new_signing_key() if use is KeyUse.SIGNING else new_encryption_key())
    return KeyCreate(use=use, public_key=raw, not_after=not_after)


def test_register_stores_the_agency_and_two_current_keys(session: Session) -> None:
    new = _create()
    agency = service.register(session, new, now=NOW)
    assert (agency.id, agency.status, agency.created_at) == (MET, AgencyStatus.ACTIVE, NOW)
    by_use = {k.use: k for k in agency.keys}
    assert by_use[KeyUse.SIGNING].key_id == KeyId.for_public_key(new.signing_public_key)
    assert by_use[KeyUse.ENCRYPTION].public_key == new.encryption_public_key
    assert {k.status for k in agency.keys} == {KeyStatus.CURRENT}
    session.expire_all()
    assert service.get(session, MET).created_at == NOW, "timestamps come back timezone-aware"


def test_a_second_registration_of_the_same_id_is_a_conflict(session: Session) -> None:
    service.register(session, _create())
    with pytest.raises(Conflict) as caught:
        service.register(session, _create())
    assert caught.value.code == "agency.exists"


def test_a_public_key_cannot_belong_to_two_agencies(session: Session) -> None:
    shared = new_signing_key()
    service.register(session, _create("met-police", sign=shared))
    with pytest.raises(Conflict) as caught:
        service.register(session, _create("btp-police", sign=shared))
    assert caught.value.code == "agency.key_exists"


def test_signing_and_encryption_keys_must_differ(session: Session) -> None:
    # 32 bytes that load as both an Ed25519 and an X25519 key: one key for two purposes.
    same = new_encryption_key()
    with pytest.raises(ValidationFailed) as caught:
        service.register(session, _create(sign=same, enc=same))
    assert caught.value.code == "agency.bad_public_key"


def test_get_of_an_unknown_agency_is_not_found(session: Session) -> None:
    with pytest.raises(NotFound) as caught:
        service.get(session, AgencyId("nobody-here"))
    assert caught.value.code == "agency.not_found"


def test_list_is_ordered_by_id(session: Session) -> None:
    for agency in ("youth-offending-team", "btp-police", "lb-hackney-csc"):
        service.register(session, _create(agency))
    assert [a.id for a in service.list_all(session)] == ["btp-police", "lb-hackney-csc", "youth-offending-team"]


def test_suspend_and_reactivate_are_idempotent_and_show_in_the_directory(session: Session) -> None:
    service.register(session, _create())
    service.suspend(session, MET)
    assert service.suspend(session, MET).status is AgencyStatus.SUSPENDED
    snapshot = service.directory_snapshot(session)
    assert snapshot.is_known(MET)
    assert not snapshot.is_active(MET)
    service.reactivate(session, MET)
    assert service.reactivate(session, MET).status is AgencyStatus.ACTIVE
    assert service.directory_snapshot(session).is_active(MET)


def test_rotation_retires_the_old_key_for_one_grace_period(session: Session) -> None:
    agency = service.register(session, _create(), now=NOW)
    old = next(k for k in agency.keys if k.use is KeyUse.SIGNING)
    new = service.add_key(session, MET, _key(KeyUse.SIGNING), retire_grace=GRACE, now=NOW)
    assert new.status is KeyStatus.CURRENT
    assert (old.status, old.not_after) == (KeyStatus.RETIRED, NOW + GRACE)

    during = service.directory_snapshot(session, now=NOW + timedelta(days=1))
    assert during.current_signing_key(MET) == (KeyId(new.key_id), new.public_key)
    assert during.signing_key(MET, KeyId(old.key_id), at=NOW + timedelta(days=1)) == old.public_key

    after = service.directory_snapshot(session, now=NOW + GRACE)
    assert KeyId(old.key_id) not in after.agencies[MET].signing_keys
    encryption = next(k for k in agency.keys if k.use is KeyUse.ENCRYPTION)
    assert encryption.status is KeyStatus.CURRENT, "rotating one use leaves the other alone"


def test_a_second_rotation_does_not_extend_an_earlier_retirement(session: Session) -> None:
    agency = service.register(session, _create(), now=NOW)
    first = next(k for k in agency.keys if k.use is KeyUse.ENCRYPTION)
    short_lived = _key(KeyUse.ENCRYPTION, not_after=NOW + timedelta(hours=1))
    service.add_key(session, MET, short_lived, retire_grace=GRACE, now=NOW)
    second = service.add_key(session, MET, _key(KeyUse.ENCRYPTION), retire_grace=GRACE, now=NOW)
    statuses = {k.key_id: (k.status, k.not_after) for k in service.get(session, MET).keys if k.use is KeyUse.ENCRYPTION}
    assert statuses[first.key_id] == (KeyStatus.RETIRED, NOW + GRACE)
    assert statuses[second.key_id] == (KeyStatus.CURRENT, None)
    assert sorted(s for s, _ in statuses.values()) == [KeyStatus.CURRENT, KeyStatus.RETIRED, KeyStatus.RETIRED]
    middle = [v for k, v in statuses.items() if k not in (first.key_id, second.key_id)]
    assert middle == [(KeyStatus.RETIRED, NOW + timedelta(hours=1))], "min(own not_after, now + grace)"


def test_adding_an_already_registered_key_is_a_conflict(session: Session) -> None:
    new = _create()
    service.register(session, new)
    with pytest.raises(Conflict) as caught:
        service.add_key(session, MET, _key(KeyUse.SIGNING, new.signing_public_key), retire_grace=GRACE)
    assert caught.value.code == "agency.key_exists"


def test_a_key_that_is_already_expired_is_refused(session: Session) -> None:
    service.register(session, _create())
    with pytest.raises(ValidationFailed) as caught:
        service.add_key(session, MET, _key(KeyUse.SIGNING, not_after=NOW), retire_grace=GRACE, now=NOW)
    assert caught.value.code == "agency.bad_not_after"


def test_adding_a_key_to_an_unknown_agency_is_not_found(session: Session) -> None:
    with pytest.raises(NotFound):
        service.add_key(session, MET, _key(KeyUse.SIGNING), retire_grace=GRACE)


def test_revocation_removes_the_key_from_the_directory(session: Session) -> None:
    agency = service.register(session, _create(), now=NOW)
    encryption = next(k for k in agency.keys if k.use is KeyUse.ENCRYPTION)
    revoked = service.revoke_key(session, MET, KeyId(encryption.key_id), now=NOW)
    assert (revoked.status, revoked.not_after) == (KeyStatus.REVOKED, NOW)
    assert service.revoke_key(session, MET, KeyId(encryption.key_id)).status is KeyStatus.REVOKED
    snapshot = service.directory_snapshot(session, now=NOW)
    assert snapshot.encryption_key(MET, KeyId(encryption.key_id), at=NOW) is None
    with pytest.raises(NotFound) as caught:
        snapshot.current_encryption_key(MET)
    assert caught.value.code == "agency.no_current_key"


def test_revoking_a_retired_key_cuts_its_grace_short(session: Session) -> None:
    agency = service.register(session, _create(), now=NOW)
    old = next(k for k in agency.keys if k.use is KeyUse.SIGNING)
    service.add_key(session, MET, _key(KeyUse.SIGNING), retire_grace=GRACE, now=NOW)
    service.revoke_key(session, MET, KeyId(old.key_id), now=NOW + timedelta(hours=1))
    later = NOW + timedelta(hours=2)
    assert service.directory_snapshot(session, now=later).signing_key(MET, KeyId(old.key_id), at=later) is None


def test_another_agencys_key_cannot_be_revoked_through_this_agency(session: Session) -> None:
    service.register(session, _create("met-police"))
    other = service.register(session, _create("btp-police"))
    with pytest.raises(NotFound) as caught:
        service.revoke_key(session, MET, KeyId(other.keys[0].key_id))
    assert caught.value.code == "agency.key_not_found"
    with pytest.raises(NotFound):
        service.revoke_key(session, MET, KeyId.for_public_key(b"\x07" * 32))


def test_the_database_allows_one_current_key_per_agency_and_use(session: Session) -> None:
    service.register(session, _create())
    raw = new_signing_key()
    session.add(
        AgencyKey(
            key_id=KeyId.for_public_key(raw),
            agency_id=MET,
            use=KeyUse.SIGNING,
            algorithm=KeyUse.SIGNING.algorithm,
            public_key=raw,
            status=KeyStatus.CURRENT,
            created_at=NOW,
        )
    )
    with pytest.raises(IntegrityError):
        session.flush()


def test_snapshot_of_an_empty_registry(session: Session) -> None:
    snapshot = service.directory_snapshot(session, now=NOW)
    assert snapshot.agencies == {}
    assert snapshot.generated_at == NOW
