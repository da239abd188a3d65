"""Kafka in a Docker container (testcontainers), for machines with a Docker engine.

Imported only after :func:`onedoor.kafka.cluster.docker_engine_reachable` said yes, so
machines without Docker never load testcontainers. Container housekeeping goes through the
``docker`` CLI, which is present wherever an engine is reachable.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass

from testcontainers.community.kafka import KafkaContainer
from testcontainers.core.config import testcontainers_config

from onedoor.kafka.errors import KafkaRuntimeError
from onedoor.kafka.local import MAX_MESSAGE_BYTES
from onedoor.logging import get_logger

log = get_logger(__name__)

# testcontainers' KafkaContainer drives the Confluent image's own start scripts, so it needs a
# cp-kafka image; Confluent Platform 7.9 ships Apache Kafka 3.9.
IMAGE = "confluentinc/cp-kafka:7.9.0"
KAFKA_VERSION = "3.9.0"
"""The Apache Kafka version inside IMAGE."""

_BROKER_ENV = {
    "KAFKA_AUTO_CREATE_TOPICS_ENABLE": "false",
    "KAFKA_MESSAGE_MAX_BYTES": str(MAX_MESSAGE_BYTES),
    "KAFKA_REPLICA_FETCH_MAX_BYTES": str(MAX_MESSAGE_BYTES),
    "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": "1",
    "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR": "1",
}


@dataclass(frozen=True, slots=True)
class RunningContainer:
    """A started Kafka container."""

    container_id: str
    """Docker's id, for status and removal."""
    bootstrap_servers: str
    """``host:port`` as reachable from this machine."""


def start_kafka_container(*, detached: bool, timeout: float = 120.0) -> RunningContainer:
    """Start a single-node KRaft Kafka container and wait until it is ready.

    Args:
        detached: Keep the container after this process exits (``onedoor kafka up``).
        timeout: Seconds to wait for the broker to report ready.

    Raises:
        KafkaRuntimeError: ``kafka.docker_failed`` if the container could not be started.
    """
    if detached:
        # Ryuk removes every container of a session when its process exits; a detached one must stay.
        testcontainers_config.ryuk_disabled = True
    container = KafkaContainer(IMAGE).with_kraft()
    for key, value in _BROKER_ENV.items():
        container.with_env(key, value)
    try:
        container.start(timeout=int(timeout))
        running = RunningContainer(container.get_wrapped_container().id, container.get_bootstrap_server())
    except Exception as exc:  # docker-py and testcontainers raise many unrelated, untyped errors
        raise KafkaRuntimeError("kafka.docker_failed", f"could not start Kafka in Docker ({IMAGE}): {exc}") from exc
    log.info("kafka.docker.started", image=IMAGE, bootstrap=running.bootstrap_servers)
    return running


def container_running(container_id: str) -> bool:
    """Tell whether the container exists and runs."""
    done = subprocess.run(
        ["docker", "inspect", "--format", "{{.State.Running}}", container_id],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    return done.returncode == 0 and done.stdout.strip() == "true"


def remove_container(container_id: str) -> None:
    """Stop and remove the container (its data goes with it)."""
    subprocess.run(
        ["docker", "rm", "--force", "--volumes", container_id],
        capture_output=True,
        timeout=60,
        check=False,
    )
    log.info("kafka.docker.removed", container=container_id[:12])
