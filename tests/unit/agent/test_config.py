"""The connector's settings: from the environment, fail closed on the API token, never echo a secret."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.agent.config import load_config
from onedoor.errors import ValidationFailed
from tests.unit.agent.fakes import TOKEN

REQUIRED = {
    "ONEDOOR_CONNECTOR_AGENCY": "lb-testborough-csc",
    "ONEDOOR_CONNECTOR_KEYS_DIR": "/srv/fake/keys",
    "ONEDOOR_CONNECTOR_MATCHING_KEY_PATH": "/srv/fake/matching.key",
    "ONEDOOR_CONNECTOR_DISCLOSURE_LOG_PATH": "/srv/fake/disclosures.sqlite",
    "ONEDOOR_CONNECTOR_API__TOKEN": TOKEN,
}


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    for name, value in REQUIRED.items():
        monkeypatch.setenv(name, value)
    return monkeypatch


def test_from_the_environment_with_nesting_and_defaults(env: pytest.MonkeyPatch) -> None:
    env.setenv("ONEDOOR_CONNECTOR_KAFKA__BOOTSTRAP_SERVERS", "broker-1:9092")
    env.setenv("ONEDOOR_CONNECTOR_DEADLINES__SOFT_SECONDS", "0.5")
    env.setenv("ONEDOOR_CONNECTOR_API__PORT", "9480")
    config = load_config()
    assert config.agency_id == "lb-testborough-csc"
    assert config.keys_dir == Path("/srv/fake/keys")
    assert (config.kafka.bootstrap_servers, config.kafka.topic_prefix) == ("broker-1:9092", "onedoor")
    assert (config.deadlines.soft_seconds, config.deadlines.hard_seconds) == (0.5, 10.0)
    assert (config.api.host, config.api.port) == ("127.0.0.1", 9480)
    assert (config.hub_url, config.records_path, config.policy_refresh_seconds) == ("http://127.0.0.1:8470", None, 30)
    assert config.api_token() == TOKEN
    assert TOKEN not in repr(config)


def test_the_conventional_kafka_variable_is_honoured(env: pytest.MonkeyPatch) -> None:
    env.setenv("KAFKA_BOOTSTRAP_SERVERS", "conventional:9092")
    assert load_config().kafka.bootstrap_servers == "conventional:9092"


INVALID = [
    ("no token at all", {"ONEDOOR_CONNECTOR_API__TOKEN": None}, "ONEDOOR_CONNECTOR_API: "),
    ("both a token and a token file", {"ONEDOOR_CONNECTOR_API__TOKEN_FILE": "/srv/fake/t"}, "exactly one"),
    ("a short token", {"ONEDOOR_CONNECTOR_API__TOKEN": "fake-short-token"}, "at least 32 characters"),
    ("the soft deadline after the hard one", {"ONEDOOR_CONNECTOR_DEADLINES__SOFT_SECONDS": "11"}, "must not exceed"),
    ("a zero deadline", {"ONEDOOR_CONNECTOR_DEADLINES__SOFT_SECONDS": "0"}, "DEADLINES__SOFT_SECONDS"),
    ("an agency id with capitals", {"ONEDOOR_CONNECTOR_AGENCY": "Fake Borough"}, "ONEDOOR_CONNECTOR_AGENCY: "),
    ("no matching key", {"ONEDOOR_CONNECTOR_MATCHING_KEY_PATH": None}, "ONEDOOR_CONNECTOR_MATCHING_KEY_PATH: "),
    ("a port out of range", {"ONEDOOR_CONNECTOR_API__PORT": "70000"}, "ONEDOOR_CONNECTOR_API__PORT: "),
]


@pytest.mark.parametrize(("case", "change", "said"), INVALID, ids=[c[0] for c in INVALID])
def test_bad_settings_name_the_variable_and_never_its_value(
    env: pytest.MonkeyPatch, case: str, change: dict[str, str | None], said: str
) -> None:
    for name, value in change.items():
        if value is None:
            env.delenv(name)
        else:
            env.setenv(name, value)
    with pytest.raises(ValidationFailed) as raised:
        load_config()
    assert raised.value.code == "connector.invalid_config", case
    assert said in raised.value.message
    for value in (*change.values(), TOKEN):
        if value and len(value) > 3:
            assert value not in raised.value.message


def test_a_token_file_must_be_private_and_long_enough(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    token_file = tmp_path / "api.token"
    env.delenv("ONEDOOR_CONNECTOR_API__TOKEN")
    env.setenv("ONEDOOR_CONNECTOR_API__TOKEN_FILE", str(token_file))
    config = load_config()
    with pytest.raises(ValidationFailed, match="cannot read the API token file"):
        config.api_token()
    token_file.write_text(TOKEN + "\n")
    token_file.chmod(0o640)
    with pytest.raises(ValidationFailed, match="must be mode 0600, not 0640"):
        config.api_token()
    token_file.chmod(0o600)
    assert config.api_token() == TOKEN
    token_file.write_text("fake-short\n")
    with pytest.raises(ValidationFailed) as raised:
        config.api_token()
    assert raised.value.code == "connector.token_file"
    assert "fake-short" not in raised.value.message
