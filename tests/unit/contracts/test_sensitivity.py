"""Sensitivity tags: every field tagged, paths through nested types, stable error codes."""

from __future__ import annotations

import json

import pytest

from contracts.catalog import bundled
from contracts.sensitivity import Sensitivity, field_tags
from onedoor.errors import ValidationFailed
from tests.unit.contracts.conftest import REFERRAL, bundled_json, field, field_named, record


def test_there_are_exactly_the_eight_agreed_tags() -> None:
    assert {s.value for s in Sensitivity} == {
        "identity",
        "contact",
        "location",
        "safeguarding",
        "health",
        "criminal-intelligence",
        "demographic",
        "operational",
    }


def test_every_field_of_every_bundled_contract_is_tagged() -> None:
    for contract in bundled().values():
        assert contract.tags == field_tags(contract.raw)
        assert contract.tags, contract.name


@pytest.mark.parametrize(
    ("path", "tag"),
    [
        ("referral_id", Sensitivity.OPERATIONAL),
        ("child", Sensitivity.IDENTITY),
        ("child.date_of_birth", Sensitivity.IDENTITY),
        ("child.ethnicity", Sensitivity.DEMOGRAPHIC),
        ("child.home_address.postcode", Sensitivity.LOCATION),
        ("child.special_educational_needs", Sensitivity.HEALTH),
        ("parents_carers.phone", Sensitivity.CONTACT),
        ("exploitation.line_names", Sensitivity.CRIMINAL_INTELLIGENCE),
        ("exploitation.recent_missing_episodes.found_location", Sensitivity.LOCATION),
        ("exploitation.nrm_status", Sensitivity.SAFEGUARDING),
        ("health_concerns", Sensitivity.HEALTH),
        ("consent.status", Sensitivity.OPERATIONAL),
    ],
)
def test_referral_paths_pass_through_unions_and_arrays(path: str, tag: Sensitivity) -> None:
    assert bundled()[REFERRAL].tags[path] is tag  # type: ignore[index]


def test_an_untagged_nested_field_is_refused_by_path() -> None:
    schema = bundled_json(REFERRAL)
    del field_named(schema, "child.home_address.postcode")["sensitivity"]

    with pytest.raises(ValidationFailed) as caught:
        field_tags(json.dumps(schema))

    assert caught.value.code == "contract.untagged_field"
    assert "child.home_address.postcode" in caught.value.message


def test_an_unknown_tag_is_refused_by_path() -> None:
    schema = record(field("name", "string", "secret"))

    with pytest.raises(ValidationFailed) as caught:
        field_tags(schema)

    assert caught.value.code == "contract.unknown_tag"
    assert "name" in caught.value.message
    assert "secret" in caught.value.message


def test_every_offending_field_is_listed_at_once() -> None:
    schema = record({"name": "a", "type": "string"}, {"name": "b", "type": "int"})

    with pytest.raises(ValidationFailed, match="a, b"):
        field_tags(schema)


def test_a_named_type_used_twice_is_tagged_under_both_paths() -> None:
    address = {"type": "record", "name": "Address", "fields": [field("town", "string", "location")]}
    schema = record(field("home", address, "location"), field("school", ["null", "Address"], "location", default=None))

    assert field_tags(schema) == {
        "home": Sensitivity.LOCATION,
        "home.town": Sensitivity.LOCATION,
        "school": Sensitivity.LOCATION,
        "school.town": Sensitivity.LOCATION,
    }


def test_maps_are_transparent_too() -> None:
    inner = {"type": "record", "name": "Contact", "fields": [field("phone", "string", "contact")]}
    schema = record(field("by_role", {"type": "map", "values": inner}, "contact"))

    assert field_tags(schema) == {"by_role": Sensitivity.CONTACT, "by_role.phone": Sensitivity.CONTACT}


def test_a_recursive_type_terminates() -> None:
    schema = record(
        field("label", "string"),
        field("next", ["null", "test.contracts.Thing"], default=None),
    )

    assert field_tags(schema) == {"label": Sensitivity.OPERATIONAL, "next": Sensitivity.OPERATIONAL}


def test_one_path_tagged_two_ways_in_a_union_is_refused() -> None:
    """A union whose branches tag the same path differently would make sharing rules ambiguous."""
    schema = {
        "type": "record",
        "name": "onedoor.test.Conflict",
        "fields": [
            {
                "name": "where",
                "sensitivity": "operational",
                "type": [
                    {
                        "type": "record",
                        "name": "Home",
                        "fields": [{"name": "detail", "type": "string", "sensitivity": "location"}],
                    },
                    {
                        "type": "record",
                        "name": "Clinic",
                        "fields": [{"name": "detail", "type": "string", "sensitivity": "health"}],
                    },
                ],
            }
        ],
    }
    with pytest.raises(ValidationFailed) as caught:
        field_tags(schema)
    assert caught.value.code == "contract.conflicting_tags"
    assert "where.detail" in caught.value.message
