"""Shared test data: a small tagged contract in two versions and an agreement between two agencies."""

from __future__ import annotations

from typing import Any

from hub.agreements.schemas import AgreementBody

REFERRAL = "test.console.Referral"
V1 = {
    "message_id": "operational",
    "urgency": "operational",
    "concern": "safeguarding",
    "child": "identity",
    "child.name": "identity",
    "child.phone": "contact",
    "network": "contact",
    "network.duty_phone": "contact",
    "health_notes": "health",
}
V2 = {**V1, "found_at": "location", "status": "operational"}
CONTRACTS = {REFERRAL: {1: V1, 2: V2}}
NAMES = {"met-police": "Metropolitan Police", "lb-hackney-csc": "Hackney Children's Services"}


def body(**changes: Any) -> AgreementBody:
    """A valid agreement: limited referral data, both ways, public task; ``changes`` override fields."""
    data: dict[str, Any] = {
        "id": "isa-met-hackney",
        "title": "County lines referrals",
        "parties": ["agency:met-police", "agency:lb-hackney-csc"],
        "contracts": [REFERRAL],
        "contract_versions": {REFERRAL: 1},
        "purposes": ["safeguarding-referral"],
        "provisions": [{"effect": "permit", "access_level": "limited"}],
        "lawful_basis": {"article6": "UK GDPR Art. 6(1)(e)", "statutes": ["Children Act 2004 s.11"]},
        "retention_days": 365,
        "review_date": "2027-11-22",
    }
    data.update(changes)
    return AgreementBody.model_validate(data)
