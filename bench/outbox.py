"""The connector's durable outbox: how fast a backlog drains to the broker, and how fast it recovers.

``connector.outbox_drain_per_s``: a backlog of sealed referral envelopes (~1.4 KiB) in the
connector's outbox (SQLite, as a connector runs by default) is drained by the relay to the
agency's outbound topic (3 partitions, idempotent producer, acks=all), rows marked delivered
in batches; envelopes per second from the first read to the last row marked, best of 3 rounds.

``connector.recovery_s``: on a broker of its own, the relay runs while the broker is stopped;
a 10,000-envelope backlog is built in the outbox; the broker is started again. Seconds from
the broker reporting ready to the last row of the backlog marked delivered (the relay's
backoff is capped at 2 s, so up to 2 s of it is the relay noticing).

    python -m bench.outbox   (measure alone; merge into bench/results/latest.json)
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, Final

from sqlalchemy import update

from bench.fixture import Federation, Sealer
from connectors.outbox import OutboxStore, Relay
from connectors.outbox.models import OutboxRow
from connectors.sdk.connector import Sealed
from onedoor.envelope.seal import seal
from onedoor.kafka.admin import ensure_topics
from onedoor.kafka.local import LocalKafkaCluster
from onedoor.logging import configure_logging

DRAIN_TARGET: Final = 5_000.0
RECOVERY_TARGET_S: Final = 10.0


def sealed_backlog(fed: Federation, count: int) -> list[Sealed]:
    """``count`` distinct sealed envelopes from one sender (headers kept: the outbox stores their fields)."""
    sealer = Sealer(fed)
    out = []
    for i in range(count):
        header = sealer.header(2 * i)  # even: the first sender
        value = seal(
            header=header,
            body=sealer.body,
            sender=sealer.senders[0],
            recipients=[sealer.recipient],
            hub_mac_key=sealer.mac_keys[0],
        )
        out.append(Sealed(header, value, frozenset()))
    return out


def _fill(store: OutboxStore, backlog: list[Sealed]) -> None:
    for start in range(0, len(backlog), 1000):
        store.put(backlog[start : start + 1000])


async def drain_rate(bootstrap: str, backlog: list[Sealed], work: Path, *, rounds: int = 3) -> float:
    """Best envelopes/s of ``rounds`` drains of the whole backlog."""
    topic = f"obx{uuid.uuid4().hex[:8]}.outbound.bench"
    await ensure_topics(bootstrap, [topic], partitions=3)
    store = OutboxStore(f"sqlite:///{work / 'drain.sqlite3'}").create()
    _fill(store, backlog)
    rates = []
    try:
        for round_no in range(rounds):
            relay = Relay(store, bootstrap_servers=bootstrap, topic=topic)
            await relay._ensure_producer()  # connected before the clock starts: a running relay is
            started = time.perf_counter()
            drained = await relay.drain()
            elapsed = time.perf_counter() - started
            await relay._close_producer()
            assert drained == len(backlog), f"drained {drained} of {len(backlog)}"
            rates.append(drained / elapsed)
            print(f"round {round_no + 1}: {rates[-1]:.0f} envelopes/s", flush=True)
            with store.transaction() as session:  # the same backlog again for the next round
                session.execute(update(OutboxRow).values(delivered_at_ms=None))
    finally:
        store.close()
    return max(rates)


async def recovery_seconds(backlog: list[Sealed], work: Path) -> float:
    """Broker stopped, backlog built, broker started: seconds from ready to drained."""
    with LocalKafkaCluster(work / "kafka", nodes=1, fast_start=False) as cluster:
        topic = f"rec{uuid.uuid4().hex[:8]}.outbound.bench"
        await ensure_topics(cluster.bootstrap_servers, [topic], partitions=3)
        store = OutboxStore(f"sqlite:///{work / 'recovery.sqlite3'}").create()
        relay = Relay(store, bootstrap_servers=cluster.bootstrap_servers, topic=topic)
        running = asyncio.create_task(relay.run())
        try:
            await asyncio.sleep(0.5)
            await asyncio.to_thread(cluster.stop_node, 0)
            _fill(store, backlog)  # work keeps coming while the broker is down
            relay.wake()
            await asyncio.sleep(3.0)  # the relay has tried and is backing off
            assert store.pending_count() == len(backlog), "nothing could have been delivered"
            await asyncio.to_thread(cluster.start_node, 0)
            back = time.perf_counter()
            while store.pending_count():  # noqa: ASYNC110 - the relay marks rows in the database
                await asyncio.sleep(0.02)
            return time.perf_counter() - back
        finally:
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)
            store.close()


def metric(value: float, unit: str, conditions: str) -> dict[str, Any]:
    return {"value": round(value, 3), "unit": unit, "conditions": conditions}


async def measure(bootstrap: str, *, count: int = 20_000, backlog: int = 10_000) -> dict[str, Any]:
    """``connector.outbox_drain_per_s`` on ``bootstrap``; ``connector.recovery_s`` on a broker of its own."""
    work = Path(tempfile.mkdtemp(prefix="onedoor-bench-outbox-"))
    try:
        fed = Federation.create(work / "fed", f"obx{uuid.uuid4().hex[:8]}")
        print(f"sealing {count} envelopes for the outbox...", flush=True)
        sealed = sealed_backlog(fed, count)
        size = sum(len(s.value) for s in sealed) / len(sealed)
        rate = await drain_rate(bootstrap, sealed, work)
        print(f"outbox recovery: broker stopped, {backlog} queued, broker started...", flush=True)
        recovered = await recovery_seconds(sealed[:backlog], work)
        print(f"outbox drain {rate:.0f}/s, recovery {recovered:.2f} s", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {
        "connector.outbox_drain_per_s": metric(
            rate,
            "envelopes/s",
            f"{count} envelopes of ~{size:.0f} B in the connector's SQLite outbox -> outbound topic "
            "(3 partitions, 1 broker), acks=all, idempotent, batches of 1000 marked delivered; best of 3; "
            f"target >= {DRAIN_TARGET:.0f}",
        ),
        "connector.recovery_s": metric(
            recovered,
            "s",
            f"{backlog} envelopes queued while the broker was stopped; broker ready -> all marked delivered "
            f"(own 1-node broker; relay backoff capped at 2 s); target <= {RECOVERY_TARGET_S:.0f} s",
        ),
    }


def main() -> None:
    """``python -m bench.outbox``: measure on KAFKA_BOOTSTRAP_SERVERS or a fresh local broker; merge the figures."""
    from bench.__main__ import broker, merge_results  # noqa: PLC0415 - the runner imports this module

    configure_logging("WARNING")
    with broker() as bootstrap:
        figures = asyncio.run(measure(bootstrap))
    merge_results(figures, "outbox_measured_at")


if __name__ == "__main__":
    main()
