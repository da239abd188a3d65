"""Case-transfer messages and messages nobody handles, as workbench inbox items.

The connector's ``Dispatcher`` hands the desk (``TriageDesk.on_transfer_offer`` and friends)
every ``TransferOffer``, ``HandoverPack`` and ``TransferCompleted`` it receives; these functions
turn each into a ``NewItem`` of its own kind, keyed by message id so a redelivery is stored
once. A message of a contract nothing routes becomes an ``unrouted`` item naming the contract
and the sender only: its body is not kept.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from connectors.casework.transfers import HANDOVER_PACK, TRANSFER_COMPLETED, TRANSFER_OFFER
from connectors.sdk.connector import ReceivedMessage
from connectors.triage.referral import to_json
from connectors.workbench.store import NewItem, now_ms

TRANSFER_OFFER_KIND: Final = "transfer-offer"
"""A candidate's view of a case offered to it (``onedoor.transfer.TransferOffer``)."""
HANDOVER_KIND: Final = "handover"
"""The full picture sent to the agency that accepted a case (``onedoor.transfer.HandoverPack``)."""
TRANSFER_DONE_KIND: Final = "transfer-done"
"""A transfer completed (``onedoor.transfer.TransferCompleted``); the store's kind column holds 16 characters."""
UNROUTED: Final = "unrouted"
"""The kind (and status) of an item for a message of a contract this connector does not handle."""
TRANSFER_CONTRACTS: Final = (TRANSFER_OFFER, HANDOVER_PACK, TRANSFER_COMPLETED)

Names = Callable[[str], str]
"""An agency id to its display name."""


def _words(symbol: object) -> str:
    return str(symbol or "").replace("_", " ").capitalize()


def _new(message: ReceivedMessage, kind: str, title: str, body: dict[str, Any], **extra: Any) -> NewItem:
    header = message.header
    return NewItem(
        dedupe_key=f"message:{header.message_id}",
        kind=kind,
        source="professional",
        sender=str(header.sender),
        title=title[:300],
        body=body,
        received_at_ms=now_ms(),
        message_id=str(header.message_id),
        **extra,
    )


def offer_item(message: ReceivedMessage, names: Names) -> NewItem:
    """``Transfer offer from <agency>: <area>, <urgency>`` (no subject token: an offer has none)."""
    body = to_json(message.body)
    urgency = str(body.get("urgency") or "ROUTINE")
    title = f"Transfer offer from {names(str(message.header.sender))}: {body.get('area') or 'area not given'}, "
    return _new(message, TRANSFER_OFFER_KIND, title + _words(urgency).lower(), body, urgency=urgency)


def handover_item(message: ReceivedMessage, names: Names) -> NewItem:
    """``Handover pack from <agency>``, with the child's subject token (the timeline's key)."""
    body = to_json(message.body)
    token = body.get("subject_token") or message.header.subject_token
    title = f"Handover pack from {names(str(message.header.sender))}"
    return _new(message, HANDOVER_KIND, title, body, subject_token=None if token is None else str(token))


def completed_item(message: ReceivedMessage, names: Names) -> NewItem:
    """``Transfer completed: <new lead> now leads`` (the subject token for network members only)."""
    body = to_json(message.body)
    token = body.get("subject_token") or message.header.subject_token
    title = f"Transfer completed: {names(str(body.get('new_lead') or 'another agency'))} now leads"
    return _new(message, TRANSFER_DONE_KIND, title, body, subject_token=None if token is None else str(token))


def unrouted_item(message: ReceivedMessage, names: Names) -> NewItem:
    """``Unhandled message from <agency>``: the contract and the sender, never the body."""
    header = message.header
    body = {"contract": str(header.contract), "contract_version": header.contract_version}
    title = f"Unhandled message from {names(str(header.sender))}: {header.contract}"
    return _new(message, UNROUTED, title, body, status=UNROUTED)
