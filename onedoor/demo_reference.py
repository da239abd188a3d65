"""The reference agencies part of `onedoor demo`: the police and the council plugged into their own systems.

Each demo agency gets its synthetic reference system (``connectors.reference``) as a SQLite file
next to its keys (``<home>/demo/<agency>/police.sqlite3``, ``council.sqlite3``; made once, kept
between runs) and an adapters file whose SQL mapping reads its status records and writes what it
receives. Every record in them is synthetic.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from sqlalchemy import func, select

from connectors.adapters.base import AdapterContext, DeliveryRefused, DeliveryRetry
from connectors.adapters.registry import Adapters, load_adapters
from connectors.adapters.sql import SqlAdapter
from connectors.identity import MatchingKey, derive_tokens
from connectors.reference import council
from connectors.reference.seed import adapters_file, seed_database
from connectors.sdk import ReceivedMessage
from connectors.status.index import StatusIndex, StatusRecord
from onedoor.demo_hub import REFERRAL, DemoAgency, agency_folder, say

COUNT: Final = 200
"""Young people in each reference system."""
SEED: Final = 1
TABLES: Final = {"police": "nominals, occurrences and intelligence flags", "council": "children, plans, episodes, NRM"}


@dataclass(eq=False)
class AgencySystem:
    """One demo agency's reference system, plugged in through its adapters file."""

    agency: DemoAgency
    system: str
    database: Path
    adapters: Adapters
    records: list[StatusRecord]


def open_system(home: Path, agency: DemoAgency, system: str) -> AgencySystem:
    """The agency's reference database (seeded on the first run) and its adapters, records read."""
    folder = agency_folder(home, agency)
    folder.mkdir(parents=True, exist_ok=True)
    database = folder / f"{system}.sqlite3"
    if not database.exists():
        seed_database(system, f"sqlite:///{database}", count=COUNT, seed=SEED, as_of=dt.date.today())
        say(agency.id, f"made its synthetic {system} system: {database}")
    path = adapters_file(system, folder)
    adapters = load_adapters(path, AdapterContext(agency.id, folder, folder))
    records = adapters.status_records()
    say(
        agency.id,
        f"status index: {len(records)} records read from {database.name} ({TABLES[system]}) "
        f"through the SQL adapter ({path.name})",
    )
    return AgencySystem(agency, system, database, adapters, records)


def shared_children(police: AgencySystem, council_system: AgencySystem) -> tuple[int, StatusRecord | None]:
    """How many police records a status check would find at the council, and the first it finds."""
    key = MatchingKey.generate()  # the demo's own federation key: tokens only ever compared here
    index = StatusIndex.build(council_system.records, key)
    found = [index.lookup(derive_tokens(record.identifiers, key)) for record in police.records]
    hits = [matches[0][0] for matches in found if matches]
    return len(hits), (hits[0] if hits else None)


def show_shared(police: AgencySystem, council_system: AgencySystem) -> None:
    """Print what a status check across the two systems would find."""
    count, first = shared_children(police, council_system)
    if first is None:
        say("status", "no child is known to both systems")
        return
    flags = ", ".join(sorted(first.flags)) or "no flags"
    say(
        "status",
        f"{count} children are known to both the police and the council systems; e.g. council record "
        f"{first.record_reference}: {flags}, NRM {first.nrm_stage}",
    )


async def deliver(system: AgencySystem, message: ReceivedMessage) -> None:
    """Hand a received message to the agency's system and print where it landed."""
    try:
        took = await system.adapters.deliver_all(message)
    except (DeliveryRefused, DeliveryRetry) as exc:
        say(system.agency.id, f"its case system did not take the message: {exc.code}: {exc.message}")
        return
    table = council.contacts if message.header.contract == REFERRAL else council.partner_alerts
    for adapter in system.adapters:
        if isinstance(adapter, SqlAdapter) and adapter.name in took:
            with adapter.engine.connect() as conn:
                count = conn.execute(select(func.count()).select_from(table)).scalar_one()
            say(
                system.agency.id,
                f"written into its case system: table {table.name!r} of {system.database} ({count} row(s) there)",
            )
