"""Status checks and replies through the router: real sealed envelopes, ``decide`` and the Router's batch.

The hub never reads bodies, so the envelopes carry a fake body under the status contract names.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import pytest

from consent import AccessLevel, AgreementIndex, Provision
from hub.router.decide import Delivered, Limits, Rejected, decide
from hub.router.policy import RoutingPolicy
from hub.router.service import Router, RouterConfig, _audit_row
from hub.router.status import STATUS_CHECK, STATUS_PURPOSE, STATUS_REPLY, StatusBook, StatusLimits
from hub.router.tables import RoutingTables
from onedoor.envelope.keys import AgencyKeyPair
from onedoor.envelope.window import MessageWindow
from onedoor.ids import ContractName, CorrelationId, Purpose
from onedoor.topics import TopicNames
from tests.factories import REFERRAL, World, with_header
from tests.unit.consent.world import CATALOG, COUNTY_POLICE, TESTBOROUGH, agency, agreement

LIMITS = Limits(max_envelope_bytes=64 * 1024, max_ttl_ms=3_600_000, clock_skew_ms=60_000)
CONTRACTS = frozenset({(str(REFERRAL), 1), (STATUS_CHECK, 1), (STATUS_REPLY, 1)})
POSITION = "t.out.test-county-police:0:1"


@dataclass
class Hub:
    """A world, its tables with the status contracts registered, and one router's state."""

    world: World = field(default_factory=World.make)
    book: StatusBook = field(default_factory=StatusBook)
    replay: MessageWindow = field(default_factory=MessageWindow)
    offset: int = 0

    def tables(self) -> RoutingTables:
        return self.world.tables(CONTRACTS)

    def seal(
        self,
        sender: AgencyKeyPair,
        recipients: list[AgencyKeyPair],
        *,
        contract: str,
        purpose: str = STATUS_PURPOSE,
        correlation_id: str | None = None,
        ttl_ms: int = 10_000,
        created_ms: int | None = None,
    ) -> tuple[bytes, str]:
        header = self.world.header(
            sender,
            recipients,
            contract=ContractName(contract),
            ttl_ms=ttl_ms,
            created_ms=created_ms,
            subject_token=None,
        )
        changes: dict[str, object] = {"purpose": Purpose(purpose)}
        if correlation_id is not None:
            changes["correlation_id"] = CorrelationId(correlation_id)
        header = with_header(header, **changes)
        return self.world.seal(sender, recipients, body=b"tokens only", header=header), str(header.message_id)

    def route(
        self, value: bytes, sender: AgencyKeyPair, *, position: str | None = None, now_ms: int | None = None
    ) -> Delivered | Rejected:
        if position is None:
            self.offset += 1
            position = f"t.out.{sender.agency}:0:{self.offset}"
        return decide(
            value,
            owner=str(sender.agency),
            position=position,
            now_ms=int(time.time() * 1000) if now_ms is None else now_ms,
            tables=self.tables(),
            replay=self.replay,
            limits=LIMITS,
            status=self.book,
        )

    def check(self, recipients: list[AgencyKeyPair] | None = None, **kw: Any) -> tuple[Delivered | Rejected, str]:
        w = self.world
        value, message_id = self.seal(w.police, recipients or [w.council, w.charity], contract=STATUS_CHECK, **kw)
        return self.route(value, w.police), message_id

    def reply(
        self, responder: AgencyKeyPair, check_id: str, to: list[AgencyKeyPair] | None = None, **kw: Any
    ) -> Delivered | Rejected:
        value, _ = self.seal(responder, to or [self.world.police], contract=STATUS_REPLY, correlation_id=check_id, **kw)
        return self.route(value, responder, now_ms=kw.get("created_ms"))


def _outcome(decision: Delivered | Rejected) -> str:
    return "delivered" if isinstance(decision, Delivered) else str(decision.reason)


@pytest.fixture
def hub() -> Hub:
    return Hub()


def test_a_check_is_delivered_and_remembered(hub: Hub) -> None:
    decision, message_id = hub.check()
    assert isinstance(decision, Delivered)
    assert len(hub.book) == 1
    assert _outcome(hub.reply(hub.world.council, message_id)) == "delivered"


def test_reply_cases_through_the_router(hub: Hub) -> None:
    w = hub.world
    _, check_id = hub.check([w.council])
    cases = [
        ("A reply to a check the hub never routed is refused.", hub.reply(w.council, "no-such-check"),
         "status.reply_unsolicited"),
        ("The charity was not asked: its reply is refused.", hub.reply(w.charity, check_id),
         "status.reply_unsolicited"),
        ("A reply copied to another agency is refused.", hub.reply(w.council, check_id, to=[w.police, w.charity]),
         "status.reply_unsolicited"),
        ("The asked council answers in time.", hub.reply(w.council, check_id), "delivered"),
        ("The council answering again is a duplicate.", hub.reply(w.council, check_id), "status.reply_duplicate"),
    ]  # fmt: skip
    for sentence, decision, expected in cases:
        assert _outcome(decision) == expected, sentence


def test_a_reply_after_the_hard_deadline_is_late(hub: Hub) -> None:
    now = int(time.time() * 1000)
    _, check_id = hub.check(created_ms=now - 1_000, ttl_ms=60_000)
    late = hub.reply(hub.world.council, check_id, created_ms=now + 9_500)
    assert _outcome(late) == "status.reply_late"
    assert isinstance(late, Rejected)
    row = _audit_row(late, POSITION, _now())
    assert (row["kind"], row["reason_code"], row["correlation_id"]) == ("route.rejected", "status.reply_late", check_id)


@pytest.mark.parametrize("contract", [STATUS_CHECK, STATUS_REPLY])
def test_status_envelopes_must_carry_the_victim_identification_purpose(hub: Hub, contract: str) -> None:
    w = hub.world
    value, _ = hub.seal(w.police, [w.council], contract=contract, purpose="safeguarding-referral")
    assert _outcome(hub.route(value, w.police)) == "status.wrong_purpose"


def test_purpose_binding_applies_without_a_book_too(hub: Hub) -> None:
    w = hub.world
    value, _ = hub.seal(w.police, [w.council], contract=STATUS_CHECK, purpose="safeguarding-referral")
    decision = decide(
        value,
        owner=str(w.police.agency),
        position=POSITION,
        now_ms=int(time.time() * 1000),
        tables=hub.tables(),
        replay=MessageWindow(),
        limits=LIMITS,
    )
    assert _outcome(decision) == "status.wrong_purpose"


def test_other_envelopes_are_untouched_by_the_book(hub: Hub) -> None:
    w = hub.world
    assert _outcome(hub.route(w.seal(w.police, [w.council]), w.police)) == "delivered"
    assert len(hub.book) == 0


def test_a_requester_over_its_rate_is_refused() -> None:
    hub = Hub(book=StatusBook(StatusLimits(burst=2, rate_per_s=0.001)))
    outcomes = [_outcome(hub.check()[0]) for _ in range(3)]
    assert outcomes == ["delivered", "delivered", "status.rate_limited"]
    assert len(hub.book) == 2


def test_a_check_read_again_from_the_same_position_is_routed_again() -> None:
    # A re-read after a failure: the replay window calls it a redelivery and the book takes no token.
    hub = Hub(book=StatusBook(StatusLimits(burst=1, rate_per_s=0.001)))
    w = hub.world
    value, _ = hub.seal(w.police, [w.council], contract=STATUS_CHECK)
    assert _outcome(hub.route(value, w.police, position=POSITION)) == "delivered"
    assert _outcome(hub.route(value, w.police, position=POSITION)) == "delivered"
    assert _outcome(hub.route(value, w.police, position=POSITION + "9")) == "envelope.replayed"


def test_a_replayed_reply_is_a_replay_not_a_duplicate(hub: Hub) -> None:
    w = hub.world
    _, check_id = hub.check([w.council])
    value, _ = hub.seal(w.council, [w.police], contract=STATUS_REPLY, correlation_id=check_id)
    assert _outcome(hub.route(value, w.council, position="t.out.lb-testborough-csc:0:1")) == "delivered"
    assert _outcome(hub.route(value, w.council, position="t.out.lb-testborough-csc:0:1")) == "delivered"
    assert _outcome(hub.route(value, w.council, position="t.out.lb-testborough-csc:0:2")) == "envelope.replayed"


def test_a_refused_check_is_not_outstanding_and_not_routed_later(hub: Hub) -> None:
    # Refused by the registry (unknown recipient): neither the book nor the replay window keeps it.
    w = hub.world
    value, message_id = hub.seal(w.police, [w.council], contract=STATUS_CHECK)
    tables = hub.tables()
    tables.agencies = {k: v for k, v in tables.agencies.items() if k != str(w.council.agency)}
    refused = decide(
        value,
        owner=str(w.police.agency),
        position=POSITION,
        now_ms=int(time.time() * 1000),
        tables=tables,
        replay=hub.replay,
        limits=LIMITS,
        status=hub.book,
    )
    assert _outcome(refused) == "recipient.unknown"
    assert len(hub.book) == 0
    assert _outcome(hub.reply(w.council, message_id)) == "status.reply_unsolicited"


def test_the_agreement_check_still_applies_to_status_checks(hub: Hub) -> None:
    # An agreement between the two agencies that does not cover the status contract refuses the check.
    isa = agreement(
        "isa-test-police-testborough",
        [agency(COUNTY_POLICE), agency(TESTBOROUGH)],
        [Provision.permit(classes=AccessLevel.FULL)],
    )
    tables = replace(hub.tables(), policy=RoutingPolicy(index=AgreementIndex.build([isa], CATALOG, version=1)))
    w = hub.world
    header = w.header(w.police, [w.council], contract=ContractName(STATUS_CHECK), agreement=str(isa.id))
    value = w.seal(w.police, [w.council], header=with_header(header, purpose=Purpose(STATUS_PURPOSE)))
    decision = decide(
        value,
        owner=str(w.police.agency),
        position=POSITION,
        now_ms=int(time.time() * 1000),
        tables=tables,
        replay=hub.replay,
        limits=LIMITS,
        status=hub.book,
    )
    assert isinstance(decision, Rejected)
    assert not str(decision.reason).startswith("status."), decision
    assert len(hub.book) == 0


# --- the Router's batch: dead letters, audit rows, the alert -------------------------------


@dataclass(frozen=True)
class _TP:
    topic: str
    partition: int = 0


@dataclass(frozen=True)
class _Record:
    value: bytes
    offset: int
    key: bytes | None = None
    headers: tuple[tuple[str, bytes], ...] = ()


class _Publisher:
    def __init__(self) -> None:
        self.sent: list[tuple[str, list[tuple[str, bytes]]]] = []
        self.values: list[tuple[bytes | None, bytes]] = []

    async def add(self, topic: str, key: bytes | None, value: bytes, headers: list[tuple[str, bytes]]) -> None:
        self.sent.append((topic, headers))
        self.values.append((key, value))

    async def flush(self) -> list[Any]:
        return []


def _now() -> datetime:
    return datetime.now(UTC)


async def test_the_router_dead_letters_refusals_and_audits_one_enumeration_alert() -> None:
    hub = Hub()
    w = hub.world
    limits = StatusLimits(burst=4, rate_per_s=0.001, enumeration_threshold=2, enumeration_window_ms=60_000)
    config = RouterConfig(bootstrap_servers="127.0.0.1:9", topics=TopicNames("t"), limits=LIMITS, status=limits)
    router = Router(config, load_tables=hub.tables, audit=lambda _rows: None)
    router._tables = hub.tables()
    publisher = _Publisher()
    router._publisher = publisher  # type: ignore[assignment]
    values = [hub.seal(w.police, [w.council], contract=STATUS_CHECK)[0] for _ in range(5)]
    records = [_Record(v, offset=i) for i, v in enumerate(values)]
    inflight = await router._route_batch({_TP("t.out.test-county-police"): records})

    kinds = [(row["kind"], row["reason_code"]) for row in inflight.rows]
    assert kinds == [("route.delivered", None)] * 4 + [
        ("route.rejected", "status.rate_limited"),
        ("status.enumeration_suspected", "status.enumeration_suspected"),
    ]
    alert = inflight.rows[-1]
    assert (alert["actor"], alert["outcome"], alert["message_id"], alert["subject_token"]) == (
        "test-county-police",
        "alert",
        None,
        None,
    )
    assert alert["detail"].startswith("checks_in_window=3; threshold=2; window_s=60")
    dead = [headers for topic, headers in publisher.sent if topic == "t.deadletter"]
    assert [dict(h)["od_reason"] for h in dead] == [b"status.rate_limited"]
    assert router.stats.rejected["status.rate_limited"] == 1
    assert router.status.stats.alerts == 1
