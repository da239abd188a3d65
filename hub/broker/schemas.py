"""What ``POST /broker/credentials`` answers: the username and the password sealed to the agency's key."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


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
