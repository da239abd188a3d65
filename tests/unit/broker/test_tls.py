"""The broker's TLS material (onedoor.kafka.tls) and what clients and brokers are configured with.

Pure: certificates are made and checked in memory or in tmp_path; no broker here (see
tests/integration/test_broker_tls.py for the real handshake).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import ssl
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import SecretStr

from onedoor.errors import ValidationFailed
from onedoor.kafka.local import BrokerSecurity, LocalKafkaCluster, NodeLayout
from onedoor.kafka.security import ClientCredentials, credentials_from, write_password_file
from onedoor.kafka.tls import (
    BrokerTls,
    ensure_broker_tls,
    issued_by,
    make_ca,
    make_server_certificate,
    parse_ca_pem,
    read_ca_pem,
    tls_failure,
)

PASSWORD = "a-test-password-that-is-long-enough"


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def _chain(tls: BrokerTls) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(tls.keystore_file.read_bytes())


def test_the_broker_certificate_chains_to_the_ca_and_names_loopback(tmp_path: Path) -> None:
    tls = ensure_broker_tls(tmp_path / "tls")

    ca = x509.load_pem_x509_certificate(tls.ca_file.read_bytes())
    server, included_ca = _chain(tls)
    assert issued_by(server, ca)
    assert included_ca == ca
    assert not issued_by(server, make_ca()[1]), "another CA must not verify it"
    names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ipaddress.ip_address("127.0.0.1") in names.get_values_for_type(x509.IPAddress)
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert not server.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert isinstance(server.public_key(), ec.EllipticCurvePublicKey)  # P-256: Java's TLS takes it
    lifetime = server.not_valid_after_utc - server.not_valid_before_utc
    assert dt.timedelta(days=364) < lifetime < dt.timedelta(days=366)
    assert ca.not_valid_after_utc - ca.not_valid_before_utc > dt.timedelta(days=4 * 365)


def test_private_keys_are_0600_in_a_0700_directory_and_the_ca_certificate_is_public(tmp_path: Path) -> None:
    tls = ensure_broker_tls(tmp_path / "tls")

    assert _mode(tls.directory) == 0o700
    assert _mode(tls.ca_key_file) == 0o600
    assert _mode(tls.keystore_file) == 0o600
    assert _mode(tls.ca_file) == 0o644
    assert b"PRIVATE KEY" in tls.keystore_file.read_bytes()
    assert b"PRIVATE KEY" not in tls.ca_file.read_bytes()


def test_the_ca_is_kept_and_the_broker_certificate_renewed_only_when_due(tmp_path: Path) -> None:
    first = ensure_broker_tls(tmp_path / "tls")
    ca_pem, keystore = first.ca_file.read_bytes(), first.keystore_file.read_bytes()

    again = ensure_broker_tls(tmp_path / "tls")
    assert (again.ca_file.read_bytes(), again.keystore_file.read_bytes()) == (ca_pem, keystore)

    # 340 days on, fewer than 30 are left: a new broker certificate from the same CA.
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=340)
    renewed = ensure_broker_tls(tmp_path / "tls", now=later)
    assert renewed.ca_file.read_bytes() == ca_pem, "clients keep trusting the same CA"
    assert renewed.keystore_file.read_bytes() != keystore
    ca = x509.load_pem_x509_certificate(ca_pem)
    assert issued_by(_chain(renewed)[0], ca)
    assert _chain(renewed)[0].not_valid_after_utc > later + dt.timedelta(days=300)


def test_a_certificate_needs_a_name_and_addresses_must_parse() -> None:
    ca_key, ca = make_ca()
    with pytest.raises(ValidationFailed) as nameless:
        make_server_certificate(ca_key, ca, dns_names=(), ip_addresses=())
    assert nameless.value.code == "kafka.tls_names"
    with pytest.raises(ValidationFailed):
        make_server_certificate(ca_key, ca, ip_addresses=("not-an-address",))


def test_the_broker_listens_sasl_ssl_with_a_pem_keystore_and_tls_1_3_or_1_2(tmp_path: Path) -> None:
    security = BrokerSecurity()
    props = security.properties(NodeLayout(1, 19092, 19093, tmp_path)) | BrokerTls(tmp_path / "tls").properties()

    assert props["listeners"] == "SASL_SSL://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"
    assert props["advertised.listeners"] == "SASL_SSL://127.0.0.1:19092"
    assert props["inter.broker.listener.name"] == "SASL_SSL"
    assert props["listener.security.protocol.map"] == "CONTROLLER:SASL_PLAINTEXT,SASL_SSL:SASL_SSL"
    assert "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config" in props
    assert props["ssl.keystore.type"] == props["ssl.truststore.type"] == "PEM"
    assert props["ssl.truststore.location"] == str(tmp_path / "tls" / "ca.pem")
    assert props["ssl.client.auth"] == "none"
    assert props["ssl.enabled.protocols"] == "TLSv1.3,TLSv1.2"
    assert props["ssl.endpoint.identification.algorithm"] == "https"


def test_a_cluster_names_its_ca_only_when_it_speaks_tls(tmp_path: Path) -> None:
    tls = LocalKafkaCluster(tmp_path / "a", security=BrokerSecurity())
    plain = LocalKafkaCluster(tmp_path / "b", security=BrokerSecurity(tls=False))
    open_cluster = LocalKafkaCluster(tmp_path / "c")

    assert tls.ca_file == (tmp_path / "a" / "tls" / "ca.pem").resolve()
    assert tls.admin_credentials is not None
    assert tls.admin_credentials.ca_file == tls.ca_file
    assert plain.ca_file is None
    assert plain.admin_credentials is not None
    assert plain.admin_credentials.ca_file is None
    assert (open_cluster.ca_file, open_cluster.admin_credentials) == (None, None)


def test_client_options_are_sasl_ssl_with_a_verifying_context_only_when_a_ca_is_given(tmp_path: Path) -> None:
    tls = ensure_broker_tls(tmp_path / "tls")
    plain = ClientCredentials("agency-met", SecretStr(PASSWORD))
    secure = ClientCredentials("agency-met", SecretStr(PASSWORD), ca_file=tls.ca_file)

    assert plain.aiokafka_options() == {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "agency-met",
        "sasl_plain_password": PASSWORD,
    }
    assert plain.kafka_python_options() == plain.aiokafka_options()
    options = secure.aiokafka_options()
    assert options["security_protocol"] == "SASL_SSL"
    context = options["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.check_hostname
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
    assert len(context.get_ca_certs()) == 1, "the broker's CA only, not the system's"
    python = secure.kafka_python_options()
    assert (python["security_protocol"], python["ssl_check_hostname"]) == ("SASL_SSL", True)
    assert isinstance(python["ssl_context"], ssl.SSLContext)
    assert "TLS" in str(secure)
    assert PASSWORD not in repr(secure)


def test_an_unusable_ca_file_is_refused_with_its_name_and_a_code(tmp_path: Path) -> None:
    password_file = tmp_path / "broker.password"
    write_password_file(password_file, SecretStr(PASSWORD))
    missing = tmp_path / "nowhere.pem"
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n", encoding="utf-8")

    for bad in (missing, garbage):
        with pytest.raises(ValidationFailed) as refused:
            credentials_from("agency-met", password_file, bad)
        assert refused.value.code == "kafka.ca_file"
        assert str(bad) in refused.value.message
    made = credentials_from("agency-met", password_file, ensure_broker_tls(tmp_path / "tls").ca_file)
    assert made is not None
    assert made.security_protocol == "SASL_SSL"


def test_a_handed_out_ca_must_be_one_ca_certificate(tmp_path: Path) -> None:
    tls = ensure_broker_tls(tmp_path / "tls")
    ca_pem = tls.ca_file.read_text(encoding="ascii")

    assert parse_ca_pem(ca_pem) == tls.ca_file.read_bytes()
    server_only = tls.keystore_file.read_text(encoding="ascii").split("-----END PRIVATE KEY-----\n")[1]
    for bad in (
        "nonsense",
        ca_pem + ca_pem,
        server_only.split("-----END CERTIFICATE-----")[0] + "-----END CERTIFICATE-----\n",
    ):
        with pytest.raises(ValidationFailed) as refused:
            parse_ca_pem(bad)
        assert refused.value.code == "kafka.ca_file"


def test_tls_failures_are_told_apart_from_other_connection_errors() -> None:
    untrusted = ssl.SSLCertVerificationError(1, "certificate verify failed")
    untrusted.verify_message = "unable to get local issuer certificate"
    wrapped = ConnectionError("connect failed")
    wrapped.__cause__ = untrusted

    assert tls_failure(untrusted) == "certificate not trusted: unable to get local issuer certificate"
    assert tls_failure(wrapped) == "certificate not trusted: unable to get local issuer certificate"
    assert tls_failure(ConnectionRefusedError(111, "refused")) is None


def test_the_hub_hands_out_only_a_ca_file_the_connector_would_accept(tmp_path: Path) -> None:
    tls = ensure_broker_tls(tmp_path / "tls")
    assert read_ca_pem(tls.ca_file) == tls.ca_file.read_text(encoding="ascii")  # positive control
    # The broker's own certificate is not a CA, and a bundle is not one certificate: the connector
    # refuses both, so the hub must too, before it rotates anyone's password.
    server_cert = x509.load_pem_x509_certificates(tls.keystore_file.read_bytes())[0]
    leaf = tmp_path / "leaf.pem"
    leaf.write_bytes(server_cert.public_bytes(serialization.Encoding.PEM))
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(tls.ca_file.read_bytes() * 2)
    for wrong in (leaf, bundle):
        with pytest.raises(ValidationFailed) as refused:
            read_ca_pem(wrong)
        assert refused.value.code == "kafka.ca_file"
        with pytest.raises(ValidationFailed):
            parse_ca_pem(wrong.read_text(encoding="ascii"))
