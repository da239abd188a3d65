"""A synthetic federation for status-check tests: agencies, agreements, and an in-memory exchange.

All data is obviously fake. The exchange stands in for the broker and the hub: ``publish``
hands each envelope to its recipients' inboxes; an agency with a handler gets it at once,
others keep it until their (fake) ``poll``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from connectors.identity import Identifiers, MatchingKey
from connectors.sdk import Connector, ReceivedMessage
from connectors.sdk.codec import ContractCodecs
from connectors.sdk.directory import AgencyPublicKeys, PublicDirectory
from connectors.sdk.policy import SharingPolicy
from connectors.status import STATUS_CHECK, STATUS_REPLY, VICTIM_IDENTIFICATION
from contracts.catalog import bundled
from hub.agreements.schemas import AgreementBody
from hub.policy.schemas import PolicyAgency, PolicyAgreement, PolicyContract, PolicyDocument
from onedoor.envelope.header import Header
from onedoor.envelope.keys import AgencyKeyPair, HubKey, RecipientKey
from onedoor.envelope.reasons import EnvelopeRejected
from onedoor.ids import AgencyId
from onedoor.topics import TopicNames

POLICE = AgencyId("test-county-police")
COUNCIL = AgencyId("lb-testborough-csc")
"""Answers with flags and contact (limited)."""
CHARITY = AgencyId("fake-youth-charity")
"""Answers with operational data only: that it holds a record, and its reference."""
SILENT = AgencyId("lb-silentborough-csc")
"""May answer but never does."""
SEND_ONLY = AgencyId("fake-borough-yot")
"""Its agreement lets it send to the police, not answer status checks: never asked."""
NO_TOKENS = AgencyId("fake-outreach-charity")
"""May answer, but may not receive identity tokens from the police: never asked."""
STRANGER = AgencyId("fake-unrelated-agency")
"""No agreement with the police at all: never asked."""
KINDS = {
    POLICE: "police",
    COUNCIL: "children-services",
    CHARITY: "charity",
    SILENT: "children-services",
    SEND_ONLY: "youth-offending",
    NO_TOKENS: "charity",
    STRANGER: "charity",
}
ASKABLE = sorted([COUNCIL, CHARITY, SILENT])
LIMITED = ["operational", "safeguarding", "contact"]


def _agreement(ident: str, party: AgencyId, asking: list[str], answering: dict[str, Any]) -> dict[str, Any]:
    """Police ask ``party`` with ``asking`` classes; ``party`` answers under the ``answering`` provision."""
    return {
        "id": ident,
        "title": "Synthetic status-check agreement",
        "parties": [f"agency:{POLICE}", f"agency:{party}"],
        "contracts": [str(STATUS_CHECK), str(STATUS_REPLY)],
        "purposes": [str(VICTIM_IDENTIFICATION)],
        "provisions": [
            {
                "effect": "permit",
                "senders": [f"agency:{POLICE}"],
                "recipients": [f"agency:{party}"],
                "actions": ["send"],
                "classes": asking,
            },
            {"effect": "permit", "senders": [f"agency:{party}"], "recipients": [f"agency:{POLICE}"], **answering},
        ],
        "lawful_basis": {"article6": "UK GDPR Art. 6(1)(e)", "statutes": ["Children Act 2004 s.11"]},
        "retention_days": 365,
        "review_date": "2099-01-01",
    }


ASK = ["identity", "operational"]
AGREEMENTS = [
    _agreement("isa-status-council", COUNCIL, ASK, {"actions": ["query"], "classes": LIMITED}),
    _agreement("isa-status-charity", CHARITY, ASK, {"actions": ["query"], "classes": ["operational"]}),
    _agreement("isa-status-silent", SILENT, ASK, {"actions": ["query"], "classes": LIMITED}),
    _agreement("isa-status-yot", SEND_ONLY, ASK, {"actions": ["send"], "classes": LIMITED}),
    _agreement("isa-status-outreach", NO_TOKENS, ["operational"], {"actions": ["query"], "classes": LIMITED}),
]


def document() -> PolicyDocument:
    """The policy document: the status agreements, the agencies, the two status contracts."""
    contracts = [
        PolicyContract(name=str(name), version=1, tags={p: str(t) for p, t in bundled()[name].tags.items()})
        for name in (STATUS_CHECK, STATUS_REPLY)
    ]
    return PolicyDocument.of(
        [PolicyAgreement(version=1, state="active", body=AgreementBody.model_validate(a)) for a in AGREEMENTS],
        [PolicyAgency(id=a, kind=k) for a, k in sorted(KINDS.items())],
        [],
        contracts,
    )


VICTIM = Identifiers.parse("Jonathan", "Testwood-Fakeley", "2010-03-14", "ZZ99 3ZZ")
"""The synthetic known victim held by the council (``connectors.status.synthetic.known_victim``)."""
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC).timestamp()

Handler = Callable[[ReceivedMessage], Awaitable[None]]


class Exchange:
    """Connectors for every agency, never started: ``publish`` and ``poll`` are replaced by an in-memory exchange."""

    def __init__(self) -> None:
        self.key = MatchingKey.generate()
        self.hub = HubKey.generate()
        self.policy = SharingPolicy.from_document(document())
        keys = {agency: AgencyKeyPair.generate(agency) for agency in KINDS}
        self.directory = PublicDirectory(
            agencies={
                a: AgencyPublicKeys(
                    agency=a,
                    active=True,
                    signing={k.signing_key_id: k.signing.public_key()},
                    encryption=RecipientKey.from_raw(a, k.encryption_public),
                )
                for a, k in keys.items()
            },
            hub_public=self.hub.public,
        )
        self.connectors: dict[AgencyId, Connector] = {}
        self.inbox: dict[AgencyId, list[bytes]] = {a: [] for a in KINDS}
        self.handlers: dict[AgencyId, Handler] = {}
        self.published: list[Header] = []
        self.refused: list[tuple[AgencyId, str]] = []
        for agency, pair in keys.items():
            connector = Connector(
                keys=pair,
                directory=self.directory,
                codec=ContractCodecs.bundled(),
                bootstrap_servers="unused:9092",
                topics=TopicNames("unit"),
                policy=SharingPolicy.from_document(document()),
            )
            connector.publish = self._publisher()  # type: ignore[method-assign]
            connector.poll = self._poller(agency)  # type: ignore[method-assign]
            self.connectors[agency] = connector

    def _publisher(self) -> Callable[[Header, bytes], Awaitable[None]]:
        async def publish(header: Header, value: bytes) -> None:
            self.published.append(header)
            for recipient in header.recipients:
                self.inbox[recipient].append(value)
                handler = self.handlers.get(recipient)
                if handler is not None:
                    await self.deliver(recipient, handler)

        return publish

    def _poller(self, agency: AgencyId) -> Callable[..., Awaitable[int]]:
        async def poll(handler: Handler, *, timeout_ms: int = 500) -> int:
            handled = await self.deliver(agency, handler)
            if not handled:
                await asyncio.sleep(min(timeout_ms, 5) / 1000)
            return handled

        return poll

    async def deliver(self, agency: AgencyId, handler: Handler) -> int:
        """Open every waiting envelope of ``agency``'s inbox and hand it to ``handler``."""
        waiting, self.inbox[agency] = self.inbox[agency], []
        handled = 0
        for value in waiting:
            try:
                message = self.connectors[agency].open(value)
            except EnvelopeRejected as exc:  # the connector reports it to the hub; the handler never sees it
                self.refused.append((agency, exc.code))
                continue
            await handler(message)
            handled += 1
        return handled
