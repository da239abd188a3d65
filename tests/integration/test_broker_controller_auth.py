"""The secured cluster's CONTROLLER listener authenticates: no anonymous super user (threat model E7).

KRaft controllers cannot use SCRAM, so the CONTROLLER listener used to be PLAINTEXT with
``User:ANONYMOUS`` in ``super.users``: anything that reached the loopback port was a super user.
Now it is SASL_PLAINTEXT with SASL/PLAIN and one user, ``controller``. Each test starts its own
secured cluster and talks to the controller port in the raw Kafka protocol (aiokafka cannot
bootstrap from a controller):

1. With the old configuration (a controller listener forced back to PLAINTEXT and ANONYMOUS a
   super user), an unauthenticated DescribeAcls on the controller port is answered: the probe
   sees the hole. The same data directory restarted with today's configuration: the cluster
   comes up, the admin still gets in, and the same probe is cut off without an answer.
2. On a fresh cluster: ``super.users`` has ``User:controller`` and no ``User:ANONYMOUS``; a wrong
   controller password is refused; the right one gets DescribeAcls answered (the controllers
   work and ``User:controller`` is the super user there); the password is in no log.
3. Three secured nodes still form a quorum over the authenticated listener and replicate.
"""

from __future__ import annotations

import asyncio
import os
import socket
import stat
import struct
from pathlib import Path

import pytest

from onedoor.errors import OneDoorError
from onedoor.kafka.admin import authenticate, describe_partitions, ensure_topics
from onedoor.kafka.local import CONTROLLER_USERNAME, BrokerSecurity, LocalKafkaCluster

_API_VERSIONS = 18
_SASL_HANDSHAKE = 17
_SASL_AUTHENTICATE = 36
_DESCRIBE_ACLS = 29
_ANY = 1  # resource type, pattern type, operation and permission: ANY


def _start(cluster: LocalKafkaCluster) -> LocalKafkaCluster:
    try:
        return cluster.start()
    except OneDoorError as exc:
        pytest.fail(f"could not start a secured local Kafka under {cluster.data_dir}:\n{exc}", pytrace=False)


def _string(value: str | None) -> bytes:
    if value is None:
        return struct.pack(">h", -1)
    raw = value.encode()
    return struct.pack(">h", len(raw)) + raw


class _Wire:
    """One raw Kafka connection: length-prefixed requests with header v1, answers with header v0."""

    def __init__(self, port: int) -> None:
        self._sock = socket.create_connection(("127.0.0.1", port), timeout=10.0)
        self._correlation = 0

    def close(self) -> None:
        self._sock.close()

    def call(self, api_key: int, version: int, body: bytes) -> bytes | None:
        """Send one request; return its answer's body, or ``None`` if the server closed the connection."""
        self._correlation += 1
        header = struct.pack(">hhi", api_key, version, self._correlation) + _string("onedoor-e7-probe")
        payload = header + body
        try:
            self._sock.sendall(struct.pack(">i", len(payload)) + payload)
            size = self._read(4)
            if size is None:
                return None
            answer = self._read(struct.unpack(">i", size)[0])
        except (ConnectionResetError, BrokenPipeError):
            return None
        if answer is None:
            return None
        assert struct.unpack(">i", answer[:4])[0] == self._correlation
        return answer[4:]

    def _read(self, count: int) -> bytes | None:
        data = b""
        while len(data) < count:
            chunk = self._sock.recv(count - len(data))  # a timeout (no answer, not closed) fails the test
            if not chunk:
                return None
            data += chunk
        return data

    def api_versions(self) -> dict[int, tuple[int, int]]:
        """ApiVersions v0 (answered before authentication on every listener): api key -> (min, max)."""
        body = self.call(_API_VERSIONS, 0, b"")
        assert body is not None, "the controller port does not speak Kafka"
        error, count = struct.unpack(">hi", body[:6])
        assert error == 0
        return {
            key: (low, high)
            for key, low, high in (struct.unpack(">hhh", body[6 + 6 * i : 12 + 6 * i]) for i in range(count))
        }

    def describe_acls(self) -> int | None:
        """DescribeAcls v1 for every ACL: the error code, or ``None`` if the connection was cut."""
        body = self.call(
            _DESCRIBE_ACLS,
            1,
            struct.pack(">b", _ANY)
            + _string(None)
            + struct.pack(">b", _ANY)
            + _string(None)
            + _string(None)
            + struct.pack(">bb", _ANY, _ANY),
        )
        if body is None:
            return None
        _throttle, error = struct.unpack(">ih", body[:6])
        return int(error)

    def sasl_plain(self, username: str, password: str) -> int | None:
        """SaslHandshake v1 (PLAIN) then SaslAuthenticate v0: the latter's error code, ``None`` if cut."""
        handshake = self.call(_SASL_HANDSHAKE, 1, _string("PLAIN"))
        assert handshake is not None
        assert struct.unpack(">h", handshake[:2])[0] == 0, "the controller listener does not offer PLAIN"
        token = b"\0" + username.encode() + b"\0" + password.encode()
        answer = self.call(_SASL_AUTHENTICATE, 0, struct.pack(">i", len(token)) + token)
        return None if answer is None else int(struct.unpack(">h", answer[:2])[0])


def _anonymous_describe_acls(port: int) -> int | None:
    wire = _Wire(port)
    try:
        assert _DESCRIBE_ACLS in wire.api_versions()  # the port speaks Kafka and serves ACLs
        return wire.describe_acls()
    finally:
        wire.close()


def _admin_works(cluster: LocalKafkaCluster, topic: str) -> None:
    credentials = cluster.admin_credentials
    assert credentials is not None
    count = len(cluster.nodes)

    async def go() -> None:
        await authenticate(cluster.bootstrap_servers, credentials)
        await ensure_topics(
            cluster.bootstrap_servers, [topic], partitions=count, replication_factor=count, credentials=credentials
        )

    asyncio.run(go())


def _properties(cluster: LocalKafkaCluster, index: int = 0) -> dict[str, str]:
    text = cluster.nodes[index].properties.read_text(encoding="utf-8")
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def test_the_old_anonymous_controller_listener_is_closed_on_restart(tmp_path: Path) -> None:
    security = BrokerSecurity()
    name = security.listener
    before = LocalKafkaCluster(
        tmp_path / "kafka",
        security=security,
        overrides={
            # What the secured cluster used to run: no authentication, ANONYMOUS a super user.
            "listener.security.protocol.map": f"CONTROLLER:PLAINTEXT,{name}:{name}",
            "super.users": ";".join(
                (f"User:{security.admin_username}", f"User:{security.broker_username}", "User:ANONYMOUS")
            ),
        },
    )
    _start(before)
    try:
        # The probe sees the hole: an unauthenticated local process describes every ACL.
        assert _anonymous_describe_acls(before.nodes[0].controller_port) == 0
    finally:
        before.stop()

    after = _start(LocalKafkaCluster(tmp_path / "kafka", security=security))
    try:
        assert after.cluster_id == before.cluster_id  # the same data, not a fresh cluster
        _admin_works(after, "e7-after-restart")  # positive control: the secured cluster serves clients
        props = _properties(after)
        assert props["listener.security.protocol.map"].startswith("CONTROLLER:SASL_PLAINTEXT,")
        assert "User:ANONYMOUS" not in props["super.users"]
        assert _anonymous_describe_acls(after.nodes[0].controller_port) is None, "anonymous got an answer"
    finally:
        after.stop()


def test_only_the_controller_user_is_a_super_user_on_the_controller_listener(tmp_path: Path) -> None:
    security = BrokerSecurity()
    cluster = _start(LocalKafkaCluster(tmp_path / "kafka", security=security))
    try:
        _admin_works(cluster, "e7-fresh")
        node = cluster.nodes[0]
        props = _properties(cluster)
        assert props["super.users"].split(";") == ["User:admin", "User:broker", f"User:{CONTROLLER_USERNAME}"]
        assert stat.S_IMODE(os.stat(node.properties).st_mode) == 0o600
        password = security.controller_password.get_secret_value()

        assert _anonymous_describe_acls(node.controller_port) is None

        # The admin's SCRAM password is no key to the controller listener, nor is a wrong one.
        for username, secret in (
            (security.admin_username, security.admin_password.get_secret_value()),
            (CONTROLLER_USERNAME, password[::-1]),
        ):
            wire = _Wire(node.controller_port)
            try:
                assert wire.sasl_plain(username, secret) != 0
            finally:
                wire.close()

        # The right password: authenticated as User:controller, the super user, DescribeAcls is answered.
        wire = _Wire(node.controller_port)
        try:
            assert wire.sasl_plain(CONTROLLER_USERNAME, password) == 0
            assert wire.describe_acls() == 0
        finally:
            wire.close()

        log_text = node.server_log.read_text(encoding="utf-8", errors="replace")
        assert "CONTROLLER:SASL_PLAINTEXT" in log_text  # the broker's own record of its listeners
        assert password not in log_text
        assert password not in node.jvm_out.read_text(encoding="utf-8", errors="replace")
    finally:
        cluster.stop()


def test_three_secured_nodes_form_a_quorum_over_the_authenticated_listener(tmp_path: Path) -> None:
    cluster = _start(LocalKafkaCluster(tmp_path / "kafka", nodes=3, security=BrokerSecurity()))
    try:
        credentials = cluster.admin_credentials
        assert credentials is not None
        topic = "e7-three-nodes"
        _admin_works(cluster, topic)
        partitions = asyncio.run(describe_partitions(cluster.bootstrap_servers, topic, credentials=credentials))
        assert partitions, "the topic has partitions"
        for partition in partitions:
            assert len(partition.replicas) == 3
            assert len(partition.isr) == 3
        for index in range(3):
            assert _anonymous_describe_acls(cluster.nodes[index].controller_port) is None
    finally:
        cluster.stop()
