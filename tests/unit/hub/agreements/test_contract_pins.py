"""Agreements pin contract versions in the hub store: propose, approve, register v2, decide, amend, decide.

Through ``hub.agreements.service`` and the contract registry on an in-memory SQLite database,
into the consent engine the way the hub loads it (``active_agreements`` + ``catalog_for``).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy.orm import Session

import hub.agreements.models  # noqa: F401 - registers the agreement tables in the metadata
from consent import AgreementIndex, Decision, DecisionRequest, ReasonCode, TaggedContract, decide
from contracts.registry import service as registry
from hub.agencies.enums import AgencyKind, AgencyStatus
from hub.agencies.models import Agency
from hub.agreements import service
from hub.agreements.schemas import AgreementBody, AgreementPropose
from hub.agreements.service import pin
from onedoor.errors import NotFound, ValidationFailed
from onedoor.ids import AgencyId, Purpose

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
POLICE, COUNCIL = AgencyId("fake-pins-police"), AgencyId("fake-pins-council")
NAME = "test.pins.Referral"
ISA = "isa-fake-pins"


def _field(name: str, type_: Any, tag: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": type_, "doc": f"The {name}.", "sensitivity": tag, **extra}


V1 = {
    "type": "record",
    "name": "Referral",
    "namespace": "test.pins",
    "fields": [_field("referral_id", "string", "operational"), _field("concern", "string", "safeguarding")],
}
V2 = {
    **V1,
    "fields": [
        *V1["fields"],  # type: ignore[misc]
        _field("diagnosis", ["null", "string"], "health", default=None),
        _field("priority", ["null", "int"], "operational", default=None),
    ],
}


def _body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": ISA,
        "parties": [f"agency:{POLICE}", f"agency:{COUNCIL}"],
        "contracts": [NAME],
        "purposes": ["safeguarding-referral"],
        "provisions": [{"effect": "permit"}],
        "lawful_basis": {
            "article6": "UK GDPR Art. 6(1)(e)",
            "article9": "UK GDPR Art. 9(2)(g)",
            "conditions": ["DPA 2018 Sch. 1 para 18"],
            "statutes": ["Children Act 2004 s.11"],
        },
        "retention_days": 365,
        "review_date": "2030-01-01",
    }
    return body | changes


@pytest.fixture
def store(session: Session) -> Session:
    """Two registered agencies and v1 of the contract."""
    for agency, kind in ((POLICE, AgencyKind.POLICE), (COUNCIL, AgencyKind.CHILDREN_SERVICES)):
        session.add(Agency(id=agency, display_name=agency, kind=kind, status=AgencyStatus.ACTIVE, created_at=NOW))
    registry.register_version(session, NAME, json.dumps(V1))
    session.flush()
    return session


def _propose_and_approve(session: Session, amends: int | None = None, **changes: Any) -> int:
    row = service.propose(
        session, AgreementPropose(agreement=AgreementBody.model_validate(_body(**changes)), amends=amends), by="t"
    )
    for agency in (POLICE, COUNCIL):
        service.approve(session, ISA, row.version, agency=agency, approver=f"admin@{agency}", digest=row.digest)
    return row.version


def _decide(session: Session, contract_version: int) -> Decision:
    loaded = service.active_agreements(session)
    catalog = service.catalog_for(session, loaded)
    index = AgreementIndex.build(loaded, catalog, skip_invalid=True)
    assert index.rejected == ()
    contract: TaggedContract = catalog.contracts[(NAME, contract_version)]
    at = int(NOW.timestamp() * 1000)
    return decide(DecisionRequest(POLICE, COUNCIL, contract, Purpose("safeguarding-referral"), at), index)


def test_approved_at_v1_withholds_v2s_health_field_until_amended(store: Session) -> None:
    assert _propose_and_approve(store) == 1
    [stored] = service.versions(store, ISA)
    assert stored.body["contract_versions"] == {NAME: 1}, "pinned to the newest version when proposed"

    registered = registry.register_version(store, NAME, json.dumps(V2))
    assert [(f.path, f.tag.value) for f in registered.sensitive_additions] == [("diagnosis", "health")]

    before = _decide(store, 2)
    assert before.permitted
    assert before.codes == ("agreement.permits", "fields.not_approved")
    assert "diagnosis" not in before.allowed_fields
    assert {"referral_id", "concern", "priority"} <= before.allowed_fields, "operational priority flows"
    [reason] = [r for r in before.reasons if r.code is ReasonCode.NOT_APPROVED]
    assert reason.detail == "diagnosis"
    assert _decide(store, 1).codes == ("agreement.permits",), "v1 messages are unaffected"

    assert _propose_and_approve(store, amends=1) == 2
    amended = service.versions(store, ISA)[-1]
    assert amended.body["contract_versions"] == {NAME: 2}
    after = _decide(store, 2)
    assert after.codes == ("agreement.permits",)
    assert (after.agreement_version, "diagnosis" in after.allowed_fields) == (2, True)


def test_an_amendment_that_keeps_an_explicit_v1_pin_keeps_withholding(store: Session) -> None:
    _propose_and_approve(store)
    registry.register_version(store, NAME, json.dumps(V2))
    _propose_and_approve(store, amends=1, contract_versions={NAME: 1}, title="Retitled, still v1")

    decision = _decide(store, 2)
    assert decision.agreement_version == 2
    assert "diagnosis" not in decision.allowed_fields


def test_an_explicit_pin_to_an_unregistered_version_is_refused(store: Session) -> None:
    with pytest.raises(ValidationFailed) as caught:
        service.propose(
            store, AgreementPropose(agreement=AgreementBody.model_validate(_body(contract_versions={NAME: 5}))), by="t"
        )
    assert (caught.value.code, caught.value.http_status) == ("agreement.contract_version_unknown", 422)
    with pytest.raises(NotFound):
        service.versions(store, ISA)


def test_the_pin_is_in_the_digest_and_a_body_without_pins_keeps_its_old_digest(store: Session) -> None:
    plain = AgreementBody.model_validate(_body())
    pinned = pin(store, plain)
    assert pinned.contract_versions == {NAME: 1}
    assert pinned.digest() != plain.digest()
    assert b"contract_versions" not in plain.canonical(), "bodies stored before pins existed digest as before"
    assert pin(store, pinned) is pinned
