"""Two running connectors over the real broker and a real hub, each plugged into its synthetic reference system.

The police connector's and the council connector's status indexes are read from their own
databases (SQLite files made by ``onedoor reference seed``) through the SQL adapter, as their
adapters files say. Then:

1. the police check a child both systems know (the same synthetic identity): the council's
   connector answers from its case system: the record reference, its flags and NRM stage;
2. a referral the police send lands, opened, in the council's ``contacts`` table (and in its
   workbench inbox first).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select

from connectors.agent.config import ConnectorConfig
from connectors.agent.runtime import ConnectorProcess, running_connector
from connectors.identity import Identifiers, MatchingKey
from connectors.reference import council
from connectors.reference.seed import adapters_file, seed_database
from connectors.status.messages import NrmStage
from connectors.synthetic import referral
from connectors.triage.referral import REFERRAL
from onedoor.envelope.keys import AgencyKeyPair
from onedoor.ids import AgencyId, Purpose
from tests.e2e.hub import RunningHub, agreement_body, eventually, hub_settings, running_hub, status_agreement_body
from tests.unit.triage.world import FakeProgress

pytestmark = pytest.mark.integration

POLICE = AgencyId("it-ref-county-police")
COUNCIL = AgencyId("lb-it-ref-borough-csc")
AS_OF = dt.date.today()
TOKEN = "integration-token-" + "r" * 32


def _config(root: Path, keys: AgencyKeyPair, hub: RunningHub, key: MatchingKey, system: str) -> ConnectorConfig:
    home = root / str(keys.agency)
    keys.save(home / "keys")
    key.save(home / "matching.key")
    seed_database(system, f"sqlite:///{home / f'{system}.sqlite3'}", count=40, seed=11, as_of=AS_OF)
    return ConnectorConfig(
        agency=str(keys.agency),
        keys_dir=home / "keys",
        matching_key_path=home / "matching.key",
        disclosure_log_path=home / "disclosures.sqlite3",
        adapters_file=adapters_file(system, home),
        kafka={"topic_prefix": hub.settings.kafka.topic_prefix},  # type: ignore[arg-type]
        api={"token": TOKEN},  # type: ignore[arg-type]
    )


async def test_a_running_connector_answers_from_its_case_system_and_writes_a_referral_into_it(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    keys = {agency: AgencyKeyPair.generate(agency) for agency in (POLICE, COUNCIL)}
    matching_key = MatchingKey.generate()
    async with running_hub(hub_settings(tmp_path, kafka_bootstrap)) as hub:
        await hub.register(keys[POLICE], "police")
        await hub.register(keys[COUNCIL], "children-services")
        await hub.agree(status_agreement_body("isa-it-ref-status", POLICE, COUNCIL))
        await hub.agree(agreement_body("isa-it-ref-referrals", POLICE, COUNCIL, level="full"))
        await asyncio.sleep(0.5)  # the router's reload after the last approval

        configs = {
            POLICE: _config(tmp_path / "connectors", keys[POLICE], hub, matching_key, "police"),
            COUNCIL: _config(tmp_path / "connectors", keys[COUNCIL], hub, matching_key, "council"),
        }
        processes: dict[AgencyId, ConnectorProcess] = {}
        async with AsyncExitStack() as stack:
            for agency, config in configs.items():
                processes[agency] = await stack.enter_async_context(
                    running_connector(config, bootstrap=kafka_bootstrap, client=hub.client, progress=FakeProgress())
                )
            assert len(processes[COUNCIL].responder.index) == 40, "the index the adapter filled"
            assert processes[COUNCIL].adapters is not None
            assert processes[COUNCIL].adapters.names == ("council-case-system",)

            # The first child of each system is one both know (the same synthetic identity).
            rows = council.rows(40, seed=11, as_of=AS_OF)
            child = rows["children"][0]
            nrm = {r["person_id"]: r["outcome"] for r in rows["nrm_referrals"]}.get(child["person_id"])
            typed = Identifiers.parse(child["forename"], child["surname"], child["date_of_birth"].isoformat())
            answer = await processes[POLICE].check(typed)

            assert answer.asked == (COUNCIL,)
            [found] = answer.matches
            assert (found.agency, found.record_reference) == (COUNCIL, child["lcs_ref"])
            assert found.confidence >= 0.8
            stages = {None: NrmStage.NOT_KNOWN, "PENDING": NrmStage.REFERRED_AWAITING_DECISION}
            stages |= {"RG_POS": NrmStage.REASONABLE_GROUNDS_POSITIVE, "RG_NEG": NrmStage.REASONABLE_GROUNDS_NEGATIVE}
            stages |= {"CG_POS": NrmStage.CONCLUSIVE_GROUNDS_POSITIVE, "CG_NEG": NrmStage.CONCLUSIVE_GROUNDS_NEGATIVE}
            assert found.nrm_stage == stages[nrm]
            assert found.lead_professional is not None
            assert found.lead_professional.team == child["team"]

            body = referral(9)
            [header] = await processes[POLICE].connector.send(
                contract=REFERRAL,
                version=1,
                recipients=[COUNCIL],
                purpose=Purpose("safeguarding-referral"),
                body=body,
            )
            engine = create_engine(f"sqlite:///{configs[COUNCIL].adapters_file.parent / 'council.sqlite3'}")  # type: ignore[union-attr]
            try:

                def contacts() -> list[Any]:
                    with engine.connect() as conn:
                        return list(conn.execute(select(council.contacts)).mappings())

                [row] = await eventually(contacts, "the referral in the council's contacts table")
            finally:
                engine.dispose()
            assert row["message_id"] == header.message_id
            assert row["source_agency"] == POLICE
            assert (row["child_forename"], row["child_surname"]) == (
                body["child"]["given_name"],
                body["child"]["family_name"],
            )
            assert [item.message_id for item in processes[COUNCIL].desk.store.items()] == [header.message_id]
