"""The one interface every agency-system adapter implements, and the errors it raises.

A connector holds zero or more adapters, listed in the agency's adapters file (YAML)::

    adapters:
      - kind: sql          # the entry point name in the ``onedoor.adapters`` group
        name: records      # unique within the file; used in logs, reports and error messages
        options: {...}     # whatever this kind needs, checked by its factory

An adapter may do any of three things; each is optional (a folder adapter only sends, a
webhook adapter only receives, a SQL adapter reads status records and writes back):

- ``status_records()``: the agency's records the status check answers from;
- ``deliver(message)``: hand a received, opened message to the agency's system;
- ``run(outbound)``: feed messages the agency's system wants sent into ``outbound`` until cancelled.

Errors are data: a factory raises ``ValidationFailed`` (``adapter.*`` codes, naming the adapter
and the bad option or column, never a value); ``deliver`` raises ``DeliveryRetry`` when trying
again later may work (the system is down, answered 5xx) and ``DeliveryRefused`` when it never
will (the message cannot be mapped): the connector parks such a message with its reason.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from connectors.identity.keys import MatchingKey
from connectors.sdk.connector import ReceivedMessage
from connectors.status.index import StatusRecord
from onedoor.errors import Category, OneDoorError, Unavailable
from onedoor.ids import AgencyId

ENTRY_POINT_GROUP = "onedoor.adapters"


class DeliveryRetry(Unavailable):
    """The agency's system could not take the message now; try again later (nothing is lost)."""


class DeliveryRefused(OneDoorError):
    """The agency's system can never take this message (it cannot be mapped): park it with the reason."""

    category = Category.BUSINESS
    http_status = 422


@dataclass(frozen=True, slots=True)
class OutboundRequest:
    """A message the agency's system asks the connector to send (the arguments of ``Connector.send``)."""

    contract: str
    """The contract name, e.g. ``onedoor.referral.MasterReferral``."""
    version: int
    recipients: tuple[AgencyId, ...]
    purpose: str
    body: Mapping[str, Any]
    source: str
    """Where it came from, for reports: ``"<adapter name>:<file>:<row>"`` or a request id. No personal data."""
    idempotency_key: str | None = None
    """Names this message for good (``"folder:<adapter>:<file hash>:<row>"``...): sent again under the same key
    (after a crash before the adapter recorded it), the connector's outbox adds nothing. Needs the outbox."""
    subject_token: str | None = None
    """The young person's ``st1_`` token, put in the envelope header when given."""


Outbound = Callable[[OutboundRequest], Awaitable[None]]
"""Queue one message for sending (durably: it is in the outbox when this returns)."""


@dataclass(frozen=True, slots=True)
class AdapterContext:
    """What the connector tells every adapter it builds."""

    agency: AgencyId
    data_dir: Path
    """The connector's own directory: reports, state and secrets an adapter keeps go under it."""
    base_dir: Path
    """The adapters file's directory: relative paths in options are relative to it."""
    matching_key: MatchingKey | None = None
    """The federation matching key, for adapters that derive subject tokens from identifiers (``None``: not given)."""


@runtime_checkable
class AgencyAdapter(Protocol):
    """One way into an agency's own system."""

    name: str

    def status_records(self) -> Iterable[StatusRecord]:
        """The agency's records for the status index (empty if this adapter has none)."""
        ...

    async def deliver(self, message: ReceivedMessage) -> bool:
        """Hand ``message`` to the agency's system; ``False`` if this adapter does not take its contract.

        Raises:
            DeliveryRetry: try again later.
            DeliveryRefused: never; the connector parks the message with the reason.
        """
        ...

    async def run(self, outbound: Outbound) -> None:
        """Send what the agency's system produces through ``outbound`` until cancelled (return at once if nothing)."""
        ...

    async def close(self) -> None:
        """Release connections and files."""
        ...


AdapterFactory = Callable[[str, Mapping[str, Any], AdapterContext], AgencyAdapter]
"""``factory(name, options, context)``: build an adapter or raise ``ValidationFailed`` (``adapter.*``)."""
