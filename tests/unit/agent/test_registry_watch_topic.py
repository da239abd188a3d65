"""A running connector's registry watch reads ``<prefix>.registry``, never the policy topic (threat model S7)."""

from __future__ import annotations

from pathlib import Path
from typing import cast

from connectors.agent.config import ConnectorConfig
from connectors.agent.registry_watch import watch_registry
from connectors.identity import MatchingKey
from connectors.sdk import Connector
from onedoor.envelope.keys import AgencyKeyPair
from onedoor.ids import AgencyId
from onedoor.topics import TopicNames


def test_the_connector_watches_the_registry_topic(tmp_path: Path) -> None:
    keys = AgencyKeyPair.generate(AgencyId("lb-unit-regwatch-csc"))
    keys.save(tmp_path / "keys")
    MatchingKey.generate().save(tmp_path / "matching.key")
    config = ConnectorConfig(
        agency=str(keys.agency),
        keys_dir=tmp_path / "keys",
        matching_key_path=tmp_path / "matching.key",
        disclosure_log_path=tmp_path / "disclosures.sqlite3",
        kafka={"topic_prefix": "tunitrw"},
        api={"token": "u" * 40},
    )

    watch = watch_registry(config, cast(Connector, object()), "fake:9092")  # nothing connects before start()

    assert watch.topic == TopicNames("tunitrw").registry == "tunitrw.registry"
    assert watch.topic != TopicNames("tunitrw").policy
    assert not watch.listening
