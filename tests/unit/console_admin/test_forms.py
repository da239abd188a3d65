"""The console's agreement and agency forms: fields to the API's models, and problems back to fields."""

from __future__ import annotations

import pytest

from hub.console.admin.forms import (
    FormProblems,
    agency_from_form,
    agreement_field,
    agreement_from_form,
    form_from_agreement,
)
from onedoor.ids import AgencyId
from tests.unit.console_admin.cases import REFERRAL, body

MET = AgencyId("met-police")


def _filled() -> dict[str, str]:
    return {
        "agreement-id": "isa-met-hackney",
        "title": "County lines referrals",
        "party-lb-hackney-csc": "yes",
        f"contract-{REFERRAL}": "yes",
        "purpose-safeguarding-referral": "yes",
        "provision-1-from": "agency:met-police",
        "provision-1-to": "anyone",
        "provision-1-access": "limited",
        "provision-2-access": "",
        "article6": "UK GDPR Art. 6(1)(e)",
        "statute-CHILDREN_ACT_2004_S11": "yes",
        "retention-days": "365",
        "review-date-day": "22",
        "review-date-month": "11",
        "review-date-year": "2027",
    }


def test_a_filled_form_is_the_api_proposal_with_the_proposer_as_a_party() -> None:
    proposal = agreement_from_form(_filled(), MET)
    agreement = proposal.agreement
    assert proposal.amends is None
    assert agreement.parties == ["agency:met-police", "agency:lb-hackney-csc"]
    assert agreement.contracts == [REFERRAL]
    [provision] = agreement.provisions
    assert (provision.senders, provision.recipients, provision.access_level) == (["agency:met-police"], None, "limited")
    assert agreement.lawful_basis.statutes == ["Children Act 2004 s.11"]
    assert agreement.review_date.isoformat() == "2027-11-22"


def test_an_amendment_round_trips_through_the_form() -> None:
    original = body(contract_versions={})
    values = form_from_agreement(original) | {"amends": "1"}
    proposal = agreement_from_form(values, MET)
    assert proposal.amends == 1
    assert proposal.agreement.digest() == original.digest()


@pytest.mark.parametrize(
    ("change", "field", "code"),
    [
        ({"agreement-id": ""}, "agreement-id", "agreement_form.id_missing"),
        ({"agreement-id": "Not An Id"}, "agreement-id", "agreement_form.id_invalid"),
        ({"party-lb-hackney-csc": ""}, "parties", "agreement_form.parties_missing"),
        ({f"contract-{REFERRAL}": ""}, "contracts", "agreement_form.contracts_missing"),
        ({"purpose-safeguarding-referral": ""}, "purposes", "agreement_form.purposes_missing"),
        ({"provision-1-access": ""}, "provision-1-access", "agreement_form.provisions_missing"),
        ({"article6": ""}, "article6", "agreement_form.basis_missing"),
        ({"retention-days": "0"}, "retention-days", "agreement_form.retention_invalid"),
        ({"retention-days": "a year"}, "retention-days", "agreement_form.retention_invalid"),
        ({"review-date-month": "13"}, "review-date", "agreement_form.review_date_invalid"),
        ({"article6": "not a basis"}, "article6", "agreement_form.lawful_basis"),
    ],
)
def test_each_problem_names_its_field(change: dict[str, str], field: str, code: str) -> None:
    with pytest.raises(FormProblems) as raised:
        agreement_from_form(_filled() | change, MET)
    assert [(e.field, e.code) for e in raised.value.errors] == [(field, code)]
    assert all(e.message for e in raised.value.errors)


def test_service_codes_go_next_to_their_field() -> None:
    assert agreement_field("agreement.exists") == "agreement-id"
    assert agreement_field("lawful_basis.statute_required") == "article6"
    assert agreement_field("purpose.unknown") == "purposes"
    assert agreement_field("agreement.no_signatory") == "parties"
    assert agreement_field("agreement.health_without_basis") == "provision-1-access"


def test_the_agency_form_reports_every_bad_field() -> None:
    with pytest.raises(FormProblems) as raised:
        agency_from_form(
            {"agency-id": "X", "display-name": "", "kind": "pub", "signing-key": "", "encryption-key": "x"}
        )
    fields = {e.field for e in raised.value.errors}
    assert fields == {"agency-id", "display-name", "kind", "signing-key", "encryption-key"}
    assert "agency.bad_public_key" in {e.code for e in raised.value.errors}
