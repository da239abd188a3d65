"""The status index follows the agency's own database while the connector runs (real SQLite and PostgreSQL).

The council's synthetic case system is read through the real SQL adapter and its shipped mapping.
A child is known but not flagged; the council then records an NRM referral for the child
(``INSERT``: suspected victim) and later the positive decision (``UPDATE``: known victim). Within a
refresh interval of 0.5 s the responder answers a real, sealed status check from the new index.
Idle refreshes rebuild nothing, and no log line holds the child's name or date of birth.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import create_engine, insert, update
from structlog.testing import capture_logs

from connectors.adapters.base import AdapterContext
from connectors.adapters.registry import Adapters
from connectors.adapters.sql import factory
from connectors.agent.status_refresh import status_refresh_of
from connectors.identity import Identifiers, derive_tokens
from connectors.reference import council
from connectors.reference.seed import mapping_text, seed_database
from connectors.sdk import ReceivedMessage
from connectors.status import STATUS_CHECK, VICTIM_IDENTIFICATION, DisclosureLog, StatusIndex, StatusResponder
from connectors.status.messages import NrmStage, StatusFlag, check_body
from tests.unit.status.world import COUNCIL, POLICE, Exchange

pytestmark = pytest.mark.integration

AS_OF = dt.date(2026, 6, 1)
COUNT = 20
SEED = 5


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def agency_db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The council's case system with 20 synthetic children: a SQLite file or a PostgreSQL database."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'council.sqlite3'}"
    else:
        url = str(request.getfixturevalue("postgres_database_url"))
    seed_database("council", url, count=COUNT, seed=SEED, as_of=AS_OF)
    return url


def _never_referred() -> dict[str, Any]:
    """A seeded child with no NRM referral (so no exploitation flag)."""
    rows = council.rows(COUNT, seed=SEED, as_of=AS_OF)
    referred = {r["person_id"] for r in rows["nrm_referrals"]}
    return next(child for child in rows["children"] if child["person_id"] not in referred)


def _execute(url: str, statement: Any) -> None:
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(statement)
    finally:
        engine.dispose()


def _check(exchange: Exchange, who: Identifiers) -> ReceivedMessage:
    now = int(time.time() * 1000)
    body = check_body(derive_tokens(who, exchange.key), soft_deadline_ms=now, hard_deadline_ms=now + 10_000)
    (sealed,) = exchange.connectors[POLICE].seal(
        contract=STATUS_CHECK, version=1, recipients=[COUNCIL], purpose=VICTIM_IDENTIFICATION, body=body
    )
    return exchange.connectors[COUNCIL].open(sealed.value)


async def _until(condition: Callable[[], bool], what: str, timeout_s: float = 15.0) -> float:
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < timeout_s, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)
    return time.monotonic() - started


async def test_a_child_flagged_in_the_database_is_answered_as_flagged_after_one_interval(
    agency_db: str, tmp_path: Path
) -> None:
    exchange = Exchange()
    options = yaml.safe_load(mapping_text("council"))["adapters"][0]["options"] | {"url": agency_db}
    adapter = factory("council-case-system", options, AdapterContext(COUNCIL, tmp_path, tmp_path))
    adapters = Adapters([adapter])
    child = _never_referred()
    who = Identifiers.parse(child["forename"], child["surname"], child["date_of_birth"].isoformat())
    ref = child["lcs_ref"]

    def status() -> tuple[frozenset[StatusFlag], NrmStage] | None:
        found = [r for r, _ in responder.index.lookup(derive_tokens(who, exchange.key)) if r.record_reference == ref]
        return (found[0].flags, found[0].nrm_stage) if found else None

    with DisclosureLog() as log, capture_logs() as logs:
        responder = StatusResponder(
            exchange.connectors[COUNCIL], StatusIndex.build(adapters.status_records(), exchange.key), disclosures=log
        )
        refresh = status_refresh_of(
            responder, exchange.key, every_s=0.5, records=None, records_path=None, adapters=adapters
        )
        assert refresh is not None
        loop = refresh.supervised()
        task = loop.start()
        try:
            start = status()
            assert start is not None
            assert start[1] == NrmStage.NOT_KNOWN
            assert not start[0] & {StatusFlag.KNOWN_EXPLOITATION_VICTIM, StatusFlag.SUSPECTED_EXPLOITATION_VICTIM}
            first = responder.index
            await asyncio.sleep(1.2)  # two idle refreshes: the same rows, nothing rebuilt
            assert responder.index is first
            assert refresh.refreshes >= 2

            # The council refers the child to the NRM today: a suspected victim.
            _execute(
                agency_db,
                insert(council.nrm_referrals).values(
                    id=10_000, person_id=child["person_id"], referred_on=AS_OF, outcome="PENDING"
                ),
            )
            took = await _until(lambda: (s := status()) is not None and s[1] is not NrmStage.NOT_KNOWN, "the referral")
            assert took < 5.0, "within about one 0.5 s interval (with room for a loaded machine)"
            flags, stage = status() or (frozenset(), NrmStage.NOT_KNOWN)
            assert stage == NrmStage.REFERRED_AWAITING_DECISION
            assert StatusFlag.SUSPECTED_EXPLOITATION_VICTIM in flags

            # Reasonable grounds: a known victim. A police check over a sealed envelope now says so.
            _execute(
                agency_db,
                update(council.nrm_referrals).where(council.nrm_referrals.c.id == 10_000).values(outcome="RG_POS"),
            )
            await _until(lambda: (s := status()) is not None and s[1] is NrmStage.REASONABLE_GROUNDS_POSITIVE, "RG")
            outcome = await responder.handle(_check(exchange, who))
            assert outcome.replied
            assert outcome.matches >= 1
            [reply] = [exchange.connectors[POLICE].open(value) for value in exchange.inbox[POLICE]]
            [match] = [m for m in reply.body["matches"] if m["record_reference"] == ref]
            assert "KNOWN_EXPLOITATION_VICTIM" in match["flags"]
            assert match["nrm_stage"] == "REASONABLE_GROUNDS_POSITIVE"
            assert len(refresh.problems) == 0
            assert loop.problems == []
            assert len(responder.index) == COUNT
            refreshed = [e for e in logs if e["event"] == "status.index_refreshed"]
            assert len(refreshed) == 2, "rebuilt twice: once per change, never when idle"
            assert child["surname"] not in repr(logs)
            assert child["date_of_birth"].isoformat() not in repr(logs)
        finally:
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await adapters.close()
