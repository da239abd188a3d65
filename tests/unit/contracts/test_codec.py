"""Bodies to bytes and back: round trips, defaults, refusals with stable codes and no personal data."""

from __future__ import annotations

import copy
import random
from collections.abc import Callable
from typing import Any

import pytest

from contracts import codec
from contracts.catalog import bundled_contract
from contracts.parsing import parse_fastavro
from onedoor.errors import ValidationFailed
from tests.unit.contracts.conftest import ACK, ALERT, REFERRAL, ack_value, alert_value, referral_value

VALUES = {REFERRAL: referral_value, ALERT: alert_value, ACK: ack_value}


@pytest.mark.parametrize("name", sorted(VALUES))
def test_every_bundled_contract_round_trips(name: str) -> None:
    contract = bundled_contract(name)
    value = VALUES[name]()

    read = codec.decode(codec.encode(contract, value), contract)

    # Everything given comes back; fields left out come back as their defaults.
    assert _subset(value, read)


def _subset(given: Any, read: Any) -> bool:
    if isinstance(given, dict):
        return all(k in read and _subset(v, read[k]) for k, v in given.items())
    if isinstance(given, list):
        return len(given) == len(read) and all(_subset(g, r) for g, r in zip(given, read, strict=True))
    return bool(given == read)


def test_left_out_fields_take_their_defaults() -> None:
    read = codec.decode(codec.encode(bundled_contract(ACK), ack_value()), bundled_contract(ACK))

    assert read["reason_code"] is None
    assert read["case_reference"] is None


def test_schema_json_text_and_contract_objects_encode_alike() -> None:
    contract = bundled_contract(ALERT)

    assert codec.encode(contract.raw, alert_value()) == codec.encode(contract, alert_value())


def test_schemas_given_as_text_are_parsed_once() -> None:
    raw = bundled_contract(ALERT).raw

    assert parse_fastavro(raw) is parse_fastavro(raw)


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(body: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = body
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        node[last] = value

    return mutate


def _drop(path: str) -> Callable[[dict[str, Any]], None]:
    def mutate(body: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = body
        for part in parents:
            node = node[part]
        del node[last]

    return mutate


@pytest.mark.parametrize(
    ("mutate", "where"),
    [
        (_set("child.given_name", 42), "field 'child.given_name' expects string, got int"),
        (_set("child.home_address.town", None), "field 'child.home_address.town' expects string, got NoneType"),
        (_drop("child.family_name"), "field 'child.family_name' is required and missing"),
        (_set("urgency", "WHENEVER"), "field 'urgency' expects one of onedoor.referral.Urgency's symbols"),
        (_set("submitted_at", "Friday-Fakeday"), "field 'submitted_at' expects a datetime, got str"),
        (_set("child.estimated_age", 2**40), "field 'child.estimated_age' is out of range for an Avro int"),
        (
            _set("exploitation.recent_missing_episodes.0.reported_at", "Fakeday"),
            "field 'exploitation.recent_missing_episodes[0].reported_at' expects a datetime",
        ),
        (_set("favourite_colour", "Fakeblue"), "the record has unknown field(s) favourite_colour"),
    ],
)
def test_a_bad_value_is_refused_by_field_without_quoting_it(
    mutate: Callable[[dict[str, Any]], None], where: str
) -> None:
    value = copy.deepcopy(referral_value())
    mutate(value)

    with pytest.raises(ValidationFailed) as caught:
        codec.encode(bundled_contract(REFERRAL), value)

    assert caught.value.code == "contract.invalid_value"
    assert where in caught.value.message
    # Values are personal data: errors may name fields, never repeat what was in them.
    for secret in ("WHENEVER", "Fakeday", "Fakeblue", "Friday"):
        assert secret not in caught.value.message
    assert caught.value.__cause__ is None


def test_a_truncated_body_is_malformed() -> None:
    contract = bundled_contract(REFERRAL)
    body = codec.encode(contract, referral_value())

    for cut in (1, len(body) // 2, len(body) - 1):
        with pytest.raises(ValidationFailed) as caught:
            codec.decode(body[:cut], contract)
        assert caught.value.code == "contract.malformed_body"


def test_trailing_bytes_are_malformed() -> None:
    contract = bundled_contract(ACK)

    with pytest.raises(ValidationFailed, match="trailing bytes") as caught:
        codec.decode(codec.encode(contract, ack_value()) + b"\x00", contract)

    assert caught.value.code == "contract.malformed_body"


def test_corrupt_bytes_never_escape_as_anything_but_our_error() -> None:
    contract = bundled_contract(REFERRAL)
    body = codec.encode(contract, referral_value())
    rng = random.Random(20250314)
    codes: list[str] = []

    for _ in range(2000):
        damaged = bytearray(body)
        for _ in range(rng.randint(1, 4)):
            damaged[rng.randrange(len(damaged))] = rng.randrange(256)
        try:
            codec.decode(bytes(damaged), contract)
        except ValidationFailed as exc:
            codes.append(exc.code)

    # Some damage still decodes (a changed letter in a string); the rest must be our error.
    assert set(codes) == {"contract.malformed_body"}
    assert len(codes) > 1000


def test_an_empty_body_is_malformed() -> None:
    with pytest.raises(ValidationFailed) as caught:
        codec.decode(b"", bundled_contract(ALERT))

    assert caught.value.code == "contract.malformed_body"
