"""The responder answers every check it may (no record is an answer too), logs disclosures, ignores with a reason."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta

import pytest
from structlog.testing import capture_logs

from connectors.identity import Identifiers, derive_tokens
from connectors.sdk import ReceivedMessage
from connectors.sdk.policy import SharingDenied
from connectors.status import (
    STATUS_CHECK,
    STATUS_REPLY,
    VICTIM_IDENTIFICATION,
    CheckNotice,
    DisclosureLog,
    StatusIndex,
    StatusResponder,
)
from connectors.status.messages import check_body
from connectors.status.responder import Ignored, reply_body
from connectors.status.synthetic import known_victim, synthetic_records
from consent.model import Action
from onedoor.ids import AgencyId, ContractName, Purpose
from tests.unit.status.world import CHARITY, COUNCIL, POLICE, VICTIM, Exchange

UNKNOWN = Identifiers.parse("Precious", "Nonexistentson", "2011-11-11")


@pytest.fixture
def exchange() -> Exchange:
    return Exchange()


def _check(
    exchange: Exchange,
    to: AgencyId,
    who: Identifiers = VICTIM,
    *,
    hard_in_s: float = 10.0,
    purpose: Purpose = VICTIM_IDENTIFICATION,
) -> ReceivedMessage:
    """A status check from the police, as ``to`` receives it."""
    now = int(time.time() * 1000)
    body = check_body(
        derive_tokens(who, exchange.key), soft_deadline_ms=now, hard_deadline_ms=now + int(hard_in_s * 1000)
    )
    (sealed,) = exchange.connectors[POLICE].seal(
        contract=STATUS_CHECK, version=1, recipients=[to], purpose=purpose, body=body
    )
    return exchange.connectors[to].open(sealed.value)


def _responder(exchange: Exchange, agency: AgencyId, log: DisclosureLog, notices: list[CheckNotice]) -> StatusResponder:
    index = StatusIndex.build([known_victim(f"fake-rec-{agency}-0001"), *synthetic_records(50)], exchange.key)

    async def notify(notice: CheckNotice) -> None:
        notices.append(notice)

    return StatusResponder(exchange.connectors[agency], index, disclosures=log, on_checked=notify)


def _reply(exchange: Exchange) -> ReceivedMessage:
    (value,) = exchange.inbox[POLICE]
    return exchange.connectors[POLICE].open(value)


async def test_a_match_is_answered_with_flags_contact_and_confidence(exchange: Exchange) -> None:
    notices: list[CheckNotice] = []
    with DisclosureLog() as log:
        check = _check(exchange, COUNCIL)
        outcome = await _responder(exchange, COUNCIL, log, notices).handle(check)
        assert outcome.replied
        assert outcome.matches == 1

        reply = _reply(exchange)
        assert reply.header.contract == STATUS_REPLY
        assert reply.header.correlation_id == check.header.message_id
        assert reply.header.purpose == VICTIM_IDENTIFICATION
        assert reply.header.recipients == (POLICE,)
        assert reply.header.agreement == "isa-status-council"
        assert not reply.withheld
        (match,) = reply.body["matches"]
        assert match == {
            "record_reference": f"fake-rec-{COUNCIL}-0001",
            "confidence": 1.0,
            "agreed": ["given name", "family name", "date of birth", "postcode district"],
            "flags": ["RECENT_MISSING_EPISODES", "SUSPECTED_EXPLOITATION_VICTIM"],
            "nrm_stage": "REASONABLE_GROUNDS_POSITIVE",
            "missing_episodes_last_90_days": 3,
            "case_open": True,
            "lead_professional": {
                "role": "allocated social worker",
                "team": "Testborough adolescent safeguarding team",
                "phone": "01632 960123",
                "email": "duty.adolescents@example.org",
            },
        }

        (disclosed,) = log.for_record(f"fake-rec-{COUNCIL}-0001")
        assert (disclosed.requester, disclosed.purpose, disclosed.message_id) == (
            POLICE,
            VICTIM_IDENTIFICATION,
            check.header.message_id,
        )
        (notice,) = notices
        assert notice.record_ref == disclosed.record_ref
        assert notice.requester == POLICE
        assert notice.confidence == 1.0
        assert "matches.flags" in notice.fields


async def test_no_record_is_an_answer_too(exchange: Exchange) -> None:
    notices: list[CheckNotice] = []
    with DisclosureLog() as log:
        outcome = await _responder(exchange, COUNCIL, log, notices).handle(_check(exchange, COUNCIL, UNKNOWN))
        assert outcome.replied
        assert outcome.matches == 0
        assert _reply(exchange).body["matches"] == []
        assert len(log) == 0
        assert notices == []


async def test_the_query_agreement_decides_what_is_answered(exchange: Exchange) -> None:
    """The charity may answer with operational data only: that it holds a record, and how sure the match is."""
    with DisclosureLog() as log:
        await _responder(exchange, CHARITY, log, []).handle(_check(exchange, CHARITY))
        reply = _reply(exchange)
        (match,) = reply.body["matches"]
        assert set(match) == {"record_reference", "confidence", "agreed"}
        assert "matches.flags" in reply.withheld
        assert "matches.lead_professional" in reply.withheld
        assert len(log) == 1


def _past_deadline(exchange: Exchange) -> ReceivedMessage:
    check = _check(exchange, COUNCIL)
    past = check.body["hard_deadline_at"] - timedelta(seconds=20)
    return replace(check, body={**check.body, "soft_deadline_at": past, "hard_deadline_at": past})


def _other_purpose(exchange: Exchange) -> ReceivedMessage:
    check = _check(exchange, COUNCIL)
    return replace(check, header=replace(check.header, purpose=Purpose("status-check")))


def _no_tokens(exchange: Exchange) -> ReceivedMessage:
    check = _check(exchange, COUNCIL)
    return replace(check, body={**check.body, "tokens": []})


@pytest.mark.parametrize(
    ("build", "reason"),
    [
        (_past_deadline, Ignored.PAST_HARD_DEADLINE),
        (_other_purpose, Ignored.WRONG_PURPOSE),
        (_no_tokens, Ignored.NO_TOKENS),
    ],
    ids=["past-hard-deadline", "other-purpose", "no-tokens"],
)
async def test_a_check_is_ignored_with_a_reason_and_no_personal_data_logged(
    exchange: Exchange, build: Callable[[Exchange], ReceivedMessage], reason: Ignored
) -> None:
    check = build(exchange)
    with DisclosureLog() as log, capture_logs() as logs:
        outcome = await _responder(exchange, COUNCIL, log, []).handle(check)
        assert len(log) == 0
    assert outcome.ignored is reason
    assert not outcome.replied
    assert exchange.inbox[POLICE] == []
    (line,) = [entry for entry in logs if entry["event"] == "status.check_ignored"]
    assert line["reason"] == reason
    assert line["message_id"] == check.header.message_id
    text = repr(logs)
    tokens = [v for values in derive_tokens(VICTIM, exchange.key).values() for v in values]
    for secret in ("Jonathan", "Testwood", "2010", *tokens):
        assert secret not in text


async def test_other_contracts_are_not_the_responders(exchange: Exchange) -> None:
    check = _check(exchange, COUNCIL)
    other = replace(check, header=replace(check.header, contract=ContractName("onedoor.alert.Alert")))
    with DisclosureLog() as log:
        await _responder(exchange, COUNCIL, log, [])(other)
    assert exchange.inbox[POLICE] == []


async def test_a_failing_notification_does_not_stop_the_reply(exchange: Exchange) -> None:
    async def broken(_notice: CheckNotice) -> None:
        raise RuntimeError("synthetic notification failure")

    index = StatusIndex.build([known_victim()], exchange.key)
    with DisclosureLog() as log:
        responder = StatusResponder(exchange.connectors[COUNCIL], index, disclosures=log, on_checked=broken)
        outcome = await responder.handle(_check(exchange, COUNCIL))
    assert outcome.replied
    assert len(exchange.inbox[POLICE]) == 1


def test_a_status_reply_is_decided_under_query_at_both_ends(exchange: Exchange) -> None:
    """The charity's agreement lets it answer a check (query) but not send to the police (send)."""
    charity = exchange.connectors[CHARITY]
    body = reply_body([], answered_at_ms=0)
    kwargs = {"contract": STATUS_REPLY, "version": 1, "recipients": [POLICE], "purpose": VICTIM_IDENTIFICATION}
    with pytest.raises(SharingDenied):
        charity.seal(**kwargs, body=body, action=Action.SEND)  # type: ignore[arg-type]
    assert charity.action_for(STATUS_REPLY) is Action.QUERY
    (sealed,) = charity.seal(**kwargs, body=body)  # type: ignore[arg-type]
    assert exchange.connectors[POLICE].open(sealed.value).body == {"answered_at": body["answered_at"], "matches": []}
