"""The public referral form against a real hub app (SQLite) and a real broker.

What the hub passes on is checked on the intake topic itself: the record holds the sealed form
and no plaintext (the child's name is searched for in the raw bytes; the same search finds it
in the opened form, so the search works). Bots get a convincing answer and nothing else.
"""

from __future__ import annotations

import asyncio
import html
import re
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from structlog.testing import capture_logs

from connectors.sdk.hubauth import HubClient
from hub.agencies.schemas import b64url
from hub.app import create_app
from hub.audit.models import AuditEvent
from hub.auth.issuer import DevIssuer
from hub.auth.roles import Role
from hub.intake.form import MESSAGES
from hub.intake.models import PublicReferral
from onedoor.envelope.intake import IntakeKeyPair, PublicSubmission, open_form, seal_form
from onedoor.envelope.intake_form import IDENTIFY_RULE, PublicReferralForm
from onedoor.envelope.keys import AgencyKeyPair
from onedoor.errors import NotFound, OneDoorError
from onedoor.ids import AgencyId
from onedoor.settings import DatabaseSettings, IntakeSettings, KafkaSettings, Settings
from onedoor.topics import TopicNames

pytestmark = pytest.mark.integration

GIVEN, FAMILY = "Testy", "McFakeface"
SECRET_PHRASE = "purple bicycle lookout"
REFERENCE = re.compile(r"OD-[2-9A-Z]{8}")
TRIAGE = AgencyId("triage-desk")

VALID: dict[str, Any] = {
    "relationship": "neighbour",
    "child-given-name": GIVEN,
    "child-family-name": FAMILY,
    "estimated-age": "14",
    "area": "Exampleton",
    "concerns": ["COUNTY_LINES", "MISSING"],
    "summary": f"Keeps watch on the corner by the {SECRET_PHRASE}; seen getting into cars late at night.",
    "urgency": "SAME_DAY",
    "parent-knows": "not-sure",
}


@dataclass
class Hub:
    app: FastAPI
    client: httpx.AsyncClient
    settings: Settings
    issuer: DevIssuer
    triage: AgencyKeyPair
    intake: IntakeKeyPair
    bootstrap: str | None

    def operator(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.issuer.mint(subject='it-operator', roles=[Role.HUB_OPERATOR])}"}

    def admin(self, agency: AgencyId) -> dict[str, str]:
        token = self.issuer.mint(subject=f"admin@{agency}", roles=[Role.AGENCY_ADMIN], agency=agency)
        return {"Authorization": f"Bearer {token}"}

    @property
    def factory(self) -> sessionmaker[Session]:
        factory: sessionmaker[Session] = self.app.state.session_factory
        return factory

    @property
    def topic(self) -> str:
        return TopicNames(self.settings.kafka.topic_prefix).intake(TRIAGE)

    async def register(self, keys: AgencyKeyPair, kind: str) -> None:
        response = await self.client.post(
            "/agencies",
            headers=self.operator(),
            json={
                "id": keys.agency,
                "display_name": f"{keys.agency} (synthetic)",
                "kind": kind,
                "signing_public_key": b64url(keys.signing_public),
                "encryption_public_key": b64url(keys.encryption_public),
            },
        )
        assert response.status_code == 201, response.text

    async def form_token(self) -> str:
        page = await self.client.get("/refer")
        assert page.status_code == 200, page.text
        found = re.search(r'name="form-token" value="([^"]+)"', page.text)
        assert found, "the form carries a signed fill-time token"
        return found.group(1)

    async def post(self, fields: dict[str, Any], *, token: str | None = None) -> httpx.Response:
        body = {**fields, "form-token": token if token is not None else await self.form_token()}
        return await self.client.post("/refer", data=body)

    def count(self) -> int:
        with self.factory() as session:
            return int(session.scalar(select(func.count()).select_from(PublicReferral)) or 0)


@asynccontextmanager
async def running(
    tmp_path: Path, bootstrap: str | None, *, desk: bool = True, intake: IntakeSettings | None = None
) -> AsyncIterator[Hub]:
    settings = Settings(
        env="test",
        home=tmp_path / "home",
        kafka=KafkaSettings(bootstrap_servers=bootstrap, topic_prefix=f"i{uuid.uuid4().hex[:8]}", partitions=1),
        db=DatabaseSettings(url=f"sqlite:///{tmp_path / 'hub.sqlite3'}"),
        intake=intake or IntakeSettings(min_fill_seconds=0, rate_per_minute=1000),
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
            hub = Hub(
                app,
                client,
                settings,
                DevIssuer.from_settings(settings),
                AgencyKeyPair.generate(TRIAGE),
                IntakeKeyPair.generate(),
                bootstrap,
            )
            if desk:
                await hub.register(hub.triage, "triage")
                put = await client.put(
                    "/intake/key",
                    headers=hub.admin(TRIAGE),
                    json={"agency_id": TRIAGE, "public_key": b64url(hub.intake.public_raw)},
                )
                assert put.status_code == 200, put.text
                assert put.json()["key_id"] == hub.intake.key_id
            yield hub


async def records(bootstrap: str, topic: str, *, expect: int, timeout_s: float = 15.0) -> list[Any]:
    """Every record on ``topic`` once ``expect`` arrived (or the time is up), plus any stragglers."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None)
    await consumer.start()
    seen: list[Any] = []
    try:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while asyncio.get_running_loop().time() < deadline:
            for batch in (await consumer.getmany(timeout_ms=300)).values():
                seen.extend(batch)
            if len(seen) >= expect:
                for batch in (await consumer.getmany(timeout_ms=1000)).values():
                    seen.extend(batch)
                break
    finally:
        await consumer.stop()
    return seen


def status_shown(page: httpx.Response) -> str:
    found = re.search(r'<strong id="status">\s*([^<]*?)\s*</strong>', page.text)
    assert found, "the progress page shows a status"
    return found.group(1)


def _text(response: httpx.Response) -> str:
    return html.unescape(response.text)


async def test_the_form_is_unavailable_without_a_triage_desk(tmp_path: Path, kafka_bootstrap: str) -> None:
    async with running(tmp_path, kafka_bootstrap, desk=False) as hub:
        page = await hub.client.get("/refer")
        assert page.status_code == 409
        assert "The form is not available right now" in page.text
        key = await hub.client.get("/intake/key")
        assert key.status_code == 409
        assert key.json()["code"] == "intake.no_triage_desk"


async def test_the_form_is_unavailable_without_a_broker(tmp_path: Path) -> None:
    async with running(tmp_path, None) as hub:
        page = await hub.client.get("/refer")
        assert page.status_code == 503
        assert "The form is not available right now" in page.text
        assert hub.count() == 0


async def test_errors_are_shown_on_the_page_and_never_logged(tmp_path: Path, kafka_bootstrap: str) -> None:
    async with running(tmp_path, kafka_bootstrap) as hub:
        token = await hub.form_token()
        with capture_logs() as logged:
            response = await hub.post(
                {"child-given-name": GIVEN, "child-family-name": FAMILY, "summary": SECRET_PHRASE}, token=token
            )
        assert response.status_code == 400
        page = _text(response)
        assert "govuk-error-summary" in page
        assert "<title>Error: " in page
        for message in (
            MESSAGES["relationship"],
            IDENTIFY_RULE,
            MESSAGES["concerns"],
            MESSAGES["urgency"],
            MESSAGES["parent-knows"],
        ):
            assert message in page
        assert 'href="#concerns"' in page
        # The person's answers are filled back in for them...
        assert f'value="{FAMILY}"' in page
        assert SECRET_PHRASE in page
        # ...but never reach a log line.
        assert logged, "the request was logged"
        assert FAMILY not in repr(logged)
        assert SECRET_PHRASE not in repr(logged)
        assert any(e.get("event") == "intake.form_invalid" for e in logged)
        assert hub.count() == 0


async def test_a_form_sent_without_javascript_reaches_triage_sealed(tmp_path: Path, kafka_bootstrap: str) -> None:
    async with running(tmp_path, kafka_bootstrap) as hub:
        with capture_logs() as logged:
            response = await hub.post({**VALID, "progress-link": "yes"})
        assert response.status_code == 200, response.text
        assert "Referral sent" in response.text
        reference = REFERENCE.search(response.text)
        assert reference
        assert FAMILY not in repr(logged)
        assert SECRET_PHRASE not in repr(logged)

        found = await records(kafka_bootstrap, hub.topic, expect=1)
        assert len(found) == 1
        record = found[0]
        assert record.key == reference.group(0).encode()
        # No plaintext anywhere in the record...
        assert FAMILY.encode() not in record.value
        assert SECRET_PHRASE.encode() not in record.value
        submission = PublicSubmission.decode(record.value)
        assert submission.reference == reference.group(0)
        assert submission.key_id == hub.intake.key_id
        # ...while the same search finds it once the triage desk opens it.
        opened = open_form(hub.intake, submission.sealed)
        assert FAMILY.encode() in opened
        form = PublicReferralForm.model_validate_json(opened)
        assert form.child.family_name == FAMILY
        assert form.concern_categories == ["COUNTY_LINES", "MISSING"]

        with hub.factory() as session:
            row = session.get(PublicReferral, reference.group(0))
            assert row is not None
            assert row.triage_agency_id == TRIAGE
            assert row.status.value == "received"
            assert row.status_token_hash is not None
            audit = session.scalars(select(AuditEvent).where(AuditEvent.kind == "intake.received")).all()
            assert len(audit) == 1
            assert reference.group(0) in (audit[0].detail or "")
            assert FAMILY not in (audit[0].detail or "")


async def test_a_form_sealed_in_the_browser_is_passed_on_as_it_is(tmp_path: Path, kafka_bootstrap: str) -> None:
    async with running(tmp_path, kafka_bootstrap) as hub:
        form = PublicReferralForm.model_validate(
            {
                "referrer": {"relationship": "family"},
                "child": {"given_name": GIVEN, "family_name": FAMILY, "school": "Example Academy"},
                "concern_categories": ["WEAPONS"],
                "concern_summary": SECRET_PHRASE,
                "urgency": "ROUTINE",
                "parent_carer_knows": "yes",
            }
        )
        sealed = seal_form(hub.intake.public_raw, form.model_dump_json().encode())
        response = await hub.post({"sealed": sealed})
        assert response.status_code == 200, response.text
        reference = REFERENCE.search(response.text)
        assert reference
        assert "progress-link" not in response.text  # not asked for

        malformed = await hub.post({"sealed": sealed.replace('"v":1', '"v":9')})
        assert malformed.status_code == 400
        elsewhere = seal_form(IntakeKeyPair.generate().public_raw, b"{}")
        wrong_key = await hub.post({"sealed": elsewhere})
        assert wrong_key.status_code == 400
        assert "could not be sent securely" in wrong_key.text

        found = await records(kafka_bootstrap, hub.topic, expect=1)
        assert [PublicSubmission.decode(r.value).sealed for r in found] == [sealed]
        assert hub.count() == 1


async def test_bots_get_a_convincing_answer_and_nothing_else(tmp_path: Path, kafka_bootstrap: str) -> None:
    """Honeypot filled, no token, forged token, too fast: a confirmation page, nothing stored or published."""
    slow = IntakeSettings(min_fill_seconds=30, rate_per_minute=1000)
    async with running(tmp_path, kafka_bootstrap, intake=slow) as hub:
        token = await hub.form_token()
        answers = [
            await hub.post({**VALID, "website": "http://spam.example"}, token=token),
            await hub.post(VALID, token=""),
            await hub.post(VALID, token="1700000000000.deadbeef"),
            await hub.post(VALID, token=token),  # sent at once: faster than a person types
        ]
        for answer in answers:
            assert answer.status_code == 200
            assert "Referral sent" in answer.text
            assert REFERENCE.search(answer.text)
        assert hub.count() == 0
        with hub.factory() as session:
            kinds = set(session.scalars(select(AuditEvent.kind)))
        assert "intake.received" not in kinds

        # A person who took their time gets through; it is the only record on the topic.
        timer = hub.app.state.intake.timer
        patient = timer.issue(time.time() - 60)
        real = await hub.post(VALID, token=patient)
        assert real.status_code == 200
        reference = REFERENCE.search(real.text)
        assert reference
        found = await records(kafka_bootstrap, hub.topic, expect=1)
        assert [r.key for r in found] == [reference.group(0).encode()]
        assert hub.count() == 1


async def test_too_many_posts_from_one_address_get_429(tmp_path: Path, kafka_bootstrap: str) -> None:
    async with running(tmp_path, kafka_bootstrap, intake=IntakeSettings(min_fill_seconds=0, rate_per_minute=2)) as hub:
        token = await hub.form_token()
        statuses = [(await hub.post({}, token=token)).status_code for _ in range(3)]
        assert statuses == [400, 400, 429]
        refused = await hub.post({}, token=token)
        assert "You have sent too many forms" in refused.text


async def test_an_oversized_post_gets_413(tmp_path: Path, kafka_bootstrap: str) -> None:
    async with running(tmp_path, kafka_bootstrap) as hub:
        response = await hub.post({**VALID, "summary": "x" * (70 * 1024)})
        assert response.status_code == 413
        assert "too long" in response.text
        assert hub.count() == 0


async def test_progress_link_shows_status_only_and_only_triage_moves_it(tmp_path: Path, kafka_bootstrap: str) -> None:
    async with running(tmp_path, kafka_bootstrap) as hub:
        response = await hub.post({**VALID, "progress-link": "yes"})
        reference = REFERENCE.search(response.text)
        link = re.search(r'href="(/refer/progress/[^"]+)"', response.text)
        assert reference
        assert link
        ref = reference.group(0)

        page = await hub.client.get(link.group(1))
        assert page.status_code == 200
        assert status_shown(page) == "Received"
        for private in (FAMILY, GIVEN, SECRET_PHRASE, ref, "Exampleton"):
            assert private not in page.text
        assert (await hub.client.get("/refer/progress/not-a-real-token")).status_code == 404
        with hub.factory() as session:
            stored = session.get(PublicReferral, ref)
            assert stored is not None
            assert link.group(1).rsplit("/", 1)[1] not in repr(stored.__dict__)  # only its hash is kept

        path = f"/intake/referrals/{ref}/progress"
        assert (await hub.client.post(path, json={"status": "closed"})).status_code == 401
        assert (await hub.client.post(path, json={"status": "closed"}, headers=hub.operator())).status_code == 401

        other = AgencyKeyPair.generate(AgencyId("another-desk"))
        await hub.register(other, "triage")
        transport = httpx.ASGITransport(app=hub.app)
        async with HubClient("http://hub", other, transport=transport) as stranger:
            with pytest.raises(NotFound) as refused:
                await stranger.call("POST", path, json={"status": "closed"})
            assert refused.value.code == "intake.unknown_reference"
        async with HubClient("http://hub", hub.triage, transport=transport) as triage:
            moved = await triage.call("POST", path, json={"status": "being-handled"})
            assert moved["status"] == "being-handled"
            assert status_shown(await hub.client.get(link.group(1))) == "Being handled"
            await triage.call("POST", path, json={"status": "closed"})
            assert status_shown(await hub.client.get(link.group(1))) == "Closed"
            with pytest.raises(OneDoorError) as back:
                await triage.call("POST", path, json={"status": "being-handled"})
            assert back.value.code == "intake.bad_transition"


async def test_only_the_triage_agency_or_an_operator_sets_the_intake_key(tmp_path: Path, kafka_bootstrap: str) -> None:
    async with running(tmp_path, kafka_bootstrap) as hub:
        police = AgencyKeyPair.generate(AgencyId("example-police"))
        await hub.register(police, "police")
        new_key = IntakeKeyPair.generate()
        body = {"agency_id": TRIAGE, "public_key": b64url(new_key.public_raw)}
        assert (await hub.client.put("/intake/key", json=body)).status_code == 401
        assert (await hub.client.put("/intake/key", json=body, headers=hub.admin(police.agency))).status_code == 403
        not_triage = {"agency_id": police.agency, "public_key": b64url(new_key.public_raw)}
        refused = await hub.client.put("/intake/key", json=not_triage, headers=hub.operator())
        assert refused.status_code == 409
        assert refused.json()["code"] == "intake.not_triage"
        bad = await hub.client.put(
            "/intake/key", json={"agency_id": TRIAGE, "public_key": "A" * 87}, headers=hub.operator()
        )
        assert bad.status_code == 422
        assert bad.json()["code"] == "intake.bad_public_key"
        replaced = await hub.client.put("/intake/key", json=body, headers=hub.operator())
        assert replaced.status_code == 200
        shown = (await hub.client.get("/intake/key")).json()
        assert shown == {"agency": TRIAGE, "key_id": new_key.key_id, "public_key": b64url(new_key.public_raw)}
        with hub.factory() as session:
            assert session.scalar(select(func.count()).where(AuditEvent.kind == "intake.key_registered")) == 2


async def test_a_page_left_open_too_long_asks_to_send_again(tmp_path: Path, kafka_bootstrap: str) -> None:
    async with running(tmp_path, kafka_bootstrap) as hub:
        stale = hub.app.state.intake.timer.issue(time.time() - 2 * 24 * 3600)
        response = await hub.post(VALID, token=stale)
        assert response.status_code == 400
        page = _text(response)
        assert "This page was open for a long time" in page
        assert f'value="{FAMILY}"' in page  # nothing typed is lost
        assert hub.count() == 0
