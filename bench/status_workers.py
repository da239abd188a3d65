"""The status-check benchmark's processes: the hub router, responding agencies, the requesting force.

    python -m bench.status_workers router     ROOT BOOTSTRAP
    python -m bench.status_workers responders ROOT BOOTSTRAP FIRST LAST
    python -m bench.status_workers requester  ROOT BOOTSTRAP RATE SECONDS

``router`` and ``responders`` print ``{"ready": true}`` once they consume, then serve until
SIGTERM and print their counters. ``requester`` runs one open-loop measurement and prints its
latencies. Log lines (WARNING and above) go to stderr.
"""

from __future__ import annotations

import asyncio
import json
import resource
import signal
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bench.status_world import REQUESTER, StatusWorld, unknown_query, victim_query
from connectors.sdk.connector import Connector
from connectors.status import DisclosureLog, Dispatcher, StatusChecker, StatusResponder
from hub import db
from hub.router import runtime
from onedoor.envelope.reasons import EnvelopeRejected
from onedoor.envelope.window import MessageWindow
from onedoor.logging import configure_logging

VICTIM_EVERY = 4
"""One check in four is about the known victim (held by one agency); the rest about nobody known."""
WARM_UP_CHECKS = 3


async def _until_sigterm() -> None:
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()


def _ready() -> None:
    print(json.dumps({"ready": True}), flush=True)


async def router(world: StatusWorld, bootstrap: str) -> dict[str, Any]:
    """The real router (``build_router``) over the hub database, until SIGTERM."""
    settings = world.settings()
    engine = db.engine_from_settings(settings)
    hub = runtime.build_router(settings, bootstrap, db.session_factory(engine), refresh_interval_s=60.0)
    outbound = 1 + world.agencies
    async with hub:
        task = asyncio.create_task(hub.run())
        try:
            while hub.assigned_partitions() < outbound:  # noqa: ASYNC110 - the group has no event to await
                await asyncio.sleep(0.05)
            _ready()
            await _until_sigterm()
        finally:
            hub.request_stop()
            await task
            engine.dispose()
    return {"delivered": hub.stats.delivered, "rejected": dict(hub.stats.rejected)}


class _SharedClientsConnector(Connector):
    """One agency's connector (its keys, its policy, its seal and open) publishing through the process's producer.

    Its inbox is read by the process's one consumer, which hands each record to ``open``.
    """

    def __init__(self, *, producer: AIOKafkaProducer, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._producer = producer

    async def start(self) -> None:
        """Nothing to connect: the process owns the clients."""

    async def stop(self) -> None:
        """Nothing to close: the process owns the clients."""


class _Agency:
    """A responding agency: connector, status index, disclosure log, and the queue of its inbox records."""

    def __init__(self, connector: Connector, responder: StatusResponder, disclosures: DisclosureLog) -> None:
        self.connector = connector
        self.responder = responder
        self.disclosures = disclosures
        self.queue: asyncio.Queue[bytes] = asyncio.Queue()
        self.seen = MessageWindow()
        self.refused: Counter[str] = Counter()

    async def serve(self) -> None:
        """Open each inbox record as this agency and answer it, one at a time (as its own connector would)."""
        while True:
            value = await self.queue.get()
            try:
                message = self.connector.open(value)
            except EnvelopeRejected as exc:
                self.refused[exc.code] += 1
                continue
            header = message.header
            if self.seen.admit(header.message_id, "bench", header.expires_at_ms):
                await self.responder(message)


async def responders(world: StatusWorld, bootstrap: str, first: int, last: int) -> dict[str, Any]:
    """Agencies ``first``..``last - 1``: each its own keys, connector and index; one consumer and producer shared."""
    key, directory, policy, topics = world.matching_key(), world.directory(), world.policy(), world.topics
    producer = AIOKafkaProducer(  # the connector's producer settings
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=2, max_request_size=8 * 1024 * 1024
    )
    await producer.start()
    agencies: dict[str, _Agency] = {}
    (world.root / "disclosures").mkdir(exist_ok=True)
    for agency in world.responders[first:last]:
        connector = _SharedClientsConnector(
            producer=producer,
            keys=world.keys(agency),
            directory=directory,
            codec=world.codec(),
            bootstrap_servers=bootstrap,
            topics=topics,
            policy=policy,
        )
        disclosures = DisclosureLog(world.root / "disclosures" / f"{agency}.sqlite3")
        responder = StatusResponder(connector, world.index(agency, key), disclosures=disclosures)
        agencies[topics.inbox(agency)] = _Agency(connector, responder, disclosures)
    consumer = AIOKafkaConsumer(
        *agencies,
        bootstrap_servers=bootstrap,
        group_id=f"{topics.prefix}.bench-responders-{first}",
        enable_auto_commit=False,
        auto_offset_reset="latest",
        fetch_max_wait_ms=10,  # as the connector's
    )
    await consumer.start()
    tasks = [asyncio.create_task(a.serve()) for a in agencies.values()]

    async def fetch() -> None:
        while True:
            for tp, records in (await consumer.getmany(timeout_ms=200, max_records=500)).items():
                queue = agencies[tp.topic].queue
                for record in records:
                    queue.put_nowait(record.value or b"")

    try:
        while len(consumer.assignment()) < len(agencies):  # noqa: ASYNC110 - the group has no event to await
            await asyncio.sleep(0.05)
        tasks.append(asyncio.create_task(fetch()))
        _ready()
        await _until_sigterm()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await consumer.stop()
        await producer.stop()
        for served in agencies.values():
            served.disclosures.close()
    refused = sum((a.refused for a in agencies.values()), Counter[str]())
    answered = sum(a.connector.stats.sent for a in agencies.values())
    return {"answered": answered, "refused": dict(refused)}


async def requester(world: StatusWorld, bootstrap: str, rate: float, seconds: float) -> dict[str, Any]:
    """Open loop at ``rate`` checks/s for ``seconds`` with the real ``StatusChecker``; latency from the schedule."""
    connector = Connector(
        keys=world.keys(REQUESTER),
        directory=world.directory(),
        codec=world.codec(),
        bootstrap_servers=bootstrap,
        topics=world.topics,
        policy=world.policy(),
    )
    key = world.matching_key()
    async with connector:
        dispatcher = Dispatcher()
        checker = StatusChecker(connector, key, connector.policy or world.policy(), dispatcher=dispatcher)
        pump = asyncio.create_task(connector.run(dispatcher))
        try:
            warm = await _warm_up(checker)
            total = max(1, round(rate * seconds))
            results: list[dict[str, Any]] = [{} for _ in range(total)]

            async def one(number: int, due: float) -> None:
                victim = number % VICTIM_EVERY == 0
                answer = await checker.check(victim_query() if victim else unknown_query(number))
                # Right: a match only from the holder, with its flags, exactly when it was asked
                # about the victim and answered in time (a late holder makes it "no answer", not wrong).
                expected = victim and world.holder in answer.answered
                results[number] = {
                    "ms": (time.perf_counter() - due) * 1000,
                    "asked": len(answer.asked),
                    "missing": len(answer.not_answered),
                    "right": answer.found == expected
                    and all(m.agency == world.holder and m.flags for m in answer.matches),
                }

            # Open loop: each check starts at its scheduled time whatever the others are doing; its
            # latency runs from that time, so a late start counts against the system.
            start = time.perf_counter() + 0.2
            checks = []
            for number in range(total):
                due = start + number / rate
                await asyncio.sleep(max(0.0, due - time.perf_counter()))
                checks.append(asyncio.create_task(one(number, due)))
            late_start_ms = (time.perf_counter() - (start + (total - 1) / rate)) * 1000
            await asyncio.gather(*checks)
        finally:
            pump.cancel()
            await asyncio.gather(pump, return_exceptions=True)
    latencies = sorted(r["ms"] for r in results)
    return {
        "rate": rate,
        "count": total,
        "p50_ms": _quantile(latencies, 0.50),
        "p99_ms": _quantile(latencies, 0.99),
        "max_ms": latencies[-1],
        "asked": min(r["asked"] for r in results),
        "incomplete": sum(1 for r in results if r["missing"]),
        "wrong": sum(1 for r in results if not r["right"]),
        "warm_up_ms": warm,
        "last_start_late_ms": late_start_ms,
    }


async def _warm_up(checker: StatusChecker) -> list[float]:
    """Checks until the inbox is assigned and every agency answers; then a few more, not measured."""
    times: list[float] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        answer = await checker.check(unknown_query(0))
        times.append(round(answer.elapsed_ms, 1))
        if not answer.not_answered:
            break
    else:
        raise RuntimeError("the responders did not all answer within 60 s")
    for _ in range(WARM_UP_CHECKS):
        times.append(round((await checker.check(victim_query())).elapsed_ms, 1))
    return times


def _quantile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    """Run one worker and print its result as one JSON line."""
    configure_logging("WARNING")
    mode, world, bootstrap = sys.argv[1], StatusWorld.load(Path(sys.argv[2])), sys.argv[3]
    if mode == "router":
        result = asyncio.run(router(world, bootstrap))
    elif mode == "responders":
        result = asyncio.run(responders(world, bootstrap, int(sys.argv[4]), int(sys.argv[5])))
    elif mode == "requester":
        result = asyncio.run(requester(world, bootstrap, float(sys.argv[4]), float(sys.argv[5])))
    else:
        raise SystemExit(f"unknown mode {mode!r}")
    result["max_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
