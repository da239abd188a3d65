"""The router's decision for each kind of good and bad envelope, without a broker."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from hub.router.decide import Delivered, Limits, Rejected, decide
from hub.router.tables import AgencyEntry, RoutingTables
from onedoor.envelope.reasons import Reason
from onedoor.envelope.window import MessageWindow
from onedoor.envelope.wire import MAC_SIZE
from onedoor.ids import ContractName
from tests.factories import World

LIMITS = Limits(max_envelope_bytes=64 * 1024, max_ttl_ms=3_600_000, clock_skew_ms=60_000)


@pytest.fixture
def world() -> World:
    return World.make()


def _decide(
    world: World,
    value: bytes,
    *,
    owner: str | None = None,
    tables: RoutingTables | None = None,
    replay: MessageWindow | None = None,
    position: str = "t.out.x:0:1",
) -> Delivered | Rejected:
    return decide(
        value,
        owner=str(world.police.agency) if owner is None else owner,
        position=position,
        now_ms=int(time.time() * 1000),
        tables=world.tables() if tables is None else tables,
        replay=MessageWindow() if replay is None else replay,
        limits=LIMITS,
    )


def _reason(decision: Delivered | Rejected) -> Reason:
    assert isinstance(decision, Rejected), f"expected a rejection, got {decision}"
    return decision.reason


def test_good_envelope_is_delivered_to_every_recipient(world: World) -> None:
    decision = _decide(world, world.seal(world.police, [world.council, world.charity]))
    assert isinstance(decision, Delivered)
    assert decision.recipients == (str(world.council.agency), str(world.charity.agency))


def test_tampered_header_is_caught_by_the_hub_mac(world: World) -> None:
    value = world.seal(world.police, [world.council])
    tampered = value.replace(b"safeguarding-referral", b"safeguarding-referrak")
    assert tampered != value
    assert _reason(_decide(world, tampered)) is Reason.TAMPERED


def test_tampered_body_is_caught_by_the_hub_mac(world: World) -> None:
    value = bytearray(world.seal(world.police, [world.council]))
    value[-200] ^= 0xFF
    assert _reason(_decide(world, bytes(value))) is Reason.TAMPERED


def test_mac_made_with_another_key_is_tampered(world: World) -> None:
    value = world.seal(world.police, [world.council])
    assert _reason(_decide(world, value[:-MAC_SIZE] + bytes(MAC_SIZE))) is Reason.TAMPERED


def test_sender_must_own_the_topic(world: World) -> None:
    value = world.seal(world.police, [world.council])
    assert _reason(_decide(world, value, owner=str(world.charity.agency))) is Reason.SENDER_MISMATCH


def test_unregistered_topic_owner(world: World) -> None:
    value = world.seal(world.police, [world.council])
    assert _reason(_decide(world, value, owner="not-registered")) is Reason.SENDER_UNKNOWN


def test_suspended_sender(world: World) -> None:
    tables = world.tables()
    police = str(world.police.agency)
    tables.agencies = {**tables.agencies, police: replace(tables.agencies[police], active=False)}
    assert _reason(_decide(world, world.seal(world.police, [world.council]), tables=tables)) is Reason.SENDER_SUSPENDED


def test_revoked_sender_key(world: World) -> None:
    tables = world.tables()
    police = str(world.police.agency)
    tables.agencies = {
        **tables.agencies,
        police: AgencyEntry(active=True, signing_key_ids=frozenset(), encryption_keys={}),
    }
    assert (
        _reason(_decide(world, world.seal(world.police, [world.council]), tables=tables)) is Reason.SENDER_KEY_UNKNOWN
    )


def test_unknown_contract(world: World) -> None:
    value = world.seal(world.police, [world.council], contract=ContractName("onedoor.nothing.Here"))
    assert _reason(_decide(world, value)) is Reason.CONTRACT_UNKNOWN


def test_unregistered_contract_version(world: World) -> None:
    value = world.seal(world.police, [world.council], version=9)
    assert _reason(_decide(world, value)) is Reason.CONTRACT_VERSION_UNKNOWN


def test_recipient_not_registered(world: World) -> None:
    tables = world.tables()
    tables.agencies = {k: v for k, v in tables.agencies.items() if k != str(world.charity.agency)}
    value = world.seal(world.police, [world.council, world.charity])
    assert _reason(_decide(world, value, tables=tables)) is Reason.RECIPIENT_UNKNOWN


def test_expired(world: World) -> None:
    value = world.seal(world.police, [world.council], created_ms=int(time.time() * 1000) - 5_000, ttl_ms=1_000)
    assert _reason(_decide(world, value)) is Reason.EXPIRED


def test_created_in_the_future(world: World) -> None:
    value = world.seal(world.police, [world.council], created_ms=int(time.time() * 1000) + 600_000)
    assert _reason(_decide(world, value)) is Reason.NOT_YET_VALID


def test_lifetime_longer_than_allowed(world: World) -> None:
    value = world.seal(world.police, [world.council], ttl_ms=LIMITS.max_ttl_ms + 1)
    assert _reason(_decide(world, value)) is Reason.TTL_TOO_LONG


def test_oversized(world: World) -> None:
    value = world.seal(world.police, [world.council], body=b"x" * (LIMITS.max_envelope_bytes + 1))
    assert _reason(_decide(world, value)) is Reason.TOO_LARGE


@pytest.mark.parametrize(
    "value",
    [b"", b"\x00" * 200, bytes(range(256)) * 3, b"\x02" + b"\xff" * 300],
    ids=["empty", "zeros", "byte-ramp", "format-1-then-noise"],
)
def test_random_bytes_are_malformed(world: World, value: bytes) -> None:
    assert _reason(_decide(world, value)) is Reason.MALFORMED


def test_replay_from_another_position_is_refused(world: World) -> None:
    replay = MessageWindow()
    value = world.seal(world.police, [world.council])
    assert isinstance(_decide(world, value, replay=replay, position="t:0:1"), Delivered)
    assert _reason(_decide(world, value, replay=replay, position="t:0:2")) is Reason.REPLAYED


def test_rereading_the_same_record_is_not_a_replay(world: World) -> None:
    replay = MessageWindow()
    value = world.seal(world.police, [world.council])
    assert isinstance(_decide(world, value, replay=replay, position="t:0:1"), Delivered)
    assert isinstance(_decide(world, value, replay=replay, position="t:0:1"), Delivered)


def test_replay_window_forgets_only_expired_ids() -> None:
    window = MessageWindow()
    window.admit("a", "p1", expires_at_ms=100)
    window.admit("b", "p2", expires_at_ms=300)
    assert window.forget_expired(now_ms=200) == 1
    assert len(window) == 1
    assert not window.admit("b", "p9", expires_at_ms=300)


def test_a_newer_envelope_format_is_named_as_such(world: World) -> None:
    value = world.seal(world.police, [world.council])
    newer = b"\x04" + value[1:]  # format 2, zigzag-encoded
    assert _reason(_decide(world, newer)) is Reason.UNSUPPORTED_FORMAT
