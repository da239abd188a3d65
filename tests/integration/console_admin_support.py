"""Helpers for the admin console's integration tests: a hub on SQLite, three agencies, signed-in browsers (httpx)."""

from __future__ import annotations

import base64
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from hub.agencies.models import Agency, AgencyKey
from hub.agreements.models import AgreementApproval, AgreementVersion
from hub.app import create_app
from hub.audit.models import AuditEvent
from hub.auth.issuer import DevIssuer
from hub.auth.roles import Role
from onedoor.ids import AgencyId
from onedoor.settings import DatabaseSettings, Settings

MET = AgencyId("met-police")
HACKNEY = AgencyId("lb-hackney-csc")
CHARITY = AgencyId("fake-youth-charity")
KINDS = {MET: "police", HACKNEY: "children-services", CHARITY: "charity"}
NAMES = {MET: "Metropolitan Police", HACKNEY: "Hackney Children's Services", CHARITY: "Fake Youth Charity"}
REFERRAL = "onedoor.referral.MasterReferral"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def b64(raw: bytes) -> str:
    """Unpadded base64url."""
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def public_keys() -> tuple[str, str]:
    """A fresh (signing, encryption) public key pair, base64url."""
    signing = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    encryption = X25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return b64(signing), b64(encryption)


def csrf_of(html: str) -> str:
    """The CSRF token of the first form on a page."""
    found = _CSRF.search(html)
    assert found is not None, "no csrf_token on the page"
    return found.group(1)


@dataclass
class Browser:
    """One signed-in console user (its own cookie jar)."""

    client: httpx.AsyncClient
    csrf: str = ""

    async def get(self, path: str) -> httpx.Response:
        response = await self.client.get(path)
        if response.status_code == 200 and 'name="csrf_token"' in response.text:
            self.csrf = csrf_of(response.text)
        return response

    async def post(self, path: str, form: dict[str, str] | None = None, *, csrf: str | None = None) -> httpx.Response:
        data = {"csrf_token": self.csrf if csrf is None else csrf, **(form or {})}
        return await self.client.post(path, data=data)


@dataclass
class Hub:
    """A hub app in process with three registered agencies."""

    app: FastAPI
    factory: sessionmaker[Session]
    issuer: DevIssuer
    transport: httpx.ASGITransport
    api: httpx.AsyncClient
    browsers: list[httpx.AsyncClient] = field(default_factory=list)

    def bearer(self, *roles: Role, agency: AgencyId | None = None, subject: str = "setup") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.issuer.mint(subject=subject, roles=roles, agency=agency)}"}

    async def sign_in(self, role: Role, agency: AgencyId | None = None, subject: str | None = None) -> Browser:
        """Sign in through the real sign-in form; a browser with the session cookie."""
        client = httpx.AsyncClient(transport=self.transport, base_url="http://hub.test")
        self.browsers.append(client)
        page = await client.get("/console/sign-in")
        who = subject or (f"{role.value}@{agency}" if agency else f"{role.value}-person")
        token = self.issuer.mint(subject=who, roles=[role], agency=agency)
        signed = await client.post("/console/sign-in", data={"csrf_token": csrf_of(page.text), "token": token})
        assert signed.status_code == 303, signed.text
        return Browser(client)

    def count(self, model: type[Any]) -> int:
        with self.factory() as session:
            return session.scalar(select(func.count()).select_from(model)) or 0

    def footprint(self) -> tuple[int, int, int, int, list[tuple[str, str]]]:
        """What a refused action must leave as it was."""
        with self.factory() as session:
            states = sorted(
                (f"{v.agreement_id}:{v.version}", v.state.value) for v in session.scalars(select(AgreementVersion))
            )
            changes = session.scalar(
                select(func.count())
                .select_from(AuditEvent)
                .where(AuditEvent.kind.notlike("console.%"), AuditEvent.kind != "api.authz")
            )
        return self.count(AgreementVersion), self.count(AgreementApproval), self.count(AgencyKey), changes or 0, states

    def audit(self, kind_prefix: str) -> list[AuditEvent]:
        with self.factory() as session:
            stmt = select(AuditEvent).where(AuditEvent.kind.like(f"{kind_prefix}%")).order_by(AuditEvent.id)
            return list(session.scalars(stmt))

    def agency(self, agency_id: str) -> Agency | None:
        with self.factory() as session:
            found = session.get(Agency, agency_id)
            if found is not None:
                _ = found.keys
            return found


@asynccontextmanager
async def running_hub(database_url: str, tmp_path: Path) -> AsyncIterator[Hub]:
    """``create_app`` with its lifespan, three agencies registered through the API."""
    settings = Settings(env="test", home=tmp_path / "home", db=DatabaseSettings(url=database_url))
    app: FastAPI = create_app(settings)
    issuer = DevIssuer.from_settings(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub.test") as api:
            hub = Hub(app, app.state.session_factory, issuer, transport, api)
            for agency, kind in KINDS.items():
                signing, encryption = public_keys()
                body = {
                    "id": agency,
                    "display_name": NAMES[agency],
                    "kind": kind,
                    "signing_public_key": signing,
                    "encryption_public_key": encryption,
                }
                created = await api.post("/agencies", json=body, headers=hub.bearer(Role.HUB_OPERATOR))
                assert created.status_code == 201, created.text
            try:
                yield hub
            finally:
                for client in hub.browsers:
                    await client.aclose()


def agreement_form(**changes: str) -> dict[str, str]:
    """The agreement form filled in by Met's admin: share limited referral data with Hackney."""
    form = {
        "agreement-id": "isa-met-hackney",
        "title": "County lines referrals",
        f"party-{HACKNEY}": "yes",
        f"contract-{REFERRAL}": "yes",
        "purpose-safeguarding-referral": "yes",
        "provision-1-from": "anyone",
        "provision-1-to": "anyone",
        "provision-1-access": "limited",
        "article6": "UK GDPR Art. 6(1)(e)",
        "statute-CHILDREN_ACT_2004_S11": "yes",
        "retention-days": "365",
        "review-date-day": "22",
        "review-date-month": "11",
        "review-date-year": "2027",
    }
    form.update(changes)
    return {k: v for k, v in form.items() if v != ""}
