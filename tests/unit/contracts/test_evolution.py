"""Bundled contracts evolved the way a practitioner team would, read across versions both ways."""

from __future__ import annotations

import json
from typing import Any

import pytest

from contracts import codec
from contracts.catalog import ContractSchema, bundled_contract
from contracts.compatibility import CompatibilityMode, check_compatibility
from onedoor.errors import ValidationFailed
from tests.unit.contracts.conftest import (
    ACK,
    ALERT,
    REFERRAL,
    ack_value,
    alert_value,
    bundled_json,
    field,
    field_named,
    referral_value,
)


def referral_v2() -> ContractSchema:
    """v2 asks for pronouns and adds a concern category: both safe for FULL_TRANSITIVE."""
    schema = bundled_json(REFERRAL)
    child = field_named(schema, "child")["type"]
    child["fields"].append(field("pronouns", ["null", "string"], "demographic", default=None))
    categories = field_named(schema, "concern_categories")["type"]["items"]
    categories["symbols"].insert(-1, "FINANCIAL_EXPLOITATION")
    return ContractSchema.from_json(schema)


def alert_v2() -> ContractSchema:
    """v2 adds a RETURNED_HOME kind: old readers see OTHER thanks to the enum default."""
    schema = bundled_json(ALERT)
    field_named(schema, "kind")["type"]["symbols"].insert(-1, "RETURNED_HOME")
    return ContractSchema.from_json(schema)


def ack_v2() -> ContractSchema:
    """v2 says which agency will handle the message."""
    schema = bundled_json(ACK)
    schema["fields"].append(field("handled_by_agency", ["null", "string"], default=None))
    return ContractSchema.from_json(schema)


V1 = {REFERRAL: bundled_contract(REFERRAL), ALERT: bundled_contract(ALERT), ACK: bundled_contract(ACK)}


@pytest.mark.parametrize(("name", "evolve"), [(REFERRAL, referral_v2), (ALERT, alert_v2), (ACK, ack_v2)])
def test_each_evolution_is_full_transitive(name: str, evolve: Any) -> None:
    result = check_compatibility(evolve().raw, [(1, V1[name].raw)], CompatibilityMode.FULL_TRANSITIVE)

    assert result.compatible, result.messages


def test_a_new_reader_reads_an_old_referral_and_fills_defaults() -> None:
    body = codec.encode(V1[REFERRAL], referral_value())

    read = codec.decode(body, writer=V1[REFERRAL], reader=referral_v2())

    assert read["child"]["pronouns"] is None
    assert read["child"]["given_name"] == "Testchild"
    assert read["exploitation"]["nrm_status"] == "REASONABLE_GROUNDS_POSITIVE"


def test_an_old_reader_reads_a_new_referral_and_maps_unknown_symbols_to_the_default() -> None:
    value = referral_value()
    value["child"]["pronouns"] = "they/them"
    value["concern_categories"] = ["FINANCIAL_EXPLOITATION", "COUNTY_LINES"]
    body = codec.encode(referral_v2(), value)

    read = codec.decode(body, writer=referral_v2(), reader=V1[REFERRAL])

    assert "pronouns" not in read["child"]
    assert read["concern_categories"] == ["OTHER", "COUNTY_LINES"]


def test_an_old_reader_sees_a_new_alert_kind_as_other() -> None:
    body = codec.encode(alert_v2(), {**alert_value(), "kind": "RETURNED_HOME"})

    assert codec.decode(body, writer=alert_v2(), reader=V1[ALERT])["kind"] == "OTHER"
    assert codec.decode(body, writer=alert_v2())["kind"] == "RETURNED_HOME"


def test_acknowledgements_cross_versions_both_ways() -> None:
    new_body = codec.encode(ack_v2(), {**ack_value(), "handled_by_agency": "lb-testborough-csc"})
    old_body = codec.encode(V1[ACK], ack_value())

    assert "handled_by_agency" not in codec.decode(new_body, writer=ack_v2(), reader=V1[ACK])
    assert codec.decode(old_body, writer=V1[ACK], reader=ack_v2())["handled_by_agency"] is None


def test_a_registered_schema_text_works_as_the_writer() -> None:
    # Recipients get older versions from the registry as JSON text, not as bundled objects.
    body = codec.encode(V1[REFERRAL], referral_value())

    read = codec.decode(body, writer=V1[REFERRAL].raw, reader=referral_v2())

    assert read["referral_id"] == referral_value()["referral_id"]


def test_an_incompatible_reader_is_refused_with_a_stable_code() -> None:
    schema = bundled_json(ACK)
    schema["fields"].append(field("priority", "int"))
    breaking = ContractSchema.from_json(schema)
    body = codec.encode(V1[ACK], ack_value())

    assert not check_compatibility(breaking.raw, [(1, V1[ACK].raw)], CompatibilityMode.BACKWARD).compatible
    with pytest.raises(ValidationFailed) as caught:
        codec.decode(body, writer=V1[ACK], reader=breaking)
    assert caught.value.code == "contract.unresolvable"


def test_a_tag_only_change_keeps_the_wire_format() -> None:
    schema = bundled_json(REFERRAL)
    field_named(schema, "childs_views")["sensitivity"] = "identity"
    retagged = ContractSchema.from_json(json.dumps(schema))
    body = codec.encode(V1[REFERRAL], referral_value())

    assert retagged.fingerprint == V1[REFERRAL].fingerprint
    assert retagged.digest != V1[REFERRAL].digest
    assert codec.decode(body, writer=retagged) == codec.decode(body, writer=V1[REFERRAL])
