"""``onedoor connector enrol``'s pure parts: the config lines it sets, and the hub answer it accepts."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from connectors.agent.config import ConnectorConfig, load_config, load_config_file
from connectors.agent.enrol import (
    Enrolled,
    broker_ca,
    ca_path,
    config_lines,
    describe,
    enrol,
    open_answer,
    password_path,
    updated_config,
)
from connectors.identity.keys import MatchingKey
from onedoor.envelope.keys import AgencyKeyPair, raw_public
from onedoor.errors import ValidationFailed
from onedoor.ids import AgencyId
from onedoor.kafka.security import seal_secret
from onedoor.kafka.tls import ensure_broker_tls

AGENCY = AgencyId("lb-enrolton-csc")
PASSWORD = "synthetic-broker-password-" + "z" * 20


def test_the_two_lines_are_appended_once_and_replaced_after() -> None:
    lines = config_lines("agency-lb-enrolton-csc", Path("/srv/connector/broker.password"))
    assert lines == (
        "ONEDOOR_CONNECTOR_KAFKA__USERNAME=agency-lb-enrolton-csc",
        "ONEDOOR_CONNECTOR_KAFKA__PASSWORD_FILE=/srv/connector/broker.password",
    )
    original = "ONEDOOR_CONNECTOR_AGENCY=lb-enrolton-csc\nONEDOOR_CONNECTOR_KAFKA__TOPIC_PREFIX=onedoor"

    once = updated_config(original, lines)
    assert once == original + "\n" + "\n".join(lines) + "\n"
    assert updated_config(once, lines) == once  # enrolling again changes nothing

    moved = config_lines("agency-lb-enrolton-csc", Path("/elsewhere/broker.password"))
    again = updated_config(once, moved)
    assert again.count("ONEDOOR_CONNECTOR_KAFKA__PASSWORD_FILE=") == 1
    assert "ONEDOOR_CONNECTOR_KAFKA__PASSWORD_FILE=/elsewhere/broker.password\n" in again
    assert again.startswith(original)


def _config(tmp_path: Path) -> ConnectorConfig:
    return load_config(
        agency=str(AGENCY),
        keys_dir=tmp_path / "keys",
        matching_key_path=tmp_path / "matching.key",
        disclosure_log_path=tmp_path / "disclosures.sqlite",
        api={"token": "t" * 40},
    )


def test_the_answer_opens_with_the_agency_key_and_a_foreign_key_is_said_in_words(tmp_path: Path) -> None:
    keys = AgencyKeyPair.generate(AGENCY)
    config = _config(tmp_path)
    sealed = seal_secret(keys.encryption_public, SecretStr(PASSWORD), agency=str(AGENCY), username="agency-x")
    answer = {
        "agency": str(AGENCY),
        "username": "agency-x",
        "sealed_password": sealed,
        "encryption_key_id": str(keys.encryption_key_id),
    }

    opened = open_answer(config, answer, keys.encryption, str(keys.encryption_key_id))
    assert opened.password.get_secret_value() == PASSWORD

    other = AgencyKeyPair.generate(AGENCY)
    with pytest.raises(ValidationFailed) as mismatch:
        open_answer(config, answer, other.encryption, str(other.encryption_key_id))
    assert mismatch.value.code == "enrol.key_mismatch"
    assert "register this key with the hub" in mismatch.value.message
    with pytest.raises(ValidationFailed) as foreign:
        open_answer(config, {**answer, "agency": "someone-else"}, keys.encryption, str(keys.encryption_key_id))
    assert foreign.value.code == "enrol.answer_invalid"


def test_what_enrol_says_never_holds_the_password() -> None:
    result = Enrolled(
        "agency-x",
        Path("/srv/broker.password"),
        config_lines("agency-x", Path("/srv/broker.password")),
        True,
        (),
    )
    said = "\n".join(describe(result))
    assert "agency-x" in said
    assert "ONEDOOR_CONNECTOR_KAFKA__PASSWORD_FILE=/srv/broker.password" in said
    assert "restart the connector" in said


def test_the_broker_ca_comes_from_the_hub_or_an_explicit_file_and_is_named_in_the_config(tmp_path: Path) -> None:
    hub_ca = ensure_broker_tls(tmp_path / "hub-tls").ca_file
    own_ca = ensure_broker_tls(tmp_path / "own-tls").ca_file
    answer = {"ca_certificate_pem": hub_ca.read_text(encoding="ascii")}

    assert broker_ca(answer, None) == hub_ca.read_bytes()
    assert broker_ca(answer, own_ca) == own_ca.read_bytes(), "an explicit --ca-file wins"
    assert broker_ca({}, None) is None
    assert broker_ca({"ca_certificate_pem": None}, None) is None  # a hub without TLS
    with pytest.raises(ValidationFailed) as forged:
        broker_ca({"ca_certificate_pem": "-----BEGIN CERTIFICATE-----\nnonsense\n"}, None)
    assert forged.value.code == "kafka.ca_file"

    lines = config_lines("agency-x", Path("/srv/broker.password"), Path("/srv/broker-ca.pem"))
    assert lines[-1] == "ONEDOOR_CONNECTOR_KAFKA__CA_FILE=/srv/broker-ca.pem"
    assert ca_path(_config(tmp_path)).name == "broker-ca.pem"
    said = "\n".join(
        describe(Enrolled("agency-x", Path("/srv/broker.password"), lines, True, (), Path("/srv/broker-ca.pem")))
    )
    assert "ONEDOOR_CONNECTOR_KAFKA__CA_FILE=/srv/broker-ca.pem" in said
    assert "TLS" in said


async def test_a_ca_certificate_the_connector_refuses_does_not_cost_it_the_new_password(tmp_path: Path) -> None:
    keys = AgencyKeyPair.generate(AgencyId("lb-enrol-unit-csc"))
    keys.save(tmp_path / "keys")
    MatchingKey.generate().save(tmp_path / "matching.key")
    config = tmp_path / "connector.env"
    config.write_text(
        f"ONEDOOR_CONNECTOR_AGENCY={keys.agency}\n"
        f"ONEDOOR_CONNECTOR_KEYS_DIR={tmp_path / 'keys'}\n"
        f"ONEDOOR_CONNECTOR_MATCHING_KEY_PATH={tmp_path / 'matching.key'}\n"
        f"ONEDOOR_CONNECTOR_DISCLOSURE_LOG_PATH={tmp_path / 'data' / 'disclosures.sqlite'}\n"
        f"ONEDOOR_CONNECTOR_API__TOKEN=unit-token-{'e' * 32}\n"
        "ONEDOOR_CONNECTOR_HUB_URL=http://hub.test\n"
    )
    os.chmod(config, 0o600)
    username = f"agency-{keys.agency}"
    password = SecretStr("the-new-rotated-password-" + "p" * 20)
    sealed = seal_secret(raw_public(keys.encryption.public_key()), password, agency=str(keys.agency), username=username)

    def hub(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/broker/credentials"
        body = {
            "agency": str(keys.agency),
            "username": username,
            "sealed_password": sealed,
            "encryption_key_id": str(keys.encryption_key_id),
            "ca_certificate_pem": "-----BEGIN CERTIFICATE-----\nnot-a-certificate\n-----END CERTIFICATE-----\n",
        }
        return httpx.Response(200, json=body)

    with pytest.raises(ValidationFailed) as refused:
        await enrol(config, hub_transport=httpx.MockTransport(hub))
    assert refused.value.code == "kafka.ca_file"
    # The hub rotated the password before the CA was looked at: the connector kept the new one.
    kept = password_path(load_config_file(config))
    assert kept.read_text(encoding="utf-8").strip() == password.get_secret_value()
    assert stat.S_IMODE(os.stat(kept).st_mode) == 0o600
