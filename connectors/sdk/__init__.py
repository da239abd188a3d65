"""The connector SDK: seal and send, receive and open, with a distinct error per failure."""

from connectors.sdk.connector import Connector, ReceivedMessage, Sealed
from connectors.sdk.directory import AgencyPublicKeys, PublicDirectory
from connectors.sdk.policy import SharingDenied, SharingPolicy, fetch_policy

__all__ = [
    "AgencyPublicKeys",
    "Connector",
    "PublicDirectory",
    "ReceivedMessage",
    "Sealed",
    "SharingDenied",
    "SharingPolicy",
    "fetch_policy",
]
