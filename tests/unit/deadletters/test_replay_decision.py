"""The replay decision: the router's own ``decide`` against the current tables, without a broker."""

from __future__ import annotations

import re
import time
from dataclasses import replace

import pytest

from hub.deadletters.replay import CauseNotFixed, NotReplayable, Replayable, judge, never_replayable, original_sender
from hub.deadletters.wire import REPLAY_SENDER, replayed_sender, router_pattern
from hub.router.decide import Limits
from hub.router.tables import RoutingTables
from onedoor.envelope.wire import MAC_SIZE
from onedoor.kafka.plan import replay_topic
from onedoor.topics import TopicNames
from tests.factories import World

LIMITS = Limits(max_envelope_bytes=64 * 1024, max_ttl_ms=3_600_000, clock_skew_ms=60_000)
TOPICS = TopicNames("onedoor")


@pytest.fixture
def world() -> World:
    return World.make()


def _suspended(tables: RoutingTables, agency: str) -> RoutingTables:
    tables.agencies = {**tables.agencies, agency: replace(tables.agencies[agency], active=False)}
    return tables


def _judge(world: World, value: bytes, reason: str, tables: RoutingTables, *, reported: bool = False) -> object:
    return judge(
        value,
        sender=str(world.police.agency),
        original_reason=reason,
        reported=reported,
        tables=tables,
        limits=LIMITS,
        now_ms=int(time.time() * 1000),
    )


def test_still_suspended_recipient_is_cause_not_fixed_naming_the_current_reason(world: World) -> None:
    value = world.seal(world.police, [world.council])
    verdict = _judge(world, value, "recipient.unknown", _suspended(world.tables(), str(world.council.agency)))
    assert isinstance(verdict, CauseNotFixed)
    assert verdict.reason == "recipient.unknown"
    assert str(world.council.agency) in verdict.detail


def test_a_different_current_reason_is_the_one_named(world: World) -> None:
    # Refused first because the recipient was suspended; now the sender is suspended instead.
    value = world.seal(world.police, [world.council])
    verdict = _judge(world, value, "recipient.unknown", _suspended(world.tables(), str(world.police.agency)))
    assert isinstance(verdict, CauseNotFixed)
    assert verdict.reason == "sender.suspended"


def test_reinstated_recipient_is_replayable(world: World) -> None:
    value = world.seal(world.police, [world.council])
    verdict = _judge(world, value, "recipient.unknown", world.tables())
    assert isinstance(verdict, Replayable)
    assert verdict.decision.recipients == (str(world.council.agency),)


def test_a_contract_registered_since_is_replayable(world: World) -> None:
    value = world.seal(world.police, [world.council])
    assert isinstance(_judge(world, value, "contract.unknown", world.tables(frozenset())), CauseNotFixed)
    assert isinstance(_judge(world, value, "contract.unknown", world.tables()), Replayable)


@pytest.mark.parametrize("reason", ["envelope.tampered", "envelope.expired", "signature.invalid", "envelope.replayed"])
def test_causes_that_can_never_be_fixed_are_not_replayable(world: World, reason: str) -> None:
    # Even when decide would deliver these bytes now, the original reason rules a replay out.
    value = world.seal(world.police, [world.council])
    verdict = _judge(world, value, reason, world.tables())
    assert isinstance(verdict, NotReplayable)
    assert verdict.reason == reason


def test_tampered_bytes_are_not_replayable_whatever_the_recorded_reason(world: World) -> None:
    value = world.seal(world.police, [world.council])
    forged = value[:-MAC_SIZE] + bytes(MAC_SIZE)
    verdict = _judge(world, forged, "recipient.unknown", world.tables())
    assert isinstance(verdict, NotReplayable)
    assert verdict.reason == "envelope.tampered"


def test_an_envelope_that_expired_meanwhile_is_not_replayable(world: World) -> None:
    value = world.seal(world.police, [world.council], created_ms=int(time.time() * 1000) - 120_000, ttl_ms=60_000)
    verdict = _judge(world, value, "recipient.unknown", world.tables())
    assert isinstance(verdict, NotReplayable)
    assert verdict.reason == "envelope.expired"


def test_a_recipients_report_is_not_replayable(world: World) -> None:
    value = world.seal(world.police, [world.council])
    assert isinstance(_judge(world, value, "recipient.unknown", world.tables(), reported=True), NotReplayable)


def test_never_replayable_from_metadata_alone() -> None:
    assert never_replayable("recipient.unknown", reported=False, contract="x", has_message_id=True) is None
    assert never_replayable("agreement.suspended", reported=False, contract="x", has_message_id=True) is None
    assert never_replayable("envelope.tampered", reported=False, contract="x", has_message_id=True)
    assert never_replayable("recipient.unknown", reported=True, contract="x", has_message_id=True)
    assert never_replayable("recipient.unknown", reported=False, contract="x", has_message_id=False)
    assert never_replayable(
        "recipient.unknown", reported=False, contract="onedoor.status.StatusCheck", has_message_id=True
    )


def test_the_replay_topic_names_its_sender_and_no_other_topic_can() -> None:
    headers = [(REPLAY_SENDER, b"met")]
    assert replayed_sender(replay_topic(TOPICS), headers, TOPICS) == "met"
    # An agency writing the header to its own outbound topic claims nothing.
    assert replayed_sender("onedoor.out.met-police", headers, TOPICS) is None
    assert replayed_sender("other.replay", headers, TOPICS) is None
    assert replayed_sender(replay_topic(TOPICS), [], TOPICS) is None


def test_the_router_subscribes_to_outbound_topics_and_the_replay_topic_only() -> None:
    pattern = re.compile(router_pattern(TOPICS))
    assert pattern.match("onedoor.out.met")
    assert pattern.match("onedoor.replay")
    assert not pattern.match("onedoor.in.met")
    assert not pattern.match("onedoor.deadletter")
    assert not pattern.match("onedoorx.replay")
    assert not pattern.match("onedoor.replayx")


def test_original_sender_from_outbound_topic_or_replay_header() -> None:
    assert original_sender("onedoor.out.met:0:7", (), TOPICS) == "met"
    assert original_sender("onedoor.replay:0:3", [(REPLAY_SENDER, b"met")], TOPICS) == "met"
    assert original_sender("onedoor.in.met:0:1", [(REPLAY_SENDER, b"met")], TOPICS) is None
    assert original_sender(None, (), TOPICS) is None
