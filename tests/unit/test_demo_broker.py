"""The broker part of `onedoor demo`, without a broker: the connector config it enrols with, PLAINTEXT fallback."""

from __future__ import annotations

from pathlib import Path

from connectors.agent.config import load_config_file
from onedoor.demo import POLICE
from onedoor.demo_broker import CONFIG_FILE, TOKEN_FILE, connector_file, start
from onedoor.demo_hub import keys
from onedoor.settings import KafkaSettings, Settings


def test_the_demo_writes_each_agency_a_connector_config_file_it_enrols_with(tmp_path: Path) -> None:
    settings = Settings(env="test", home=tmp_path, kafka=KafkaSettings(topic_prefix="demo"))
    keys(tmp_path, POLICE)

    path = connector_file(settings, POLICE, bootstrap="127.0.0.1:9999", hub_url="http://127.0.0.1:8470")

    assert path == tmp_path / "demo" / POLICE.id / CONFIG_FILE
    assert path.stat().st_mode & 0o777 == 0o600
    assert (path.parent / TOKEN_FILE).stat().st_mode & 0o777 == 0o600
    config = load_config_file(path)
    assert (config.agency, config.keys_dir, config.hub_url) == (POLICE.id, path.parent, "http://127.0.0.1:8470")
    assert (config.kafka.bootstrap_servers, config.kafka.topic_prefix) == ("127.0.0.1:9999", "demo")
    assert config.kafka.credentials() is None, "no broker identity until it is enrolled"
    token = config.api_token()
    # Written again on the next run (the hub's port may differ); the API token is kept.
    again = connector_file(settings, POLICE, bootstrap="127.0.0.1:9999", hub_url="http://127.0.0.1:8471")
    assert load_config_file(again).hub_url == "http://127.0.0.1:8471"
    assert load_config_file(again).api_token() == token


async def test_a_named_broker_without_admin_credentials_is_used_as_plaintext(tmp_path: Path) -> None:
    settings = Settings(env="test", home=tmp_path, kafka=KafkaSettings(bootstrap_servers="127.0.0.1:9999"))

    broker = await start(settings)

    assert not broker.secured
    assert broker.bootstrap == "127.0.0.1:9999"
    assert broker.settings == settings
    assert await broker.enrol(POLICE, "http://127.0.0.1:8470") is None
