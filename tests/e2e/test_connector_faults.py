"""Faults while agencies exchange 10,000 referrals: every message reaches the receiving application once.

Each test starts its own one-node broker (it stops or restarts things), a real hub (API and
router) and two agencies with an agreement. (a) The broker is stopped mid-way and started
again: the sender keeps accepting work into its outbox meanwhile. (b) The sending connector
process is killed with SIGKILL mid-way through draining its outbox, and the receiving one
mid-way through its inbox; both are started again. In both, the receiving application has
each of the 10,000 message ids exactly once.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from sqlalchemy import func, select

from connectors.outbox import Durability, DurableInbox, OutboxStore
from connectors.outbox.models import OutboxRow
from connectors.sdk import Connector
from connectors.sdk.codec import ContractCodecs
from connectors.sdk.connector import ReceivedMessage
from connectors.sdk.directory import fetch_directory
from connectors.synthetic import referral
from onedoor.envelope.keys import AgencyKeyPair
from onedoor.ids import AgencyId, ContractName, Purpose
from onedoor.kafka.local import LocalKafkaCluster
from tests.e2e.connector_proc import app_counts, database
from tests.e2e.hub import RunningHub, agreement_body, hub_settings, running_hub

# Generous limits: on a shared machine under load these runs take two or three times their usual 100 s.
WAIT_S = 420
pytestmark = [pytest.mark.e2e, pytest.mark.faults, pytest.mark.timeout(900)]

POLICE = AgencyId("fault-county-police")
COUNCIL = AgencyId("lb-fault-borough-csc")
REFERRAL = ContractName("onedoor.referral.MasterReferral")
PURPOSE = Purpose("safeguarding-referral")
COUNT = 10_000


@asynccontextmanager
async def _federation(
    tmp_path: Path,
) -> AsyncIterator[tuple[LocalKafkaCluster, RunningHub, AgencyKeyPair, AgencyKeyPair]]:
    police, council = AgencyKeyPair.generate(POLICE), AgencyKeyPair.generate(COUNCIL)
    with LocalKafkaCluster(tmp_path / "kafka", nodes=1) as cluster:
        settings = hub_settings(tmp_path, cluster.bootstrap_servers)
        async with running_hub(settings, refresh_interval_s=0.5) as hub:
            await hub.register(police, "police")
            await hub.register(council, "children-services")
            await hub.agree(agreement_body("isa-fault-referrals", POLICE, COUNCIL))
            await asyncio.sleep(1.0)  # the router has the agreement (pushed, or at its 0.5 s refresh)
            yield cluster, hub, police, council


async def _until(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        await asyncio.sleep(0.05)


async def _keep_reading(
    connector: Connector, handler: Callable[[ReceivedMessage], object], stop: asyncio.Event
) -> None:
    # As the running connector's pump: a failed batch is read again. Stopped by an event, not by
    # cancelling: a read cancelled while the broker is down would wait for it to rewind.
    while not stop.is_set():
        try:
            await connector.run(handler, stop_after=0.5)  # type: ignore[arg-type]
        except Exception:  # noqa: BLE001 - the broker is down; read again shortly
            await asyncio.sleep(0.5)


async def _enqueue(durability: Durability, sender: Connector, indexes: range) -> list[str]:
    """What an agency's system does with a batch: its own change and a hundred messages in one transaction."""
    sent = []
    for start in range(indexes.start, indexes.stop, 100):
        sealed = [
            item
            for i in range(start, min(start + 100, indexes.stop))
            for item in sender.seal(
                contract=REFERRAL, version=1, recipients=[COUNCIL], purpose=PURPOSE, body=referral(i)
            )
        ]
        with durability.store.transaction() as session:
            durability.outbox.enqueue(session, sealed)
        sent.extend(str(item.header.message_id) for item in sealed)
        await asyncio.sleep(0)
    return sent


async def test_a_broker_restart_mid_way_neither_loses_nor_repeats_a_message(tmp_path: Path) -> None:
    async with _federation(tmp_path) as (cluster, hub, police, council):
        policy = await hub.policy()
        directory = await fetch_directory("http://hub", client=hub.client)
        durability = Durability.open(
            f"sqlite:///{tmp_path / 'police.sqlite3'}",
            bootstrap_servers=hub.bootstrap,
            topic=hub.topics.outbound(POLICE),
            client_id="fault-police-relay",
        )
        inbox_store = OutboxStore(f"sqlite:///{tmp_path / 'council.sqlite3'}").create()
        common = {
            "directory": directory,
            "codec": ContractCodecs.bundled(),
            "bootstrap_servers": hub.bootstrap,
            "topics": hub.topics,
            "policy": policy,
        }
        sender = Connector(keys=police, outbox=durability.outbox, **common)  # type: ignore[arg-type]
        receiver = Connector(keys=council, inbox=DurableInbox(inbox_store), **common)  # type: ignore[arg-type]
        got: list[str] = []

        async def application(message: ReceivedMessage) -> None:
            got.append(str(message.header.message_id))

        sent: list[str] = []
        async with sender, receiver, durability.running(sender):
            stop = asyncio.Event()
            reading = asyncio.create_task(_keep_reading(receiver, application, stop))
            try:
                for i in range(500):  # one at a time, as the officer's send: committed to the outbox, then relayed
                    [header] = await sender.send(
                        contract=REFERRAL, version=1, recipients=[COUNCIL], purpose=PURPOSE, body=referral(i)
                    )
                    sent.append(str(header.message_id))
                sent += await _enqueue(durability, sender, range(500, COUNT // 2))
                await _until(lambda: len(got) >= 1000, 60, "the first thousand at the application")
                await asyncio.to_thread(cluster.stop_node, 0)
                stopped_at = len(got)
                # The broker is down: work is still accepted into the outbox, nothing is refused.
                sent += await _enqueue(durability, sender, range(COUNT // 2, COUNT))
                backlog = durability.store.pending_count()
                assert backlog >= COUNT // 2, "what was sent while the broker was down waits in the outbox"
                await asyncio.to_thread(cluster.start_node, 0)
                await _until(lambda: len(set(got)) >= COUNT, WAIT_S, "every message at the application")
                await asyncio.sleep(2.0)  # a late duplicate would arrive now
            finally:
                stop.set()
                await reading
        assert durability.store.pending_count() == 0
        durability.store.close()
        inbox_store.close()
    assert stopped_at < COUNT, "the broker was stopped mid-way"
    assert len(got) == COUNT, f"{len(got) - len(set(got))} handed to the application twice"
    assert set(got) == set(sent)


def _spawn(tmp_path: Path, name: str, *args: str) -> subprocess.Popen[bytes]:
    out = (tmp_path / f"{name}.out").open("ab")
    return subprocess.Popen([sys.executable, "-m", "tests.e2e.connector_proc", *args], stdout=out, stderr=out)


def _delivered(url: str) -> tuple[int, int]:
    store = OutboxStore(url)
    try:
        with store.transaction() as session:
            total = session.scalar(select(func.count()).select_from(OutboxRow)) or 0
            done = session.scalar(select(func.count()).where(OutboxRow.delivered_at_ms.is_not(None))) or 0
            return int(total), int(done)
    except Exception:  # noqa: BLE001 - the table is not made yet
        return 0, 0
    finally:
        store.close()


def _kill(proc: subprocess.Popen[bytes]) -> None:
    proc.kill()  # SIGKILL: no clean-up of any kind
    proc.wait(timeout=30)


async def test_connector_processes_killed_mid_way_deliver_every_message_once(tmp_path: Path) -> None:
    async with _federation(tmp_path) as (_cluster, hub, police, council):
        work = tmp_path / "work"
        for keys in (police, council):
            keys.save(work / keys.agency / "keys")
        (work / "directory.json").write_text(json.dumps((await hub.client.get("/directory")).json()))
        (work / "policy.json").write_text(json.dumps((await hub.client.get("/policy")).json()))
        sender_args = ("sender", str(work), POLICE, hub.bootstrap, hub.topics.prefix, str(COUNT), COUNCIL)
        receiver_args = ("receiver", str(work), COUNCIL, hub.bootstrap, hub.topics.prefix)
        outbox = database(work, POLICE)
        receiver = _spawn(tmp_path, "receiver", *receiver_args)
        sender = _spawn(tmp_path, "sender", *sender_args)
        try:
            await _until(lambda: _delivered(outbox)[1] >= 2000, WAIT_S, "the sender to deliver 2,000")
            _kill(sender)
            enqueued, delivered = _delivered(outbox)
            assert delivered < COUNT, "killed mid-way through"
            sender = _spawn(tmp_path, "sender-restarted", *sender_args)
            await _until(lambda: app_counts(work, COUNCIL)[0] >= 5000, 120, "the application to have 5,000")
            _kill(receiver)
            had = app_counts(work, COUNCIL)[0]
            receiver = _spawn(tmp_path, "receiver-restarted", *receiver_args)
            await _until(lambda: app_counts(work, COUNCIL)[1] >= COUNT, WAIT_S, "every message at the application")
            await asyncio.sleep(3.0)  # a late duplicate would arrive now
            rows, distinct = app_counts(work, COUNCIL)
        finally:
            for proc in (sender, receiver):
                if proc.poll() is None:
                    _kill(proc)
    assert (enqueued, delivered < COUNT) == (COUNT, True), "the sender was killed mid-way through draining"
    assert had < COUNT, "the receiver was killed mid-way"
    assert _delivered(outbox) == (COUNT, COUNT), "the restarted sender enqueued the rest and drained it all"
    assert (rows, distinct) == (COUNT, COUNT), f"{rows - distinct} handed to the application twice"
