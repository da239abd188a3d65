"""The federation the status-check benchmark runs against, on disk for its worker processes.

One requesting police force and N responding children's services, each with its own keys,
registered in a real hub database (SQLite) with one national agreement among them all,
approved by every party through the agreements service: the force may send
``onedoor.status.StatusCheck`` with identity tokens (``identity``, ``operational``) and each
agency may answer with ``onedoor.status.StatusReply`` under ``query`` with limited classes
(``operational``, ``safeguarding``, ``contact``: no special category data, so Article 6
alone). The directory and policy documents are written as the hub's API would serve them.
All records are synthetic (``connectors.status.synthetic``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from bench import hubsetup
from connectors.identity import Identifiers, MatchingKey
from connectors.sdk.codec import ContractCodecs
from connectors.sdk.directory import PublicDirectory
from connectors.sdk.policy import SharingPolicy
from connectors.status import STATUS_CHECK, STATUS_REPLY, VICTIM_IDENTIFICATION, StatusIndex
from connectors.status.synthetic import known_victim, synthetic_records
from hub.router import runtime
from onedoor.envelope.keys import AgencyKeyPair
from onedoor.ids import AgencyId
from onedoor.kafka.admin import ensure_topics
from onedoor.settings import Settings
from onedoor.topics import TopicNames

REQUESTER = AgencyId("bench-st-police")
RECORDS_PER_AGENCY = 200
"""Each responder's index: a small children's services caseload of synthetic records."""
ROUTER_OVERRIDES = {"status_rate_per_second": 1000.0, "status_rate_burst": 1000}
"""The hub's per-requester status-check rate limit (default 5/s, burst 20) raised for the bench."""
PARTITIONS = 1
"""Partitions per outbound topic and inbox: one agency's traffic needs no more."""


def responder_id(number: int) -> AgencyId:
    return AgencyId(f"bench-st-csc-{number:03d}")


def victim_query() -> Identifiers:
    """The known victim as an officer types them: nickname, day-first date, no postcode."""
    return Identifiers.parse("Jon", "Testwood-Fakeley", "14/03/2010")


def unknown_query(number: int) -> Identifiers:
    """A made-up young person no agency holds (the family name is in no synthetic record)."""
    born = date(2008, 1, 1) + timedelta(days=(number * 37) % 2500)
    return Identifiers.parse("Morgan", f"Nowhereton{'x' * (number % 3)}", born.isoformat())


def _agreement(responders: list[AgencyId]) -> dict[str, Any]:
    """One national status-check agreement (as CP-IS is one national scheme): the force asks every party,
    and every party may answer it; parties ask and tell each other nothing under it."""
    return {
        "id": "isa-bench-status-national",
        "parties": [f"agency:{REQUESTER}", *(f"agency:{party}" for party in responders)],
        "contracts": [str(STATUS_CHECK), str(STATUS_REPLY)],
        "purposes": [str(VICTIM_IDENTIFICATION)],
        "provisions": [
            {
                "effect": "permit",
                "senders": [f"agency:{REQUESTER}"],
                "actions": ["send"],
                "classes": ["identity", "operational"],
            },
            {
                "effect": "permit",
                "recipients": [f"agency:{REQUESTER}"],
                "actions": ["query"],
                "classes": ["operational", "safeguarding", "contact"],
            },
        ],
        "lawful_basis": {"article6": "UK GDPR Art. 6(1)(e)", "statutes": ["Children Act 2004 s.11"]},
        "retention_days": 365,
        "review_date": (date.today() + timedelta(days=365)).isoformat(),
    }


@dataclass(frozen=True)
class StatusWorld:
    """Everything a worker process needs, under ``root``."""

    root: Path
    prefix: str
    agencies: int

    @property
    def responders(self) -> list[AgencyId]:
        return [responder_id(n) for n in range(self.agencies)]

    @property
    def holder(self) -> AgencyId:
        """The one agency that holds the known victim."""
        return responder_id(0)

    @property
    def topics(self) -> TopicNames:
        return TopicNames(self.prefix)

    def settings(self) -> Settings:
        """The hub's settings (the router process builds its router from them)."""
        return hubsetup.hub_settings(self.root / "hub", self.prefix, partitions=PARTITIONS, router=ROUTER_OVERRIDES)

    def keys(self, agency: AgencyId) -> AgencyKeyPair:
        return AgencyKeyPair.load(agency, self.root / "keys" / agency)

    def matching_key(self) -> MatchingKey:
        return MatchingKey.load(self.root / "matching.key")

    def directory(self) -> PublicDirectory:
        return PublicDirectory.from_document(json.loads((self.root / "directory.json").read_text()))

    def policy(self) -> SharingPolicy:
        return SharingPolicy.from_document(json.loads((self.root / "policy.json").read_text()))

    def codec(self) -> ContractCodecs:
        return ContractCodecs.bundled()

    def index(self, agency: AgencyId, key: MatchingKey) -> StatusIndex:
        """The agency's own synthetic records; the holder's include the known victim."""
        number = int(agency.rsplit("-", 1)[1])
        records = synthetic_records(RECORDS_PER_AGENCY, seed=number, prefix=f"rec-{number:03d}")
        if agency == self.holder:
            records.append(known_victim())
        return StatusIndex.build(records, key)

    @classmethod
    def load(cls, root: Path) -> StatusWorld:
        found = json.loads((root / "world.json").read_text())
        return cls(root, found["prefix"], found["agencies"])

    @classmethod
    def create(cls, root: Path, prefix: str, agencies: int) -> StatusWorld:
        """Keys, the hub database with every agency and agreement, the directory and policy documents."""
        world = cls(root, prefix, agencies)
        root.mkdir(parents=True, exist_ok=True)
        (root / "world.json").write_text(json.dumps({"prefix": prefix, "agencies": agencies}))
        MatchingKey.generate().save(root / "matching.key")
        hub = hubsetup.create_hub_db(world.settings())
        try:
            pairs = {REQUESTER: AgencyKeyPair.generate(REQUESTER)}
            pairs.update({a: AgencyKeyPair.generate(a) for a in world.responders})
            with hub.factory() as session, session.begin():
                for agency, keys in pairs.items():
                    keys.save(root / "keys" / agency)
                    hubsetup.register(session, keys, "police" if agency == REQUESTER else "children-services")
            hubsetup.agree(hub.factory, _agreement(world.responders), (REQUESTER, *world.responders))
            (root / "directory.json").write_text(json.dumps(hubsetup.directory_document(hub)))
            (root / "policy.json").write_text(json.dumps(hubsetup.policy_document(hub)))
        finally:
            hub.dispose()
        return world

    async def make_topics(self, bootstrap: str) -> None:
        """The dead-letter topic, and every agency's outbound topic and inbox (as the router would provision them)."""
        await runtime.ensure_hub_topics(bootstrap, self.settings())
        topics = self.topics
        names = []
        for agency in (REQUESTER, *self.responders):
            names += [topics.outbound(agency), topics.inbox(agency)]
        await ensure_topics(bootstrap, names, partitions=PARTITIONS)
