"""Alerts to a child's professional network, fanned out from the sender's connector.

The hub cannot encrypt, so the sender's connector does the fan-out: it asks the hub who is in
the child's network (only a member may ask: ``network.not_a_member`` otherwise, and then
nothing is sent; the hub shows only the members this agency has an agreement in force with and
counts the rest in ``NetworkView.withheld``), leaves itself out, decides every other member
under its sharing policy and sends each one the fields its agreement allows (one envelope per
agreement and field set).
A member whose agreement allows nothing is skipped and reported, not a reason to hold the
alert back from the rest. A member whose connector is offline gets the alert from its inbox
when it returns: the inbox is retained and a connector commits only after handling.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from connectors.casework.fanout import FanOut, Skipped, fan_out
from connectors.casework.network import NetworkClient, NetworkView
from connectors.sdk.connector import Connector
from connectors.sdk.hubauth import HubCaller
from contracts.catalog import bundled_contract
from onedoor.envelope.header import Header
from onedoor.errors import ValidationFailed
from onedoor.ids import AgencyId, ContractName, Purpose, SubjectToken

ALERT: Final = ContractName("onedoor.alert.Alert")
ALERT_PURPOSE: Final = Purpose("safeguarding-alert")
INVALID_ALERT: Final = "alert.invalid"
TOKEN_MISMATCH: Final = "alert.subject_token_mismatch"  # noqa: S105 - an error code, not a secret


def alert_kinds() -> tuple[str, ...]:
    """The kinds the bundled alert contract knows (``MISSING_EPISODE``, ``ARREST``, ...)."""
    kind = next(f for f in bundled_contract(ALERT).parsed["fields"] if f["name"] == "kind")
    return tuple(kind["type"]["symbols"])


def _ms(at: datetime | int | None) -> int:
    if at is None:
        return int(time.time() * 1000)
    return at if isinstance(at, int) else int(at.timestamp() * 1000)


def alert_body(
    *, subject_token: SubjectToken, kind: str, occurred_at: datetime | int | None = None, **fields: Any
) -> dict[str, Any]:
    """An ``onedoor.alert.Alert`` body: a fresh ``alert_id``, ``reported_at`` now, and ``fields`` as given.

    Raises:
        ValidationFailed: ``alert.invalid`` for a kind the contract does not know.
    """
    if kind not in alert_kinds():
        raise ValidationFailed(INVALID_ALERT, f"unknown alert kind {kind!r:.40}; one of: {', '.join(alert_kinds())}")
    return {
        "alert_id": str(uuid.uuid4()),
        "kind": kind,
        "subject_token": str(subject_token),
        "occurred_at": _ms(occurred_at),
        "reported_at": _ms(None),
        **fields,
    }


@dataclass(frozen=True, slots=True)
class AlertReport:
    """What ``send_alert`` did: the network it found, who got which fields, who was skipped and why."""

    alert_id: str
    network: NetworkView
    sent: Mapping[AgencyId, frozenset[str]]
    skipped: Mapping[AgencyId, Skipped]
    headers: list[Header]


async def send_alert(
    connector: Connector,
    hub: HubCaller,
    *,
    subject_token: SubjectToken,
    body: Mapping[str, Any],
    version: int = 1,
    purpose: Purpose = ALERT_PURPOSE,
) -> AlertReport:
    """Send an alert about a child to every other agency in its network that an agreement lets receive it.

    Args:
        connector: the sending agency's started connector (with its sharing policy).
        hub: the agency's authenticated hub client (``HubClient``).
        subject_token: the child.
        body: the alert (``alert_body``); its ``subject_token`` must be the child's.
        version: the alert contract version.
        purpose: the purpose relied on.

    Returns:
        The report; ``sent`` is empty when the sender is the network's only member.

    Raises:
        Forbidden: ``network.not_a_member`` when the sender has no case on the child (nothing is sent).
        ValidationFailed: ``alert.subject_token_mismatch``, or the codec's error for a bad body.
    """
    if body.get("subject_token") != str(subject_token):
        raise ValidationFailed(TOKEN_MISMATCH, "the alert's subject_token must be the child's the alert is sent about")
    network = await NetworkClient(hub).network(subject_token)
    others = [a for a in network.agencies if a != connector.agency]
    report: FanOut = await fan_out(
        connector,
        contract=ALERT,
        version=version,
        recipients=others,
        purpose=purpose,
        body=body,
        subject_token=subject_token,
    )
    return AlertReport(str(body.get("alert_id", "")), network, report.sent, report.skipped, report.headers)
