"""Run every benchmark and write bench/results/latest.json.

python -m bench [--count N] [--rounds R] [--latency-seconds S] [--revocation-trials T] [--status-seconds S] [--alerts N]
    [--referrals N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bench import alerts as alerts_bench
from bench import audit as audit_bench
from bench import consent as consent_bench
from bench import dashboard as dashboard_bench
from bench import identity as identity_bench
from bench import outbox as outbox_bench
from bench import referral as referral_bench
from bench import revocation
from bench import status as status_bench
from bench.fixture import RECIPIENT, SENDERS, Federation, Sealer
from hub.router.publisher import BatchPublisher
from onedoor.envelope.opening import open_envelope
from onedoor.kafka.admin import ensure_topics
from onedoor.kafka.local import LocalKafkaCluster

RESULTS = Path(__file__).parent / "results" / "latest.json"


def merge_results(figures: dict[str, Any], measured_at_key: str) -> None:
    """Merge one stand-alone bench's figures into the last full run's results, and print them.

    The other figures stay as they were measured; ``measured_at_key`` records when these were.
    """
    document = json.loads(RESULTS.read_text()) if RESULTS.exists() else {"metrics": {}}
    document["metrics"].update(figures)
    document[measured_at_key] = datetime.now(UTC).isoformat()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(document, indent=2) + "\n")
    print(json.dumps(figures, indent=2))
    print(f"merged into {RESULTS}")


LIGHT_RATE = 200.0
"""Envelopes/s of the light-load latency run: far above a real federation's referral rate."""


@contextmanager
def broker() -> Iterator[str]:
    """An existing cluster (KAFKA_BOOTSTRAP_SERVERS) or a fresh single-node local one."""
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        yield os.environ["KAFKA_BOOTSTRAP_SERVERS"]
        return
    data = Path(tempfile.mkdtemp(prefix="onedoor-bench-kafka-"))
    try:
        # Full JIT: the fast-start setting halves start-up but slows the broker down.
        with LocalKafkaCluster(data, nodes=1, fast_start=False) as cluster:
            yield cluster.bootstrap_servers
    finally:
        shutil.rmtree(data, ignore_errors=True)


async def make_topics(bootstrap: str, fed: Federation) -> None:
    names = [fed.topics.outbound(a) for a in SENDERS]
    names += [fed.topics.inbox(RECIPIENT), f"{fed.topics.prefix}.raw.{RECIPIENT}", fed.topics.dead_letter]
    await ensure_topics(bootstrap, names, partitions=3)


def time_envelopes(fed: Federation, rounds: int = 5, per_round: int = 400) -> dict[str, float]:
    """Median per-call cost of seal and open, in microseconds."""
    sealer = Sealer(fed)
    me = sealer.recipient_keys

    class Senders:
        def __init__(self) -> None:
            self.keys = {(k.agency, k.signing_key_id): k.signing.public_key() for k in sealer.senders}

        def signing_key(self, agency: Any, key_id: Any) -> Any:
            return self.keys.get((agency, key_id))

    senders = Senders()
    seal_costs, open_costs = [], []
    for _ in range(rounds):
        started = time.perf_counter()
        values = [sealer.seal(i)[2] for i in range(per_round)]
        seal_costs.append((time.perf_counter() - started) / per_round * 1e6)
        started = time.perf_counter()
        for value in values:
            open_envelope(value, me=me.agency, my_keys={me.encryption_key_id: me.encryption}, senders=senders)
        open_costs.append((time.perf_counter() - started) / per_round * 1e6)
    return {"seal_us": statistics.median(seal_costs), "open_us": statistics.median(open_costs)}


async def prefill(bootstrap: str, fed: Federation, count: int) -> float:
    """Seal ``count`` envelopes and publish them to the senders' outbound topics; returns bytes each."""
    sealer = Sealer(fed)
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=5, max_batch_size=512 * 1024
    )
    await producer.start()
    size = 0
    try:
        futures = []
        for i in range(count):
            owner, message_id, value = sealer.seal(i)
            size += len(value)
            futures.append(await producer.send(fed.topics.outbound(owner), value, key=message_id.encode()))
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return size / count


def run_worker(mode: str, fed: Federation, bootstrap: str, count: int) -> dict[str, Any]:
    group = f"{fed.topics.prefix}.{mode}.{uuid.uuid4().hex[:6]}"
    out = subprocess.run(
        [sys.executable, "-m", "bench.workers", mode, str(fed.root), bootstrap, str(count), group],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    if out.returncode != 0:
        raise RuntimeError(f"{mode} worker failed:\n{out.stderr[-3000:]}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


async def hop_latency(bootstrap: str, fed: Federation, rate: float, seconds: float) -> dict[str, float]:
    """Open-loop load at ``rate``/s through a running router; latency from intended send to inbox."""
    sealer = Sealer(fed)
    total = int(rate * seconds)
    sealed = [sealer.seal(i) for i in range(total)]
    router = subprocess.Popen(  # noqa: ASYNC220 - started once, before any timing
        [sys.executable, "-m", "bench.workers", "router", str(fed.root), bootstrap, "0", f"{fed.topics.prefix}.router"],
        stdout=subprocess.PIPE,
        text=True,
    )
    intended: dict[str, float] = {}
    latencies: list[float] = []
    consumer = AIOKafkaConsumer(
        fed.topics.inbox(RECIPIENT),
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=5,
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=1)
    try:
        assert router.stdout is not None
        router.stdout.readline()  # {"ready": true}
        await consumer.start()
        await producer.start()

        async def receive() -> None:
            while len(latencies) < total:
                batches = await consumer.getmany(timeout_ms=100)
                now = time.perf_counter()
                for records in batches.values():
                    for r in records:
                        message_id = dict(r.headers)["ce_id"].decode()
                        latencies.append((now - intended[message_id]) * 1000)

        receiver = asyncio.create_task(receive())
        # Open loop: every millisecond, publish whatever is due by the schedule, whatever came
        # back. Latency runs from the scheduled time, so a late sender counts against the hub
        # (no coordinated omission). Batched publishing keeps the load generator itself cheap.
        publisher = BatchPublisher(producer)
        start = time.perf_counter() + 0.5
        sent = 0
        while sent < total:
            due_now = min(total, int((time.perf_counter() - start) * rate) + 1)
            for i in range(sent, due_now):
                owner, message_id, value = sealed[i]
                intended[message_id] = start + i / rate
                await publisher.add(fed.topics.outbound(owner), message_id.encode(), value, [])
            sent = max(sent, due_now)
            await publisher.flush()
            await asyncio.sleep(0.001)
        sent_in = time.perf_counter() - start
        await asyncio.wait_for(receiver, timeout=seconds + 60)
    finally:
        await producer.stop()
        await consumer.stop()
        router.terminate()
        router.wait(timeout=60)
    steady = latencies[int(rate) :]  # drop the first second: connections and warm-up
    steady.sort()
    print(f"sent {total} in {sent_in:.2f}s (target {seconds}s)", flush=True)
    return {
        "p50_ms": steady[len(steady) // 2],
        "p99_ms": steady[int(len(steady) * 0.99) - 1],
        "count": float(len(steady)),
    }


async def single_hop(bootstrap: str, topic: str, rate: float, count: int) -> dict[str, float]:
    """Plain aiokafka produce -> consume on the same broker: the floor under any routed hop."""
    await ensure_topics(bootstrap, [topic], partitions=3)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=1)
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest", fetch_max_wait_ms=5
    )
    await producer.start()
    await consumer.start()
    latencies: list[float] = []
    sent: dict[bytes, float] = {}
    try:

        async def receive() -> None:
            while len(latencies) < count:
                for records in (await consumer.getmany(timeout_ms=100)).values():
                    now = time.perf_counter()
                    latencies.extend((now - sent[r.key]) * 1000 for r in records if r.key in sent)

        receiver = asyncio.create_task(receive())
        for i in range(count):
            key = str(i).encode()
            sent[key] = time.perf_counter()
            await producer.send(topic, b"x" * 1500, key=key)
            await asyncio.sleep(1 / rate)
        await asyncio.wait_for(receiver, timeout=60)
    finally:
        await producer.stop()
        await consumer.stop()
    steady = sorted(latencies[count // 5 :])
    return {"p50_ms": steady[len(steady) // 2], "p99_ms": steady[int(len(steady) * 0.99) - 1]}


def metric(value: float, unit: str, conditions: str) -> dict[str, Any]:
    return {"value": round(value, 3), "unit": unit, "conditions": conditions}


async def throughput(args: argparse.Namespace, bootstrap: str, fed: Federation, metrics: dict[str, Any]) -> float:
    """Relay, router, router without agreements, alternating; adds the route.* figures; returns the router rate."""
    print(f"sealing and publishing {args.count} envelopes...", flush=True)
    size = await prefill(bootstrap, fed, args.count)
    relays, routes, opens = [], [], []
    for round_no in range(args.rounds):
        # Alternate so that no side always reads a warmer page cache.
        relays.append(run_worker("relay", fed, bootstrap, args.count))
        # The order alternates too: on this machine the second of two back-to-back runs is often faster.
        if round_no % 2 == 0:
            routes.append(run_worker("router", fed, bootstrap, args.count))
            opens.append(run_worker("router-open", fed, bootstrap, args.count))
        else:
            opens.append(run_worker("router-open", fed, bootstrap, args.count))
            routes.append(run_worker("router", fed, bootstrap, args.count))
        print(
            f"round {round_no + 1}: relay {relays[-1]['per_s']:.0f}/s, router {routes[-1]['per_s']:.0f}/s, "
            f"router without agreements {opens[-1]['per_s']:.0f}/s",
            flush=True,
        )
    if any(r.get("rejected") for r in (*routes, *opens)):
        raise RuntimeError("the router refused benchmark envelopes: the figures would not be comparable")
    raw = max(r["per_s"] for r in relays)
    routed = max(r["per_s"] for r in routes)
    unenforced = max(r["per_s"] for r in opens)
    cond = (
        f"{args.count} envelopes of ~{size:.0f} B, 2 senders -> 1 recipient, 3 partitions, 1 broker, "
        f"best of {args.rounds}"
    )
    metrics["route.raw_relay_per_s"] = metric(raw, "envelopes/s", cond + "; acks=all, idempotent")
    metrics["route.envelopes_per_s"] = metric(
        routed, "envelopes/s", cond + "; all checks incl. agreement and consent, audit to SQLite"
    )
    metrics["route.ratio_to_raw"] = metric(routed / raw, "ratio", "router / raw relay, same run")
    metrics["route.envelopes_per_s_no_agreements"] = metric(
        unenforced, "envelopes/s", cond + "; agreements and consent not checked (baseline only)"
    )
    metrics["route.consent_overhead_ratio"] = metric(
        routed / unenforced, "ratio", "router with agreement and consent checks / without, same run"
    )
    relay_cpu = min(r["cpu_us_each"] for r in relays)
    router_cpu = min(r["cpu_us_each"] for r in routes)
    metrics["route.consent_overhead_cpu_ratio"] = metric(
        min(r["cpu_us_each"] for r in opens) / router_cpu,
        "ratio",
        "router CPU per envelope without / with agreement and consent checks, best rounds: the steadier ratio",
    )
    metrics["route.raw_relay_cpu_us"] = metric(relay_cpu, "us CPU/envelope", "relay process, user+sys, best round")
    metrics["route.router_cpu_us"] = metric(router_cpu, "us CPU/envelope", "router process, user+sys, best round")
    metrics["route.cpu_ratio_to_raw"] = metric(
        relay_cpu / router_cpu, "ratio", "relay CPU / router CPU per envelope: the steadier ratio on a busy machine"
    )
    metrics["route.router_max_rss_mib"] = metric(max(r["max_rss_mib"] for r in routes), "MiB", "router process")
    return routed


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    # The consent engine first: pure CPU, no broker, nothing else running.
    metrics: dict[str, Any] = dict(consent_bench.measure())
    metrics.update(identity_bench.measure())
    metrics.update(audit_bench.measure())  # durable audit appends: no broker needed
    with broker() as bootstrap:
        work = Path(tempfile.mkdtemp(prefix="onedoor-bench-"))
        fed = Federation.create(work / "throughput", f"bench{uuid.uuid4().hex[:8]}")
        await make_topics(bootstrap, fed)

        costs = time_envelopes(fed)
        metrics["envelope.seal_us"] = metric(costs["seal_us"], "us", "1 recipient, 1 KiB body, median of 5x400")
        metrics["envelope.open_us"] = metric(costs["open_us"], "us", "verify+unwrap+decrypt, median of 5x400")

        routed = await throughput(args, bootstrap, fed, metrics)

        lat_fed = Federation.create(work / "latency", f"lat{uuid.uuid4().hex[:8]}")
        await make_topics(bootstrap, lat_fed)
        rate = routed / 2
        print(f"open-loop latency at {rate:.0f}/s for {args.latency_seconds}s...", flush=True)
        hop = await hop_latency(bootstrap, lat_fed, rate, args.latency_seconds)
        lat_cond = f"open loop at {rate:.0f}/s (half the measured max) for {args.latency_seconds}s, outbound -> inbox"
        metrics["route.hop_p50_ms"] = metric(hop["p50_ms"], "ms", lat_cond)
        metrics["route.hop_p99_ms"] = metric(hop["p99_ms"], "ms", lat_cond)

        # The same hop under a light load: what one officer's check or referral waits for.
        light_fed = Federation.create(work / "light", f"lit{uuid.uuid4().hex[:8]}")
        await make_topics(bootstrap, light_fed)
        light = await hop_latency(bootstrap, light_fed, LIGHT_RATE, args.latency_seconds)
        light_cond = f"open loop at {LIGHT_RATE:.0f}/s for {args.latency_seconds}s, outbound -> inbox"
        metrics["route.hop_light_p50_ms"] = metric(light["p50_ms"], "ms", light_cond)
        metrics["route.hop_light_p99_ms"] = metric(light["p99_ms"], "ms", light_cond)

        floor = await single_hop(bootstrap, f"hop{uuid.uuid4().hex[:8]}", LIGHT_RATE, 1500)
        floor_cond = (
            f"plain aiokafka produce -> consume, acks=all, {LIGHT_RATE:.0f}/s, no hub: a routed envelope makes two"
        )
        metrics["kafka.single_hop_p50_ms"] = metric(floor["p50_ms"], "ms", floor_cond)
        metrics["kafka.single_hop_p99_ms"] = metric(floor["p99_ms"], "ms", floor_cond)

        print(f"revocation and withdrawal effect, {args.revocation_trials} trials each...", flush=True)
        metrics.update(await revocation.measure(bootstrap, trials=args.revocation_trials))

        print(f"status checks, {args.status_seconds:g} s at 5/s, then rising rates and 200 agencies...", flush=True)
        metrics.update(await status_bench.measure(bootstrap, seconds=args.status_seconds))

        print(f"alerts to a 40-agency network, {args.alerts} alerts at 2/s...", flush=True)
        metrics.update(await alerts_bench.measure(bootstrap, count=args.alerts))

        print(f"public referrals, {args.referrals} form submits -> triage inbox, one at a time...", flush=True)
        metrics.update(await referral_bench.measure(bootstrap, count=args.referrals))

        print("connector outbox: drain a backlog, then recover one after a broker restart...", flush=True)
        metrics.update(await outbox_bench.measure(bootstrap))

        print("ops dashboard: 10 viewers while the router drains a backlog at full rate...", flush=True)
        metrics.update(await dashboard_bench.measure(bootstrap))
        shutil.rmtree(work, ignore_errors=True)
    return metrics


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--count", type=int, default=30_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--latency-seconds", type=float, default=8.0)
    parser.add_argument("--revocation-trials", type=int, default=15)
    parser.add_argument("--status-seconds", type=float, default=20.0)
    parser.add_argument("--alerts", type=int, default=30)
    parser.add_argument("--referrals", type=int, default=50)
    args = parser.parse_args()
    metrics = asyncio.run(main_async(args))
    document = {
        "generated_at": datetime.now(UTC).isoformat(),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "metrics": metrics,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(document, indent=2) + "\n")
    width = max(len(k) for k in metrics)
    print(f"\n{'metric':<{width}}  {'value':>12}  unit")
    for name, m in metrics.items():
        print(f"{name:<{width}}  {m['value']:>12,.3f}  {m['unit']}")
    print(f"\nwritten to {RESULTS}")


if __name__ == "__main__":
    main()
