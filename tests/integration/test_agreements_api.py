"""Agreements over the real hub API, on SQLite and a real PostgreSQL: the lifecycle and every bad input.

A party's admin proposes; an admin of every party agency approves; the version becomes active.
An amendment needs fresh approvals while the old version stays in force. Each bad input answers
with a stable code and changes nothing: no version, approval or ``agreement.*`` audit row.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from consent.agreement import AgreementState
from consent.decide import DecisionRequest, decide
from consent.index import AgreementIndex
from hub.agreements import service
from hub.agreements.models import AgreementApproval, AgreementVersion
from hub.agreements.schemas import AgreementBody
from hub.agreements.signing import sign_approval
from hub.app import create_app, expire_once
from hub.audit.models import AuditEvent
from hub.auth.issuer import DevIssuer
from hub.auth.roles import Role
from onedoor.ids import AgencyId, KeyId, Purpose
from onedoor.settings import DatabaseSettings, Settings

pytestmark = pytest.mark.integration

MET = AgencyId("met-police")
HACKNEY = AgencyId("lb-hackney-csc")
CHARITY = AgencyId("fake-youth-charity")
ISA = "isa-met-hackney-county-lines"
KINDS = {MET: "police", HACKNEY: "children-services", CHARITY: "charity"}


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _agency_body(agency: AgencyId, signing_key: Ed25519PrivateKey) -> dict[str, str]:
    signing = signing_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    encryption = X25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return {
        "id": agency,
        "display_name": agency.replace("-", " ").title(),
        "kind": KINDS[agency],
        "signing_public_key": _b64(signing),
        "encryption_public_key": _b64(encryption),
    }


def agreement(**changes: Any) -> dict[str, Any]:
    """A valid agreement between the Met and Hackney: limited referral data, public task."""
    body: dict[str, Any] = {
        "id": ISA,
        "title": "County lines referrals, Met and Hackney",
        "parties": [f"agency:{MET}", f"agency:{HACKNEY}"],
        "contracts": ["onedoor.referral.MasterReferral"],
        "purposes": ["safeguarding-referral"],
        "provisions": [{"effect": "permit", "access_level": "limited"}],
        "lawful_basis": {"article6": "UK GDPR Art. 6(1)(e)", "statutes": ["Children Act 2004 s.11"]},
        "retention_days": 365,
        "review_date": "2027-11-22",
    }
    body.update(changes)
    return body


@dataclass
class Hub:
    """A running hub with three registered agencies."""

    client: httpx.AsyncClient
    factory: sessionmaker[Session]
    issuer: DevIssuer
    signing_keys: dict[AgencyId, Ed25519PrivateKey]

    def admin(self, agency: AgencyId) -> dict[str, str]:
        return self.bearer(Role.AGENCY_ADMIN, agency=agency, subject=f"admin@{agency}")

    def bearer(self, *roles: Role, agency: AgencyId | None = None, subject: str = "someone") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.issuer.mint(subject=subject, roles=roles, agency=agency)}"}

    async def propose(self, by: AgencyId, amends: int | None = None, **changes: Any) -> httpx.Response:
        body = {"agreement": agreement(**changes), "amends": amends}
        return await self.client.post("/agreements", json=body, headers=self.admin(by))

    async def approve(
        self, by: AgencyId, version: int, digest: str | None = None, signature: bytes | None = None
    ) -> httpx.Response:
        if digest is None:
            digest = await self.digest(version)
        body = {"digest": digest} | ({"signature": _b64(signature)} if signature is not None else {})
        return await self.client.post(
            f"/agreements/{ISA}/versions/{version}/approve", json=body, headers=self.admin(by)
        )

    async def digest(self, version: int) -> str:
        found = await self.client.get(f"/agreements/{ISA}", headers=self.bearer(Role.HUB_OPERATOR))
        digest: str = found.json()["versions"][version - 1]["digest"]
        return digest

    def agreement_events(self) -> list[tuple[str, str]]:
        with self.factory() as session:
            stmt = select(AuditEvent).where(AuditEvent.kind.like("agreement.%")).order_by(AuditEvent.id)
            return [(e.kind, e.source or "") for e in session.scalars(stmt)]

    def footprint(self) -> tuple[int, int, list[tuple[str, str]], list[tuple[int, str]]]:
        """Everything a refused request must leave as it was."""
        with self.factory() as session:
            versions = session.scalar(select(func.count()).select_from(AgreementVersion)) or 0
            approvals = session.scalar(select(func.count()).select_from(AgreementApproval)) or 0
            states = [(v.version, v.state.value) for v in session.scalars(select(AgreementVersion))]
        return versions, approvals, self.agreement_events(), sorted(states)


@pytest.fixture
async def hub(database_url: str, tmp_path: Path) -> AsyncIterator[Hub]:
    settings = Settings(env="test", home=tmp_path / "home", db=DatabaseSettings(url=database_url))
    app: FastAPI = create_app(settings)
    issuer = DevIssuer.from_settings(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub.test") as client:
            operator = {"Authorization": f"Bearer {issuer.mint(subject='setup', roles=[Role.HUB_OPERATOR])}"}
            keys = {agency: Ed25519PrivateKey.generate() for agency in KINDS}
            for agency, key in keys.items():
                created = await client.post("/agencies", json=_agency_body(agency, key), headers=operator)
                assert created.status_code == 201, created.text
            yield Hub(client, app.state.session_factory, issuer, keys)


async def _active(hub: Hub) -> None:
    assert (await hub.propose(MET)).status_code == 201
    assert (await hub.approve(MET, 1)).status_code == 200
    assert (await hub.approve(HACKNEY, 1)).status_code == 200


async def test_propose_and_both_parties_approve(hub: Hub) -> None:
    proposed = await hub.propose(MET)
    assert proposed.status_code == 201, proposed.text
    v1 = proposed.json()["versions"][0]
    assert (v1["version"], v1["state"], v1["signatories"]) == (1, "proposed", [HACKNEY, MET])
    assert v1["proposed_by"] == f"admin@{MET}"

    first = await hub.approve(MET, 1)
    assert first.status_code == 200, first.text
    assert first.json()["versions"][0]["state"] == "proposed"
    with hub.factory() as session:
        assert service.active_agreements(session) == []

    last = await hub.approve(HACKNEY, 1)
    assert last.status_code == 200, last.text
    out = last.json()
    assert out["in_force"] == 1
    version = out["versions"][0]
    assert version["state"] == "active"
    assert [(a["agency"], a["approver"], a["digest"]) for a in version["approvals"]] == [
        (MET, f"admin@{MET}", version["digest"]),
        (HACKNEY, f"admin@{HACKNEY}", version["digest"]),
    ]
    assert hub.agreement_events() == [
        ("agreement.propose", f"agreement:{ISA}:v1"),
        ("agreement.approve", f"agreement:{ISA}:v1"),
        ("agreement.approve", f"agreement:{ISA}:v1"),
        ("agreement.activate", f"agreement:{ISA}:v1"),
    ]
    with hub.factory() as session:
        [engine] = service.active_agreements(session)
    assert (engine.id, engine.version, engine.state) == (ISA, 1, AgreementState.ACTIVE)


async def test_amendment_needs_fresh_approvals(hub: Hub) -> None:
    await _active(hub)
    amended = await hub.propose(HACKNEY, amends=1, purposes=["safeguarding-referral", "case-coordination"])
    assert amended.status_code == 201, amended.text
    assert (amended.json()["in_force"], amended.json()["latest"]) == (1, 2)
    assert amended.json()["versions"][1]["approvals"] == []

    await hub.approve(MET, 2)
    with hub.factory() as session:
        [engine] = service.active_agreements(session)
    assert engine.version == 1, "the old version stays in force until every party approves the new one"

    done = await hub.approve(HACKNEY, 2)
    assert [v["state"] for v in done.json()["versions"]] == ["superseded", "active"]
    assert done.json()["in_force"] == 2
    with hub.factory() as session:
        [engine] = service.active_agreements(session)
    assert (engine.version, sorted(engine.purposes)) == (2, ["case-coordination", "safeguarding-referral"])
    assert ("agreement.supersede", f"agreement:{ISA}:v1") in hub.agreement_events()


async def test_a_party_approving_twice_is_refused(hub: Hub) -> None:
    await hub.propose(MET)
    await hub.approve(MET, 1)
    before = hub.footprint()
    again = await hub.approve(MET, 1)
    assert (again.status_code, again.json()["code"]) == (409, "agreement.already_approved")
    assert hub.footprint() == before


async def test_another_agencys_admin_gets_the_same_403_as_for_nothing(hub: Hub) -> None:
    await hub.propose(MET)
    before = hub.footprint()
    theirs = await hub.approve(CHARITY, 1, digest="0" * 64)
    missing = await hub.client.post(
        "/agreements/isa-does-not-exist/versions/1/approve", json={"digest": "0" * 64}, headers=hub.admin(CHARITY)
    )
    assert theirs.status_code == missing.status_code == 403
    assert {k: v for k, v in theirs.json().items() if k != "error_id"} == {
        k: v for k, v in missing.json().items() if k != "error_id"
    }
    read = await hub.client.get(f"/agreements/{ISA}", headers=hub.admin(CHARITY))
    assert (read.status_code, read.json()["code"]) == (403, "auth.forbidden")
    assert hub.footprint() == before
    with hub.factory() as session:
        stmt = select(AuditEvent).where(AuditEvent.kind == "api.authz").order_by(AuditEvent.id.desc()).limit(1)
        denied = session.scalars(stmt).one()
    assert (denied.actor, denied.outcome, denied.reason_code) == (f"admin@{CHARITY}", "deny", "auth.forbidden")
    assert denied.source == f"GET /agreements/{{agreement_id}} agreement_id={ISA}"


async def test_approving_a_stale_version_is_refused(hub: Hub) -> None:
    await hub.propose(MET)
    old_digest = await hub.digest(1)
    await hub.propose(HACKNEY, amends=1, retention_days=180)
    before = hub.footprint()
    stale = await hub.approve(MET, 1, old_digest)
    assert (stale.status_code, stale.json()["code"]) == (409, "agreement.stale_version")
    wrong = await hub.approve(MET, 2, old_digest)
    assert (wrong.status_code, wrong.json()["code"]) == (409, "agreement.stale_version")
    late = await hub.propose(MET, amends=1, retention_days=90)
    assert (late.status_code, late.json()["code"]) == (409, "agreement.stale_version")
    assert hub.footprint() == before


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"purposes": ["fishing-trip"]}, "purpose.unknown"),
        ({"provisions": [{"effect": "permit", "classes": ["shoe-size"]}]}, "data_class.unknown"),
        (
            {"contracts": ["onedoor.ack.Acknowledgement"], "provisions": [{"effect": "permit", "classes": ["health"]}]},
            "agreement.class_not_in_contract",
        ),
        ({"contracts": ["onedoor.nothing.Here"]}, "contract.unknown"),
        ({"parties": [f"agency:{MET}", "agency:no-such-agency"]}, "actor.unknown"),
        ({"parties": ["group:london-boroughs"]}, "agreement.no_signatory"),
        ({"contract_versions": {"onedoor.referral.MasterReferral": 99}}, "agreement.contract_version_unknown"),
        ({"contract_versions": {"onedoor.alert.Alert": 1}}, "agreement.pinned_contract_not_covered"),
        (
            {
                "provisions": [
                    {"effect": "permit", "classes": ["contact"]},
                    {"effect": "deny", "classes": ["contact", "location"]},
                ]
            },
            "provision.conflict",
        ),
    ],
    ids=[
        "unknown purpose",
        "unknown data class",
        "class its contract lacks",
        "unknown contract",
        "unknown party",
        "no agency to sign",
        "pinned to an unregistered contract version",
        "pins a contract it does not cover",
        "a permit a sibling deny covers entirely",
    ],
)
async def test_bad_definitions_are_422(hub: Hub, changes: dict[str, Any], code: str) -> None:
    before = hub.footprint()
    refused = await hub.client.post(
        "/agreements", json={"agreement": agreement(**changes)}, headers=hub.bearer(Role.HUB_OPERATOR)
    )
    assert (refused.status_code, refused.json()["code"]) == (422, code), refused.text
    assert hub.footprint() == before


async def test_the_proposal_pins_the_newest_contract_version_into_what_parties_approve(hub: Hub) -> None:
    """Each contract is pinned to its newest registered version; the digest the parties approve covers it."""
    proposed = await hub.propose(MET)
    v1 = proposed.json()["versions"][0]
    assert v1["body"]["contract_versions"] == {"onedoor.referral.MasterReferral": 1}
    assert v1["digest"] == AgreementBody.model_validate(v1["body"]).digest()
    assert v1["digest"] != AgreementBody.model_validate(agreement()).digest()
    await hub.approve(MET, 1)
    await hub.approve(HACKNEY, 1)
    with hub.factory() as session:
        [engine] = service.active_agreements(session)
    assert dict(engine.contract_versions) == {"onedoor.referral.MasterReferral": 1}


async def test_invalid_transitions(hub: Hub) -> None:
    await hub.propose(MET)
    before = hub.footprint()
    early = await hub.client.post(f"/agreements/{ISA}/suspend", headers=hub.admin(MET))
    assert (early.status_code, early.json()["code"]) == (409, "agreement.invalid_transition")
    exists = await hub.propose(MET)
    assert (exists.status_code, exists.json()["code"]) == (409, "agreement.exists")
    assert hub.footprint() == before

    await hub.approve(MET, 1)
    await hub.approve(HACKNEY, 1)
    suspended = await hub.client.post(f"/agreements/{ISA}/suspend", headers=hub.bearer(Role.HUB_OPERATOR))
    assert suspended.json()["versions"][0]["state"] == "suspended"
    revoked = await hub.client.post(f"/agreements/{ISA}/revoke", headers=hub.admin(HACKNEY))
    assert revoked.json()["versions"][0]["state"] == "revoked"
    with hub.factory() as session:
        [engine] = service.active_agreements(session)
    assert engine.state is AgreementState.REVOKED

    before = hub.footprint()
    again = await hub.client.post(f"/agreements/{ISA}/revoke", headers=hub.admin(HACKNEY))
    assert (again.status_code, again.json()["code"]) == (409, "agreement.invalid_transition")
    amend = await hub.propose(MET, amends=1)
    assert (amend.status_code, amend.json()["code"]) == (409, "agreement.invalid_transition")
    assert hub.footprint() == before
    kinds = [kind for kind, _ in hub.agreement_events()]
    assert kinds[-2:] == ["agreement.suspend", "agreement.revoke"]


async def test_who_sees_what(hub: Hub) -> None:
    await hub.propose(MET)
    for roles in ([Role.HUB_OPERATOR], [Role.AUDITOR]):
        seen = await hub.client.get("/agreements", headers=hub.bearer(*roles))
        assert [a["id"] for a in seen.json()["items"]] == [ISA], roles
    # An ops viewer sees flow metadata only: no agreement list, no agreement (issue 7).
    for path in ("/agreements", f"/agreements/{ISA}"):
        viewer = await hub.client.get(path, headers=hub.bearer(Role.OPS_VIEWER))
        assert (viewer.status_code, viewer.json()["code"]) == (403, "auth.forbidden"), path
    assert [a["id"] for a in (await hub.client.get("/agreements", headers=hub.admin(HACKNEY))).json()["items"]] == [ISA]
    assert (await hub.client.get("/agreements", headers=hub.admin(CHARITY))).json()["items"] == []
    auditor = await hub.client.get(f"/agreements/{ISA}", headers=hub.bearer(Role.AUDITOR))
    assert auditor.status_code == 200
    nobody = await hub.client.get("/agreements/isa-none", headers=hub.bearer(Role.AUDITOR))
    assert (nobody.status_code, nobody.json()["code"]) == (404, "agreement.not_found")
    outsider = await hub.client.post("/agreements", json={"agreement": agreement()}, headers=hub.admin(CHARITY))
    assert (outsider.status_code, outsider.json()["code"]) == (403, "auth.forbidden")
    operator_approves = await hub.client.post(
        f"/agreements/{ISA}/versions/1/approve", json={"digest": "0" * 64}, headers=hub.bearer(Role.HUB_OPERATOR)
    )
    assert operator_approves.status_code == 403


async def test_expiry(hub: Hub) -> None:
    await hub.propose(MET, valid_until="2030-01-01T00:00:00Z")
    await hub.approve(MET, 1)
    await hub.approve(HACKNEY, 1)
    with hub.factory() as session, session.begin():
        assert service.expire_due(session, now=datetime(2029, 12, 31, tzinfo=UTC)) == []
        [expired] = service.expire_due(session, now=datetime(2030, 1, 1, tzinfo=UTC))
        assert expired.state.value == "expired"
    assert hub.agreement_events()[-1] == ("agreement.expire", f"agreement:{ISA}:v1")


async def test_a_suspension_is_lifted_only_by_a_version_every_party_approves(hub: Hub) -> None:
    await _active(hub)
    await hub.client.post(f"/agreements/{ISA}/suspend", headers=hub.admin(MET))
    with hub.factory() as session:
        [engine] = service.active_agreements(session)
    assert engine.state is AgreementState.SUSPENDED
    again = await hub.propose(MET, amends=1)
    assert again.json()["versions"][1]["digest"] == again.json()["versions"][0]["digest"], "same content"
    await hub.approve(MET, 2)
    assert (await hub.client.get(f"/agreements/{ISA}", headers=hub.admin(MET))).json()["in_force"] == 1
    lifted = await hub.approve(HACKNEY, 2)
    assert [v["state"] for v in lifted.json()["versions"]] == ["superseded", "active"]


async def test_approvals_signed_by_the_agencys_registered_key(hub: Hub) -> None:
    await hub.propose(MET)
    digest = await hub.digest(1)
    signed = await hub.approve(MET, 1, signature=sign_approval(hub.signing_keys[MET], ISA, 1, digest))
    assert signed.status_code == 200, signed.text
    [approval] = signed.json()["versions"][0]["approvals"]
    assert approval["key_id"] == KeyId.for_public_key(
        hub.signing_keys[MET].public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    )
    assert approval["signature"] is not None

    before = hub.footprint()
    for wrong in (
        sign_approval(hub.signing_keys[MET], ISA, 1, digest),  # the Met's key, not Hackney's
        sign_approval(hub.signing_keys[HACKNEY], ISA, 2, digest),  # another version
        sign_approval(Ed25519PrivateKey.generate(), ISA, 1, digest),  # an unregistered key
    ):
        refused = await hub.approve(HACKNEY, 1, signature=wrong)
        assert (refused.status_code, refused.json()["code"]) == (422, "agreement.bad_signature")
    assert hub.footprint() == before
    unsigned = await hub.approve(HACKNEY, 1)
    assert unsigned.json()["versions"][0]["approvals"][1]["signature"] is None
    assert unsigned.json()["versions"][0]["state"] == "active"


async def test_an_agency_and_a_group_and_what_the_engine_loads(hub: Hub) -> None:
    """Only the named agency signs; the index builds from what the store hands over."""
    await _active(hub)
    with_group = {
        "agreement": agreement(
            id="isa-met-london-boroughs",
            parties=[f"agency:{MET}", "group:london-boroughs"],
            provisions=[{"effect": "permit", "senders": [f"agency:{MET}"], "access_level": "limited"}],
        )
    }
    proposed = await hub.client.post("/agreements", json=with_group, headers=hub.admin(MET))
    assert proposed.status_code == 201, proposed.text
    assert proposed.json()["versions"][0]["signatories"] == [MET]
    digest = proposed.json()["versions"][0]["digest"]
    approved = await hub.client.post(
        "/agreements/isa-met-london-boroughs/versions/1/approve", json={"digest": digest}, headers=hub.admin(MET)
    )
    assert approved.json()["in_force"] == 1
    with hub.factory() as session:
        loaded = service.active_agreements(session)
        catalog = service.catalog_for(session, loaded)
        index = AgreementIndex.build(loaded, catalog)
    assert sorted(a.id for a in index) == [ISA, "isa-met-london-boroughs"]
    referral = catalog.contracts[("onedoor.referral.MasterReferral", 1)]
    flow = DecisionRequest(MET, HACKNEY, referral, Purpose("safeguarding-referral"), int(time.time() * 1000))
    decision = decide(flow, index)
    assert decision.permitted
    assert decision.agreement_id == ISA


async def test_an_agreement_past_its_end_is_marked_expired_audited_and_no_longer_in_force(hub: Hub) -> None:
    ends = datetime.now(UTC) + timedelta(seconds=1)
    assert (await hub.propose(MET, valid_until=ends.isoformat())).status_code == 201
    for agency in (MET, HACKNEY):
        assert (await hub.approve(agency, 1)).status_code == 200
    assert expire_once(hub.factory) == 0, "still inside its period"
    await asyncio.sleep((ends - datetime.now(UTC)).total_seconds() + 0.05)
    assert expire_once(hub.factory) == 1
    assert expire_once(hub.factory) == 0, "expiring is done once"
    shown = await hub.client.get(f"/agreements/{ISA}", headers=hub.admin(MET))
    assert shown.json()["versions"][0]["state"] == "expired"
    assert shown.json()["in_force"] is None
    assert hub.agreement_events()[-1] == ("agreement.expire", f"agreement:{ISA}:v1")
