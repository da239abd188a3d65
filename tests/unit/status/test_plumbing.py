"""The disclosure log, the inbox dispatcher and the status contracts' tags."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from connectors.sdk import ReceivedMessage
from connectors.status import STATUS_CHECK, STATUS_REPLY, VICTIM_IDENTIFICATION, DisclosureLog, Dispatcher
from consent.purposes import PURPOSES
from contracts.catalog import bundled
from contracts.sensitivity import Sensitivity
from onedoor.envelope.header import Header
from onedoor.ids import AgencyId, ContractName, CorrelationId, KeyId, MessageId, Purpose

POLICE = AgencyId("test-county-police")
AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_disclosures_are_listed_per_record_and_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "disclosures.sqlite"
    first, second = MessageId.new(), MessageId.new()
    with DisclosureLog(path) as log:
        log.record("fake-rec-0001", POLICE, VICTIM_IDENTIFICATION, AT, first)
        log.record("fake-rec-0001", POLICE, VICTIM_IDENTIFICATION, AT, first)  # a redelivered check
        log.record("fake-rec-0002", POLICE, VICTIM_IDENTIFICATION, AT, second)
    with DisclosureLog(path) as log:
        listed = log.for_record("fake-rec-0001")
        assert [(d.requester, d.purpose, d.at, d.message_id) for d in listed] == [
            (POLICE, VICTIM_IDENTIFICATION, AT, first)
        ]
        assert log.for_record("fake-rec-unknown") == []
        assert len(log) == 2


def _message(contract: str, correlation: str) -> ReceivedMessage:
    key = KeyId("k1_" + "0" * 32)
    header = Header(
        message_id=MessageId.new(),
        contract=ContractName(contract),
        contract_version=1,
        sender=POLICE,
        sender_signing_key=key,
        sender_encryption_key=key,
        recipients=(AgencyId("lb-testborough-csc"),),
        purpose=Purpose("victim-identification"),
        subject_token=None,
        created_at_ms=0,
        expires_at_ms=1,
        correlation_id=CorrelationId(correlation),
    )
    return ReceivedMessage(header, {})


async def test_the_dispatcher_routes_by_correlation_then_contract_then_fallback() -> None:
    app: list[ReceivedMessage] = []
    checks: list[ReceivedMessage] = []

    async def application(message: ReceivedMessage) -> None:
        app.append(message)

    async def responder(message: ReceivedMessage) -> None:
        checks.append(message)

    dispatcher = Dispatcher(fallback=application)
    dispatcher.route(STATUS_CHECK, responder)
    waiter = dispatcher.expect(["awaited-1"], contract=STATUS_REPLY)

    reply = _message(STATUS_REPLY, "awaited-1")
    referral_in_same_conversation = _message("onedoor.referral.MasterReferral", "awaited-1")
    check = _message(STATUS_CHECK, "other")
    for message in (reply, referral_in_same_conversation, check):
        await dispatcher(message)

    assert waiter.queue.get_nowait() is reply
    assert waiter.queue.empty()
    assert checks == [check]
    assert app == [referral_in_same_conversation]

    dispatcher.forget(waiter)
    assert dispatcher.waiting == 0
    await dispatcher(replace(reply, header=replace(reply.header, message_id=MessageId.new())))
    assert len(app) == 2, "after forget, a reply nobody routes goes to the fallback"


def test_the_check_carries_tokens_and_times_only() -> None:
    tags = bundled()[STATUS_CHECK].tags
    assert dict(tags) == {
        "tokens": Sensitivity.IDENTITY,
        "tokens.kind": Sensitivity.IDENTITY,
        "tokens.value": Sensitivity.IDENTITY,
        "soft_deadline_at": Sensitivity.OPERATIONAL,
        "hard_deadline_at": Sensitivity.OPERATIONAL,
    }


def test_the_reply_is_status_not_file() -> None:
    tags = bundled()[STATUS_REPLY].tags
    assert tags["matches.flags"] is Sensitivity.SAFEGUARDING
    assert tags["matches.nrm_stage"] is Sensitivity.SAFEGUARDING
    assert tags["matches.lead_professional"] is Sensitivity.CONTACT
    for path in ("matches", "matches.record_reference", "matches.confidence", "matches.agreed", "answered_at"):
        assert tags[path] is Sensitivity.OPERATIONAL
    assert Sensitivity.IDENTITY not in set(tags.values()), "a reply never names the young person"


def test_the_purpose_is_in_the_catalogue() -> None:
    assert VICTIM_IDENTIFICATION in PURPOSES
