"""The desk over a real SQLite store and a fake sender: receive, submit, decide, report progress."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from connectors.sdk.connector import ReceivedMessage
from connectors.triage.decision import TriageDecision, TriageInvalid
from connectors.triage.referral import (
    ALERT,
    REFERRAL,
    REFERRAL_VERSION,
    SAFEGUARDING_REFERRAL,
    parse_referral,
    referral_schema,
)
from connectors.workbench.store import WorkbenchStore
from consent.contract import TaggedContract
from consent.model import AccessLevel
from consent.project import project
from onedoor.envelope.header import Header
from onedoor.envelope.intake_form import PublicReferralForm
from onedoor.errors import Conflict, Forbidden, NotFound, Unavailable, ValidationFailed
from onedoor.ids import AgencyId, ContractName, CorrelationId, KeyId, MessageId, Purpose, SubjectToken
from tests.unit.triage.world import (
    BOROUGH,
    CHARITY,
    DESK,
    NO_AGREEMENT,
    POLICE,
    FakeProgress,
    FakeSender,
    desk,
    referral_json,
)

TOKEN = SubjectToken("st1_" + "A" * 43)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[WorkbenchStore]:
    found = WorkbenchStore(f"sqlite:///{tmp_path / 'wb.sqlite3'}").create()
    yield found
    found.close()


def _received(
    contract: str,
    body: dict[str, Any],
    *,
    sender: AgencyId = POLICE,
    token: SubjectToken | None = None,
    message_id: MessageId | None = None,
) -> ReceivedMessage:
    now = int(time.time() * 1000)
    header = Header(
        message_id=message_id or MessageId.new(),
        contract=ContractName(contract),
        contract_version=1,
        sender=sender,
        sender_signing_key=KeyId("k1_" + "0" * 32),
        sender_encryption_key=KeyId("k1_" + "1" * 32),
        recipients=(DESK,),
        purpose=Purpose("safeguarding-referral"),
        subject_token=token,
        created_at_ms=now,
        expires_at_ms=now + 60_000,
        correlation_id=CorrelationId.new(),
    )
    return ReceivedMessage(header, body)


def _public_form() -> PublicReferralForm:
    return PublicReferralForm.model_validate(
        {
            "referrer": {"relationship": "friend"},
            "child": {"given_name": "Synthia", "family_name": "Example", "estimated_age": 15},
            "concern_categories": ["CRIMINAL_EXPLOITATION"],
            "concern_summary": "Being paid to carry packages.",
            "urgency": "ROUTINE",
            "parent_carer_knows": "not-sure",
        }
    )


async def test_a_professional_referral_is_stored_once_however_often_delivered(store: WorkbenchStore) -> None:
    triage = desk(store)
    message = _received(str(REFERRAL), parse_referral(referral_json()), token=TOKEN)
    await triage.on_referral(message)
    await triage.on_referral(message)
    [item] = store.items()
    assert (item.kind, item.source, item.sender, item.status) == ("referral", "professional", POLICE, "received")
    assert item.title == "Testy McFakeface"
    assert item.urgency == "SAME_DAY"
    assert item.subject_token == TOKEN
    assert item.body["child"]["date_of_birth"] == "2010-03-14"


async def test_an_intervention_is_sent_then_recorded_with_its_time_to_triage(store: WorkbenchStore) -> None:
    progress = FakeProgress()
    triage = desk(store, progress=progress)
    item = triage.receive_public(_public_form(), reference="OD-TESTDESK", received_at=dt.datetime.now(dt.UTC))
    opened = await triage.opened(item.item_id, by="officer.one")
    assert opened.viewed_at_ms is not None
    await triage.opened(item.item_id, by="officer.one")
    assert progress.reports == [("OD-TESTDESK", "being-handled")], "only the first opening is progress"

    decided = await triage.decide(item.item_id, TriageDecision.parse("intervention", str(CHARITY)), by="officer.one")
    sender = triage._sender
    assert isinstance(sender, FakeSender)
    [sent] = sender.sent
    assert (sent["recipients"], sent["purpose"], sent["contract"]) == ([CHARITY], SAFEGUARDING_REFERRAL, REFERRAL)
    assert sent["body"]["child"]["given_name"] == "Synthia"
    assert decided.status == "triaged"
    assert decided.decision_target == CHARITY
    assert decided.onward_message_id is not None
    assert decided.time_to_triage_ms is not None
    assert decided.time_to_triage_ms >= 0
    assert progress.reports[-1] == ("OD-TESTDESK", "being-handled")

    with pytest.raises(Conflict):
        await triage.decide(item.item_id, TriageDecision.parse("no-further-action", reason="again"), by="officer.one")
    assert len(sender.sent) == 1


async def test_no_agreement_sends_nothing_and_records_nothing(store: WorkbenchStore) -> None:
    triage = desk(store)
    item = triage.receive_public(_public_form(), reference="OD-TESTNOAG", received_at=dt.datetime.now(dt.UTC))
    with pytest.raises(TriageInvalid) as refused:
        await triage.decide(item.item_id, TriageDecision.parse("intervention", str(NO_AGREEMENT)), by="officer.one")
    assert refused.value.code == "triage.no_agreement"
    assert isinstance(triage._sender, FakeSender)
    assert triage._sender.sent == []
    assert store.item(item.item_id).status == "received"
    assert store.item(item.item_id).decided_at_ms is None


async def test_every_opening_and_decision_attempt_is_audited_once(store: WorkbenchStore) -> None:
    triage = desk(store)
    item = triage.receive_public(_public_form(), reference="OD-TESTAUD1", received_at=dt.datetime.now(dt.UTC))
    await triage.opened(item.item_id, by="officer.one")
    with pytest.raises(NotFound):
        await triage.opened("Synthia Example", by="officer.one")
    with pytest.raises(TriageInvalid):
        await triage.decide_entered(item.item_id, "no-further-action", None, "", by="officer.one")
    with pytest.raises(TriageInvalid):
        await triage.decide_entered(item.item_id, "intervention", str(NO_AGREEMENT), None, by="officer.one")
    await triage.decide_entered(item.item_id, "intelligence", None, None, by="someone", actor="api")
    with pytest.raises(Conflict):
        await triage.decide(item.item_id, TriageDecision.parse("intelligence"), by="officer.two")
    lines = [(a.actor, a.action, a.outcome, a.item_id, a.reason_code) for a in reversed(store.audit_trail())]
    assert lines == [
        ("officer.one", "workbench.item_viewed", "permit", item.item_id, None),
        ("officer.one", "workbench.item_viewed", "refused", None, "workbench.item_not_found"),
        ("officer.one", "triage.decide", "refused", item.item_id, "triage.reason_required"),
        ("officer.one", "triage.decide", "refused", item.item_id, "triage.no_agreement"),
        ("api", "triage.decide", "ok", item.item_id, None),
        ("officer.two", "triage.decide", "refused", item.item_id, "triage.already_decided"),
    ], "a name typed as an item id is never stored; the REST API is audited as api, not as who it says"


async def test_a_failed_send_is_audited_as_refused(store: WorkbenchStore) -> None:
    triage = desk(store)
    sender = SlowSender(DESK)
    sender.fail = True
    triage._sender = sender
    item = triage.receive_public(_public_form(), reference="OD-TESTAUD2", received_at=dt.datetime.now(dt.UTC))
    with pytest.raises(Unavailable):
        await triage.decide(item.item_id, TriageDecision.parse("intervention", str(CHARITY)), by="officer.one")
    [line] = store.audit_trail()
    assert (line.action, line.outcome, line.reason_code) == ("triage.decide", "refused", "kafka.unreachable")


async def test_no_further_action_closes_a_public_referral(store: WorkbenchStore) -> None:
    progress = FakeProgress()
    triage = desk(store, progress=progress)
    item = triage.receive_public(_public_form(), reference="OD-TESTNFA1", received_at=dt.datetime.now(dt.UTC))
    decided = await triage.decide(
        item.item_id, TriageDecision.parse("no-further-action", reason="Known; plan in place"), by="officer.two"
    )
    assert (decided.decision_kind, decided.decision_reason, decided.decided_by) == (
        "no-further-action",
        "Known; plan in place",
        "officer.two",
    )
    assert progress.reports == [("OD-TESTNFA1", "closed")]


async def test_intelligence_goes_to_the_local_authority(store: WorkbenchStore) -> None:
    triage = desk(store)
    item = triage.receive_public(_public_form(), reference="OD-TESTINT1", received_at=dt.datetime.now(dt.UTC))
    decided = await triage.decide(item.item_id, TriageDecision.parse("intelligence"), by="officer.one")
    assert decided.decision_target == BOROUGH


async def test_alerts_are_stored_for_the_timeline_in_the_order_they_happened(store: WorkbenchStore) -> None:
    triage = desk(store, me=CHARITY)
    base = dt.datetime(2026, 11, 1, 12, tzinfo=dt.UTC)
    for kind, hours in (("FOUND_OUT_OF_AREA", 5), ("MISSING_EPISODE", 1)):
        body = {
            "alert_id": str(MessageId.new()),
            "kind": kind,
            "subject_token": str(TOKEN),
            "occurred_at": base + dt.timedelta(hours=hours),
            "reported_at": base + dt.timedelta(hours=6),
        }
        await triage.on_alert(_received(str(ALERT), body, token=TOKEN))
    other = {
        "alert_id": str(MessageId.new()),
        "kind": "ARREST",
        "subject_token": "st1_" + "B" * 43,
        "occurred_at": base,
        "reported_at": base,
    }
    await triage.on_alert(_received(str(ALERT), other))
    assert [a.title for a in store.timeline(str(TOKEN))] == ["Missing episode", "Found out of area"]
    assert len(store.items(kind="alert")) == 3


async def test_submit_goes_to_the_triage_desk_the_agreements_allow(store: WorkbenchStore) -> None:
    police = desk(store, me=POLICE)
    header = await police.submit(referral_json())
    assert header.recipients == (DESK,)
    assert isinstance(police._sender, FakeSender)
    assert police._sender.sent[0]["purpose"] == SAFEGUARDING_REFERRAL
    with pytest.raises(ValidationFailed) as refused:
        await police.submit(referral_json(given_name="", family_name=""))
    assert refused.value.code == "referral.no_identifier"
    charity = desk(store, me=CHARITY)
    with pytest.raises(Forbidden) as forbidden:
        await charity.submit(referral_json())
    assert forbidden.value.code == "referral.no_triage_desk"


def test_only_a_triage_agency_is_a_desk(store: WorkbenchStore) -> None:
    assert desk(store).is_triage
    assert not desk(store, me=CHARITY).is_triage


class SlowSender(FakeSender):
    """Sends after a pause, so two decisions overlap; fails on demand."""

    fail: bool = False

    async def send(self, **message: Any) -> list[Header]:
        await asyncio.sleep(0.05)
        if self.fail:
            raise Unavailable("kafka.unreachable", "the broker did not answer")
        return await super().send(**message)


async def test_two_concurrent_decisions_send_exactly_one_onward_message(store: WorkbenchStore) -> None:
    triage = desk(store)
    sender = SlowSender(DESK)
    triage._sender = sender
    item = triage.receive_public(_public_form(), reference="OD-TESTRACE", received_at=dt.datetime.now(dt.UTC))
    outcomes = await asyncio.gather(
        triage.decide(item.item_id, TriageDecision.parse("intervention", str(CHARITY)), by="officer.one"),
        triage.decide(item.item_id, TriageDecision.parse("intelligence"), by="officer.two"),
        triage.decide(item.item_id, TriageDecision.parse("intervention", str(CHARITY)), by="officer.one"),
        return_exceptions=True,
    )
    assert len(sender.sent) == 1, "one onward message, however many officers click"
    decided = [o for o in outcomes if not isinstance(o, BaseException)]
    refused = [o for o in outcomes if isinstance(o, BaseException)]
    assert len(decided) == 1
    assert all(isinstance(e, Conflict) and e.code == "triage.already_decided" for e in refused), refused
    stored = store.item(item.item_id)
    assert stored.status == "triaged"
    assert stored.onward_message_id == decided[0].onward_message_id
    assert stored.decision_target == sender.sent[0]["recipients"][0]


async def test_a_failed_send_gives_the_claim_back(store: WorkbenchStore) -> None:
    triage = desk(store)
    sender = SlowSender(DESK)
    sender.fail = True
    triage._sender = sender
    item = triage.receive_public(_public_form(), reference="OD-TESTFAIL", received_at=dt.datetime.now(dt.UTC))
    with pytest.raises(Unavailable):
        await triage.decide(item.item_id, TriageDecision.parse("intervention", str(CHARITY)), by="officer.one")
    after = store.item(item.item_id)
    assert (after.status, after.decided_at_ms, after.decided_by) == ("received", None, None)
    sender.fail = False
    decided = await triage.decide(item.item_id, TriageDecision.parse("intervention", str(CHARITY)), by="officer.one")
    assert decided.status == "triaged"
    assert len(sender.sent) == 1


def _limited(body: dict[str, Any]) -> dict[str, Any]:
    # What a desk receives under a "limited" agreement: the connector's own projection.
    tagged = TaggedContract.from_schema(referral_schema(), REFERRAL_VERSION)
    return project(body, tagged, tagged.fields_for(AccessLevel.LIMITED.classes))


async def test_a_referral_received_without_required_fields_is_refused_clearly_and_nothing_sent(
    store: WorkbenchStore,
) -> None:
    triage = desk(store)
    await triage.on_referral(_received(str(REFERRAL), _limited(parse_referral(referral_json())), token=TOKEN))
    [item] = store.items()
    assert item.title == "Name withheld"
    with pytest.raises(TriageInvalid) as refused:
        await triage.decide(item.item_id, TriageDecision.parse("intervention", str(CHARITY)), by="officer.one")
    assert refused.value.code == "triage.referral_incomplete"
    assert "child.given_name" in refused.value.message
    assert "child.family_name" in refused.value.message
    assert "Testy" not in refused.value.message
    assert isinstance(triage._sender, FakeSender)
    assert triage._sender.sent == []
    assert store.item(item.item_id).decided_at_ms is None, "not claimed: still decidable"
    closed = await triage.decide(item.item_id, TriageDecision.parse("no-further-action", reason="Asked for it"), by="o")
    assert closed.status == "triaged"


async def test_a_referral_missing_only_optional_fields_is_sent_on(store: WorkbenchStore) -> None:
    triage = desk(store)
    body = parse_referral(referral_json())
    del body["child"]["date_of_birth"]
    del body["exploitation"]
    await triage.on_referral(_received(str(REFERRAL), body))
    [item] = store.items()
    decided = await triage.decide(item.item_id, TriageDecision.parse("intervention", str(CHARITY)), by="officer.one")
    assert decided.onward_message_id is not None
    assert isinstance(triage._sender, FakeSender)
    [sent] = triage._sender.sent
    assert sent["body"]["child"]["given_name"] == "Testy"
    assert sent["body"]["child"].get("date_of_birth") is None


def test_an_unreadable_public_referral_is_an_inbox_item_with_its_reference_and_reason(store: WorkbenchStore) -> None:
    triage = desk(store)
    at = dt.datetime(2026, 11, 20, 9, tzinfo=dt.UTC)
    item = triage.receive_unreadable(
        reason="intake.key_unknown", received_at=at, reference="OD-TESTUNRD", sealed='{"v":1}'
    )
    again = triage.receive_unreadable(reason="intake.key_unknown", received_at=at, reference="OD-TESTUNRD")
    assert again.item_id == item.item_id, "stored once however often read"
    assert (item.kind, item.status, item.reference) == ("unreadable", "unreadable", "OD-TESTUNRD")
    assert item.title == "Unreadable referral OD-TESTUNRD"
    assert item.body["reason"] == "intake.key_unknown"
    assert item.received_at == at
    with pytest.raises(ValidationFailed) as refused:
        triage.plan(item, TriageDecision.parse("intervention", str(CHARITY)))
    assert refused.value.code == "triage.not_a_referral"
