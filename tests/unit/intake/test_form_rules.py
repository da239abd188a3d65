"""The public referral form's rules: each posted case and what the person is told, and the sealed model."""

from __future__ import annotations

from datetime import date

import pytest
from pydantic import ValidationError

from hub.intake.form import MESSAGES, parse, rules
from onedoor.envelope.intake_form import IDENTIFY_RULE, PublicReferralForm

TODAY = date(2026, 11, 22)

VALID = {
    "relationship": ["neighbour"],
    "child-given-name": ["Testy"],
    "child-family-name": ["McFakeface"],
    "area": ["Exampleton"],
    "concerns": ["COUNTY_LINES", "MISSING"],
    "summary": ["Seen getting into cars with older men late at night."],
    "urgency": ["SAME_DAY"],
    "parent-knows": ["not-sure"],
}


def _with(**changes: list[str]) -> dict[str, list[str]]:
    posted = dict(VALID)
    for name, value in changes.items():
        posted[name.replace("_", "-")] = value
    return posted


def test_a_complete_form_becomes_the_sealed_model() -> None:
    outcome = parse(VALID, TODAY)
    assert outcome.errors == []
    assert outcome.form is not None
    assert outcome.form.child.given_name == "Testy"
    assert outcome.form.concern_categories == ["COUNTY_LINES", "MISSING"]
    assert outcome.form.urgency == "SAME_DAY"
    assert outcome.form.referrer.name is None
    assert PublicReferralForm.model_validate_json(outcome.form.model_dump_json()) == outcome.form


def test_an_empty_form_names_every_required_answer() -> None:
    outcome = parse({}, TODAY)
    assert outcome.form is None
    assert [e.field for e in outcome.errors] == [
        "relationship",
        "child-given-name",
        "concerns",
        "summary",
        "urgency",
        "parent-knows",
    ]
    assert outcome.error_for("child-given-name") == IDENTIFY_RULE


CASES = [
    ("a name with nothing to place the child", {"area": [""]}, "child-given-name", MESSAGES["identify"]),
    ("a place with no name", {"child_given_name": [""], "child_family_name": [""]}, "child-given-name", IDENTIFY_RULE),
    ("half a date", {"dob_day": ["3"], "dob_month": [""], "dob_year": ["2012"]}, "dob-day", MESSAGES["dob-incomplete"]),
    ("31 February", {"dob_day": ["31"], "dob_month": ["2"], "dob_year": ["2012"]}, "dob-day", MESSAGES["dob-real"]),
    ("a two-digit year", {"dob_day": ["3"], "dob_month": ["2"], "dob_year": ["12"]}, "dob-day", MESSAGES["dob-real"]),
    (
        "a birthday tomorrow",
        {"dob_day": ["23"], "dob_month": ["11"], "dob_year": ["2026"]},
        "dob-day",
        MESSAGES["dob-future"],
    ),
    ("someone 40", {"dob_day": ["1"], "dob_month": ["1"], "dob_year": ["1986"]}, "dob-day", MESSAGES["dob-too-old"]),
    ("an age in words", {"estimated_age": ["fourteen"]}, "estimated-age", MESSAGES["age-number"]),
    ("an age over 25", {"estimated_age": ["30"]}, "estimated-age", MESSAGES["age-range"]),
    ("an unknown relationship", {"relationship": ["landlord"]}, "relationship", MESSAGES["relationship"]),
    ("an unknown urgency", {"urgency": ["YESTERDAY"]}, "urgency", MESSAGES["urgency"]),
    ("only unknown concerns", {"concerns": ["ALIENS"]}, "concerns", MESSAGES["concerns"]),
    ("a summary of spaces", {"summary": ["   "]}, "summary", MESSAGES["summary"]),
    (
        "a summary of 5,001 characters",
        {"summary": ["x" * 5001]},
        "summary",
        "What worries you must be 5,000 characters or less",
    ),
    (
        "a first name of 101 characters",
        {"child_given_name": ["T" * 101]},
        "child-given-name",
        "The child's first name must be 100 characters or less",
    ),
]


@pytest.mark.parametrize(("why", "changes", "field", "message"), CASES, ids=[c[0] for c in CASES])
def test_each_rule(why: str, changes: dict[str, list[str]], field: str, message: str) -> None:
    outcome = parse(_with(**changes), TODAY)
    assert outcome.form is None, why
    assert outcome.error_for(field) == message, why


@pytest.mark.parametrize(
    ("why", "changes"),
    [
        ("a family name and an estimated age", {"child_given_name": [""], "area": [""], "estimated_age": ["14"]}),
        ("a first name and a school", {"child_family_name": [""], "area": [""], "school": ["Example Academy"]}),
        ("a date of birth", {"area": [""], "dob_day": ["29"], "dob_month": ["2"], "dob_year": ["2012"]}),
        ("exactly 5,000 characters", {"summary": ["x" * 5000]}),
    ],
)
def test_enough_to_send(why: str, changes: dict[str, list[str]]) -> None:
    outcome = parse(_with(**changes), TODAY)
    assert outcome.errors == [], why
    assert outcome.form is not None


def test_values_come_back_for_the_page_but_messages_never_quote_them() -> None:
    outcome = parse(_with(estimated_age=["fourteen"]), TODAY)
    assert outcome.values["child-given-name"] == "Testy"
    assert all("fourteen" not in e.message and "Testy" not in e.message for e in outcome.errors)


def test_rules_for_the_browser_carry_the_same_messages() -> None:
    shared = rules()
    assert shared["messages"]["identify"] == IDENTIFY_RULE
    assert shared["text"]["summary"]["max"] == 5000
    assert "COUNTY_LINES" in shared["choices"]["concerns"]


def _doc(**child: object) -> dict[str, object]:
    return {
        "v": 1,
        "referrer": {"relationship": "young-person"},
        "child": child,
        "concern_categories": ["ONLINE_HARM"],
        "concern_summary": "Messages from people I do not know.",
        "urgency": "ROUTINE",
        "parent_carer_knows": "no",
    }


def test_the_model_applies_the_identify_rule_too() -> None:
    assert PublicReferralForm.model_validate(_doc(given_name="Synthia", estimated_age=15)).child.estimated_age == 15
    with pytest.raises(ValidationError, match="first name or last name"):
        PublicReferralForm.model_validate(_doc(given_name="Synthia"))


def test_the_model_refuses_unknown_fields_and_symbols() -> None:
    with pytest.raises(ValidationError):
        PublicReferralForm.model_validate({**_doc(given_name="Synthia", area="X"), "extra": 1})
    with pytest.raises(ValidationError):
        PublicReferralForm.model_validate({**_doc(given_name="Synthia", area="X"), "urgency": "SOON"})
    with pytest.raises(ValidationError):
        PublicReferralForm.model_validate({**_doc(given_name="Synthia", area="X"), "concern_summary": ""})
