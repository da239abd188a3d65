"""What ``POST /broker/credentials`` answers: the username and the password sealed to the agency's key."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class BrokerCredentialsIn(BaseModel):
    """What the connector asks with: the encryption key it will open the sealed password with."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    encryption_key_id: str = Field(min_length=1, max_length=80)
    """The connector's current encryption key id (``k1_...``); the hub refuses (409
    ``broker.encryption_key_mismatch``) before touching the broker if it is not the agency's
    current encryption key, so no password is set that nobody can open."""


class BrokerCredentialsOut(BaseModel):
    """A fresh broker identity for the calling agency; the hub kept no copy of the password."""

    model_config = ConfigDict(frozen=True)

    agency: str
    username: str
    """The SCRAM user (``agency-<id>``): ``ONEDOOR_CONNECTOR_KAFKA__USERNAME``."""
    mechanism: str
    """``SCRAM-SHA-512``."""
    sealed_password: str
    """The password sealed to ``encryption_key_id`` (``onedoor.kafka.security.open_secret``), base64url."""
    encryption_key_id: str
    """The agency's current encryption key the password is sealed to."""
    topic_prefix: str
    """The hub's topic prefix: ``ONEDOOR_CONNECTOR_KAFKA__TOPIC_PREFIX``."""
    acls: list[str]
    """What the broker now allows this user, one rule per line (``User:agency-x write topic literal:...``)."""
    ca_certificate_pem: str | None = None
    """The broker's CA certificate (PEM, public) when its client listener is TLS (SASL_SSL): the connector
    trusts it (``ONEDOOR_CONNECTOR_KAFKA__CA_FILE``); ``None`` when the hub has no ``ONEDOOR_KAFKA__CA_FILE``."""
