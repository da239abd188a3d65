"""A connector started while its broker is down says so in words, with a stable code, and leaves nothing open."""

from __future__ import annotations

import socket

import pytest
from aiokafka.errors import KafkaConnectionError, SaslAuthenticationFailed

from connectors.sdk.codec import ContractCodecs
from connectors.sdk.connector import BROKER_REFUSED, BROKER_UNREACHABLE, Connector, broker_error
from onedoor.errors import Unavailable
from onedoor.topics import TopicNames
from tests.unit.connectors.world import POLICE, Agencies


def _closed_port() -> int:
    # Bind, read the port, close: nothing listens there afterwards.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_a_broker_that_does_not_answer_is_named_with_what_to_check() -> None:
    agencies = Agencies()
    bootstrap = f"127.0.0.1:{_closed_port()}"
    connector = Connector(
        keys=agencies.keys[POLICE],
        directory=agencies.directory,
        codec=ContractCodecs.bundled(),
        bootstrap_servers=bootstrap,
        topics=TopicNames("unit"),
    )
    with pytest.raises(Unavailable) as raised:
        await connector.start()
    assert raised.value.code == BROKER_UNREACHABLE
    assert bootstrap in raised.value.message
    assert "ONEDOOR_CONNECTOR_KAFKA__BOOTSTRAP_SERVERS" in raised.value.message
    await connector.stop()  # nothing left half-open to close


def test_a_refusal_by_the_broker_points_at_the_broker_identity() -> None:
    error = broker_error("127.0.0.1:9092", SaslAuthenticationFailed("Authentication failed for user agency-x"))
    assert error.code == BROKER_REFUSED
    assert "onedoor connector enrol" in error.message
    assert "agency-x" not in error.message  # the broker's own text (user names) is not repeated
    assert broker_error("b:1", KafkaConnectionError()).code == BROKER_UNREACHABLE
