"""Public keys and ids at the API boundary: what is accepted, and the code when it is not."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from hub.agencies.directory import AgencyDirectory, AgencyEntry, DirectoryKey
from hub.agencies.enums import AgencyKind, KeyUse
from hub.agencies.schemas import AgencyCreate, DirectoryOut, KeyCreate, b64url, load_public_key
from onedoor.errors import ValidationFailed
from onedoor.ids import AgencyId, KeyId
from tests.unit.hub.conftest import b64, new_encryption_key, new_signing_key

ED = new_signing_key()
X = new_encryption_key()

BAD_KEYS = [
    pytest.param(KeyUse.SIGNING, b64(ED)[:-1], id="one character short of 32 bytes"),
    pytest.param(KeyUse.SIGNING, b64(ED + b"\x00"), id="33 bytes"),
    pytest.param(KeyUse.SIGNING, b64(ED).replace(b64(ED)[0], "+", 1), id="standard base64 alphabet, not url-safe"),
    pytest.param(KeyUse.SIGNING, "!" * 43, id="not base64 at all"),
    pytest.param(KeyUse.SIGNING, b64(ED)[:40] + " " + b64(ED)[41:], id="whitespace inside"),
    pytest.param(KeyUse.ENCRYPTION, b64(b"\x00" * 32), id="X25519 low-order point: all-zero shared secret"),
    pytest.param(KeyUse.ENCRYPTION, b64(b"\x01" + b"\x00" * 31), id="X25519 point of order 1"),
    pytest.param(KeyUse.SIGNING, 12345, id="not a string"),
    pytest.param(KeyUse.SIGNING, ED[:31], id="raw bytes, one short"),
]


@pytest.mark.parametrize(("use", "text"), BAD_KEYS)
def test_unusable_public_keys_are_refused_with_a_stable_code(use: KeyUse, text: object) -> None:
    with pytest.raises(ValidationFailed) as caught:
        load_public_key(use, text)
    assert caught.value.code == "agency.bad_public_key"


def test_padded_and_unpadded_base64url_both_load_to_the_same_raw_key() -> None:
    padded = b64(ED) + "="
    assert load_public_key(KeyUse.SIGNING, padded) == load_public_key(KeyUse.SIGNING, b64(ED)) == ED
    assert b64url(ED) == b64(ED)


def test_agency_create_decodes_keys_and_parses_the_id() -> None:
    new = AgencyCreate.model_validate(
        {
            "id": "met-police",
            "display_name": "  Metropolitan Police  ",
            "kind": "police",
            "signing_public_key": b64(ED),
            "encryption_public_key": b64(X),
        }
    )
    assert isinstance(new.id, AgencyId)
    assert new.display_name == "Metropolitan Police"
    assert (new.signing_public_key, new.encryption_public_key) == (ED, X)
    assert new.model_dump(mode="json")["signing_public_key"] == b64(ED)


def test_agency_create_reports_each_problem_with_its_code_and_never_the_value() -> None:
    with pytest.raises(ValidationError) as caught:
        AgencyCreate.model_validate(
            {
                "id": "Not A Slug",
                "display_name": "x",
                "kind": "police",
                "signing_public_key": "secret-looking-but-bad",
                "encryption_public_key": b64(X),
            }
        )
    codes = {err["loc"][0]: err["type"] for err in caught.value.errors()}
    assert codes == {"id": "agency_id.invalid", "signing_public_key": "agency.bad_public_key"}
    messages = " ".join(err["msg"] for err in caught.value.errors())
    assert "secret-looking-but-bad" not in messages


def test_key_create_checks_the_key_against_its_use() -> None:
    assert KeyCreate.model_validate({"use": "encryption", "public_key": b64(X)}).public_key == X
    with pytest.raises(ValidationError) as caught:
        KeyCreate.model_validate({"use": "encryption", "public_key": b64(b"\x00" * 32)})
    assert [e["type"] for e in caught.value.errors()] == ["agency.bad_public_key"]


def test_key_create_with_a_bad_use_reports_only_the_use() -> None:
    with pytest.raises(ValidationError) as caught:
        KeyCreate.model_validate({"use": "wrapping", "public_key": b64(X)})
    assert [e["loc"] for e in caught.value.errors()] == [("use",)]


def test_directory_document_round_trips_into_the_same_lookups() -> None:
    now = datetime(2030, 1, 1, tzinfo=UTC)
    met, sign_id, enc_id = AgencyId("met-police"), KeyId.for_public_key(ED), KeyId.for_public_key(X)
    directory = AgencyDirectory.build(
        generated_at=now,
        entries=[
            AgencyEntry(
                agency_id=met,
                display_name="Met",
                kind=AgencyKind.POLICE,
                active=True,
                signing_keys={sign_id: DirectoryKey(sign_id, KeyUse.SIGNING, ED, True, None)},
                encryption_keys={enc_id: DirectoryKey(enc_id, KeyUse.ENCRYPTION, X, True, None)},
            ),
            AgencyEntry(
                agency_id=AgencyId("suspended-one"),
                display_name="Off",
                kind=AgencyKind.CHARITY,
                active=False,
                signing_keys={},
                encryption_keys={},
            ),
        ],
    )
    document = DirectoryOut.from_directory(directory, hub_public_key=bytes(range(32))).model_dump_json()
    parsed = DirectoryOut.model_validate_json(document).to_directory()
    assert parsed.active_agencies() == {met}
    assert parsed.current_encryption_key(met) == (enc_id, X)
    assert parsed.signing_key(met, sign_id, at=now) == ED
    assert parsed.fingerprint == AgencyDirectory.build(generated_at=now, entries=[directory.agencies[met]]).fingerprint
