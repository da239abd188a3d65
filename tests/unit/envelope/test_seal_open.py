"""Sealing and opening envelopes: each failure has its own reason."""

from __future__ import annotations

import time

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from onedoor.envelope import hubmac
from onedoor.envelope.opening import open_envelope
from onedoor.envelope.reasons import EnvelopeRejected, Reason
from onedoor.envelope.wire import MAC_SIZE, TRAILER_SIZE, parse
from onedoor.ids import AgencyId, KeyId
from tests.factories import SENTINEL, World


class Senders:
    def __init__(self, world: World) -> None:
        self.keys = {(k.agency, k.signing_key_id): k.signing.public_key() for k in world.agencies}

    def signing_key(self, agency: AgencyId, key_id: KeyId) -> Ed25519PublicKey | None:
        return self.keys.get((agency, key_id))


@pytest.fixture
def world() -> World:
    return World.make()


def _open(world: World, value: bytes, who: str = "council") -> bytes:
    me = getattr(world, who)
    opened = open_envelope(value, me=me.agency, my_keys={me.encryption_key_id: me.encryption}, senders=Senders(world))
    return opened.body


def test_round_trip_to_two_recipients(world: World) -> None:
    value = world.seal(world.police, [world.council, world.charity])
    assert _open(world, value, "council") == SENTINEL.encode()
    assert _open(world, value, "charity") == SENTINEL.encode()


def test_body_is_not_in_the_envelope_bytes(world: World) -> None:
    value = world.seal(world.police, [world.council])
    assert SENTINEL.encode() not in value


def test_header_survives_the_round_trip(world: World) -> None:
    header = world.header(world.police, [world.council], agreement="isa-test-exchange")
    value = world.seal(world.police, [world.council], header=header)
    me = world.council
    opened = open_envelope(value, me=me.agency, my_keys={me.encryption_key_id: me.encryption}, senders=Senders(world))
    assert opened.header == header


def test_not_addressed_to_me(world: World) -> None:
    value = world.seal(world.police, [world.council])
    with pytest.raises(EnvelopeRejected) as caught:
        _open(world, value, "charity")
    assert caught.value.reason is Reason.NOT_ADDRESSED


def test_expired(world: World) -> None:
    value = world.seal(world.police, [world.council], created_ms=int(time.time() * 1000) - 10_000, ttl_ms=1_000)
    with pytest.raises(EnvelopeRejected) as caught:
        _open(world, value)
    assert caught.value.reason is Reason.EXPIRED


def test_tampered_body_breaks_the_signature(world: World) -> None:
    value = bytearray(world.seal(world.police, [world.council]))
    value[-TRAILER_SIZE - 5] ^= 0x01  # inside the ciphertext
    with pytest.raises(EnvelopeRejected) as caught:
        _open(world, bytes(value))
    assert caught.value.reason is Reason.SIGNATURE_INVALID


def test_signed_by_a_key_the_recipient_does_not_know(world: World) -> None:
    value = world.seal(world.police, [world.council])
    senders = Senders(world)
    senders.keys.clear()
    me = world.council
    with pytest.raises(EnvelopeRejected) as caught:
        open_envelope(value, me=me.agency, my_keys={me.encryption_key_id: me.encryption}, senders=senders)
    assert caught.value.reason is Reason.SENDER_KEY_UNKNOWN


def test_wrong_private_key_cannot_decrypt(world: World) -> None:
    value = world.seal(world.police, [world.council])
    me = world.council
    with pytest.raises(EnvelopeRejected) as caught:
        open_envelope(
            value, me=me.agency, my_keys={me.encryption_key_id: world.charity.encryption}, senders=Senders(world)
        )
    assert caught.value.reason is Reason.DECRYPT_FAILED


def test_random_bytes_are_malformed(world: World) -> None:
    with pytest.raises(EnvelopeRejected) as caught:
        _open(world, b"\x07" * 300)
    assert caught.value.reason is Reason.MALFORMED


def test_trailer_is_where_the_wire_format_says(world: World) -> None:
    value = world.seal(world.police, [world.council])
    parsed = parse(value)
    mac_key = hubmac.hub_mac_key(world.hub.private, world.hub.public, world.police.encryption_public)
    assert hubmac.verify(mac_key, value[:-MAC_SIZE], parsed.hub_mac)
    assert parsed.signed_part == value[:-TRAILER_SIZE]
    assert len(parsed.signature) == 64
