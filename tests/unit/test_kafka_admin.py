"""The admin helpers treat a cluster still electing its controller as transient, not as a crash."""

from __future__ import annotations

import pytest

from onedoor.kafka import admin


class _NoBrokerClient:
    """Stands in for aiokafka's admin client: starts and closes without a network."""

    def __init__(self, **_settings: object) -> None:
        self.closed = False

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        self.closed = True


async def test_no_controller_yet_is_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(admin, "AIOKafkaAdminClient", _NoBrokerClient)
    with pytest.raises(admin._Retry, match="no controller"):
        async with admin._admin("127.0.0.1:9", 1.0):
            # What aiokafka's create_topics raises when the metadata names no controller.
            raise AttributeError("'NoneType' object has no attribute 'nodeId'")


async def test_other_attribute_errors_are_bugs_and_propagate(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(admin, "AIOKafkaAdminClient", _NoBrokerClient)
    with pytest.raises(AttributeError, match="something_else"):
        async with admin._admin("127.0.0.1:9", 1.0):
            raise AttributeError("'Foo' object has no attribute 'something_else'")
