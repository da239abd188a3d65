"""``onedoor connector enrol``: fetch the agency's broker identity from the hub and keep its password 0600.

After the hub operator has registered the agency, its connector calls ``POST /broker/credentials``
as the agency (an assertion signed with its current signing key), naming the encryption key it
holds: the hub refuses (409 ``broker.encryption_key_mismatch``) before it touches the broker if
that is not the agency's current encryption key. Otherwise it creates or rotates the SCRAM user
``agency-<id>`` and its ACLs and answers with the password sealed to the agency's encryption
key. This opens it with the local key, writes it to ``<data dir>/broker.password`` (mode 0600,
atomically) and sets ``ONEDOOR_CONNECTOR_KAFKA__USERNAME`` and ``..._PASSWORD_FILE`` in the
config file. The password is never printed. Enrolling again rotates the password: restart the
connector afterwards.

When the broker's client listener is TLS (SASL_SSL), the hub's answer carries the broker's CA
certificate (``ca_certificate_pem``, public): it is written to ``<data dir>/broker-ca.pem`` and
``ONEDOOR_CONNECTOR_KAFKA__CA_FILE`` is set, so nobody copies it by hand. ``--ca-file PATH`` gives
one explicitly instead (copied to the same place), e.g. for a hub that does not hand it out.
"""

from __future__ import annotations

import asyncio
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import httpx

from connectors.agent.config import ENV_PREFIX, ConnectorConfig, load_config_file
from connectors.agent.runtime import load_keys
from connectors.sdk.hubauth import HubClient
from onedoor.errors import ValidationFailed
from onedoor.files import write_atomically
from onedoor.kafka.security import ClientCredentials, open_secret, write_password_file
from onedoor.kafka.tls import parse_ca_pem, read_ca_pem

PASSWORD_FILE_NAME: Final = "broker.password"  # noqa: S105 - a file name, not a secret
ENROL_ANSWER: Final = "enrol.answer_invalid"
ENROL_KEY_MISMATCH: Final = "enrol.key_mismatch"
USERNAME_VAR: Final = f"{ENV_PREFIX}KAFKA__USERNAME"
PASSWORD_FILE_VAR: Final = f"{ENV_PREFIX}KAFKA__PASSWORD_FILE"
CA_FILE_NAME: Final = "broker-ca.pem"
CA_FILE_VAR: Final = f"{ENV_PREFIX}KAFKA__CA_FILE"


@dataclass(frozen=True, slots=True)
class Enrolled:
    """What enrolment did: who the connector now is on the broker and where the password is."""

    username: str
    password_file: Path
    config_lines: tuple[str, ...]
    """The config lines (``..._KAFKA__USERNAME=...``, ``..._KAFKA__PASSWORD_FILE=...``, ``..._KAFKA__CA_FILE=...``)."""
    config_updated: bool
    acls: tuple[str, ...]
    ca_file: Path | None = None
    """The broker's CA certificate (``<data dir>/broker-ca.pem``) when the broker speaks TLS."""


def password_path(config: ConnectorConfig) -> Path:
    """Where the broker password is kept: ``<data dir>/broker.password``."""
    return config.data_directory / PASSWORD_FILE_NAME


def ca_path(config: ConnectorConfig) -> Path:
    """Where the broker's CA certificate is kept: ``<data dir>/broker-ca.pem``."""
    return config.data_directory / CA_FILE_NAME


def config_lines(username: str, path: Path, ca_file: Path | None = None) -> tuple[str, ...]:
    """The env-file lines that make the connector use its broker identity (and trust the broker's CA)."""
    lines = (f"{USERNAME_VAR}={username}", f"{PASSWORD_FILE_VAR}={path}")
    return lines if ca_file is None else (*lines, f"{CA_FILE_VAR}={ca_file}")


def broker_ca(answer: Any, explicit: Path | None) -> bytes | None:
    """The broker CA certificate (PEM) to keep: ``explicit``'s, else the hub's answer's, else ``None`` (no TLS).

    Raises:
        ValidationFailed: ``kafka.ca_file`` when it is unreadable or not one CA certificate.
    """
    if explicit is not None:
        return parse_ca_pem(read_ca_pem(explicit))
    pem = answer.get("ca_certificate_pem") if isinstance(answer, dict) else None
    return parse_ca_pem(pem) if isinstance(pem, str) and pem else None


def updated_config(text: str, lines: tuple[str, ...]) -> str:
    """``text`` with the username and password-file lines set (replaced where present, else appended)."""
    result = text
    for line in lines:
        name = line.split("=", 1)[0]
        pattern = re.compile(rf"^{re.escape(name)}=.*$", re.MULTILINE)
        if pattern.search(result):
            result = pattern.sub(line.replace("\\", "\\\\"), result, count=1)
        else:
            result = result + ("" if result.endswith("\n") or not result else "\n") + line + "\n"
    return result


def _rewrite(path: Path, text: str) -> None:
    """Replace ``path`` atomically with ``text``, keeping its mode."""
    write_atomically(path, text.encode("utf-8"), os.stat(path).st_mode & 0o777)


def _set_config(path: Path, lines: tuple[str, ...]) -> bool:
    text = path.read_text(encoding="utf-8")
    new_text = updated_config(text, lines)
    if new_text == text:
        return False
    _rewrite(path, new_text)
    return True


def open_answer(config: ConnectorConfig, answer: Any, private: Any, encryption_key_id: str) -> ClientCredentials:
    """The credentials in the hub's answer, opened with the agency's encryption key.

    Raises:
        ValidationFailed: ``enrol.answer_invalid``, ``enrol.key_mismatch`` or ``broker.sealed_invalid``.
    """
    if not isinstance(answer, dict) or not all(
        isinstance(answer.get(k), str) for k in ("agency", "username", "sealed_password", "encryption_key_id")
    ):
        raise ValidationFailed(ENROL_ANSWER, "the hub's answer to POST /broker/credentials is not what was expected")
    if answer["agency"] != config.agency:
        raise ValidationFailed(ENROL_ANSWER, f"the hub issued credentials for {answer['agency']}, not {config.agency}")
    if answer["encryption_key_id"] != encryption_key_id:
        raise ValidationFailed(
            ENROL_KEY_MISMATCH,
            f"the hub sealed the password to encryption key {answer['encryption_key_id']}, but this connector "
            f"holds {encryption_key_id}: register this key with the hub (or use the right keys_dir), then enrol again",
        )
    password = open_secret(private, answer["sealed_password"], agency=config.agency, username=answer["username"])
    return ClientCredentials(answer["username"], password)


async def enrol(
    config_path: Path,
    *,
    update_config: bool = True,
    hub_transport: httpx.AsyncBaseTransport | None = None,
    ca_file: Path | None = None,
) -> Enrolled:
    """Fetch (create or rotate) the agency's broker identity and store its password 0600.

    The broker's CA certificate (``ca_file``, else the hub's ``ca_certificate_pem``) goes to
    ``<data dir>/broker-ca.pem`` (0644, public) and into the config as ``..._KAFKA__CA_FILE``.

    Raises:
        ValidationFailed: ``connector.invalid_config``, unreadable keys, ``enrol.*``, ``broker.sealed_invalid``,
            ``kafka.ca_file`` (the CA certificate is unreadable or not a CA).
        Unavailable: ``hub.unreachable``, ``broker.unavailable`` (the hub could not reach the broker).
        OneDoorError: the hub's refusal with its code (``auth.agency_inactive``, ``broker.provisioning_off``...).
    """
    config = load_config_file(config_path)
    keys, _ = load_keys(config)
    if ca_file is not None:
        broker_ca(None, ca_file)  # refuse a wrong file before the hub rotates the password
    async with HubClient(config.hub_url, keys, transport=hub_transport) as hub:
        # Naming the key lets the hub refuse (broker.encryption_key_mismatch) before it rotates the password.
        answer = await hub.call("POST", "/broker/credentials", json={"encryption_key_id": str(keys.encryption_key_id)})
    credentials = open_answer(config, answer, keys.encryption, str(keys.encryption_key_id))
    # The hub has rotated the password: keep it before anything else can fail (a bad CA certificate
    # below must not leave the connector with neither the old password nor the new one).
    path = password_path(config)
    write_password_file(path, credentials.password)
    ca_pem = broker_ca(answer, ca_file)
    kept_ca = None
    if ca_pem is not None:
        kept_ca = ca_path(config).resolve()
        kept_ca.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_atomically(kept_ca, ca_pem, 0o644)  # public: a certificate, not a secret
    lines = config_lines(credentials.username, path.resolve(), kept_ca)
    changed = update_config and await asyncio.to_thread(_set_config, config_path, lines)
    acls = tuple(str(a) for a in answer.get("acls", []) if isinstance(a, str)) if isinstance(answer, dict) else ()
    return Enrolled(credentials.username, path, lines, changed, acls, kept_ca)


def describe(result: Enrolled) -> list[str]:
    """What to tell the person who ran ``enrol`` (never the password)."""
    said = [
        f"enrolled: the broker knows this connector as {result.username}",
        f"wrote the broker password to {result.password_file} (mode 0600)",
    ]
    if result.ca_file is not None:
        said.append(f"wrote the broker's CA certificate to {result.ca_file}: the connector talks TLS to the broker")
    if result.config_updated:
        said.append("set in the config file:")
    else:
        said.append("the config file needs (already there, or add them):")
    said += [f"  {line}" for line in result.config_lines]
    said.append("restart the connector: the previous broker password (if any) no longer works")
    return said
