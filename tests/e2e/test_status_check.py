"""The cross-area status check, end to end: real broker, real hub (API, router), several agencies.

A county police force asks about a young person stopped out of area. A London borough knows
them as a suspected exploitation victim with an NRM referral and answers with the flags its
agreement allows; a charity answers "no record"; a borough whose connector is down is
reported as not answering, and the answer still comes by the soft deadline; a school with no
agreement with the police is never asked. Then a child unknown anywhere gets "no record
found" (not an error). Finally, every byte the hub could read is searched for the names and
dates of birth: only keyed tokens ever left the agencies.
"""

from __future__ import annotations

import asyncio
import io
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from connectors.identity import Identifiers, MatchingKey
from connectors.sdk import Connector
from connectors.status.disclosures import DisclosureLog
from connectors.status.dispatch import Dispatcher
from connectors.status.index import StatusIndex
from connectors.status.messages import STATUS_CHECK, StatusFlag
from connectors.status.requester import StatusChecker
from connectors.status.responder import CheckNotice, StatusResponder
from connectors.status.synthetic import known_victim, synthetic_records
from onedoor.envelope.keys import AgencyKeyPair
from onedoor.ids import AgencyId
from onedoor.kafka.local import LocalKafkaCluster
from onedoor.logging import configure_logging
from tests.e2e.hub import RunningHub, hub_settings, running_hub, status_agreement_body

pytestmark = pytest.mark.e2e

POLICE = AgencyId("e2e-shire-police")
NORTH = AgencyId("lb-e2e-north-csc")
"""Knows the child: suspected exploitation victim, NRM reasonable grounds."""
CHARITY = AgencyId("e2e-outreach-charity")
"""Answers: no record."""
SILENT = AgencyId("lb-e2e-south-csc")
"""Has an agreement but its connector is down."""
SCHOOL = AgencyId("e2e-example-academy")
"""No agreement with the police: must never be asked."""
KINDS = {NORTH: "children-services", CHARITY: "charity", SILENT: "children-services", SCHOOL: "education"}
LIMITED = ["operational", "safeguarding", "contact"]
SOFT_S = 2.0


@pytest.fixture
async def hub_logs() -> AsyncIterator[io.StringIO]:
    stream = io.StringIO()
    configure_logging("DEBUG", json=True, stream=stream)
    try:
        yield stream
    finally:
        configure_logging("INFO")
        logging.getLogger().setLevel(logging.WARNING)


async def _connector(hub: RunningHub, keys: AgencyKeyPair) -> Connector:
    policy = await hub.policy()
    return await hub.connector(keys, policy, refresh_on_miss=True)


async def test_a_known_victim_is_found_across_areas_and_the_hub_sees_only_tokens(
    kafka_cluster: LocalKafkaCluster | None, kafka_bootstrap: str, tmp_path: Path, hub_logs: io.StringIO
) -> None:
    assert kafka_cluster is not None, "this test reads the broker's raw log segments: it needs the local broker"
    keys = {a: AgencyKeyPair.generate(a) for a in (POLICE, *KINDS)}
    matching_key = MatchingKey.generate()
    victim = known_victim()
    settings = hub_settings(tmp_path, kafka_bootstrap)
    async with running_hub(settings) as hub:
        await hub.register(keys[POLICE], "police")
        for agency, kind in KINDS.items():
            await hub.register(keys[agency], kind)
        before = hub.router.stats.policy_reloads
        for party in (NORTH, CHARITY, SILENT):
            await hub.agree(status_agreement_body(f"isa-e2e-status-{party}", POLICE, party, LIMITED))
        while hub.router.stats.policy_reloads <= before:  # noqa: ASYNC110 - the router has no event to await
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.3)  # the last approvals' reloads

        notices: list[CheckNotice] = []

        async def notify(notice: CheckNotice) -> None:
            notices.append(notice)

        north_log = DisclosureLog()
        police = await _connector(hub, keys[POLICE])
        north = await _connector(hub, keys[NORTH])
        charity = await _connector(hub, keys[CHARITY])
        school = await _connector(hub, keys[SCHOOL])
        north_index = StatusIndex.build([victim, *synthetic_records(50, seed=3)], matching_key)
        charity_index = StatusIndex.build(synthetic_records(50, seed=4), matching_key)
        responders = [
            StatusResponder(north, north_index, disclosures=north_log, on_checked=notify),
            StatusResponder(charity, charity_index, disclosures=DisclosureLog()),
        ]
        school_got: list[object] = []

        async def school_inbox(message: object) -> None:
            school_got.append(message)

        async with police, north, charity, school:
            tasks = [
                asyncio.create_task(north.run(_dispatching(responders[0]))),
                asyncio.create_task(charity.run(_dispatching(responders[1]))),
                asyncio.create_task(school.run(school_inbox)),
            ]
            checker = StatusChecker(police, matching_key, police.policy)  # type: ignore[arg-type]
            try:
                # As the officer typed it: a nickname, lower case, the date day first.
                typed = Identifiers.parse("Jon", "testwood-fakeley", "14/03/2010")
                started = time.monotonic()
                answer = await checker.check(typed, soft_deadline_s=SOFT_S, hard_deadline_s=10.0)
                waited = time.monotonic() - started

                assert set(answer.asked) == {NORTH, CHARITY, SILENT}, "only agencies with an agreement are asked"
                assert SCHOOL not in answer.asked
                assert set(answer.not_answered) == {SILENT}
                assert waited < SOFT_S + 1.5, "the answer comes by the soft deadline, not the hard one"
                [found] = answer.matches
                assert found.agency == NORTH
                assert found.record_reference == victim.record_reference
                assert found.flags is not None
                assert StatusFlag.SUSPECTED_EXPLOITATION_VICTIM in found.flags
                assert found.nrm_stage is not None
                assert found.lead_professional is not None
                assert found.confidence >= 0.8
                assert any("given name" in a for a in found.agreed)
                text = answer.describe()
                assert "Known to lb-e2e-north-csc" in text
                assert "Not answered in time" in text
                assert str(SILENT) in text

                # The owner knows its record was checked, by whom and why; it is in its disclosure log.
                [notice] = notices
                assert (notice.requester, notice.purpose, notice.record_ref) == (
                    POLICE,
                    "victim-identification",
                    victim.record_reference,
                )
                assert [d.requester for d in north_log.for_record(victim.record_reference)] == [POLICE]

                # A child nobody knows: "no record found", not an error. The deadline is generous:
                # this is about the answer, and a loaded CI machine can take seconds to reply.
                unknown = Identifiers.parse("Zebedee", "Nowhere-Fakename", "2011-07-01")
                nobody = await checker.check(unknown, soft_deadline_s=8.0, hard_deadline_s=12.0)
                assert not nobody.found
                assert nobody.matches == ()
                assert set(nobody.asked) - set(nobody.not_answered) == {NORTH, CHARITY}
                assert "No record" in nobody.describe()
                await asyncio.sleep(0.5)
                assert school_got == [], "the agency without an agreement was never sent anything"
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)

    # The hub saw tokens only: no name or date of birth in any byte it could read.
    secrets = [
        "Jonathan",
        "Testwood",
        "Fakeley",
        "testwood",
        "Zebedee",
        "Nowhere",
        "2010-03-14",
        "14/03/2010",
        "2011-07-01",
    ]
    prefix = settings.kafka.topic_prefix
    segments = b"".join(p.read_bytes() for log_dir in kafka_cluster.log_dirs for p in log_dir.glob(f"{prefix}.*/*.log"))
    db_bytes = b"".join(p.read_bytes() for p in tmp_path.glob("hub.sqlite3*"))
    logs = hub_logs.getvalue()
    assert b"onedoor.status.StatusCheck" in segments, "positive control: the checks crossed the broker"
    assert "router.started" in logs, "positive control: the hub's log lines were captured"
    assert "status.checked" in logs, "positive control: so were the connectors' (same process)"
    for secret in secrets:
        assert secret.encode() not in segments, secret
        assert secret.encode() not in db_bytes, secret
        assert secret not in logs, secret


def _dispatching(responder: StatusResponder) -> Dispatcher:
    dispatcher = Dispatcher()
    dispatcher.route(STATUS_CHECK, responder)
    return dispatcher
