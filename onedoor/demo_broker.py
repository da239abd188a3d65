"""The broker part of `onedoor demo`: a secured broker, the hub's own limited identity, each agency enrolled.

``start`` brings up (or reuses) the local broker with SASL/SCRAM users and enforced ACLs
(``onedoor kafka up --secure``: StandardAuthorizer, no allow-all), then gives the hub its own
least-privilege user (``secure_hub``): the demo's hub runs as ``hub``, never as the admin. The
admin's password stays in files only the owner can read (``<home>/kafka/security.json`` and
``<home>/demo/hub/admin.password``, mode 0600), and is never printed.

``DemoBroker.enrol`` then gives a demo agency its broker identity as a real agency gets it: a
connector config file (``<home>/demo/<agency>/connector.env``), and ``onedoor connector enrol``'s
own code, which calls the hub's ``POST /broker/credentials`` with the agency's signed assertion
and opens the password sealed to the agency's key into ``broker.password`` (0600).

A broker named by ``KAFKA_BOOTSTRAP_SERVERS`` is used as it is: secured when the hub's
``ONEDOOR_KAFKA__ADMIN_USERNAME`` and ``ONEDOOR_KAFKA__ADMIN_PASSWORD_FILE`` are set, else PLAINTEXT
(which the demo says).
"""

from __future__ import annotations

import asyncio
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from connectors.agent.enrol import Enrolled, enrol
from connectors.identity import MatchingKey
from onedoor.demo_hub import DemoAgency, agency_folder, say
from onedoor.envelope.keys import create_private_file
from onedoor.kafka import cluster
from onedoor.kafka.acls import secure_hub
from onedoor.kafka.admin import can_read
from onedoor.kafka.security import ClientCredentials
from onedoor.settings import Settings
from onedoor.topics import TopicNames

CONFIG_FILE: Final = "connector.env"
TOKEN_FILE: Final = "api.token"  # noqa: S105 - a file name


@dataclass(frozen=True)
class DemoBroker:
    """The demo's broker, and the hub's settings with the hub's own broker identity on it."""

    bootstrap: str
    settings: Settings
    """The hub's settings: ``kafka.username``/``password_file`` (the hub) and ``admin_*`` when secured."""
    admin_password_file: Path | None
    """Where the admin's password is (mode 0600); ``None`` on a PLAINTEXT broker."""

    @property
    def secured(self) -> bool:
        """The broker authenticates every client and enforces ACLs."""
        return self.admin_password_file is not None

    async def enrol(self, agency: DemoAgency, hub_url: str) -> Enrolled | None:
        """``agency``'s broker identity, fetched as ``onedoor connector enrol`` does; ``None`` on PLAINTEXT.

        Raises:
            OneDoorError: the hub's refusal (with its code), or ``broker.sealed_invalid``.
        """
        if not self.secured:
            return None
        config = connector_file(self.settings, agency, bootstrap=self.bootstrap, hub_url=hub_url)
        enrolled = await enrol(config)
        say(
            agency.id,
            f"enrolled through the hub's POST /broker/credentials (signed with its own key): the broker knows it "
            f"as {enrolled.username}, {len(enrolled.acls)} ACLs; password sealed to its key, kept in "
            f"{enrolled.password_file} (0600)",
        )
        return enrolled


def credentials(enrolled: Enrolled | None) -> ClientCredentials | None:
    """The SDK's broker credentials for an enrolled agency (``None``: PLAINTEXT)."""
    if enrolled is None:
        return None
    return ClientCredentials.from_file(enrolled.username, enrolled.password_file, ca_file=enrolled.ca_file)


async def start(settings: Settings) -> DemoBroker:
    """The demo's broker, secured unless ``KAFKA_BOOTSTRAP_SERVERS`` names one without admin credentials.

    Raises:
        OneDoorError: the broker could not start, or refused the admin (``kafka.admin_refused``).
    """
    if settings.kafka.bootstrap_servers:
        bootstrap = settings.kafka.bootstrap_servers
        admin = settings.kafka.admin_credentials()
    else:
        say("kafka", "making sure a secured broker is running (first run resolves the jars from Maven Central)...")
        bootstrap = await asyncio.to_thread(_local, settings)
        admin = cluster.admin_credentials(settings)  # with the local cluster's CA: TLS (SASL_SSL)
    say("kafka", f"broker at {bootstrap}")
    if admin is None:
        say(
            "kafka",
            "this broker (KAFKA_BOOTSTRAP_SERVERS, no ONEDOOR_KAFKA__ADMIN_*) is PLAINTEXT as far as the demo "
            "knows: no broker identities, no ACLs",
        )
        return DemoBroker(bootstrap, settings, None)
    topics = TopicNames(settings.kafka.topic_prefix)
    fields = await secure_hub(bootstrap, admin, topics, settings.home / "demo" / "hub")
    # The hub provisions agencies on this broker (POST /broker/credentials), so it names it too.
    hub_kafka = settings.kafka.model_copy(update={**fields, "bootstrap_servers": bootstrap})
    hub_settings = settings.model_copy(update={"kafka": hub_kafka})
    admin_file = Path(fields["admin_password_file"])
    say(
        "kafka",
        "the broker enforces SCRAM users and ACLs (no allow-all)"
        + (f" over TLS (SASL_SSL; clients trust the CA {admin.ca_file})" if admin.ca_file is not None else "")
        + f"; the hub connects as user {fields['username']!r} with only its own ACLs; the admin's secret is in "
        f"{admin_file} (mode 0600)",
    )
    return DemoBroker(bootstrap, hub_settings, admin_file)


def _local(settings: Settings) -> str:
    """The local detached broker, secured (a PLAINTEXT one left by an earlier version is stopped first)."""
    current = cluster.status(settings)
    if current is not None and current.running and not current.state.secured:
        say("kafka", "the local broker from an earlier run is PLAINTEXT: stopping it (its data stays)")
        cluster.stop_detached(settings)
    return cluster.start_detached(settings, secure=True).bootstrap_servers


async def show_refused(broker: DemoBroker, reader: Enrolled, owner: DemoAgency) -> bool:
    """Ask the broker to let the enrolled ``reader`` read ``owner``'s inbox; print and return whether it refused.

    Raises:
        Unavailable: ``kafka.unreachable``.
    """
    who = ClientCredentials.from_file(reader.username, reader.password_file, ca_file=reader.ca_file)
    inbox = TopicNames(broker.settings.kafka.topic_prefix).inbox(owner.id)
    readable = await can_read(broker.bootstrap, inbox, who, within=10.0)
    verdict = "lets it: ACLs are NOT enforced" if readable else "refuses it (TOPIC_AUTHORIZATION_FAILED)"
    say("kafka", f"{who.username} tries to read {owner.id}'s inbox: the broker {verdict}")
    return not readable


def connector_file(settings: Settings, agency: DemoAgency, *, bootstrap: str, hub_url: str) -> Path:
    """Write the agency's connector config file (0600), as ``onedoor connector init`` would; its path.

    The keys, the matching key and the API token file are next to it (made once, kept).
    """
    folder = agency_folder(settings.home, agency)
    matching = folder / "matching.key"
    if not matching.exists():
        MatchingKey.generate().save(matching)
    token = folder / TOKEN_FILE
    if not token.exists():
        create_private_file(token, secrets.token_urlsafe(32).encode() + b"\n")
    lines = {
        "AGENCY": agency.id,
        "KEYS_DIR": folder,
        "HUB_URL": hub_url,
        "MATCHING_KEY_PATH": matching,
        "DISCLOSURE_LOG_PATH": folder / "disclosures.sqlite3",
        "API__TOKEN_FILE": token,
        "KAFKA__BOOTSTRAP_SERVERS": bootstrap,
        "KAFKA__TOPIC_PREFIX": settings.kafka.topic_prefix,
    }
    path = folder / CONFIG_FILE
    text = "".join(f"ONEDOOR_CONNECTOR_{name}={value}\n" for name, value in lines.items())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    return path
