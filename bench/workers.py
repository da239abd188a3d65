"""Worker processes, one per measurement, so each gets a core of its own.

    python -m bench.workers relay       ROOT BOOTSTRAP COUNT GROUP
    python -m bench.workers router      ROOT BOOTSTRAP COUNT GROUP   (COUNT 0: serve until SIGTERM)
    python -m bench.workers router-open ROOT BOOTSTRAP COUNT GROUP   (agreements and consent not enforced)

Each prints one JSON line: how many envelopes it moved and how fast.
"""

from __future__ import annotations

import asyncio
import json
import resource
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bench.fixture import RECIPIENT, Federation
from hub.router.decide import Limits
from hub.router.runtime import audit_sink
from hub.router.service import Router, RouterConfig
from onedoor.db import Base, make_engine, make_session_factory

POLL_S = 0.005


def _producer(bootstrap: str) -> AIOKafkaProducer:
    # The same producer settings the router uses, so the comparison is like for like.
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=True,
        linger_ms=2,
        max_batch_size=512 * 1024,
        max_request_size=8 * 1024 * 1024,
    )


def _consumer(bootstrap: str, group: str) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=8 * 1024 * 1024,
        fetch_max_bytes=64 * 1024 * 1024,
        fetch_max_wait_ms=5,
    )


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _measure(progress: Any, count: int) -> dict[str, float]:
    """Wall time and CPU time from the first envelope moved to the ``count``-th.

    CPU time per envelope is the steadier figure on a shared machine: other processes
    stretch the wall clock far more than they change the work done.
    """
    while progress() == 0:  # noqa: ASYNC110 - sampling a counter, nothing to wait on
        await asyncio.sleep(POLL_S)
    started, cpu_started, first = time.perf_counter(), _cpu_s(), progress()
    while progress() < count:  # noqa: ASYNC110 - sampling a counter, nothing to wait on
        await asyncio.sleep(POLL_S)
    elapsed, cpu = time.perf_counter() - started, _cpu_s() - cpu_started
    moved = progress() - first
    return {"count": moved, "elapsed_s": elapsed, "per_s": moved / elapsed, "cpu_us_each": cpu / moved * 1e6}


async def relay(fed: Federation, bootstrap: str, count: int, group: str) -> dict[str, float]:
    """Plain aiokafka consume -> produce of the same envelopes: no checks, no audit."""
    producer, consumer = _producer(bootstrap), _consumer(bootstrap, group)
    await producer.start()
    await consumer.start()
    consumer.subscribe(pattern=fed.topics.outbound_pattern)
    inbox = f"{fed.topics.prefix}.raw.{RECIPIENT}"
    moved = 0

    async def loop() -> None:
        nonlocal moved
        while moved < count:
            batches = await consumer.getmany(timeout_ms=200, max_records=2000)
            futures = [
                await producer.send(inbox, r.value, key=r.key, headers=r.headers)
                for records in batches.values()
                for r in records
            ]
            await asyncio.gather(*futures)
            await consumer.commit()
            moved += len(futures)

    task = asyncio.create_task(loop())
    try:
        return await _measure(lambda: moved, count)
    finally:
        await task
        await consumer.stop()
        await producer.stop()


async def route(fed: Federation, bootstrap: str, count: int, group: str, *, enforce: bool = True) -> dict[str, float]:
    """The hub router, every check on (agreements and consent too, unless not ``enforce``), auditing to SQLite."""
    db_dir = Path(tempfile.mkdtemp(prefix="onedoor-bench-db-"))
    engine = make_engine(f"sqlite:///{db_dir / 'hub.sqlite3'}")
    Base.metadata.create_all(engine)
    factory = make_session_factory(engine)
    tables = fed.tables(enforce=enforce)
    config = RouterConfig(
        bootstrap_servers=bootstrap,
        topics=fed.topics,
        limits=Limits(max_envelope_bytes=1_048_576, max_ttl_ms=7 * 86_400_000, clock_skew_ms=120_000),
        group_id=group,
        listen_for_policy=False,  # the tables are fixed for the run
    )
    router = Router(config, load_tables=lambda: tables, audit=audit_sink(factory))
    async with router:
        task = asyncio.create_task(router.run())
        try:
            if count == 0:
                while router.assigned_partitions() == 0:  # noqa: ASYNC110 - the group has no event to await
                    await asyncio.sleep(0.05)
                print(json.dumps({"ready": True}), flush=True)
                stop = asyncio.Event()
                asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
                await stop.wait()
                return {"count": router.stats.delivered}
            result = await _measure(lambda: router.stats.delivered, count)
            result["rejected"] = sum(router.stats.rejected.values())
            return result
        finally:
            router.request_stop()
            await task
            engine.dispose()


def main() -> None:
    """Run one worker and print its figures."""
    mode, root, bootstrap, count, group = sys.argv[1], Path(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5]
    fed = Federation.load(root)
    if mode == "relay":
        result = asyncio.run(relay(fed, bootstrap, count, group))
    else:
        result = asyncio.run(route(fed, bootstrap, count, group, enforce=mode != "router-open"))
    result["max_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
