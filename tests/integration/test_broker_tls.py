"""The secured broker's client listener is TLS (SASL_SSL), and only clients that trust its CA get through.

On the session's secured broker (``secured_kafka``: ``BrokerSecurity()``, TLS on by default):

1. An agency user with the broker's CA and its password writes its outbound topic and reads its
   inbox, and the hub-side admin reads back what it wrote: the whole path is over TLS.
2. A client trusting another CA is refused in the handshake (``kafka.tls_untrusted``); one with
   the right CA that asks for another host name is refused too (host name verification is on).
3. A SASL_PLAINTEXT client (right password, no CA) and a PLAINTEXT client get nothing; the
   former is told the broker wants TLS (``kafka.tls_required``).
4. ``onedoor connector check`` says in words which of these it is (``check.broker_tls``) and
   tells a wrong password apart (``check.broker_credentials``).
5. The broker's log names the SASL_SSL listener and TLSv1.3/1.2; no key is in it.
"""

from __future__ import annotations

import asyncio
import os
import ssl
from dataclasses import replace
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError
from pydantic import SecretStr

from connectors.agent.check import run_checks
from connectors.identity.keys import MatchingKey
from onedoor.envelope.keys import AgencyKeyPair
from onedoor.errors import OneDoorError, Unauthenticated, Unavailable
from onedoor.ids import AgencyId
from onedoor.kafka.acls import provision_agency
from onedoor.kafka.admin import authenticate, ensure_topics
from onedoor.kafka.local import LocalKafkaCluster
from onedoor.kafka.security import ClientCredentials, write_password_file
from onedoor.kafka.tls import client_context, ensure_broker_tls
from onedoor.topics import TopicNames

pytestmark = pytest.mark.integration

AGENCY = AgencyId("lb-tlsford-csc")


def _admin(cluster: LocalKafkaCluster) -> ClientCredentials:
    admin = cluster.admin_credentials
    assert admin is not None
    assert admin.ca_file is not None, "the secured test broker speaks TLS"
    return admin


async def _agency(cluster: LocalKafkaCluster, topics: TopicNames) -> ClientCredentials:
    admin = _admin(cluster)
    await ensure_topics(
        cluster.bootstrap_servers, [topics.outbound(AGENCY), topics.inbox(AGENCY)], partitions=1, credentials=admin
    )
    return await provision_agency(cluster.bootstrap_servers, admin, AGENCY, topics)


async def _write(bootstrap: str, who: ClientCredentials | None, topic: str, value: bytes, **options: object) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        request_timeout_ms=8000,
        **(who.aiokafka_options() if who else {}),
        **options,
    )
    try:
        await producer.start()
        await producer.send_and_wait(topic, value)
    finally:
        await producer.stop()


async def _read_one(bootstrap: str, who: ClientCredentials, topic: str) -> bytes:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest", **who.aiokafka_options()
    )
    await consumer.start()
    try:
        batch = await consumer.getmany(timeout_ms=15_000, max_records=1)
    finally:
        await consumer.stop()
    [records] = batch.values()
    value = records[0].value
    assert value is not None
    return bytes(value)


async def test_a_client_trusting_the_ca_with_the_right_password_writes_and_reads_over_tls(
    secured_kafka: LocalKafkaCluster, topic_prefix: str
) -> None:
    bootstrap = secured_kafka.bootstrap_servers
    topics = TopicNames(topic_prefix)
    agency = await _agency(secured_kafka, topics)
    assert agency.ca_file == secured_kafka.ca_file
    assert agency.aiokafka_options()["security_protocol"] == "SASL_SSL"

    await authenticate(bootstrap, agency)
    await _write(bootstrap, agency, topics.outbound(AGENCY), b"sealed-envelope-over-tls")
    assert await _read_one(bootstrap, _admin(secured_kafka), topics.outbound(AGENCY)) == b"sealed-envelope-over-tls"
    await _write(bootstrap, _admin(secured_kafka), topics.inbox(AGENCY), b"routed-envelope-over-tls")
    assert await _read_one(bootstrap, agency, topics.inbox(AGENCY)) == b"routed-envelope-over-tls"


async def test_a_client_trusting_another_ca_or_another_host_name_is_refused_in_the_handshake(
    secured_kafka: LocalKafkaCluster, topic_prefix: str, tmp_path: Path
) -> None:
    bootstrap = secured_kafka.bootstrap_servers
    agency = await _agency(secured_kafka, TopicNames(topic_prefix))
    stranger_ca = ensure_broker_tls(tmp_path / "another-ca").ca_file
    fooled = replace(agency, ca_file=stranger_ca)

    with pytest.raises(Unavailable) as untrusted:
        await authenticate(bootstrap, fooled, within=5.0)
    assert untrusted.value.code == "kafka.tls_untrusted"
    assert str(stranger_ca) in untrusted.value.message
    assert "certificate" in untrusted.value.message
    with pytest.raises(KafkaConnectionError):
        await _write(bootstrap, fooled, TopicNames(topic_prefix).outbound(AGENCY), b"never sent")

    # The right CA, but the client expects another host: host name verification refuses it.
    assert secured_kafka.ca_file is not None
    host, port = bootstrap.rsplit(":", 1)
    with pytest.raises(ssl.SSLCertVerificationError) as wrong_name:
        await asyncio.open_connection(
            host, int(port), ssl=client_context(secured_kafka.ca_file), server_hostname="broker.elsewhere.example"
        )
    assert "broker.elsewhere.example" in str(wrong_name.value)
    # Positive control: the names on the certificate (127.0.0.1 and localhost) verify.
    for name in ("127.0.0.1", "localhost"):
        _, writer = await asyncio.open_connection(
            host, int(port), ssl=client_context(secured_kafka.ca_file), server_hostname=name
        )
        writer.close()


async def test_plaintext_clients_get_nothing_from_the_tls_port(
    secured_kafka: LocalKafkaCluster, topic_prefix: str
) -> None:
    bootstrap = secured_kafka.bootstrap_servers
    topics = TopicNames(topic_prefix)
    agency = await _agency(secured_kafka, topics)
    sasl_plaintext = replace(agency, ca_file=None)  # the right password, sent without TLS
    assert sasl_plaintext.aiokafka_options()["security_protocol"] == "SASL_PLAINTEXT"

    with pytest.raises(Unavailable) as told:
        await authenticate(bootstrap, sasl_plaintext, within=5.0)
    assert told.value.code == "kafka.tls_required"
    assert "speaks TLS" in told.value.message
    with pytest.raises(Unauthenticated) as anonymous:
        await authenticate(bootstrap, None, within=5.0)
    assert anonymous.value.code == "kafka.credentials_required"
    for who in (sasl_plaintext, None):
        with pytest.raises(KafkaConnectionError):
            await _write(bootstrap, who, topics.outbound(AGENCY), b"never sent")


def _connector_config(tmp_path: Path, bootstrap: str, prefix: str, who: ClientCredentials) -> Path:
    keys = AgencyKeyPair.generate(AGENCY)
    keys.save(tmp_path / "keys")
    MatchingKey.generate().save(tmp_path / "matching.key")
    write_password_file(tmp_path / "broker.password", who.password)
    lines = [
        f"ONEDOOR_CONNECTOR_AGENCY={AGENCY}",
        f"ONEDOOR_CONNECTOR_KEYS_DIR={tmp_path / 'keys'}",
        f"ONEDOOR_CONNECTOR_MATCHING_KEY_PATH={tmp_path / 'matching.key'}",
        f"ONEDOOR_CONNECTOR_DISCLOSURE_LOG_PATH={tmp_path / 'data' / 'disclosures.sqlite'}",
        "ONEDOOR_CONNECTOR_API__TOKEN=" + "synthetic-connector-api-token-" + "t" * 32,
        "ONEDOOR_CONNECTOR_HUB_URL=http://127.0.0.1:9",  # no hub: only the broker checks matter here
        f"ONEDOOR_CONNECTOR_KAFKA__BOOTSTRAP_SERVERS={bootstrap}",
        f"ONEDOOR_CONNECTOR_KAFKA__TOPIC_PREFIX={prefix}",
        f"ONEDOOR_CONNECTOR_KAFKA__USERNAME={who.username}",
        f"ONEDOOR_CONNECTOR_KAFKA__PASSWORD_FILE={tmp_path / 'broker.password'}",
    ]
    if who.ca_file is not None:
        lines.append(f"ONEDOOR_CONNECTOR_KAFKA__CA_FILE={who.ca_file}")
    path = tmp_path / "connector.env"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.chmod(path, 0o600)
    return path


async def test_connector_check_says_which_tls_problem_it_is(
    secured_kafka: LocalKafkaCluster, topic_prefix: str, tmp_path: Path
) -> None:
    bootstrap = secured_kafka.bootstrap_servers
    agency = await _agency(secured_kafka, TopicNames(topic_prefix))
    stranger_ca = ensure_broker_tls(tmp_path / "another-ca").ca_file
    cases = {
        "right": agency,
        "untrusted": replace(agency, ca_file=stranger_ca),
        "no-ca": replace(agency, ca_file=None),
        "wrong-password": replace(agency, password=SecretStr("a-wrong-password-" + "w" * 24)),
    }
    said = {}
    for name, who in cases.items():
        config = _connector_config(tmp_path / name, bootstrap, topic_prefix, who)
        said[name] = {r.check: r for r in await run_checks(config)}["broker_identity"]

    assert said["right"].ok, said["right"].line()
    assert "over TLS" in said["right"].message
    assert (said["untrusted"].ok, said["untrusted"].code) == (False, "check.broker_tls")
    assert "is not trusted by" in said["untrusted"].message
    assert str(stranger_ca) in said["untrusted"].message
    assert (said["no-ca"].ok, said["no-ca"].code) == (False, "check.broker_tls")
    assert "ONEDOOR_CONNECTOR_KAFKA__CA_FILE" in said["no-ca"].message
    assert (said["wrong-password"].ok, said["wrong-password"].code) == (False, "check.broker_credentials")
    for result in said.values():
        assert agency.password.get_secret_value() not in result.message


async def test_a_missing_ca_file_is_a_clear_error_before_any_connection(
    secured_kafka: LocalKafkaCluster, tmp_path: Path
) -> None:
    who = replace(_admin(secured_kafka), ca_file=tmp_path / "no-such-ca.pem")
    with pytest.raises(OneDoorError) as refused:
        await authenticate(secured_kafka.bootstrap_servers, who, within=5.0)
    assert refused.value.code == "kafka.ca_file"
    assert "no-such-ca.pem" in refused.value.message


def test_the_broker_log_names_the_tls_listener_and_holds_no_key(secured_kafka: LocalKafkaCluster) -> None:
    tls = secured_kafka.tls
    assert tls is not None
    node = secured_kafka.nodes[0]
    logs = node.server_log.read_text(encoding="utf-8", errors="replace")
    assert f"SASL_SSL://127.0.0.1:{node.broker_port}" in logs
    assert "ssl.enabled.protocols = [TLSv1.3, TLSv1.2]" in logs
    assert "PRIVATE KEY" not in logs
    key_body = tls.keystore_file.read_text(encoding="ascii").splitlines()[1]
    assert key_body not in logs
