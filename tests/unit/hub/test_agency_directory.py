"""The frozen directory: lookups, expiry of retired keys, fingerprints, immutability."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hub.agencies.directory import AgencyDirectory, AgencyEntry, DirectoryKey
from hub.agencies.enums import AgencyKind, KeyUse
from onedoor.errors import NotFound
from onedoor.ids import AgencyId, KeyId
from tests.unit.hub.conftest import new_encryption_key, new_signing_key

NOW = datetime(2030, 6, 1, 12, tzinfo=UTC)
MET = AgencyId("met-police")
HACKNEY = AgencyId("lb-hackney-csc")


def _key(use: KeyUse, raw: bytes, *, current: bool, not_after: datetime | None = None) -> DirectoryKey:
    return DirectoryKey(KeyId.for_public_key(raw), use, raw, current, not_after)


SIGN_NEW, SIGN_OLD, ENC = new_signing_key(), new_signing_key(), new_encryption_key()
ENTRY = AgencyEntry(
    agency_id=MET,
    display_name="Metropolitan Police",
    kind=AgencyKind.POLICE,
    active=True,
    signing_keys={
        k.key_id: k
        for k in (
            _key(KeyUse.SIGNING, SIGN_NEW, current=True),
            _key(KeyUse.SIGNING, SIGN_OLD, current=False, not_after=NOW + timedelta(days=1)),
        )
    },
    encryption_keys={k.key_id: k for k in (_key(KeyUse.ENCRYPTION, ENC, current=True),)},
)
SUSPENDED = AgencyEntry(HACKNEY, "Hackney", AgencyKind.CHILDREN_SERVICES, False, {}, {})
DIRECTORY = AgencyDirectory.build(generated_at=NOW, entries=[ENTRY, SUSPENDED])


def test_status_lookups() -> None:
    assert DIRECTORY.is_active(MET)
    assert not DIRECTORY.is_active(HACKNEY)
    assert DIRECTORY.is_known(HACKNEY)
    assert not DIRECTORY.is_active(AgencyId("nobody-here"))
    assert DIRECTORY.active_agencies() == {MET}


def test_a_retired_key_verifies_until_not_after_and_not_after_it() -> None:
    old = KeyId.for_public_key(SIGN_OLD)
    assert DIRECTORY.signing_key(MET, old, at=NOW) == SIGN_OLD
    assert DIRECTORY.signing_key(MET, old, at=NOW + timedelta(days=1)) is None


def test_keys_are_looked_up_by_use() -> None:
    enc_id = KeyId.for_public_key(ENC)
    assert DIRECTORY.encryption_key(MET, enc_id, at=NOW) == ENC
    assert DIRECTORY.signing_key(MET, enc_id, at=NOW) is None, "an encryption key never verifies a signature"
    assert DIRECTORY.encryption_key(AgencyId("nobody-here"), enc_id) is None


def test_current_keys() -> None:
    assert DIRECTORY.current_signing_key(MET) == (KeyId.for_public_key(SIGN_NEW), SIGN_NEW)
    assert DIRECTORY.current_encryption_key(MET) == (KeyId.for_public_key(ENC), ENC)


@pytest.mark.parametrize(
    ("agency", "code"),
    [
        pytest.param(AgencyId("nobody-here"), "agency.not_found", id="unknown agency"),
        pytest.param(HACKNEY, "agency.no_current_key", id="agency without keys"),
    ],
)
def test_no_current_key_is_a_not_found_with_a_code(agency: AgencyId, code: str) -> None:
    with pytest.raises(NotFound) as caught:
        DIRECTORY.current_encryption_key(agency)
    assert caught.value.code == code


def test_fingerprint_follows_content_not_generation_time() -> None:
    again = AgencyDirectory.build(generated_at=NOW + timedelta(hours=1), entries=[SUSPENDED, ENTRY])
    assert again.fingerprint == DIRECTORY.fingerprint
    changed = AgencyDirectory.build(
        generated_at=NOW,
        entries=[ENTRY, AgencyEntry(HACKNEY, "Hackney", AgencyKind.CHILDREN_SERVICES, True, {}, {})],
    )
    assert changed.fingerprint != DIRECTORY.fingerprint
    assert AgencyDirectory.empty().fingerprint != DIRECTORY.fingerprint


def test_the_directory_cannot_be_changed_in_place() -> None:
    with pytest.raises(TypeError):
        DIRECTORY.agencies[MET] = SUSPENDED  # type: ignore[index]
    with pytest.raises(TypeError):
        DIRECTORY.agencies[MET].signing_keys[KeyId.for_public_key(ENC)] = ENTRY.encryption_keys[  # type: ignore[index]
            KeyId.for_public_key(ENC)
        ]
