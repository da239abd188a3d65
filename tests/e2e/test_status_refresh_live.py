"""A child recorded in the council's database after its connector started is found by a police check.

Real broker, real hub, two running connectors (``running_connector``). The council's status index
comes from its synthetic case system (a SQLite file) through the SQL adapter, refreshed every 0.5 s.
The police check a child the council does not know: "no record". The council then records the child
with a positive NRM decision; within a few refresh intervals the same check, over the broker, finds
the child as a known exploitation victim, without restarting anything.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, insert

from connectors.agent.config import ConnectorConfig
from connectors.agent.runtime import ConnectorProcess, running_connector
from connectors.identity import Identifiers, MatchingKey
from connectors.reference import council
from connectors.reference.seed import adapters_file, seed_database
from connectors.status import StatusAnswer
from connectors.status.messages import NrmStage, StatusFlag
from onedoor.envelope.keys import AgencyKeyPair
from onedoor.ids import AgencyId
from tests.e2e.hub import RunningHub, eventually, hub_settings, running_hub, status_agreement_body
from tests.unit.triage.world import FakeProgress

pytestmark = pytest.mark.e2e

POLICE = AgencyId("e2e-refresh-police")
COUNCIL = AgencyId("lb-e2e-refresh-csc")
TOKEN = "e2e-refresh-token-" + "r" * 32
NEW_CHILD = {
    "person_id": 9001,
    "lcs_ref": "LCS-009001",
    "forename": "Testy",
    "surname": "McFakeface",
    "date_of_birth": dt.date(2010, 2, 3),
    "postcode": "ZZ99 1ZZ",
    "local_authority": "Fakeborough",
    "case_status": "OPEN",
    "worker_role": "Exploitation lead",
    "team": "Exploitation hub, Fakeborough",
    "team_phone": "01632 960999",
    "team_email": "duty.team999@example.org",
}


def _config(root: Path, keys: AgencyKeyPair, hub: RunningHub, key: MatchingKey, **extra: Any) -> ConnectorConfig:
    home = root / str(keys.agency)
    keys.save(home / "keys")
    key.save(home / "matching.key")
    return ConnectorConfig(
        agency=str(keys.agency),
        keys_dir=home / "keys",
        matching_key_path=home / "matching.key",
        disclosure_log_path=home / "disclosures.sqlite3",
        kafka={"topic_prefix": hub.settings.kafka.topic_prefix},
        api={"token": TOKEN},
        **extra,
    )


async def _ask_until(
    ask: Callable[[], Awaitable[StatusAnswer]], good: Callable[[StatusAnswer], bool], attempts: int = 20
) -> StatusAnswer:
    """Ask until ``good(answer)`` (the router may take a moment to load the new agreement)."""
    answer: StatusAnswer = await ask()
    for _ in range(attempts):
        if good(answer):
            return answer
        answer = await ask()
    assert good(answer), "the council never answered"
    return answer


async def test_a_child_added_to_the_council_database_after_start_is_found_by_a_police_check(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    keys = {agency: AgencyKeyPair.generate(agency) for agency in (POLICE, COUNCIL)}
    matching_key = MatchingKey.generate()
    council_home = tmp_path / "connectors" / str(COUNCIL)
    database = f"sqlite:///{council_home / 'council.sqlite3'}"
    council_home.mkdir(parents=True)
    seed_database("council", database, count=20, seed=3, as_of=dt.date.today())
    async with running_hub(hub_settings(tmp_path, kafka_bootstrap)) as hub:
        await hub.register(keys[POLICE], "police")
        await hub.register(keys[COUNCIL], "children-services")
        await hub.agree(status_agreement_body("isa-e2e-refresh-status", POLICE, COUNCIL))
        configs = {
            POLICE: _config(tmp_path / "connectors", keys[POLICE], hub, matching_key),
            COUNCIL: _config(
                tmp_path / "connectors",
                keys[COUNCIL],
                hub,
                matching_key,
                adapters_file=adapters_file("council", council_home),
                status_refresh_seconds=0.5,
            ),
        }
        processes: dict[AgencyId, ConnectorProcess] = {}
        async with AsyncExitStack() as stack:
            for agency, config in configs.items():
                processes[agency] = await stack.enter_async_context(
                    running_connector(config, bootstrap=kafka_bootstrap, client=hub.client, progress=FakeProgress())
                )
            police, council_process = processes[POLICE], processes[COUNCIL]
            assert len(council_process.responder.index) == 20
            typed = Identifiers.parse("Testy", "McFakeface", "2010-02-03", "ZZ99 1ZZ")

            async def asked() -> StatusAnswer:
                return await police.check(typed)

            before = await _ask_until(asked, lambda a: a.asked == (COUNCIL,) and COUNCIL in a.answered)
            assert before.matches == (), "not known yet: 'no record'"

            # The council records the child today, with a positive NRM reasonable-grounds decision.
            engine = create_engine(database)
            try:
                with engine.begin() as conn:
                    conn.execute(insert(council.children).values(**NEW_CHILD))
                    conn.execute(
                        insert(council.nrm_referrals).values(
                            id=90_001, person_id=9001, referred_on=dt.date.today(), outcome="RG_POS"
                        )
                    )
            finally:
                engine.dispose()
            await eventually(lambda: len(council_process.responder.index) == 21, "the council's refreshed index")

            after = await police.check(typed)
            [found] = after.matches
            assert (found.agency, found.record_reference) == (COUNCIL, "LCS-009001")
            assert StatusFlag.KNOWN_EXPLOITATION_VICTIM in (found.flags or ())
            assert found.nrm_stage == NrmStage.REASONABLE_GROUNDS_POSITIVE
            assert found.lead_professional is not None
            assert found.lead_professional.team == "Exploitation hub, Fakeborough"
            assert council_process.problems == []
            assert council_process.status_refresh is not None
            assert council_process.status_refresh.rebuilds == 1
