"""Casework on a connector: a child's professional network, alerts fanned out to it, and case transfer.

The hub keeps token -> agency only (``hub.network``, ``hub.transfers``); everything about the
child travels end-to-end encrypted between connectors, through the normal ``Connector.send``
path, so agreements are enforced at the sender, the router and the recipient.
"""

from connectors.casework.alerts import ALERT, ALERT_PURPOSE, AlertReport, alert_body, send_alert
from connectors.casework.network import Acceptance, Member, NetworkClient, NetworkView, TransferRecord
from connectors.casework.transfers import (
    HANDOVER_PACK,
    TRANSFER_ACCEPTED,
    TRANSFER_COMPLETED,
    TRANSFER_OFFER,
    TRANSFER_PURPOSE,
    CaseFiles,
    DirectoryCaseFiles,
    HandoverDesk,
    MemoryCaseFiles,
    OfferReport,
    accept_transfer,
    handover_directory,
    offer_transfer,
)

__all__ = [
    "ALERT",
    "ALERT_PURPOSE",
    "HANDOVER_PACK",
    "TRANSFER_ACCEPTED",
    "TRANSFER_COMPLETED",
    "TRANSFER_OFFER",
    "TRANSFER_PURPOSE",
    "Acceptance",
    "AlertReport",
    "CaseFiles",
    "DirectoryCaseFiles",
    "HandoverDesk",
    "Member",
    "MemoryCaseFiles",
    "NetworkClient",
    "NetworkView",
    "OfferReport",
    "TransferRecord",
    "accept_transfer",
    "alert_body",
    "handover_directory",
    "offer_transfer",
    "send_alert",
]
