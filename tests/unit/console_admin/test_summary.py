"""The readable agreement summary: who shares what with whom, which fields, on what basis."""

from __future__ import annotations

from datetime import date

import pytest

from hub.console.admin.summary import actor_words, summarize
from tests.unit.console_admin.cases import CONTRACTS, NAMES, REFERRAL, body

TODAY = date(2026, 11, 22)


def test_a_limited_agreement_in_plain_english() -> None:
    summary = summarize(body(), CONTRACTS, NAMES, today=TODAY)
    assert summary.title == "County lines referrals"
    assert (
        summary.headline
        == "Metropolitan Police and Hackney Children's Services share information for safeguarding referral."
    )
    assert summary.parties == ("Metropolitan Police (met-police)", "Hackney Children's Services (lb-hackney-csc)")
    assert summary.purposes[0][0] == "safeguarding-referral"
    assert summary.purposes[0][1].startswith("Refer a young person at risk")
    [flow] = summary.flows
    assert flow.permit
    assert flow.access_level == "limited"
    assert flow.sentence.startswith("Any party may share limited access (status, not the file)")
    assert "with any other party (send messages and answer status checks)" in flow.sentence
    # Limited: the child's own phone sits inside the identity record, so it is not shared.
    [fields] = flow.fields
    assert (fields.contract, fields.version, fields.pinned) == (REFERRAL, 1, True)
    assert [p for p, _ in fields.fields] == ["message_id", "urgency", "concern", "network", "network.duty_phone"]
    assert summary.basis_citation == "UK GDPR Art. 6(1)(e); Children Act 2004 s.11"
    assert summary.basis_words[0] == "UK GDPR Article 6: a public task (an official function of the parties)."
    assert summary.consent.startswith("Consent is sought where it is safe")
    assert summary.retention == "Recipients keep what they receive for 365 days (1 year)."
    assert summary.review == "Review by 22 November 2027."
    assert not summary.review_overdue
    assert summary.period is None


def test_directions_purposes_exceptions_and_unpinned_contracts() -> None:
    provisions = [
        {
            "effect": "permit",
            "senders": ["agency:met-police"],
            "recipients": ["agency:lb-hackney-csc"],
            "actions": ["send"],
            "purposes": ["safeguarding-referral"],
            "access_level": "full",
            "provisions": [{"effect": "deny", "classes": ["health"]}],
        }
    ]
    summary = summarize(body(provisions=provisions, contract_versions={}), CONTRACTS, NAMES, today=TODAY)
    [flow] = summary.flows
    assert flow.sentence == (
        "Metropolitan Police (met-police) may share full access: every kind of data with "
        "Hackney Children's Services (lb-hackney-csc) (send messages), for safeguarding referral only."
    )
    [fields] = flow.fields
    assert (fields.version, fields.pinned) == (2, False), "no pin: the newest registered version is read"
    assert "found_at" in dict(fields.fields)
    [exception] = flow.exceptions
    assert not exception.permit
    assert exception.sentence.startswith("The same senders may not share health (special category data)")
    assert [p for p, _ in exception.fields[0].fields] == ["health_notes"]


def test_consent_basis_overdue_review_and_period() -> None:
    summary = summarize(
        body(
            lawful_basis={"article6": "UK GDPR Art. 6(1)(a)"},
            review_date="2026-01-01",
            retention_days=30,
            valid_until="2028-03-31T00:00:00Z",
        ),
        CONTRACTS,
        NAMES,
        today=TODAY,
    )
    assert summary.consent == "Sharing depends on consent: a refusal or a withdrawal stops it at once."
    assert summary.review_overdue
    assert summary.retention == "Recipients keep what they receive for 30 days."
    assert summary.period == "until 31 March 2028"


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("agency:met-police", "Metropolitan Police (met-police)"),
        ("agency:unknown-agency", "unknown-agency"),
        ("kind:children-services", "any children services party"),
        ("group:london-boroughs", "members of the group london-boroughs"),
        ("anyone", "any party"),
    ],
)
def test_actor_words(text: str, words: str) -> None:
    assert actor_words(text, NAMES) == words


def test_a_contract_with_no_registered_version_has_no_fields() -> None:
    summary = summarize(body(contract_versions={}), {}, NAMES, today=TODAY)
    assert summary.contracts == ((REFERRAL, None, False),)
    assert summary.flows[0].fields[0].fields == ()
