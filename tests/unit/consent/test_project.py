"""Projections: only allowed fields survive, at any depth, and the projection schema writes and reads them."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consent import AccessLevel, DataClass, TaggedContract, project, projection_schema
from consent.contract import Kind, MapOf, Shape
from contracts import codec
from contracts.catalog import ContractSchema, bundled_contract
from contracts.fingerprint import fingerprint
from contracts.parsing import parse_fastavro
from contracts.sensitivity import field_tags
from tests.unit.consent.world import ALERT, REFERRAL
from tests.unit.contracts.conftest import referral_value

REFERRAL_SCHEMA = bundled_contract("onedoor.referral.MasterReferral")


def paths(value: Mapping[str, Any], shapes: Mapping[str, Shape], prefix: str = "") -> Iterator[str]:
    """Every field path present in a (projected) body."""
    for name, item in value.items():
        path = f"{prefix}.{name}" if prefix else name
        yield path
        yield from _inner(item, shapes.get(path, Kind.SCALAR), shapes, path)


def _inner(item: Any, shape: Shape, shapes: Mapping[str, Shape], path: str) -> Iterator[str]:
    if isinstance(item, list):
        for element in item:
            yield from _inner(element, shape, shapes, path)
    elif isinstance(item, dict) and shape is Kind.RECORD:
        yield from paths(item, shapes, path)
    elif isinstance(item, dict) and isinstance(shape, MapOf):
        for element in item.values():
            yield from _inner(element, shape.values, shapes, path)


def normalised(body: Mapping[str, Any], schema: Any = REFERRAL_SCHEMA) -> dict[str, Any]:
    """What a recipient decodes: every field present, logical types as Python values."""
    return codec.decode(codec.encode(schema, body), schema)


# --- reference cases -------------------------------------------------------------------------------


def test_limited_referral_keeps_status_and_contacts_only() -> None:
    body = normalised(referral_value())
    allowed = REFERRAL.fields_for(AccessLevel.LIMITED.classes)
    projected = project(body, REFERRAL, allowed)
    assert set(projected) == {
        "referral_id", "submitted_at", "urgency", "requested_service", "parents_carers", "concern_categories",
        "concern_summary", "childs_views", "exploitation", "professional_network", "consent", "actions_taken",
    }  # fmt: skip
    assert projected["parents_carers"] == [
        {"has_parental_responsibility": None, "phone": None, "email": None, "aware_of_referral": False}
    ]
    assert "line_names" not in projected["exploitation"]
    assert projected["exploitation"]["recent_missing_episodes"][0].keys() == {
        "reported_at", "returned_at", "police_reference", "return_home_interview_done"
    }  # fmt: skip


def test_a_field_is_dropped_with_its_record() -> None:
    """care_status is safeguarding, but it sits in the child record (identity): without the record it goes."""
    body = normalised(referral_value())
    projected = project(body, REFERRAL, {"referral_id", "child.care_status"})
    assert projected == {"referral_id": body["referral_id"]}


def test_optional_record_that_is_null_stays_null() -> None:
    body = normalised({**referral_value(), "child": {**referral_value()["child"], "home_address": None}})
    projected = project(body, REFERRAL, {"child", "child.home_address", "child.home_address.town"})
    assert projected == {"child": {"home_address": None}}


def test_fields_the_contract_does_not_have_are_dropped() -> None:
    body = {"referral_id": "x", "smuggled": "Synthetic secret", "child": {"given_name": "T", "extra": {"a": 1}}}
    projected = project(body, REFERRAL, {"referral_id", "smuggled", "child", "child.given_name", "child.extra"})
    assert projected == {"referral_id": "x", "child": {"given_name": "T"}}


def test_a_dict_where_the_schema_has_a_scalar_is_dropped() -> None:
    body = {"referral_id": {"nested": "Synthetic"}, "urgency": ["SAME_DAY", {"x": 1}]}
    assert project(body, REFERRAL, {"referral_id", "urgency"}) == {"urgency": ["SAME_DAY"]}


def test_the_input_is_not_changed() -> None:
    body = normalised(referral_value())
    before = copy.deepcopy(body)
    projected = project(body, REFERRAL, REFERRAL.fields_for(frozenset({DataClass.SAFEGUARDING, DataClass.OPERATIONAL})))
    projected["exploitation"]["indicators"].append("OTHER")
    assert body == before


MAP_SCHEMA = {
    "type": "record",
    "name": "Network",
    "namespace": "test.consent",
    "fields": [
        {
            "name": "workers",
            "sensitivity": "contact",
            "type": {
                "type": "map",
                "values": {
                    "type": "record",
                    "name": "Worker",
                    "fields": [
                        {"name": "phone", "type": "string", "sensitivity": "contact"},
                        {"name": "notes", "type": "string", "sensitivity": "safeguarding"},
                    ],
                },
            },
        },
        {"name": "labels", "sensitivity": "operational", "type": {"type": "map", "values": "string"}},
        {
            "name": "either",
            "sensitivity": "operational",
            "type": [
                "null",
                {"type": "map", "values": "string"},
                {
                    "type": "record",
                    "name": "Pair",
                    "fields": [{"name": "phone", "type": "string", "sensitivity": "operational"}],
                },
            ],
            "default": None,
        },
    ],
}
MAPS = TaggedContract.from_schema(json.dumps(MAP_SCHEMA), 1)


def test_map_keys_are_data_and_map_values_are_projected() -> None:
    body = {
        "workers": {"phone": {"phone": "01632 960001", "notes": "Synthetic"}},
        "labels": {"a": "b"},
        "either": {"phone": "01632 960002"},
    }
    projected = project(body, MAPS, {"workers", "workers.phone", "labels", "either", "either.phone"})
    assert projected == {"workers": {"phone": {"phone": "01632 960001"}}, "labels": {"a": "b"}}


def test_a_contract_known_only_by_tags_drops_maps_rather_than_guess() -> None:
    by_tags = TaggedContract.from_tags("test.consent.Network", 1, MAPS.tags)
    body = {"workers": {"phone": {"phone": "01632 960001", "notes": "Synthetic"}}, "labels": {"a": "b"}}
    assert project(body, by_tags, set(MAPS.tags)) == {"workers": {}}


# --- projection schema ------------------------------------------------------------------------------


def test_projection_schema_with_every_field_is_the_contract() -> None:
    for name in ("onedoor.referral.MasterReferral", "onedoor.alert.Alert", "onedoor.ack.Acknowledgement"):
        contract = bundled_contract(name)
        every = set(contract.tags)
        assert fingerprint(projection_schema(contract, every)) == contract.fingerprint


def test_projection_schema_names_a_differently_cut_record_apart() -> None:
    address = {
        "type": "record",
        "name": "Address",
        "fields": [
            {"name": "town", "type": "string", "sensitivity": "location"},
            {"name": "postcode", "type": "string", "sensitivity": "location"},
        ],
    }
    schema = {
        "type": "record",
        "name": "Places",
        "namespace": "test.consent",
        "fields": [
            {"name": "home", "type": address, "sensitivity": "location"},
            {"name": "school", "type": "Address", "sensitivity": "location"},
            {"name": "work", "type": "Address", "sensitivity": "location"},
        ],
    }
    allowed = {"home", "home.town", "school", "school.town", "school.postcode", "work", "work.town"}
    projected = projection_schema(json.dumps(schema), allowed)
    types = [f["type"] for f in projected["fields"]]
    assert types[0]["name"] == "test.consent.Address"
    assert types[1]["name"] == "test.consent.Address_2"
    assert types[2] == "test.consent.Address"
    assert set(field_tags(projected)) == allowed
    value = {
        "home": {"town": "Testtown"},
        "school": {"town": "Testtown", "postcode": "ZZ99 9ZZ"},
        "work": {"town": "T"},
    }
    assert codec.decode(codec.encode(projected, value), projected) == value


def test_projection_schema_projects_defaults() -> None:
    schema = {
        "type": "record",
        "name": "Defaults",
        "namespace": "test.consent",
        "fields": [
            {
                "name": "who",
                "sensitivity": "identity",
                "type": {
                    "type": "record",
                    "name": "Who",
                    "fields": [
                        {"name": "name", "type": "string", "sensitivity": "identity"},
                        {"name": "ref", "type": "string", "sensitivity": "operational"},
                    ],
                },
                "default": {"name": "Synthetic Name", "ref": "R1"},
            }
        ],
    }
    projected = projection_schema(json.dumps(schema), {"who", "who.ref"})
    assert projected["fields"][0]["default"] == {"ref": "R1"}
    assert "Synthetic Name" not in json.dumps(projected)
    ContractSchema.from_json(projected)  # still a valid, fully tagged contract


# --- properties --------------------------------------------------------------------------------------

PARSED = parse_fastavro(REFERRAL_SCHEMA.raw)
NAMED = PARSED["__named_schemas"]
MOMENTS = st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2060, 1, 1), timezones=st.just(UTC))


def values(schema: Any) -> st.SearchStrategy[Any]:  # noqa: PLR0911 - one return per Avro type
    """Any value of an Avro type (fastavro's parsed form)."""
    if isinstance(schema, str):
        if schema in NAMED:
            return values(NAMED[schema])
        return {
            "null": st.none(),
            "boolean": st.booleans(),
            "int": st.integers(-(2**31), 2**31 - 1),
            "long": st.integers(-(2**63), 2**63 - 1),
            "string": st.text(max_size=6),
        }[schema]
    if isinstance(schema, list):
        return st.one_of([values(branch) for branch in schema])
    kind, logical = schema["type"], schema.get("logicalType")
    if logical == "timestamp-millis":
        return MOMENTS
    if logical == "date":
        return st.dates(min_value=date(1990, 1, 1), max_value=date(2060, 1, 1))
    if kind == "record":
        return st.fixed_dictionaries({f["name"]: values(f["type"]) for f in schema["fields"]})
    if kind == "enum":
        return st.sampled_from(schema["symbols"])
    if kind == "array":
        return st.lists(values(schema["items"]), max_size=3)
    if kind == "map":
        return st.dictionaries(st.text(max_size=4), values(schema["values"]), max_size=2)
    return values(kind)


BODIES = values(PARSED).map(normalised)
PATHS = sorted(REFERRAL.tags)
ALLOWED = st.one_of(
    st.sets(st.sampled_from(PATHS)),
    st.sets(st.sampled_from(sorted(DataClass))).map(lambda c: set(REFERRAL.fields_for(frozenset(c)))),
)
PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(BODIES, ALLOWED)
def test_a_projection_never_contains_a_field_outside_the_permitted_set(body: dict[str, Any], allowed: set[str]) -> None:
    projected = project(body, REFERRAL, allowed)
    present = set(paths(projected, REFERRAL.shapes))
    assert present <= allowed
    assert present <= REFERRAL.closure(allowed)  # and never a field without its record


@PROPERTY
@given(BODIES, ALLOWED)
def test_the_projection_schema_writes_and_reads_the_projection(body: dict[str, Any], allowed: set[str]) -> None:
    projected = project(body, REFERRAL, allowed)
    schema = projection_schema(REFERRAL_SCHEMA, allowed)
    assert set(field_tags(schema)) == REFERRAL.closure(allowed)
    assert codec.decode(codec.encode(schema, projected), schema) == projected


@pytest.mark.parametrize("level", list(AccessLevel))
def test_access_levels_on_the_alert(level: AccessLevel) -> None:
    allowed = ALERT.fields_for(level.classes & ALERT.classes)
    assert ("subject_token" in allowed) is (level is AccessLevel.FULL)
    assert "contact.phone" in allowed
