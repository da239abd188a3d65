"""Referral JSON against the MasterReferral contract: clear errors that name the field, never a value."""

from __future__ import annotations

import datetime as dt

import pytest

from connectors.triage.referral import parse_referral, to_json
from onedoor.errors import ValidationFailed
from tests.unit.triage.world import referral_json


def test_a_good_referral_parses_with_an_id_and_time_filled_in() -> None:
    parsed = parse_referral(referral_json())
    assert parsed["child"]["date_of_birth"] == dt.date(2010, 3, 14)
    assert isinstance(parsed["submitted_at"], dt.datetime)
    assert len(parsed["referral_id"]) == 36
    assert parsed["exploitation"] == {}, "an absent section with defaults only is filled in, empty"


def test_json_round_trip_keeps_every_value() -> None:
    parsed = parse_referral(referral_json(known_as=["T-Dog"]))
    again = parse_referral(to_json(parsed))
    assert again == parsed


@pytest.mark.parametrize(
    ("sentence", "child", "code", "names"),
    [
        ("no name, nickname or number", {"given_name": "", "family_name": " "}, "referral.no_identifier", "child"),
        ("a nickname is enough", {"given_name": "", "family_name": "", "known_as": ["Fakey"]}, None, None),
        ("an NHS number is enough", {"given_name": "", "family_name": "", "nhs_number": "9990001112"}, None, None),
        ("a date in the wrong form", {"date_of_birth": "14/03/2010"}, "referral.invalid", "child.date_of_birth"),
        ("a wrong type", {"estimated_age": "fourteen"}, "referral.invalid", "child.estimated_age"),
    ],
)
def test_child_cases(sentence: str, child: dict[str, object], code: str | None, names: str | None) -> None:
    if code is None:
        parse_referral(referral_json(**child))
        return
    with pytest.raises(ValidationFailed) as refused:
        parse_referral(referral_json(**child))
    assert refused.value.code == code, sentence
    assert names is not None
    assert names in refused.value.message
    assert "fourteen" not in refused.value.message, "a value is never echoed"


def test_missing_required_fields_and_bad_symbols_are_named() -> None:
    body = referral_json()
    del body["concern_summary"]
    with pytest.raises(ValidationFailed, match="concern_summary"):
        parse_referral(body)
    with pytest.raises(ValidationFailed, match="urgency"):
        parse_referral({**referral_json(), "urgency": "SOON"})
    with pytest.raises(ValidationFailed, match="referral_id"):
        parse_referral({**referral_json(), "referral_id": "not-a-uuid"})
    with pytest.raises(ValidationFailed, match="JSON object"):
        parse_referral(["not", "an", "object"])


def test_a_referral_with_no_child_at_all_has_no_identifier() -> None:
    body = referral_json()
    del body["child"]
    with pytest.raises(ValidationFailed) as refused:
        parse_referral(body)
    assert refused.value.code == "referral.no_identifier"
