"""The Kafka runtime against real brokers: round trips, topic admin, a 3-node failover, the CLI."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from onedoor.errors import NotFound, Unavailable, ValidationFailed
from onedoor.kafka import cluster, jars
from onedoor.kafka._process import free_ports, pid_alive
from onedoor.kafka.admin import describe_partitions, ensure_topics
from onedoor.kafka.errors import KafkaJarsUnavailable, KafkaStartFailed
from onedoor.kafka.jars import ensure_jars
from onedoor.kafka.local import LocalKafkaCluster
from onedoor.settings import KafkaSettings, Settings

pytestmark = pytest.mark.integration

ONEDOOR = Path(sys.executable).with_name("onedoor")


def _safe_producer(bootstrap: str, **extra: object) -> AIOKafkaProducer:
    # aiokafka's defaults (acks=1, no idempotence) can lose acknowledged writes; OneDoor never uses them.
    return AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, **extra)


async def _produce(bootstrap: str, topic: str, records: list[tuple[bytes, bytes]], **extra: object) -> None:
    producer = _safe_producer(bootstrap, **extra)
    await producer.start()
    try:
        futures = [await producer.send(topic, key=key, value=value) for key, value in records]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def _consume_all(bootstrap: str, topic: str, expected: int, *, within: float = 30.0) -> list[tuple[bytes, bytes]]:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        isolation_level="read_committed",
        fetch_max_bytes=16 * 1024 * 1024,
    )
    await consumer.start()
    seen: list[tuple[bytes, bytes]] = []
    try:
        async with asyncio.timeout(within):
            while len(seen) < expected:
                batches = await consumer.getmany(timeout_ms=500)
                for records in batches.values():
                    seen.extend((r.key, r.value) for r in records)
    finally:
        await consumer.stop()
    return seen


def _segment_bytes(cluster_: LocalKafkaCluster, topic: str) -> bytes:
    return b"".join(
        segment.read_bytes() for log_dir in cluster_.log_dirs for segment in log_dir.glob(f"{topic}-*/*.log")
    )


# -- single node (or the external cluster) ----------------------------------------------------


async def test_round_trip_with_acks_all_and_idempotence(
    kafka_bootstrap: str, kafka_cluster: LocalKafkaCluster | None, topic_prefix: str
) -> None:
    topic = f"{topic_prefix}.roundtrip"
    await ensure_topics(kafka_bootstrap, [topic], partitions=3)
    marker = uuid.uuid4().hex.encode()
    records = [(f"key-{i % 5}".encode(), marker + f"-{i}".encode()) for i in range(60)]

    await _produce(kafka_bootstrap, topic, records)
    seen = await _consume_all(kafka_bootstrap, topic, len(records))

    assert sorted(seen) == sorted(records), "every record comes back exactly once"
    for key in {k for k, _ in records}:
        # One key, one partition: the order it was sent in is the order it is read in.
        assert [v for k, v in seen if k == key] == [v for k, v in records if k == key]
    if kafka_cluster is not None:
        assert marker + b"-59" in _segment_bytes(kafka_cluster, topic), "log_dirs hold the raw segments"


async def test_broker_accepts_records_up_to_4_mib(
    kafka_bootstrap: str, kafka_cluster: LocalKafkaCluster | None, topic_prefix: str
) -> None:
    if kafka_cluster is None:
        pytest.skip("the 4 MiB limit is a property of OneDoor's local broker, not of an external one")
    topic = f"{topic_prefix}.large"
    await ensure_topics(kafka_bootstrap, [topic], partitions=1)
    # Bigger than the router's default envelope limit: the router must receive it to reject it.
    big = os.urandom(3 * 1024 * 1024)

    await _produce(kafka_bootstrap, topic, [(b"k", big)], max_request_size=4 * 1024 * 1024)
    seen = await _consume_all(kafka_bootstrap, topic, 1)

    assert seen == [(b"k", big)]


async def test_ensure_topics_is_idempotent(kafka_bootstrap: str, topic_prefix: str) -> None:
    names = [f"{topic_prefix}.a", f"{topic_prefix}.b"]

    await ensure_topics(kafka_bootstrap, names, partitions=2)
    await ensure_topics(kafka_bootstrap, [*names, f"{topic_prefix}.c"], partitions=4)

    assert [p.partition for p in await describe_partitions(kafka_bootstrap, names[0])] == [0, 1]
    assert len(await describe_partitions(kafka_bootstrap, f"{topic_prefix}.c")) == 4
    assert all(p.leader >= 0 for p in await describe_partitions(kafka_bootstrap, names[1]))


async def test_ensure_topics_reports_refusals_as_onedoor_errors(kafka_bootstrap: str, topic_prefix: str) -> None:
    with pytest.raises(ValidationFailed) as bad_name:
        await ensure_topics(kafka_bootstrap, [f"{topic_prefix} has spaces"], partitions=1)
    assert bad_name.value.code == "kafka.topic_rejected"

    with pytest.raises(ValidationFailed) as too_many_replicas:
        await ensure_topics(kafka_bootstrap, [f"{topic_prefix}.rf"], partitions=1, replication_factor=99)
    assert too_many_replicas.value.code == "kafka.topic_rejected"

    with pytest.raises(NotFound):
        await describe_partitions(kafka_bootstrap, f"{topic_prefix}.never-created")


async def test_unreachable_cluster_is_unavailable() -> None:
    port = free_ports(1)[0]  # nothing listens there

    with pytest.raises(Unavailable) as unreachable:
        await ensure_topics(f"127.0.0.1:{port}", ["x"], partitions=1, within=1.0)

    assert unreachable.value.code == "kafka.unreachable"
    assert unreachable.value.retriable


def test_start_timeout_fails_with_log_tail_and_leaves_nothing_running(tmp_path: Path) -> None:
    local = LocalKafkaCluster(tmp_path / "slow", start_timeout=0.2)

    with pytest.raises(KafkaStartFailed) as failed:
        local.start()

    assert failed.value.code == "kafka.start_failed"
    assert f"--- node 1: {local.nodes[0].server_log} ---" in failed.value.message
    assert local.node_pids == [None], "a failed start stops the nodes it launched"


def test_brokers_die_with_a_killed_in_process_owner(tmp_path: Path) -> None:
    owner = textwrap.dedent(
        f"""
        import os, signal
        from pathlib import Path
        from onedoor.kafka.local import LocalKafkaCluster
        cluster = LocalKafkaCluster(Path({str(tmp_path)!r})).start()
        print("PID", cluster.node_pids[0], flush=True)
        os.kill(os.getpid(), signal.SIGKILL)  # no finally, no atexit: a crashed test run
        """
    )

    done = subprocess.run([sys.executable, "-c", owner], capture_output=True, text=True, timeout=180, check=False)
    [pid] = [int(line.split()[1]) for line in done.stdout.splitlines() if line.startswith("PID ")]
    marker = str(tmp_path / "node-1" / "server.properties")
    deadline = time.monotonic() + 15
    while pid_alive(pid, marker=marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    orphaned = pid_alive(pid, marker=marker)
    if orphaned:
        os.kill(pid, signal.SIGKILL)  # don't leak a broker when the test fails

    assert done.returncode == -signal.SIGKILL
    assert not orphaned, "in-process brokers die with their owner (reaper, and PDEATHSIG on Linux)"


# -- three nodes ------------------------------------------------------------------------------


async def test_rf3_topic_survives_losing_its_leader(kafka_cluster_3: LocalKafkaCluster, topic_prefix: str) -> None:
    bootstrap = kafka_cluster_3.bootstrap_servers
    topic = f"{topic_prefix}.replicated"
    await ensure_topics(bootstrap, [topic], partitions=1, replication_factor=3, configs={"min.insync.replicas": "2"})
    before = [(b"k", f"before-{i}".encode()) for i in range(100)]
    after = [(b"k", f"after-{i}".encode()) for i in range(100)]
    await _produce(bootstrap, topic, before)
    [partition] = await describe_partitions(bootstrap, topic)
    assert sorted(partition.replicas) == [1, 2, 3]

    kafka_cluster_3.kill_node(partition.leader - 1)
    assert kafka_cluster_3.node_pids[partition.leader - 1] is None
    await _produce(bootstrap, topic, after, request_timeout_ms=30_000)
    seen = await _consume_all(bootstrap, topic, len(before) + len(after))

    assert seen == before + after, "acknowledged writes survive, in order, with no duplicates"
    [moved] = await describe_partitions(bootstrap, topic)
    assert moved.leader not in (-1, partition.leader)
    assert partition.leader not in moved.isr


# -- detached cluster and CLI -----------------------------------------------------------------


@pytest.fixture
def onedoor_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Yield an empty ONEDOOR_HOME with no external cluster configured; stop what it started."""
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    monkeypatch.delenv("ONEDOOR_KAFKA__BOOTSTRAP_SERVERS", raising=False)
    monkeypatch.setenv("ONEDOOR_HOME", str(tmp_path))
    yield tmp_path
    subprocess.run([str(ONEDOOR), "kafka", "down", "--purge"], capture_output=True, timeout=120, check=False)


def _onedoor(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(ONEDOOR), *args], capture_output=True, text=True, timeout=180, check=False)


def test_cli_up_status_down(onedoor_home: Path) -> None:
    assert _onedoor("kafka", "status").returncode == 1, "nothing is running yet"

    up = _onedoor("kafka", "up", "--runtime", "jvm")
    assert up.returncode == 0, up.stderr
    bootstrap = up.stdout.strip().splitlines()[-1]
    state = json.loads((onedoor_home / "kafka" / "state.json").read_text())
    pids = [node["pid"] for node in state["nodes"]]

    # `up` has exited; the broker it started must still serve.
    status = _onedoor("kafka", "status")
    assert status.returncode == 0, status.stdout + status.stderr
    assert "running" in status.stdout
    assert bootstrap in status.stdout
    asyncio.run(ensure_topics(bootstrap, [f"t{uuid.uuid4().hex[:8]}.cli"], partitions=1))
    assert _onedoor("kafka", "up").stdout.strip() == bootstrap, "up is idempotent"
    assert cluster.ensure_running(Settings(home=onedoor_home)) == bootstrap

    down = _onedoor("kafka", "down")
    assert down.returncode == 0, down.stderr
    assert not any(pid_alive(pid) for pid in pids)
    assert not (onedoor_home / "kafka" / "state.json").exists()
    assert _onedoor("kafka", "status").returncode == 1


def test_status_says_when_an_external_cluster_is_configured(onedoor_home: Path) -> None:
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": "kafka.example:9092"}

    status = subprocess.run(
        [str(ONEDOOR), "kafka", "status"], capture_output=True, text=True, timeout=60, check=False, env=env
    )

    assert status.returncode == 1
    assert "kafka.example:9092" in status.stderr


def test_ensure_running_prefers_the_configured_bootstrap(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, kafka=KafkaSettings(bootstrap_servers="kafka.example:9092"))

    assert cluster.ensure_running(settings) == "kafka.example:9092"
    assert not (tmp_path / "kafka").exists(), "nothing was started or recorded"


# -- jar cache --------------------------------------------------------------------------------


def test_cached_jars_are_reused_without_maven(kafka_cluster: LocalKafkaCluster | None) -> None:
    if kafka_cluster is None:
        pytest.skip("no local broker was started, so the jar cache may be empty")

    lib = ensure_jars(kafka_cluster.version, mvn="no-such-maven")

    assert (lib / jars.MARKER).is_file()
    assert (lib / f"kafka_2.13-{kafka_cluster.version}.jar").is_file()
    assert (lib / "slf4j-reload4j-1.7.36.jar").is_file(), "without a logging backend the broker logs nothing"


def test_missing_maven_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(KafkaJarsUnavailable) as missing:
        ensure_jars("3.9.1", root=tmp_path, mvn="no-such-maven")

    assert missing.value.code == "kafka.jars_unavailable"
    assert "not on PATH" in missing.value.message


def test_failed_maven_leaves_no_partial_cache(tmp_path: Path) -> None:
    # `false` stands in for a Maven that exits non-zero without resolving anything.
    with pytest.raises(KafkaJarsUnavailable) as failed:
        ensure_jars("3.9.1", root=tmp_path, mvn="false")

    assert "exit 1" in failed.value.message
    assert not (tmp_path / "3.9.1" / "lib").exists()
    assert not list((tmp_path / "3.9.1").glob(".resolve-*")), "the temporary resolve dir is cleaned up"
