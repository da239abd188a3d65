"""Consent records over the real hub API, on SQLite and a real PostgreSQL: who may do what, and every bad input.

An agency admin records its own agency's consent decisions for a subject token; the latest
wins, whichever agency recorded it. An emergency override applies once a second person of the
same agency reviews it. Each refused request answers with a stable code and changes nothing:
no record, no review, no ``consent.*`` audit row. An agency that has recorded nothing for a
token gets the same 403 whether or not other agencies have.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
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

from consent.subject import ConsentStatus
from hub.app import create_app
from hub.audit.models import AuditEvent
from hub.auth.issuer import DevIssuer
from hub.auth.roles import Role
from hub.consents import service
from hub.consents.models import ConsentOverride, ConsentRecord
from hub.policy.changes import Change, ChangeKind, announce_commits
from onedoor.ids import AgencyId
from onedoor.settings import DatabaseSettings, Settings

pytestmark = pytest.mark.integration

MET = AgencyId("met-police")
HACKNEY = AgencyId("lb-hackney-csc")
CHARITY = AgencyId("fake-youth-charity")
KINDS = {MET: "police", HACKNEY: "children-services", CHARITY: "charity"}
TOKEN = "st1_FAKEtokenForTestsOnly00"
UNSEEN = "st1_FAKEtokenForTestsOnly99"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _agency_body(agency: AgencyId) -> dict[str, str]:
    signing = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    encryption = X25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return {
        "id": agency,
        "display_name": agency.replace("-", " ").title(),
        "kind": KINDS[agency],
        "signing_public_key": _b64(signing),
        "encryption_public_key": _b64(encryption),
    }


def _same(a: httpx.Response, b: httpx.Response) -> bool:
    """The same status and body but for the error id."""
    return a.status_code == b.status_code and {k: v for k, v in a.json().items() if k != "error_id"} == {
        k: v for k, v in b.json().items() if k != "error_id"
    }


@dataclass
class Hub:
    """A running hub with three registered agencies; ``published`` collects announced changes."""

    client: httpx.AsyncClient
    factory: sessionmaker[Session]
    issuer: DevIssuer
    published: list[list[Change]] = field(default_factory=list)

    def admin(self, agency: AgencyId) -> dict[str, str]:
        return self.bearer(Role.AGENCY_ADMIN, agency=agency, subject=f"admin@{agency}")

    def bearer(self, *roles: Role, agency: AgencyId | None = None, subject: str = "someone") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.issuer.mint(subject=subject, roles=roles, agency=agency)}"}

    async def record(
        self, status: str, by: AgencyId = MET, token: str = TOKEN, headers: dict[str, str] | None = None, **extra: Any
    ) -> httpx.Response:
        body = {"status": status, "agency_id": by, "recorded_by": "pc1234"} | extra
        return await self.client.post(f"/consents/{token}", json=body, headers=headers or self.admin(by))

    async def override(self, by: AgencyId = MET, hours: float = 24, **extra: Any) -> httpx.Response:
        expires = datetime.now(UTC) + timedelta(hours=hours)
        body = {
            "agency_id": by,
            "recorded_by": "pc1234",
            "justification": "risk-of-significant-harm",
            "expires_at": expires.isoformat(),
        } | extra
        return await self.client.post(f"/consents/{TOKEN}/overrides", json=body, headers=self.admin(by))

    async def review(self, override_id: int, reviewer: str, by: AgencyId = MET) -> httpx.Response:
        return await self.client.post(
            f"/consents/{TOKEN}/overrides/{override_id}/review", json={"reviewed_by": reviewer}, headers=self.admin(by)
        )

    async def read(self, headers: dict[str, str], token: str = TOKEN) -> httpx.Response:
        return await self.client.get(f"/consents/{token}", headers=headers)

    def consent_events(self) -> list[AuditEvent]:
        with self.factory() as session:
            stmt = select(AuditEvent).where(AuditEvent.kind.like("consent.%")).order_by(AuditEvent.id)
            return list(session.scalars(stmt))

    def last_authz(self) -> AuditEvent:
        with self.factory() as session:
            stmt = select(AuditEvent).where(AuditEvent.kind == "api.authz").order_by(AuditEvent.id.desc()).limit(1)
            return session.scalars(stmt).one()

    def footprint(self) -> tuple[int, int, list[tuple[int, str | None]], list[str], int]:
        """Everything a refused request must leave as it was."""
        with self.factory() as session:
            records = session.scalar(select(func.count()).select_from(ConsentRecord)) or 0
            overrides = session.scalar(select(func.count()).select_from(ConsentOverride)) or 0
            reviews = [(o.id, o.reviewed_by) for o in session.scalars(select(ConsentOverride).order_by("id"))]
        return records, overrides, reviews, [e.kind for e in self.consent_events()], len(self.published)


@pytest.fixture
async def hub(database_url: str, tmp_path: Path) -> AsyncIterator[Hub]:
    settings = Settings(env="test", home=tmp_path / "home", db=DatabaseSettings(url=database_url))
    app: FastAPI = create_app(settings)
    issuer = DevIssuer.from_settings(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub.test") as client:
            operator = {"Authorization": f"Bearer {issuer.mint(subject='setup', roles=[Role.HUB_OPERATOR])}"}
            for agency in KINDS:
                created = await client.post("/agencies", json=_agency_body(agency), headers=operator)
                assert created.status_code == 201, created.text
            hub = Hub(client, app.state.session_factory, issuer)
            # What a broker-backed hub does (hub.app._announcing), with a list for the broker.
            announce_commits(hub.factory, hub.published.append)
            yield hub


async def test_each_status_is_recorded_and_the_latest_wins(hub: Hub) -> None:
    given = await hub.record("given")
    assert given.status_code == 201, given.text
    assert given.json()["state"]["status"] == "given"
    assert given.json()["state"]["record"]["recorded_by"] == "pc1234"

    refused = await hub.record("refused", by=HACKNEY)
    assert refused.json()["state"]["status"] == "refused"
    not_sought = await hub.record("not-sought-risk", justification="would-prejudice-protection", reference="CP/26/7")
    assert not_sought.status_code == 201, not_sought.text
    withdrawn = await hub.record("withdrawn", by=HACKNEY)
    assert withdrawn.json()["state"]["status"] == "withdrawn"

    seen = (await hub.read(hub.bearer(Role.AUDITOR))).json()
    assert [(r["status"], r["agency_id"]) for r in seen["records"]] == [
        ("given", MET),
        ("refused", HACKNEY),
        ("not-sought-risk", MET),
        ("withdrawn", HACKNEY),
    ]
    assert seen["records"][2]["justification"] == "would-prejudice-protection"
    assert seen["records"][2]["reference"] == "CP/26/7"
    with hub.factory() as session:
        assert service.consent_state(session, TOKEN).status is ConsentStatus.WITHDRAWN
        assert set(service.consent_states(session)) == {TOKEN}


async def test_a_withdrawal_is_announced_to_the_routers_when_it_commits(hub: Hub) -> None:
    await hub.record("given")
    await hub.record("withdrawn")
    assert hub.published == [[(ChangeKind.CONSENT, TOKEN)], [(ChangeKind.CONSENT, TOKEN)]]
    with hub.factory() as session:
        assert service.consent_state(session, TOKEN).status is ConsentStatus.WITHDRAWN


async def test_every_change_is_audited_with_the_token_and_the_api_rows_without_it(hub: Hub) -> None:
    await hub.record("not-sought-risk", justification="consent-cannot-be-given", reference="CASE-99")
    [event] = hub.consent_events()
    assert (event.kind, event.outcome, event.actor, event.subject_token) == (
        "consent.record",
        "not-sought-risk",
        "pc1234",
        TOKEN,
    )
    assert "CASE-99" not in (event.detail or "")
    authz = hub.last_authz()
    assert (authz.outcome, authz.actor, authz.subject_token) == ("permit", f"admin@{MET}", None)
    assert authz.source == f"POST /consents/{{subject_token}} agency_id={MET}"
    assert TOKEN not in f"{authz.source} {authz.detail}"


async def test_an_admin_recording_for_another_agency_is_refused_and_nothing_is_stored(hub: Hub) -> None:
    before = hub.footprint()
    forged = await hub.record("withdrawn", by=HACKNEY, headers=hub.admin(MET))
    assert (forged.status_code, forged.json()["code"]) == (403, "auth.forbidden")
    assert hub.footprint() == before
    denied = hub.last_authz()
    assert (denied.outcome, denied.actor, denied.reason_code) == ("deny", f"admin@{MET}", "auth.forbidden")
    assert denied.source == f"POST /consents/{{subject_token}} agency_id={HACKNEY}"


@pytest.mark.parametrize("role", [Role.HUB_OPERATOR, Role.AUDITOR, Role.OPS_VIEWER])
async def test_only_agency_admins_write(hub: Hub, role: Role) -> None:
    before = hub.footprint()
    refused = await hub.record("given", headers=hub.bearer(role))
    assert (refused.status_code, refused.json()["code"]) == (403, "auth.forbidden")
    assert hub.footprint() == before


@pytest.mark.parametrize(
    ("token", "changes", "code"),
    [
        ("Jane-Doe-2009", {}, "subject_token.invalid"),
        (TOKEN, {"status": "not-recorded"}, "consent.invalid_status"),
        (TOKEN, {"status": "maybe"}, "consent.invalid_status"),
        (TOKEN, {"status": "not-sought-risk"}, "consent.justification_required"),
        (TOKEN, {"justification": "consent-cannot-be-given"}, "consent.justification_not_applicable"),
        (TOKEN, {"status": "not-sought-risk", "justification": "mum said no"}, "consent.invalid_justification"),
        (TOKEN, {"recorded_by": "Jane Smith"}, "consent.invalid_staff_id"),
        (TOKEN, {"reference": "her dad is involved"}, "consent.invalid_reference"),
        (TOKEN, {"notes": "seen with older males"}, "request.invalid"),
    ],
    ids=[
        "a name for a token",
        "not-recorded is not recordable",
        "unknown status",
        "not sought without a ground",
        "a ground with consent given",
        "free text as a ground",
        "a name as the recorder",
        "free text as the reference",
        "a free-text notes field",
    ],
)
async def test_bad_input_is_a_specific_422_that_changes_nothing(
    hub: Hub, token: str, changes: dict[str, str], code: str
) -> None:
    before = hub.footprint()
    body = {"status": "given", "agency_id": MET, "recorded_by": "pc1234"} | changes
    refused = await hub.client.post(f"/consents/{token}", json=body, headers=hub.admin(MET))
    assert (refused.status_code, refused.json()["code"]) == (422, code), refused.text
    for value in (token, *changes.values()):
        if value not in {TOKEN, "not-sought-risk"}:
            assert value not in refused.text, "a submitted value is never echoed"
    assert hub.footprint() == before


async def test_who_sees_what(hub: Hub) -> None:
    await hub.record("refused")
    for who in (hub.bearer(Role.HUB_OPERATOR), hub.bearer(Role.OPS_VIEWER), hub.admin(HACKNEY)):
        refused = await hub.read(who)
        assert (refused.status_code, refused.json()["code"]) == (403, "auth.forbidden")
    # An agency that recorded nothing cannot tell a token with records from one without.
    assert _same(await hub.read(hub.admin(HACKNEY)), await hub.read(hub.admin(HACKNEY), token=UNSEEN))

    auditor = await hub.read(hub.bearer(Role.AUDITOR), token=UNSEEN)
    assert auditor.status_code == 200
    assert auditor.json()["state"] == {"status": "not-recorded", "record": None, "override": None}
    assert auditor.json()["records"] == []

    own = (await hub.read(hub.admin(MET))).json()
    assert own["state"]["status"] == "refused"
    assert [r["recorded_by"] for r in own["records"]] == ["pc1234"]

    await hub.record("given", by=HACKNEY)
    mine = (await hub.read(hub.admin(MET))).json()
    assert mine["state"]["status"] == "given"
    assert mine["state"]["record"]["agency_id"] == HACKNEY
    assert mine["state"]["record"]["recorded_by"] is None, "another agency's people are not shown"
    assert [r["agency_id"] for r in mine["records"]] == [MET], "only its own agency's history"
    everything = (await hub.read(hub.bearer(Role.AUDITOR))).json()
    assert [r["agency_id"] for r in everything["records"]] == [MET, HACKNEY]


async def test_an_emergency_override_applies_once_a_second_person_reviews_it(hub: Hub) -> None:
    await hub.record("withdrawn")
    created = await hub.override()
    assert created.status_code == 201, created.text
    override = created.json()
    assert (override["reviewed"], override["recorded_by"], override["agency_id"]) == (False, "pc1234", MET)
    assert (await hub.read(hub.admin(MET))).json()["state"]["override"] is None
    with hub.factory() as session:
        assert service.consent_state(session, TOKEN).override is None

    before = hub.footprint()
    same = await hub.review(override["id"], "PC1234")
    assert (same.status_code, same.json()["code"]) == (422, "consent.same_reviewer")
    # Another agency's admin gets the same answer for this override as for one that does not exist.
    theirs = await hub.review(override["id"], "sw-0042", by=HACKNEY)
    missing = await hub.review(override["id"] + 100, "sw-0042", by=HACKNEY)
    assert theirs.status_code == 403
    assert _same(theirs, missing)
    assert hub.footprint() == before

    reviewed = await hub.review(override["id"], "dci-0007")
    assert reviewed.status_code == 200, reviewed.text
    state = reviewed.json()["state"]
    assert (state["status"], state["override"]["id"], state["override"]["reviewed_by"]) == (
        "withdrawn",
        override["id"],
        "dci-0007",
    )
    with hub.factory() as session:
        engine = service.consent_state(session, TOKEN).override
    assert engine is not None
    assert (engine.recorded_by, engine.reviewed_by) == ("pc1234", "dci-0007")

    before = hub.footprint()
    again = await hub.review(override["id"], "sgt-0099")
    assert (again.status_code, again.json()["code"]) == (409, "consent.already_reviewed")
    assert hub.footprint() == before
    assert [e.kind for e in hub.consent_events()] == ["consent.record", "consent.override", "consent.review"]
    assert {e.subject_token for e in hub.consent_events()} == {TOKEN}


async def test_bad_overrides_are_refused_and_change_nothing(hub: Hub) -> None:
    await hub.record("given")
    before = hub.footprint()
    nothing = await hub.override()
    assert (nothing.status_code, nothing.json()["code"]) == (409, "consent.nothing_to_override")
    assert hub.footprint() == before
    await hub.record("refused")
    before = hub.footprint()
    too_long = await hub.override(hours=72.5)
    assert (too_long.status_code, too_long.json()["code"]) == (422, "consent.invalid_override")
    ground = await hub.override(justification="because I said so")
    assert (ground.status_code, ground.json()["code"]) == (422, "consent.invalid_justification")
    naive = await hub.override(expires_at="2030-01-01T00:00:00")
    assert naive.status_code == 422
    body = {
        "agency_id": HACKNEY,
        "recorded_by": "pc1234",
        "justification": "risk-to-life",
        "expires_at": "2099-01-01T00:00:00Z",
    }
    forged = await hub.client.post(f"/consents/{TOKEN}/overrides", json=body, headers=hub.admin(MET))
    assert (forged.status_code, forged.json()["code"]) == (403, "auth.forbidden")
    assert hub.footprint() == before
