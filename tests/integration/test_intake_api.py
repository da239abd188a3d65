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
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
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
from hub.intake.spam import FillTimer
from onedoor.envelope.intake import (
    INTAKE_KEY_PATH,
    IntakeKeyPair,
    PublicSubmission,
    intake_key_body,
    open_form,
    seal_form,
)
from onedoor.envelope.intake_form import IDENTIFY_RULE, PublicReferralForm
from onedoor.envelope.keys import AgencyKeyPair
from onedoor.errors import Conflict, NotFound, OneDoorError, ValidationFailed
from onedoor.ids import AgencyId
from onedoor.intake_topic import INTAKE_RETENTION_MS, ensure_intake_topic
from onedoor.kafka.admin import ensure_topics
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

    def as_agency(self, keys: AgencyKeyPair) -> HubClient:
        return HubClient("http://hub", keys, transport=httpx.ASGITransport(app=self.app))

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
                async with hub.as_agency(hub.triage) as triage:
                    put = await triage.call("PUT", INTAKE_KEY_PATH, json=intake_key_body(hub.intake.public_raw))
                assert put["key_id"] == hub.intake.key_id
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
    """Honeypot filled, too fast: a confirmation page, nothing stored or published."""
    slow = IntakeSettings(min_fill_seconds=30, rate_per_minute=1000)
    async with running(tmp_path, kafka_bootstrap, intake=slow) as hub:
        token = await hub.form_token()
        answers = [
            await hub.post({**VALID, "website": "http://spam.example"}, token=token),
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


async def test_only_the_triage_agency_itself_sets_its_intake_key(tmp_path: Path, kafka_bootstrap: str) -> None:
    """Finding 1: no operator or admin token; only the triage agency's own signed assertion."""
    async with running(tmp_path, kafka_bootstrap) as hub:
        police = AgencyKeyPair.generate(AgencyId("example-police"))
        await hub.register(police, "police")
        new_key = IntakeKeyPair.generate()
        body = intake_key_body(new_key.public_raw)
        assert (await hub.client.put(INTAKE_KEY_PATH, json=body)).status_code == 401
        for token in (hub.operator(), hub.admin(TRIAGE)):
            refused = await hub.client.put(INTAKE_KEY_PATH, json=body, headers=token)
            assert refused.status_code == 401, refused.text  # an operator cannot put their key in front of the form
        async with hub.as_agency(police) as other:
            with pytest.raises(Conflict) as not_triage:
                await other.call("PUT", INTAKE_KEY_PATH, json=body)
            assert not_triage.value.code == "intake.not_triage"
        async with hub.as_agency(hub.triage) as triage:
            with pytest.raises(ValidationFailed) as bad:
                await triage.call("PUT", INTAKE_KEY_PATH, json={"public_key": "A" * 87})
            assert bad.value.code == "intake.bad_public_key"
            with pytest.raises(ValidationFailed):  # the agency is the caller, never named in the body
                await triage.call("PUT", INTAKE_KEY_PATH, json={**body, "agency_id": TRIAGE})
            replaced = await triage.call("PUT", INTAKE_KEY_PATH, json=body)
        assert replaced == {"agency": TRIAGE, "key_id": new_key.key_id, "public_key": b64url(new_key.public_raw)}
        shown = (await hub.client.get(INTAKE_KEY_PATH)).json()
        assert shown == replaced
        with hub.factory() as session:
            rows = session.scalars(select(AuditEvent).where(AuditEvent.kind == "intake.key_registered")).all()
        assert [(r.actor, r.detail) for r in rows][-1] == (TRIAGE, new_key.key_id)
        assert len(rows) == 2  # the set-up's and this one; nothing for the refused attempts


async def test_a_page_left_open_too_long_asks_to_send_again(tmp_path: Path, kafka_bootstrap: str) -> None:
    async with running(tmp_path, kafka_bootstrap) as hub:
        stale = hub.app.state.intake.timer.issue(time.time() - 2 * 24 * 3600)
        response = await hub.post(VALID, token=stale)
        assert response.status_code == 400
        page = _text(response)
        assert "This page was open for a long time" in page
        assert f'value="{FAMILY}"' in page  # nothing typed is lost
        assert hub.count() == 0


async def test_a_token_that_does_not_verify_asks_to_send_again(tmp_path: Path, kafka_bootstrap: str) -> None:
    """Finding 4: missing, forged or signed under an earlier hub key is not a bot: the form comes back."""
    async with running(tmp_path, kafka_bootstrap) as hub:
        earlier_key = FillTimer(b"an earlier hub key".ljust(32, b"."))
        for token in ("", "1700000000000.deadbeef", earlier_key.issue(time.time() - 60)):
            response = await hub.post(VALID, token=token)
            assert response.status_code == 400, token
            page = _text(response)
            assert "Referral sent" not in page
            assert "send the form again" in page
            assert f'value="{FAMILY}"' in page  # nothing typed is lost
            assert SECRET_PHRASE in page
        # Sealed in the browser: the hub cannot fill it in again; it says so, and sends nothing.
        sealed = seal_form(hub.intake.public_raw, b"{}")
        for token in ("1700000000000.deadbeef", hub.app.state.intake.timer.issue(time.time() - 3 * 24 * 3600)):
            timed_out = await hub.post({"sealed": sealed}, token=token)
            assert timed_out.status_code == 400
            assert "Your form timed out" in timed_out.text
            assert "Send again" in timed_out.text
        assert hub.count() == 0


async def test_a_non_ascii_token_is_a_form_problem_not_a_crash(tmp_path: Path, kafka_bootstrap: str) -> None:
    """Finding 3: ``form-token=1.\u00e9`` (or non-ASCII digits) gets the normal page, never a 500."""
    async with running(tmp_path, kafka_bootstrap) as hub:
        for token in ("1.\u00e9", "\u0661\u0662.abc", "1." + "\u00e9" * 40):
            response = await hub.post(VALID, token=token)
            assert response.status_code == 400, response.text
            assert response.headers["content-type"].startswith("text/html")
            assert "send the form again" in _text(response)
        assert hub.count() == 0


async def test_a_fresh_token_lets_a_long_open_page_through(tmp_path: Path, kafka_bootstrap: str) -> None:
    """The JS path: ``GET /refer/token`` re-issues a verifying token so it passes at once, else says to wait."""
    slow = IntakeSettings(min_fill_seconds=30, rate_per_minute=1000)
    async with running(tmp_path, kafka_bootstrap, intake=slow) as hub:
        timer = hub.app.state.intake.timer
        days_old = timer.issue(time.time() - 3 * 24 * 3600)
        answer = await hub.client.get("/refer/token", params={"previous": days_old})
        assert answer.status_code == 200
        assert answer.headers["cache-control"] == "no-store"
        fresh = answer.json()
        assert fresh["wait_s"] == 0
        sealed = seal_form(hub.intake.public_raw, b"{}")
        sent = await hub.post({"sealed": sealed}, token=fresh["token"])
        assert sent.status_code == 200
        reference = REFERENCE.search(sent.text)
        assert reference
        found = await records(kafka_bootstrap, hub.topic, expect=1)
        assert [r.key for r in found] == [reference.group(0).encode()]  # real, not a decoy

        # A forged (or earlier-key) token buys nothing: a new token, and the full wait.
        forged = (await hub.client.get("/refer/token", params={"previous": "1.\u00e9"})).json()
        assert forged["wait_s"] == 30
        decoy = await hub.post({"sealed": sealed}, token=forged["token"])
        assert decoy.status_code == 200  # too fast: the decoy
        just_loaded = timer.issue(time.time() - 10)
        early = (await hub.client.get("/refer/token", params={"previous": just_loaded})).json()
        assert early["token"] == just_loaded
        assert 19 < early["wait_s"] <= 20
        assert hub.count() == 1


async def test_a_referral_that_cannot_be_published_leaves_nothing_half_written(
    tmp_path: Path, kafka_bootstrap: str
) -> None:
    """Finding 13: stored first; when publishing fails the row goes again, audited, and the person retries."""
    async with running(tmp_path, kafka_bootstrap) as hub:
        publisher = hub.app.state.intake.publisher
        await publisher.stop()  # the real publisher, not connected: publish raises intake.publish_failed
        try:
            failed = await hub.post({**VALID, "progress-link": "yes"})
        finally:
            await publisher.start()
        assert failed.status_code == 503
        assert "The form is not available right now" in failed.text
        assert not REFERENCE.search(failed.text)
        assert hub.count() == 0
        with hub.factory() as session:
            audit = session.scalars(select(AuditEvent).where(AuditEvent.kind.like("intake.%"))).all()
        kinds = [a.kind for a in audit if a.kind != "intake.key_registered"]
        assert kinds == ["intake.received", "intake.publish_failed"]
        assert audit[-1].outcome == "failed"
        assert (audit[-2].detail or "").split(";")[0] == (audit[-1].detail or "").split(";")[0]  # same reference

        again = await hub.post(VALID)
        assert again.status_code == 200
        assert hub.count() == 1


async def test_the_intake_topic_gets_its_retention_whoever_makes_it(tmp_path: Path, kafka_bootstrap: str) -> None:
    """Finding 9: a topic the triage reader made first (broker defaults) gets the shared retention."""
    topics = TopicNames(f"t{uuid.uuid4().hex[:8]}")
    topic = topics.intake(TRIAGE)
    await ensure_topics(kafka_bootstrap, [topic], partitions=1)  # as an older reader did
    assert await _retention(kafka_bootstrap, topic) != str(INTAKE_RETENTION_MS)
    assert await ensure_intake_topic(kafka_bootstrap, topics, TRIAGE) == topic
    assert await _retention(kafka_bootstrap, topic) == str(INTAKE_RETENTION_MS)
    fresh = topics.intake(AgencyId("other-desk"))
    await ensure_intake_topic(kafka_bootstrap, topics, AgencyId("other-desk"))
    assert await _retention(kafka_bootstrap, fresh) == str(INTAKE_RETENTION_MS)


async def _retention(bootstrap: str, topic: str) -> str | None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        responses = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
    finally:
        await admin.close()
    for response in responses:
        for resource in response.resources:
            for entry in resource[4]:
                if entry[0] == "retention.ms":
                    return str(entry[1])
    return None
