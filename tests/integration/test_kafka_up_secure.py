"""`onedoor kafka up --secure`: the detached local broker with SCRAM users and enforced ACLs.

It starts as local JVMs with its own data directory and keeps its passwords in
``<home>/kafka/security.json`` (0600); a client without credentials is dropped, a wrong password
refused, the admin accepted; an agency user it provisions cannot read another agency's inbox.
`status` says it is secured (without any password); `up` reuses it; `up --secure` refuses to
take a PLAINTEXT cluster for a secured one; `down --purge` forgets the passwords with the data.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from onedoor.errors import Unauthenticated
from onedoor.ids import AgencyId
from onedoor.kafka import cluster
from onedoor.kafka.acls import provision_agency
from onedoor.kafka.admin import authenticate, can_read
from onedoor.kafka.security import ClientCredentials
from onedoor.settings import Settings
from onedoor.topics import TopicNames

pytestmark = pytest.mark.integration

ONEDOOR = Path(sys.executable).with_name("onedoor")


@pytest.fixture
def onedoor_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty ONEDOOR_HOME with no external cluster configured; stop what it started."""
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    monkeypatch.delenv("ONEDOOR_KAFKA__BOOTSTRAP_SERVERS", raising=False)
    monkeypatch.setenv("ONEDOOR_HOME", str(tmp_path))
    yield tmp_path
    subprocess.run([str(ONEDOOR), "kafka", "down", "--purge"], capture_output=True, timeout=120, check=False)


def _onedoor(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(ONEDOOR), *args], capture_output=True, text=True, timeout=180, check=False)


async def _enforced(bootstrap: str, admin: ClientCredentials) -> None:
    with pytest.raises(Unauthenticated) as anonymous:
        await authenticate(bootstrap, None)
    assert anonymous.value.code == "kafka.credentials_required"
    with pytest.raises(Unauthenticated) as wrong:
        await authenticate(
            bootstrap,
            ClientCredentials(admin.username, SecretStr("not-the-admin-password-at-all"), ca_file=admin.ca_file),
        )
    assert wrong.value.code == "kafka.credentials_refused"
    await authenticate(bootstrap, admin)
    topics = TopicNames("upsecure")
    agency = await provision_agency(bootstrap, admin, AgencyId("demo-a"), topics)
    assert not await can_read(bootstrap, topics.inbox(AgencyId("demo-b")), agency)


def test_up_secure_starts_a_broker_that_enforces_users_and_acls(onedoor_home: Path) -> None:
    up = _onedoor("kafka", "up", "--secure")
    assert up.returncode == 0, up.stderr
    bootstrap = up.stdout.strip().splitlines()[-1]
    assert "ACLs enforced" in up.stderr
    security = onedoor_home / "kafka" / "security.json"
    assert security.stat().st_mode & 0o777 == 0o600
    admin = cluster.admin_credentials(Settings(home=onedoor_home))  # with the cluster's CA: TLS (SASL_SSL)
    assert admin.password.get_secret_value() not in up.stdout + up.stderr
    state = cluster.read_state(Settings(home=onedoor_home))
    assert state is not None
    assert (state.secured, state.runtime, state.data_dir) == (True, "jvm", onedoor_home / "kafka" / "secure-data")
    assert state.ca_file == onedoor_home / "kafka" / "secure-data" / "tls" / "ca.pem"
    assert admin.ca_file == state.ca_file

    asyncio.run(_enforced(bootstrap, admin))

    status = _onedoor("kafka", "status")
    assert status.returncode == 0, status.stdout + status.stderr
    assert "security:  SASL/SCRAM-SHA-512 users and ACLs enforced" in status.stdout
    assert f"TLS (SASL_SSL): clients trust the CA {state.ca_file}" in status.stdout
    assert admin.password.get_secret_value() not in status.stdout
    assert _onedoor("kafka", "up").stdout.strip().splitlines()[-1] == bootstrap, "up reuses the secured broker"

    down = _onedoor("kafka", "down", "--purge")
    assert down.returncode == 0, down.stderr
    assert not security.exists()
    assert not (onedoor_home / "kafka" / "secure-data").exists()


def test_up_secure_will_not_take_a_plaintext_broker_for_a_secured_one(onedoor_home: Path) -> None:
    up = _onedoor("kafka", "up", "--runtime", "jvm")
    assert up.returncode == 0, up.stderr
    assert "PLAINTEXT, no ACLs" in _onedoor("kafka", "status").stdout

    secure = _onedoor("kafka", "up", "--secure")

    assert secure.returncode == 1
    assert "kafka.state_invalid" in secure.stderr
    assert "PLAINTEXT local Kafka is already running" in secure.stderr
    assert "Traceback" not in secure.stderr
