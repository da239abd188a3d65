"""The bundled catalog and ContractSchema's checks."""

from __future__ import annotations

import json

import pytest

from contracts.catalog import ContractSchema, bundled, bundled_contract
from onedoor.errors import NotFound, ValidationFailed
from onedoor.ids import ContractName
from tests.unit.contracts.conftest import ACK, ALERT, REFERRAL, bundled_json, field, record


def test_the_body_contracts_are_bundled_and_the_envelope_is_not() -> None:
    status = {"onedoor.status.StatusCheck", "onedoor.status.StatusReply"}
    transfer = {
        f"onedoor.transfer.{n}" for n in ("TransferOffer", "TransferAccepted", "HandoverPack", "TransferCompleted")
    }
    assert set(bundled()) == {REFERRAL, ALERT, ACK} | status | transfer
    assert all(isinstance(name, ContractName) for name in bundled())


def test_bundled_contracts_are_loaded_once() -> None:
    assert bundled() is bundled()
    assert bundled_contract(REFERRAL) is bundled()[ContractName(REFERRAL)]


def test_an_unknown_contract_is_not_found() -> None:
    for name in ("onedoor.referral.Nope", "not a name"):
        with pytest.raises(NotFound) as caught:
            bundled_contract(name)
        assert caught.value.code == "contract.unknown"


def test_equal_schemas_compare_equal_and_hash_alike() -> None:
    again = ContractSchema.from_json(json.dumps(bundled_json(ALERT), indent=2))

    assert again == bundled_contract(ALERT)
    assert len({again, bundled_contract(ALERT)}) == 1


@pytest.mark.parametrize(
    ("schema", "code"),
    [
        ("{not json", "contract.invalid_schema"),
        ('"string"', "contract.invalid_schema"),
        (json.dumps({"type": "enum", "name": "a.B", "symbols": ["X"]}), "contract.invalid_schema"),
        (json.dumps(record(field("id", "strnig"))), "contract.invalid_schema"),
        (json.dumps(record(field("n", "int", default="many"))), "contract.invalid_schema"),
        (json.dumps(record(field("id", "string"), namespace="")), "contract.invalid_schema"),
        (json.dumps(record({"name": "id", "type": "string"})), "contract.untagged_field"),
        (json.dumps(record(field("id", "string", "top-secret"))), "contract.unknown_tag"),
    ],
    ids=[
        "not-json",
        "not-an-object",
        "not-a-record",
        "unknown-type",
        "bad-default",
        "no-namespace",
        "untagged",
        "bad-tag",
    ],
)
def test_a_bad_schema_is_refused_with_a_stable_code(schema: str, code: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        ContractSchema.from_json(schema)

    assert caught.value.code == code


def test_tags_are_read_only() -> None:
    with pytest.raises(TypeError):
        bundled_contract(ACK).tags["status"] = "health"  # type: ignore[index]
