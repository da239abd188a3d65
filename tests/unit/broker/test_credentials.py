"""Broker client credentials, password files, the sealed password, and the secured broker's properties."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from pydantic import SecretStr

from onedoor.envelope.keys import AgencyKeyPair
from onedoor.errors import ValidationFailed
from onedoor.ids import AgencyId
from onedoor.kafka.local import CONTROLLER_PRINCIPAL, BrokerSecurity, NodeLayout
from onedoor.kafka.security import (
    ClientCredentials,
    aiokafka_options,
    credentials_from,
    open_secret,
    read_password_file,
    seal_secret,
    write_password_file,
)

PASSWORD = "synthetic-password-0123456789-abcdef"


def test_the_password_is_in_no_repr_or_str() -> None:
    credentials = ClientCredentials("agency-met", SecretStr(PASSWORD))

    for shown in (repr(credentials), str(credentials), f"{credentials}", repr([credentials])):
        assert PASSWORD not in shown
    assert "agency-met" in str(credentials)
    assert credentials.principal == "User:agency-met"


def test_client_options_carry_the_scram_login_and_none_means_plaintext() -> None:
    credentials = ClientCredentials("agency-met", SecretStr(PASSWORD))

    assert credentials.aiokafka_options() == {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "agency-met",
        "sasl_plain_password": PASSWORD,
    }
    assert credentials.kafka_python_options()["sasl_plain_password"] == PASSWORD
    assert aiokafka_options(None) == {}


@pytest.mark.parametrize("name", ["", "a,b", "a=b", "a[b]", 'a"b'])
def test_a_username_that_would_break_jaas_or_add_scram_is_refused(name: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        ClientCredentials(name, SecretStr(PASSWORD))
    assert caught.value.code == "kafka.username_invalid"


def test_password_files_must_be_0600_and_long_enough(tmp_path: Path) -> None:
    path = tmp_path / "broker.password"
    write_password_file(path, SecretStr(PASSWORD))
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert read_password_file(path).get_secret_value() == PASSWORD

    os.chmod(path, 0o644)
    with pytest.raises(ValidationFailed) as open_to_others:
        read_password_file(path)
    assert open_to_others.value.code == "kafka.password_file"
    assert "0600" in open_to_others.value.message
    assert PASSWORD not in open_to_others.value.message

    short = tmp_path / "short.password"
    write_password_file(short, SecretStr("tiny"))
    with pytest.raises(ValidationFailed, match="at least 16"):
        read_password_file(short)


def test_writing_a_password_file_again_replaces_it_atomically(tmp_path: Path) -> None:
    path = tmp_path / "broker.password"
    write_password_file(path, SecretStr(PASSWORD))
    write_password_file(path, SecretStr(PASSWORD[::-1]))

    assert read_password_file(path).get_secret_value() == PASSWORD[::-1]
    assert [p.name for p in tmp_path.iterdir()] == ["broker.password"]  # no temporary file left


def test_settings_pairs_are_both_or_neither(tmp_path: Path) -> None:
    assert credentials_from(None, None) is None
    with pytest.raises(ValidationFailed, match="both"):
        credentials_from("agency-met", None)
    path = tmp_path / "p"
    write_password_file(path, SecretStr(PASSWORD))
    made = credentials_from("agency-met", path)
    assert made is not None
    assert made.password.get_secret_value() == PASSWORD


def test_a_sealed_password_opens_only_with_the_agency_key_and_for_that_user() -> None:
    met = AgencyKeyPair.generate(AgencyId("met"))
    other = AgencyKeyPair.generate(AgencyId("met"))
    sealed = seal_secret(met.encryption_public, SecretStr(PASSWORD), agency="met", username="agency-met")

    assert PASSWORD not in sealed
    assert open_secret(met.encryption, sealed, agency="met", username="agency-met").get_secret_value() == PASSWORD
    for key, agency, user in (
        (other.encryption, "met", "agency-met"),  # another key
        (met.encryption, "met-police", "agency-met"),  # passed off as another agency's
        (met.encryption, "met", "agency-met-police"),  # or another user's
    ):
        with pytest.raises(ValidationFailed) as caught:
            open_secret(key, sealed, agency=agency, username=user)
        assert caught.value.code == "broker.sealed_invalid"
    with pytest.raises(ValidationFailed):
        open_secret(met.encryption, "not*base64", agency="met", username="agency-met")


def test_each_sealing_is_fresh() -> None:
    met = AgencyKeyPair.generate(AgencyId("met"))
    one = seal_secret(met.encryption_public, SecretStr(PASSWORD), agency="met", username="agency-met")
    two = seal_secret(met.encryption_public, SecretStr(PASSWORD), agency="met", username="agency-met")
    assert one != two  # a fresh ephemeral key each time, so the fixed nonce is never reused under one key


def test_a_secured_broker_authenticates_every_client_and_has_no_allow_all(tmp_path: Path) -> None:
    security = BrokerSecurity(tls=False)
    node = NodeLayout(1, 19092, 19093, tmp_path)

    props = security.properties(node)

    assert props["listeners"] == "SASL_PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"
    assert props["listener.security.protocol.map"] == "CONTROLLER:SASL_PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT"
    assert props["authorizer.class.name"] == "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
    assert props["allow.everyone.if.no.acl.found"] == "false"
    assert props["super.users"].split(";") == ["User:admin", "User:broker", CONTROLLER_PRINCIPAL]
    assert "User:ANONYMOUS" not in props["super.users"]  # threat model E7
    assert props["sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
    assert (
        security.broker_password.get_secret_value()
        in props["listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config"]
    )
    assert security.admin_password.get_secret_value() not in repr(security)
    assert security.broker_password.get_secret_value() not in repr(security)
    arguments = security.format_arguments()
    assert arguments[0::2] == ["--add-scram", "--add-scram"]
    assert arguments[1].startswith("SCRAM-SHA-512=[name=broker,password=")
    assert arguments[3].startswith("SCRAM-SHA-512=[name=admin,password=")


def test_broker_security_is_kept_0600_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "security.json"
    first = BrokerSecurity.load_or_create(path)
    again = BrokerSecurity.load_or_create(path)

    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert again.admin_password.get_secret_value() == first.admin_password.get_secret_value()
    assert again.broker_password.get_secret_value() == first.broker_password.get_secret_value()
    assert (first.tls, again.tls) == (True, True)
