"""The agreement body: its canonical digest, and how it becomes the consent engine's ``Agreement``."""

from __future__ import annotations

import json
from typing import Any

import pytest

from consent.actors import ANYONE, Actor
from consent.agreement import AgreementState
from consent.model import DataClass
from hub.agreements.schemas import AgreementBody, parse_actor, signatories
from onedoor.errors import ValidationFailed


def _body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "isa-met-hackney",
        "parties": ["agency:met-police", "group:london-boroughs"],
        "contracts": ["onedoor.referral.MasterReferral"],
        "purposes": ["safeguarding-referral"],
        "provisions": [{"effect": "permit", "access_level": "limited"}],
        "lawful_basis": {"article6": "UK GDPR Art. 6(1)(e)"},
        "retention_days": 30,
        "review_date": "2027-01-01",
    }
    return body | changes


def test_the_digest_ignores_key_order_and_whitespace() -> None:
    """Two spellings of the same body have one digest; any change of content changes it."""
    a = AgreementBody.model_validate_json(json.dumps(_body()))
    b = AgreementBody.model_validate_json(json.dumps(dict(reversed(_body().items())), indent=2))
    assert a.digest() == b.digest()
    assert a.digest() != AgreementBody.model_validate(_body(retention_days=31)).digest()


def test_to_engine_builds_the_engines_agreement() -> None:
    """The engine sees the parties, the preset classes and the retention in its own types."""
    engine = AgreementBody.model_validate(_body()).to_engine(3, AgreementState.ACTIVE)
    assert engine.version == 3
    assert engine.parties == {Actor.agency("met-police"), Actor.group("london-boroughs")}
    assert engine.named_classes() == {DataClass.OPERATIONAL, DataClass.SAFEGUARDING, DataClass.CONTACT}
    assert engine.retention.days == 30


def test_only_named_agencies_sign() -> None:
    """A group party has no admin of its own: only the named agencies approve."""
    assert signatories(AgreementBody.model_validate(_body())) == {"met-police"}


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        (
            {"provisions": [{"effect": "permit", "classes": ["health"], "access_level": "full"}]},
            "provision.classes_and_level",
        ),
        ({"provisions": [{"effect": "permit", "classes": ["shoe-size"]}]}, "data_class.unknown"),
        ({"provisions": [{"effect": "permit", "senders": ["someone:else"]}]}, "actor.invalid"),
        ({"parties": ["anyone", "agency:met-police"]}, "agreement.invalid_parties"),
        ({"id": "Not A Slug"}, "agreement_id.invalid"),
    ],
    ids=["classes and a level", "unknown class", "malformed actor", "anyone as a party", "bad id"],
)
def test_bodies_the_engine_refuses(changes: dict[str, Any], code: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        AgreementBody.model_validate(_body(**changes)).to_engine(1, AgreementState.PROPOSED)
    assert refused.value.code == code


def test_actor_text_forms() -> None:
    assert parse_actor("anyone") is ANYONE
    assert parse_actor("kind:police") == Actor.kind("police")
