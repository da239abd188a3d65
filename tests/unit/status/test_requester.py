"""The requester asks only agencies that may answer, gathers replies by correlation id, stops at the soft deadline."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from structlog.testing import capture_logs

from connectors.identity import Identifiers, derive_tokens
from connectors.sdk import ReceivedMessage
from connectors.sdk.policy import SharingPolicy
from connectors.status import (
    STATUS_CHECK,
    DisclosureLog,
    Dispatcher,
    StatusChecker,
    StatusIndex,
    StatusResponder,
    choose_responders,
)
from connectors.status.messages import VICTIM_IDENTIFICATION, NrmStage, StatusFlag, check_body
from connectors.status.responder import Ignored
from connectors.status.synthetic import known_victim, synthetic_records
from onedoor.envelope.header import Header
from tests.unit.status.world import (
    AGREEMENTS,
    ASKABLE,
    CHARITY,
    COUNCIL,
    NO_TOKENS,
    NOW,
    POLICE,
    SEND_ONLY,
    SILENT,
    STRANGER,
    VICTIM,
    Exchange,
    document,
)

UNKNOWN = Identifiers.parse("Precious", "Nonexistentson", "2011-11-11")


@pytest.fixture
def exchange() -> Iterator[Exchange]:
    """Council and charity answer from their indexes (both hold the victim); the silent borough never answers."""
    exchange = Exchange()
    logs = []
    for agency in (COUNCIL, CHARITY):
        index = StatusIndex.build([known_victim(f"fake-rec-{agency}-0001"), *synthetic_records(100)], exchange.key)
        log = DisclosureLog()
        logs.append(log)
        exchange.handlers[agency] = StatusResponder(exchange.connectors[agency], index, disclosures=log)
    yield exchange
    for log in logs:
        log.close()


def _checker(exchange: Exchange) -> tuple[StatusChecker, Dispatcher]:
    """A checker sharing the police connector's inbox through the application's dispatcher."""
    dispatcher = Dispatcher()
    exchange.handlers[POLICE] = dispatcher
    police = exchange.connectors[POLICE]
    assert police.policy is not None
    return StatusChecker(police, exchange.key, police.policy, dispatcher=dispatcher), dispatcher


def test_only_agencies_that_may_receive_the_check_and_answer_it_are_asked() -> None:
    policy = SharingPolicy.from_document(document())
    chosen = choose_responders(policy, POLICE, at_ms=int(NOW * 1000))
    assert chosen == ASKABLE
    assert SEND_ONLY not in chosen, "its agreement lets it send to the police, not answer a status check"
    assert NO_TOKENS not in chosen, "it may not receive identity tokens, so a check would be useless"
    assert STRANGER not in chosen, "no agreement with the police"


def test_an_inactive_agency_is_not_asked() -> None:
    policy = SharingPolicy.from_document(document())
    chosen = choose_responders(policy, POLICE, at_ms=int(NOW * 1000), active=frozenset({COUNCIL, POLICE}))
    assert chosen == [COUNCIL]


def test_the_answering_side_may_not_ask_back_without_its_own_agreement() -> None:
    policy = SharingPolicy.from_document(document())
    assert choose_responders(policy, COUNCIL, at_ms=int(NOW * 1000)) == []
    assert len(AGREEMENTS) == 5


async def test_a_known_victim_is_found_and_a_silent_agency_is_reported(exchange: Exchange) -> None:
    checker, dispatcher = _checker(exchange)
    answer = await checker.check(VICTIM, soft_deadline_s=0.3, hard_deadline_s=5)

    assert answer.asked == tuple(ASKABLE)
    assert answer.not_answered == (SILENT,)
    assert answer.answered == (CHARITY, COUNCIL)
    by_agency = {m.agency: m for m in answer.matches}
    assert len(by_agency) == len(answer.matches) == 2
    council, charity = by_agency[COUNCIL], by_agency[CHARITY]
    assert (council.agency, council.record_reference, council.confidence) == (COUNCIL, f"fake-rec-{COUNCIL}-0001", 1.0)
    assert council.flags == (StatusFlag.RECENT_MISSING_EPISODES, StatusFlag.SUSPECTED_EXPLOITATION_VICTIM)
    assert council.nrm_stage is NrmStage.REASONABLE_GROUNDS_POSITIVE
    assert council.lead_professional is not None
    assert council.lead_professional.phone == "01632 960123"
    assert (charity.agency, charity.flags, charity.lead_professional) == (CHARITY, None, None)
    assert 300 <= answer.elapsed_ms < 2000, "the answer arrives at the soft deadline, not later"
    assert dispatcher.waiting == 0

    recipients = {r for h in exchange.published if h.contract == STATUS_CHECK for r in h.recipients}
    assert recipients == set(ASKABLE)
    assert SEND_ONLY not in recipients
    assert STRANGER not in recipients
    assert NO_TOKENS not in recipients


async def test_when_everyone_answers_the_answer_does_not_wait_for_the_deadline(exchange: Exchange) -> None:
    checker, _ = _checker(exchange)
    exchange.handlers[SILENT] = exchange.handlers[COUNCIL].__class__(  # another borough, holding nobody
        exchange.connectors[SILENT], StatusIndex.build([], exchange.key), disclosures=DisclosureLog()
    )
    answer = await checker.check(UNKNOWN, soft_deadline_s=5, hard_deadline_s=10)
    assert answer.matches == ()
    assert answer.not_answered == ()
    assert answer.elapsed_ms < 1000
    assert answer.describe() == "No record found at the 3 agencies asked."


async def test_a_late_reply_is_not_used_and_never_reaches_the_application(exchange: Exchange) -> None:
    seen: list[ReceivedMessage] = []

    async def application(message: ReceivedMessage) -> None:
        seen.append(message)

    checker, dispatcher = _checker(exchange)
    dispatcher._fallback = application
    council = exchange.handlers.pop(COUNCIL)
    answer = await checker.check(VICTIM, soft_deadline_s=0.1)
    assert COUNCIL in answer.not_answered

    # The council answers after the soft deadline: the reply is logged and dropped.
    await exchange.deliver(COUNCIL, council)
    assert seen == []
    assert exchange.inbox[POLICE] == []


async def test_a_reply_from_an_agency_not_asked_is_ignored(exchange: Exchange) -> None:
    """The silent borough answers the check sent to the council (a correlation id it was not sent): not used."""
    checker, _ = _checker(exchange)
    real_publish = exchange.connectors[POLICE].publish

    async def publish_and_misreply(header: Header, value: bytes) -> None:
        await real_publish(header, value)
        if header.contract == STATUS_CHECK and header.recipients == (COUNCIL,):
            index = StatusIndex.build([known_victim("fake-rec-misreply-0001")], exchange.key)
            with DisclosureLog() as log:
                silent = StatusResponder(exchange.connectors[SILENT], index, disclosures=log)
                await silent.handle(exchange.connectors[COUNCIL].open(value))

    exchange.connectors[POLICE].publish = publish_and_misreply  # type: ignore[method-assign]
    with capture_logs() as logs:
        answer = await checker.check(VICTIM, soft_deadline_s=0.2)
    assert {m.agency for m in answer.matches} == {COUNCIL, CHARITY}
    assert answer.not_answered == (SILENT,)
    assert [e["reason"] for e in logs if e["event"] == "status.reply_ignored"] == ["status.reply_not_asked"]


async def test_the_checker_reads_the_inbox_itself_without_a_dispatcher(exchange: Exchange) -> None:
    police = exchange.connectors[POLICE]
    assert police.policy is not None
    checker = StatusChecker(police, exchange.key, police.policy)  # check() polls the (fake) inbox
    answers = await asyncio.gather(
        checker.check(VICTIM, soft_deadline_s=0.3), checker.check(UNKNOWN, soft_deadline_s=0.3)
    )
    assert [len(a.matches) for a in answers] == [2, 0]
    assert all(a.not_answered == (SILENT,) for a in answers)


async def test_a_responder_that_may_not_answer_ignores_the_check(exchange: Exchange) -> None:
    """If a check reaches an agency whose agreement does not let it answer (a stale policy), nothing is disclosed."""
    police = exchange.connectors[POLICE]
    police.policy = None  # the requester's policy is stale: it asks the YOT anyway
    body = check_body(derive_tokens(VICTIM, exchange.key), soft_deadline_ms=2**41, hard_deadline_ms=2**41)
    (sealed,) = police.seal(
        contract=STATUS_CHECK, version=1, recipients=[SEND_ONLY], purpose=VICTIM_IDENTIFICATION, body=body
    )
    yot = exchange.connectors[SEND_ONLY]
    yot.policy = None
    check = yot.open(sealed.value)
    yot.policy = SharingPolicy.from_document(document())
    with DisclosureLog() as log:
        responder = StatusResponder(yot, StatusIndex.build([known_victim()], exchange.key), disclosures=log)
        outcome = await responder.handle(check)
        assert outcome.ignored is Ignored.REPLY_DENIED
        assert len(log) == 0
    assert exchange.inbox[POLICE] == []
