"""The hub (router and API) is down for a while: the connector keeps accepting work, and every message arrives once.

Over the shared broker (it stays up) a real hub routes referrals from a running police connector
(``running_connector``: durable outbox, relay, policy and directory refresh every 0.5 s) to a
council's connector. Part-way the hub is stopped: its router ends and its API refuses
connections (the connector's HTTP line to it answers ``ConnectError``), later a proxy's
maintenance page answers for it (200, not JSON). Meanwhile the police connector keeps accepting
sends, its relay still puts them on its outbound topic, its refresh loops log each failure
and keep running. Then the hub is started again over the same
database and topics; the council's application has each message id exactly once.
"""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from pathlib import Path

import httpx
import pytest
from structlog.testing import capture_logs

from connectors.agent.runtime import running_connector
from connectors.outbox import DurableInbox, OutboxStore
from connectors.sdk import Connector
from connectors.sdk.codec import ContractCodecs
from connectors.sdk.connector import ReceivedMessage
from connectors.sdk.directory import fetch_directory
from connectors.synthetic import referral
from onedoor.envelope.keys import AgencyKeyPair
from tests.e2e.hub import agreement_body, connector_config, hub_settings, running_hub
from tests.e2e.test_connector_faults import COUNCIL, POLICE, PURPOSE, REFERRAL, _enqueue, _keep_reading, _until
from tests.unit.triage.world import FakeProgress

pytestmark = [pytest.mark.e2e, pytest.mark.faults]

TOKEN = "hub-outage-token-" + "q" * 32
BEFORE, DURING = 1000, 2000
"""Messages sent while the hub is up, then while it is down (of which ``SENDS`` one at a time)."""
SENDS = 500
COUNT = BEFORE + DURING


class HubLine(httpx.AsyncBaseTransport):
    """The connector's line to the hub API: through to the running hub; while it is down, refused,
    or (``maintenance``) answered by a proxy's page, 200 and not JSON."""

    def __init__(self) -> None:
        self.hub: httpx.AsyncClient | None = None
        self.maintenance = False
        self.refused = 0
        self.answered = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        hub = self.hub
        if hub is None:
            self.refused += 1
            if self.maintenance:
                return httpx.Response(
                    200, text="<html>Down for maintenance</html>", headers={"content-type": "text/html"}
                )
            raise httpx.ConnectError("connection refused: the hub is down", request=request)
        await request.aread()
        answer = await hub.send(
            httpx.Request(request.method, request.url, headers=request.headers, content=request.content)
        )
        headers = [(k, v) for k, v in answer.headers.items() if k not in {"content-encoding", "content-length"}]
        self.answered += 1
        return httpx.Response(answer.status_code, headers=headers, content=answer.content)


def _refresh_loops() -> list[asyncio.Task[object]]:
    """The running connector's periodic policy refresh and directory (registry) refresh."""
    names = {f"connector-policy-{POLICE}", "connector-registry-refresh"}
    return [task for task in asyncio.all_tasks() if task.get_name() in names]


async def test_the_hub_down_mid_way_neither_stops_sends_nor_loses_or_repeats_a_message(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    police, council = AgencyKeyPair.generate(POLICE), AgencyKeyPair.generate(COUNCIL)
    settings = hub_settings(tmp_path, kafka_bootstrap)
    line = HubLine()
    got: list[str] = []
    sent: list[str] = []
    during: list[str] = []

    async def application(message: ReceivedMessage) -> None:
        got.append(str(message.header.message_id))

    async with AsyncExitStack() as hub_up:
        hub = await hub_up.enter_async_context(running_hub(settings, refresh_interval_s=0.5))
        await hub.register(police, "police")
        await hub.register(council, "children-services")
        await hub.agree(agreement_body("isa-outage-referrals", POLICE, COUNCIL))
        await asyncio.sleep(1.0)  # the router has the agreement (pushed, or at its 0.5 s refresh)
        line.hub = hub.client
        inbox_store = OutboxStore(f"sqlite:///{tmp_path / 'council.sqlite3'}").create()
        receiver = Connector(
            keys=council,
            directory=await fetch_directory("http://hub", client=hub.client),
            codec=ContractCodecs.bundled(),
            bootstrap_servers=kafka_bootstrap,
            topics=hub.topics,
            policy=await hub.policy(),
            inbox=DurableInbox(inbox_store),
        )
        config = connector_config(tmp_path / "connectors", police, hub, token=TOKEN, policy_refresh_seconds=0.5)
        async with (
            httpx.AsyncClient(transport=line, base_url="http://hub") as client,
            running_connector(
                config, bootstrap=kafka_bootstrap, client=client, hub_transport=line, progress=FakeProgress()
            ) as process,
            receiver,
        ):
            assert process.durability is not None
            outbox = process.durability
            stop = asyncio.Event()
            reading = asyncio.create_task(_keep_reading(receiver, application, stop))
            try:
                for i in range(SENDS // 2):
                    [header] = await process.connector.send(
                        contract=REFERRAL, version=1, recipients=[COUNCIL], purpose=PURPOSE, body=referral(i)
                    )
                    sent.append(str(header.message_id))
                sent += await _enqueue(outbox, process.connector, range(SENDS // 2, BEFORE))
                await _until(lambda: len(got) >= BEFORE // 2, 60, "the first messages at the application")

                loops = _refresh_loops()
                assert {task.get_name() for task in loops} == {
                    f"connector-policy-{POLICE}",
                    "connector-registry-refresh",
                }
                # The hub goes away: the router stops, the API refuses connections.
                line.hub = None
                await hub_up.aclose()
                with capture_logs() as logs:
                    for i in range(BEFORE, BEFORE + SENDS):  # the officer's send still works
                        [header] = await process.connector.send(
                            contract=REFERRAL, version=1, recipients=[COUNCIL], purpose=PURPOSE, body=referral(i)
                        )
                        during.append(str(header.message_id))
                    during += await _enqueue(outbox, process.connector, range(BEFORE + SENDS, COUNT))
                    # The relay needs only the broker: all of it is on the police outbound topic.
                    await _until(lambda: outbox.store.pending_count() == 0, 60, "the outbox drained to the broker")
                    await asyncio.sleep(1.5)  # three refresh periods with the hub away
                    line.maintenance = True  # then a proxy answers for it
                    await asyncio.sleep(1.5)
                    assert not set(during) & set(got), "nothing is routed while the hub is down"
                    assert process.healthy, process.problems
                    assert not [task.get_name() for task in loops if task.done()], "the refresh loops run on"
                sent += during
                failed = [e for e in logs if e["event"].endswith("refresh_failed")]
                assert {e.get("code") or e.get("error") for e in failed} == {"hub.unreachable", "JSONDecodeError"}
                assert {e["event"] for e in failed} == {
                    "connector.policy_refresh_failed",
                    "connector.registry_refresh_failed",
                }
                assert line.refused >= 2

                # The hub comes back over the same database and topics.
                hub = await hub_up.enter_async_context(running_hub(settings, refresh_interval_s=0.5))
                line.hub = hub.client
                answered = line.answered
                await _until(lambda: len(set(got)) >= COUNT, 60, "every message at the application")
                await asyncio.sleep(2.0)  # a late duplicate would arrive now
                refreshes = line.refused
                await asyncio.sleep(1.0)
                assert line.refused == refreshes, "nothing is refused once the hub is back"
                assert line.answered > answered, "the connector's refresh loops read the hub again"
                assert process.healthy, process.problems
                assert not [task.get_name() for task in loops if task.done()]
            finally:
                stop.set()
                await reading
        inbox_store.close()
    assert len(during) == DURING
    assert len(got) == COUNT, f"{len(got) - len(set(got))} handed to the application twice"
    assert set(got) == set(sent)
