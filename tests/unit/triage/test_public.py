"""The public form as a MasterReferral: every field lands where triage expects it, and it fits the contract."""

from __future__ import annotations

import datetime as dt

from connectors.triage.public import public_to_master, referral_id_for
from connectors.triage.referral import parse_referral, to_json
from onedoor.envelope.intake_form import PublicReferralForm

AT = dt.datetime(2026, 11, 22, 9, 30, tzinfo=dt.UTC)


def _form(**overrides: object) -> PublicReferralForm:
    document: dict[str, object] = {
        "referrer": {"relationship": "neighbour", "name": "Nosy Fakeneighbour", "contact": "01632 960000"},
        "child": {
            "given_name": "Synthia",
            "family_name": "Example",
            "known_as": "Sin",
            "estimated_age": 14,
            "area": "Testborough",
            "school": "Fake Academy",
        },
        "concern_categories": ["COUNTY_LINES", "MISSING"],
        "concern_summary": "Comes home late with new phones and cash.",
        "urgency": "SAME_DAY",
        "parent_carer_knows": "no",
    }
    document.update(overrides)
    return PublicReferralForm.model_validate(document)


def test_a_public_form_maps_onto_the_master_referral() -> None:
    body = public_to_master(_form(), reference="OD-TEST1234", received_at=AT)
    assert body["referral_id"] == referral_id_for("OD-TEST1234")
    assert body["child"]["given_name"] == "Synthia"
    assert body["child"]["known_as"] == ["Sin"]
    assert body["child"]["estimated_age"] == 14
    assert body["child"]["school"] == "Fake Academy"
    assert body["concern_categories"] == ["COUNTY_LINES", "MISSING"]
    assert body["urgency"] == "SAME_DAY"
    assert body["referrer"]["kind"] == "COMMUNITY"
    assert body["referrer"]["phone"] == "01632 960000"
    assert "Testborough" in body["actions_taken"]
    assert "does not know" in body["actions_taken"]
    assert body["consent"]["status"] == "NOT_SOUGHT_OTHER"
    # It fits the contract, so it can be routed on as is.
    assert parse_referral(to_json(body))["child"]["family_name"] == "Example"


def test_an_anonymous_family_report_with_an_email() -> None:
    anonymous = public_to_master(_form(referrer={"relationship": "family"}), reference="OD-TEST0001", received_at=AT)
    assert anonymous["referrer"]["kind"] == "ANONYMOUS"
    emailed = public_to_master(
        _form(referrer={"relationship": "family", "contact": "aunt@example.invalid"}),
        reference="OD-TEST0002",
        received_at=AT,
    )
    assert emailed["referrer"]["kind"] == "FAMILY"
    assert (emailed["referrer"]["email"], emailed["referrer"]["phone"]) == ("aunt@example.invalid", None)


def test_the_same_reference_is_the_same_referral() -> None:
    assert referral_id_for("OD-A") == referral_id_for("OD-A") != referral_id_for("OD-B")
