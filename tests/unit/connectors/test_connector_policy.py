"""Enforcement at both connectors: project per recipient group when sealing, check and drop when opening.

No broker: ``seal`` and ``open`` are the whole of it (``send`` only publishes what ``seal`` made).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from connectors.sdk.connector import Sealed
from connectors.sdk.policy import SharingDenied, SharingPolicy
from connectors.synthetic import referral
from consent.agreement import AgreementState
from consent.contract import TaggedContract
from consent.model import AccessLevel, parse_data_class
from consent.subject import ConsentState
from contracts.catalog import bundled
from onedoor.envelope.reasons import EnvelopeRejected, Reason
from onedoor.ids import AgencyId, AgreementId, SubjectToken
from tests.unit.connectors.world import (
    CASEWORK,
    CHARITY,
    COUNCIL,
    FULL_TO_COUNCIL,
    LIMITED_TO_COUNCIL,
    LIMITED_TO_PARTNERS,
    POLICE,
    PURPOSE,
    REFERRAL,
    STRANGER,
    YOT,
    Agencies,
    agreement,
    document,
)

CONTRACT = TaggedContract.from_schema(bundled()[REFERRAL], 1)
LIMITED = CONTRACT.fields_for(AccessLevel.LIMITED.classes)
CASEWORK_FIELDS = CONTRACT.fields_for(frozenset(parse_data_class(c) for c in CASEWORK))
SENT_POLICY = document(FULL_TO_COUNCIL, LIMITED_TO_PARTNERS)


@pytest.fixture(scope="module")
def agencies() -> Agencies:
    return Agencies()


def _seal(agencies: Agencies, recipients: list[AgencyId], **kwargs: Any) -> list[Sealed]:
    police = agencies.connector(POLICE, SharingPolicy(SENT_POLICY))
    return police.seal(contract=REFERRAL, version=1, recipients=recipients, purpose=PURPOSE, body=referral(3), **kwargs)


def _paths(record: dict[str, Any], prefix: str = "") -> set[str]:
    """Field paths present in a decoded body (records only: the referral's lists hold scalars or are empty)."""
    found = set()
    for name, value in record.items():
        path = f"{prefix}.{name}" if prefix else name
        found.add(path)
        if isinstance(value, dict):
            found |= _paths(value, path)
    return found


def test_three_recipients_two_field_sets_make_two_envelopes(agencies: Agencies) -> None:
    sealed = _seal(agencies, [COUNCIL, CHARITY, YOT])
    assert [(s.header.recipients, s.header.agreement) for s in sealed] == [
        ((COUNCIL,), "isa-police-council"),
        ((CHARITY, YOT), "isa-police-partners"),
    ]
    assert sealed[0].fields == CASEWORK_FIELDS
    assert sealed[1].fields == LIMITED
    assert sealed[0].header.correlation_id == sealed[1].header.correlation_id
    assert sealed[0].header.message_id != sealed[1].header.message_id
    for item in sealed:
        for recipient in item.header.recipients:
            opened = agencies.connector(recipient, SharingPolicy(SENT_POLICY)).open(item.value)
            assert opened.fields == item.fields
            assert opened.dropped == frozenset()
            assert opened.withheld == frozenset(CONTRACT.tags) - item.fields
            assert _paths(opened.body) <= item.fields
    council = agencies.connector(COUNCIL, None).open(sealed[0].value).body
    charity = agencies.connector(CHARITY, None).open(sealed[1].value).body
    assert council["child"]["family_name"] == referral(3)["child"]["family_name"]
    assert "health_concerns" not in council  # health is not in the casework classes
    assert charity["concern_summary"] == referral(3)["concern_summary"]
    assert "child" not in charity
    assert "referrer" not in charity
    assert "name" not in charity.get("professional_network", {})  # absent field, not an empty one


def test_a_recipient_not_addressed_cannot_open_the_other_groups_envelope(agencies: Agencies) -> None:
    full, _limited = _seal(agencies, [COUNCIL, CHARITY])
    with pytest.raises(EnvelopeRejected) as caught:
        agencies.connector(CHARITY, None).open(full.value)
    assert caught.value.reason is Reason.NOT_ADDRESSED


def test_a_denied_recipient_refuses_the_whole_message(agencies: Agencies) -> None:
    with pytest.raises(SharingDenied) as caught:
        _seal(agencies, [COUNCIL, STRANGER])
    assert caught.value.code == "sharing.denied"
    assert set(caught.value.denied) == {STRANGER}
    assert caught.value.denied[STRANGER].codes == ("agreement.none",)
    assert str(STRANGER) in caught.value.message
    assert referral(3)["child"]["family_name"] not in caught.value.message


def test_an_explicit_agreement_restricts_the_decision(agencies: Agencies) -> None:
    second = agreement("isa-police-council-limited", [POLICE, COUNCIL], access_level="limited")
    police = agencies.connector(POLICE, SharingPolicy(document(FULL_TO_COUNCIL, second)))
    body = referral(4)
    [chosen] = police.seal(contract=REFERRAL, version=1, recipients=[COUNCIL], purpose=PURPOSE, body=body)
    [named] = police.seal(
        contract=REFERRAL,
        version=1,
        recipients=[COUNCIL],
        purpose=PURPOSE,
        body=body,
        agreement=AgreementId("isa-police-council-limited"),
    )
    assert (chosen.header.agreement, chosen.fields) == ("isa-police-council", CASEWORK_FIELDS)
    assert (named.header.agreement, named.fields) == ("isa-police-council-limited", LIMITED)


def test_a_field_the_recipient_is_not_entitled_to_is_dropped_on_receipt(agencies: Agencies) -> None:
    """The council's policy (say, newer than the sender's) allows it less than the sender sent."""
    [item] = _seal(agencies, [COUNCIL])
    council = agencies.connector(COUNCIL, SharingPolicy(document(LIMITED_TO_COUNCIL, LIMITED_TO_PARTNERS)))
    opened = council.open(item.value)
    assert opened.fields == LIMITED
    assert opened.dropped == CASEWORK_FIELDS - LIMITED
    assert opened.dropped_count == len(CASEWORK_FIELDS - LIMITED) > 0
    assert "child" in opened.dropped
    assert "child" not in opened.body
    assert _paths(opened.body) <= LIMITED
    assert council.stats.dropped_fields == opened.dropped_count


def test_a_recipient_with_no_entitlement_refuses_with_not_entitled(agencies: Agencies) -> None:
    [item] = _seal(agencies, [COUNCIL])
    revoked = document(FULL_TO_COUNCIL, state=AgreementState.REVOKED)
    with pytest.raises(EnvelopeRejected) as caught:
        agencies.connector(COUNCIL, SharingPolicy(revoked)).open(item.value)
    assert caught.value.reason is Reason.NOT_ENTITLED
    assert caught.value.code == "agreement.not_entitled"
    assert "agreement.revoked" in caught.value.message


def test_without_a_policy_every_field_is_framed_and_the_agreement_named_as_given(agencies: Agencies) -> None:
    police = agencies.connector(POLICE, None)
    [item] = police.seal(
        contract=REFERRAL,
        version=1,
        recipients=[COUNCIL, STRANGER],
        purpose=PURPOSE,
        body=referral(5),
        agreement=AgreementId("isa-police-council"),
    )
    assert item.header.recipients == (COUNCIL, STRANGER)
    assert item.header.agreement == "isa-police-council"
    assert item.fields == frozenset(CONTRACT.tags)
    opened = agencies.connector(STRANGER, None).open(item.value)
    assert opened.fields == frozenset(CONTRACT.tags)
    assert opened.withheld == frozenset()
    assert opened.body["child"]["given_name"] == referral(5)["child"]["given_name"]


def test_consent_resting_agreement_needs_consent_given_at_the_sender(agencies: Agencies) -> None:
    """The sender assumes ``not recorded`` for a subject unless it says otherwise; the hub holds the records."""
    on_consent = agreement("isa-police-council", [POLICE, COUNCIL], access_level="limited")
    on_consent["lawful_basis"] = {"article6": "UK GDPR Art. 6(1)(a)"}
    police = agencies.connector(POLICE, SharingPolicy(document(on_consent)))
    message: dict[str, Any] = {
        "contract": REFERRAL,
        "version": 1,
        "recipients": [COUNCIL],
        "purpose": PURPOSE,
        "body": referral(6),
        "subject_token": SubjectToken("st1_SYNTHETICsubjectToken000"),
    }
    with pytest.raises(SharingDenied) as caught:
        police.seal(**message)
    assert "consent.required" in caught.value.denied[COUNCIL].codes
    [item] = police.seal(**message, consent=ConsentState.given(datetime(2024, 1, 1, tzinfo=UTC)))
    assert item.fields == LIMITED
