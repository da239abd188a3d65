"""How long an alert takes to reach every agency of a child's 40-agency network (``alert.fanout_p99_ms``).

A real hub: the SQLite database with every agency registered, one agreement approved by all
parties (30 members may receive the alert's casework classes, every fourth member only
``limited``), all 41 agencies subscribed to one synthetic subject token; the real router in a
process of its own (``bench.status_workers router``); the hub's HTTP API in the sending
process (``create_app``, called through ``HubClient`` with the sender's signed assertions, as
a connector calls it). The sending police force runs ``connectors.casework.send_alert`` on its
own ``Connector``: it looks the network up at the hub, decides every member under its policy
and seals one envelope per field set. The 40 members run in ``RECEIVER_PROCESSES`` processes
(``receivers`` below), each member with its own keys, policy and ``Connector.open``, each process
reading its members' inboxes with one consumer, as the status bench spreads its responders: 40
consumers of their own would cost the 2-core machine more than the hub, and one process would
open the 40 envelopes one after another, where 40 agencies open theirs side by side.

Each alert's latency runs from its scheduled send time (open loop) to the moment the last of
the 40 members has opened it; every opened alert is checked for exactly its agreement's fields.

    python -m bench.alerts                            (measure; merge into bench/results/latest.json)
    python -m bench.alerts receivers ROOT BOOTSTRAP FIRST LAST   (a members' process)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer

from bench import hubsetup
from bench.status import _Process
from bench.status_world import StatusWorld
from connectors.casework import ALERT, ALERT_PURPOSE, alert_body, send_alert
from connectors.sdk.codec import ContractCodecs
from connectors.sdk.connector import Connector
from connectors.sdk.directory import PublicDirectory
from connectors.sdk.hubauth import HubClient
from connectors.sdk.policy import SharingPolicy
from hub.app import create_app
from hub.network import service as network
from hub.network.enums import NetworkRole
from onedoor.envelope.keys import AgencyKeyPair
from onedoor.envelope.reasons import EnvelopeRejected
from onedoor.ids import AgencyId, SubjectToken
from onedoor.kafka.admin import ensure_topics
from onedoor.logging import configure_logging
from onedoor.topics import TopicNames

SENDER = AgencyId("bench-al-police")
MEMBERS = 40
LIMITED_EVERY = 4
"""Every fourth member (10 of 40) receives under ``limited``: two envelopes per alert."""
CHILD = SubjectToken("st1_FAKEbenchAlertChild0000001")
CASEWORK = ["identity", "operational", "safeguarding", "location", "contact"]
TARGET_MS = 200.0
RECEIVER_PROCESSES = 2
"""Processes the 40 members are spread over (20 each), one per core of the 2-core bench machine."""


def member_id(number: int) -> AgencyId:
    return AgencyId(f"bench-al-member-{number:03d}")


def _limited(agency: AgencyId) -> bool:
    return int(agency.rsplit("-", 1)[1]) % LIMITED_EVERY == 0


def _agreement(members: list[AgencyId]) -> dict[str, Any]:
    full = [m for m in members if not _limited(m)]
    limited = [m for m in members if _limited(m)]
    return {
        "id": "isa-bench-alert-network",
        "parties": [f"agency:{SENDER}", *(f"agency:{m}" for m in members)],
        "contracts": [str(ALERT)],
        "purposes": [str(ALERT_PURPOSE)],
        "provisions": [
            {
                "effect": "permit",
                "senders": [f"agency:{SENDER}"],
                "recipients": [f"agency:{m}" for m in full],
                "classes": CASEWORK,
            },
            {
                "effect": "permit",
                "senders": [f"agency:{SENDER}"],
                "recipients": [f"agency:{m}" for m in limited],
                "access_level": "limited",
            },
        ],
        "lawful_basis": {"article6": "UK GDPR Art. 6(1)(e)", "statutes": ["Children Act 2004 s.11"]},
        "retention_days": 365,
        "review_date": (date.today() + timedelta(days=365)).isoformat(),
    }


@dataclass(frozen=True)
class AlertWorld:
    """The sender, the 40 members, and the hub they share, under ``root`` (``StatusWorld``-shaped for the router)."""

    root: Path
    prefix: str

    @property
    def hub(self) -> StatusWorld:
        """The same layout as the status bench's world, so its router worker runs this hub."""
        return StatusWorld(self.root, self.prefix, MEMBERS)

    @property
    def members(self) -> list[AgencyId]:
        return [member_id(n) for n in range(MEMBERS)]

    def keys(self, agency: AgencyId) -> AgencyKeyPair:
        return AgencyKeyPair.load(agency, self.root / "keys" / agency)

    def directory(self) -> PublicDirectory:
        return PublicDirectory.from_document(json.loads((self.root / "directory.json").read_text()))

    def policy(self) -> SharingPolicy:
        return SharingPolicy.from_document(json.loads((self.root / "policy.json").read_text()))

    @classmethod
    def create(cls, root: Path, prefix: str) -> AlertWorld:
        """Keys, agencies, the agreement and the network in a migrated hub database; directory and policy."""
        world = cls(root, prefix)
        root.mkdir(parents=True, exist_ok=True)
        (root / "world.json").write_text(json.dumps({"prefix": prefix, "agencies": MEMBERS}))
        hub = hubsetup.create_hub_db(world.hub.settings())
        try:
            pairs = {a: AgencyKeyPair.generate(a) for a in (SENDER, *world.members)}
            with hub.factory() as session, session.begin():
                for agency, keys in pairs.items():
                    keys.save(root / "keys" / agency)
                    hubsetup.register(session, keys, "police" if agency == SENDER else "children-services")
            hubsetup.agree(hub.factory, _agreement(world.members), pairs)
            with hub.factory() as session, session.begin():
                # What each member's connector does when it opens its case (PUT /network/{token}/members/me).
                for agency in pairs:
                    role = NetworkRole.LEAD if agency == SENDER else None
                    network.subscribe(session, str(CHILD), agency, role).unwrap()
            (root / "directory.json").write_text(json.dumps(hubsetup.directory_document(hub)))
            (root / "policy.json").write_text(json.dumps(hubsetup.policy_document(hub)))
        finally:
            hub.dispose()
        return world

    async def make_topics(self, bootstrap: str) -> None:
        await self.hub.make_topics(bootstrap)
        topics = TopicNames(self.prefix)
        await ensure_topics(bootstrap, [topics.outbound(SENDER), topics.inbox(SENDER)], partitions=1)


async def receivers(world: AlertWorld, bootstrap: str, first: int, last: int) -> None:
    """Members ``first``..``last - 1``: each opens its own envelope; one JSON line per alert once all have."""
    directory, policy, topics, codec = (
        world.directory(),
        world.policy(),
        TopicNames(world.prefix),
        ContractCodecs.bundled(),
    )
    members = {
        topics.inbox(m): Connector(
            keys=world.keys(m),
            directory=directory,
            codec=codec,
            bootstrap_servers=bootstrap,
            topics=topics,
            policy=policy,
        )
        for m in world.members[first:last]
    }
    consumer = AIOKafkaConsumer(
        *members,
        bootstrap_servers=bootstrap,
        group_id=f"{world.prefix}.bench-alert-members-{first}",
        enable_auto_commit=False,
        auto_offset_reset="latest",
        fetch_max_wait_ms=10,  # as the connector's
    )
    await consumer.start()
    opened: dict[str, set[str]] = {}
    first_open: dict[str, float] = {}
    wrong = 0
    try:
        while len(consumer.assignment()) < len(members):  # noqa: ASYNC110 - the group has no event to await
            await asyncio.sleep(0.05)
        print(json.dumps({"ready": True}), flush=True)
        while True:
            for tp, records in (await consumer.getmany(timeout_ms=200, max_records=500)).items():
                connector = members[tp.topic]
                for record in records:
                    try:
                        message = connector.open(record.value or b"")
                    except EnvelopeRejected:
                        wrong += 1
                        continue
                    # Exactly the agreement's fields: the limited members never get the token or the place.
                    wrong += int(_limited(connector.agency) == ("subject_token" in message.body))
                    alert_id = str(message.body["alert_id"])
                    seen = opened.setdefault(alert_id, set())
                    first_open.setdefault(alert_id, time.time())
                    seen.add(connector.agency)
                    if len(seen) == len(members):
                        done = {"alert_id": alert_id, "first_at": first_open.pop(alert_id), "done_at": time.time()}
                        print(json.dumps({**done, "wrong": wrong}), flush=True)
                        del opened[alert_id]
    finally:
        await consumer.stop()


@contextlib.asynccontextmanager
async def _hub_api(world: AlertWorld) -> AsyncIterator[httpx.ASGITransport]:
    app = create_app(world.hub.settings())
    async with app.router.lifespan_context(app):
        yield httpx.ASGITransport(app=app)


async def _run(world: AlertWorld, bootstrap: str, count: int, rate: float) -> dict[str, Any]:
    logs = world.root / "logs"
    logs.mkdir(exist_ok=True)
    router = await _Process.start(logs / "router.log", "router", str(world.root), bootstrap)
    members: list[_Process] = []
    try:
        await router.line(120)
        step = -(-MEMBERS // RECEIVER_PROCESSES)
        for first in range(0, MEMBERS, step):
            log = logs / f"members-{first}.log"
            with log.open("ab") as err:
                proc = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "bench.alerts", "receivers", str(world.root), bootstrap,
                    str(first), str(min(MEMBERS, first + step)), stdout=asyncio.subprocess.PIPE, stderr=err,
                )  # fmt: skip
            members.append(_Process(proc, log))
        for worker in members:
            await worker.line(300)
        return await _send(world, bootstrap, members, count, rate)
    finally:
        for worker in (*members, router):
            with contextlib.suppress(ProcessLookupError):
                worker.proc.kill()
            await worker.proc.wait()


class _Arrivals:
    """What the members' processes report: when the last of the 40 members opened each alert."""

    def __init__(self, members: list[_Process]) -> None:
        self.members = members
        self.done: dict[str, float] = {}
        self.wrong = [0] * len(members)
        self._parts: dict[str, list[float]] = {}
        self._arrived = asyncio.Event()

    async def read(self, number: int) -> None:
        """Read process ``number``'s lines until cancelled."""
        while True:
            line = await self.members[number].line(3600)
            # Done when every process has reported it: the last of the 40 members opened it.
            got = self._parts.setdefault(line["alert_id"], [])
            got.append(float(line["done_at"]))
            if len(got) == len(self.members):
                self.done[line["alert_id"]] = max(self._parts.pop(line["alert_id"]))
            self.wrong[number] = int(line["wrong"])
            self._arrived.set()

    async def wait_for(self, alert_id: str, timeout_s: float) -> None:
        """Until every member opened ``alert_id``."""
        deadline = time.monotonic() + timeout_s
        while alert_id not in self.done:
            self._arrived.clear()
            left = deadline - time.monotonic()
            if left <= 0:
                raise RuntimeError(f"an alert did not reach all {MEMBERS} members within {timeout_s:.0f} s")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), left)


async def _send(world: AlertWorld, bootstrap: str, members: list[_Process], count: int, rate: float) -> dict[str, Any]:
    arrivals = _Arrivals(members)
    keys = world.keys(SENDER)
    sender = Connector(
        keys=keys,
        directory=world.directory(),
        codec=ContractCodecs.bundled(),
        bootstrap_servers=bootstrap,
        topics=TopicNames(world.prefix),
        policy=world.policy(),
    )
    readers = [asyncio.create_task(arrivals.read(n)) for n in range(len(members))]
    scheduled: dict[str, float] = {}
    try:
        async with _hub_api(world) as transport, HubClient("http://hub", keys, transport=transport) as hub, sender:

            async def one(due: float) -> None:
                body = alert_body(subject_token=CHILD, kind="MISSING_EPISODE", details="Synthetic: missing overnight.")
                scheduled[body["alert_id"]] = due
                report = await send_alert(sender, hub, subject_token=CHILD, body=body)
                if len(report.sent) != MEMBERS:
                    raise RuntimeError(f"the alert went to {len(report.sent)} members, not {MEMBERS}")

            for _ in range(3):  # warm-up, not measured: connections, schema caches, the router's first batch
                await one(time.time())
                await arrivals.wait_for(list(scheduled)[-1], 60)
            warm = set(scheduled)
            start = time.time() + 0.2
            tasks = []
            for number in range(count):
                due = start + number / rate
                await asyncio.sleep(max(0.0, due - time.time()))
                tasks.append(asyncio.create_task(one(due)))
            await asyncio.gather(*tasks)
            for alert_id in list(scheduled):
                await arrivals.wait_for(alert_id, 60)
    finally:
        for reader in readers:
            reader.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
    if sum(arrivals.wrong):
        raise RuntimeError(f"{sum(arrivals.wrong)} opened alerts held the wrong fields: the figures would mean nothing")
    latencies = sorted((arrivals.done[a] - due) * 1000 for a, due in scheduled.items() if a not in warm)
    return {"count": len(latencies), "p50_ms": _quantile(latencies, 0.5), "p99_ms": _quantile(latencies, 0.99)}


def _quantile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def measure(bootstrap: str, count: int = 30, rate: float = 2.0) -> dict[str, dict[str, Any]]:
    """``alert.fanout_p99_ms`` (and p50): alert sent -> opened by all 40 members, ``count`` alerts at ``rate``/s."""
    work = Path(tempfile.mkdtemp(prefix="onedoor-bench-alerts-"))
    try:
        started = time.perf_counter()
        world = await asyncio.to_thread(AlertWorld.create, work, f"al{int(time.time())}")
        await world.make_topics(bootstrap)
        print(f"  hub with a {MEMBERS + 1}-agency network set up in {time.perf_counter() - started:.1f} s", flush=True)
        result = await _run(world, bootstrap, count, rate)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"  alerts to {MEMBERS} agencies: p50 {result['p50_ms']:.0f} ms, p99 {result['p99_ms']:.0f} ms", flush=True)
    conditions = (
        f"{result['count']} alerts, open loop at {rate:g}/s, each from the scheduled send to opened by all {MEMBERS} "
        f"other members of the network ({MEMBERS // LIMITED_EVERY} under a limited agreement: 2 envelopes per alert); "
        "sender looks the network up through the hub API (in its process, signed agency assertion, SQLite) and "
        "decides each member under its policy; real router in its own process (audit to SQLite); the 40 members "
        f"open with their own keys and policy, {RECEIVER_PROCESSES} processes with one consumer each; 1 broker, "
        "1 partition per topic; "
        f"target <= {TARGET_MS:g} ms; shared 2-core VM"
    )
    return {
        "alert.fanout_p99_ms": {"value": round(result["p99_ms"], 1), "unit": "ms", "conditions": "p99; " + conditions},
        "alert.fanout_p50_ms": {"value": round(result["p50_ms"], 1), "unit": "ms", "conditions": "p50; " + conditions},
    }


def main() -> None:
    """``receivers ROOT BOOTSTRAP FIRST LAST``: run members until killed; no arguments: measure, merge the figures."""
    configure_logging("WARNING")
    if len(sys.argv) == 6 and sys.argv[1] == "receivers":
        root = Path(sys.argv[2])
        world = AlertWorld(root, StatusWorld.load(root).prefix)
        asyncio.run(receivers(world, sys.argv[3], int(sys.argv[4]), int(sys.argv[5])))
        return
    from bench.__main__ import broker, merge_results  # noqa: PLC0415 - only the stand-alone run needs them

    with broker() as bootstrap:
        figures = asyncio.run(measure(bootstrap))
    merge_results(figures, "alerts_measured_at")


if __name__ == "__main__":
    main()
