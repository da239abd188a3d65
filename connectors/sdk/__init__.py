"""The connector SDK: seal and send, receive and open, with a distinct error per failure."""

from connectors.sdk.connector import Connector, ReceivedMessage
from connectors.sdk.directory import AgencyPublicKeys, PublicDirectory

__all__ = ["AgencyPublicKeys", "Connector", "PublicDirectory", "ReceivedMessage"]
