"""The secured cluster's CONTROLLER listener is SASL/PLAIN with one named super user (threat model E7)."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from onedoor.kafka.local import CONTROLLER_PRINCIPAL, BrokerSecurity, LocalKafkaCluster, NodeLayout


def test_the_controller_listener_authenticates_one_named_user(tmp_path: Path) -> None:
    security = BrokerSecurity()
    password = security.controller_password.get_secret_value()

    props = security.properties(NodeLayout(1, 19092, 19093, tmp_path))

    assert CONTROLLER_PRINCIPAL == "User:controller"
    assert props["listener.security.protocol.map"].split(",")[0] == "CONTROLLER:SASL_PLAINTEXT"
    assert props["listener.name.controller.sasl.enabled.mechanisms"] == "PLAIN"
    assert props["sasl.mechanism.controller.protocol"] == "PLAIN"
    jaas = props["listener.name.controller.plain.sasl.jaas.config"]
    assert jaas.startswith("org.apache.kafka.common.security.plain.PlainLoginModule required ")
    assert f'username="controller" password="{password}" user_controller="{password}";' in jaas
    assert jaas.count("user_") == 1  # the listener accepts no other user
    assert props["super.users"].split(";") == ["User:admin", "User:broker", "User:controller"]
    assert "ANONYMOUS" not in props["super.users"]
    # The SCRAM users of the client listener are untouched, and the controller's password is not among them.
    assert props["sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
    assert not any(password in argument for argument in security.format_arguments())
    assert password not in repr(security)
    assert password not in {security.admin_password.get_secret_value(), security.broker_password.get_secret_value()}


def test_the_controller_password_is_saved_0600_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "security.json"
    first = BrokerSecurity.load_or_create(path)
    again = BrokerSecurity.load_or_create(path)

    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert again.controller_password.get_secret_value() == first.controller_password.get_secret_value()


def test_a_record_from_before_the_controller_password_gets_one_and_keeps_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "security.json"
    old = {
        "admin_username": "admin",
        "admin_password": "admin-secret-fake",
        "broker_username": "broker",
        "broker_password": "broker-secret-fake",
        "extra_super_users": ["User:hub"],
        "tls": False,
    }
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(old, handle)

    loaded = BrokerSecurity.load_or_create(path)
    recorded = json.loads(path.read_text(encoding="utf-8"))
    again = BrokerSecurity.load_or_create(path)

    assert len(loaded.controller_password.get_secret_value()) >= 40
    assert recorded["controller_password"] == loaded.controller_password.get_secret_value()
    assert again.controller_password.get_secret_value() == loaded.controller_password.get_secret_value()
    assert {k: recorded[k] for k in old} == old  # nothing else changed
    assert (loaded.admin_password.get_secret_value(), loaded.tls) == ("admin-secret-fake", False)
    assert loaded.super_users == ("User:admin", "User:broker", "User:controller", "User:hub")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_a_failed_format_never_shows_a_password(tmp_path: Path) -> None:
    security = BrokerSecurity()
    cluster = LocalKafkaCluster(tmp_path / "kafka", security=security)
    echoed = " ".join(
        f"--add-scram SCRAM-SHA-512=[name=u,password={p.get_secret_value()}]"
        for p in (security.admin_password, security.broker_password, security.controller_password)
    )
    shown = cluster._without_passwords(f"Error: bad arguments: {echoed}")
    assert "Error: bad arguments" in shown
    for secret in (security.admin_password, security.broker_password, security.controller_password):
        assert secret.get_secret_value() not in shown
