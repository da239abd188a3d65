"""Which Kafka OneDoor talks to, and the detached local cluster behind ``onedoor kafka up``.

Order of preference: ``settings.kafka.bootstrap_servers`` (or ``KAFKA_BOOTSTRAP_SERVERS``);
then a local cluster already recorded in ``<home>/kafka/state.json`` and alive; then a new
one, in Docker when an engine is reachable, else as local JVMs. A new cluster is detached:
it outlives the command that started it until ``onedoor kafka down``.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ValidationError

from onedoor.errors import ValidationFailed
from onedoor.kafka import _process
from onedoor.kafka._files import file_lock
from onedoor.kafka.errors import KafkaStateInvalid
from onedoor.kafka.local import BrokerSecurity, LocalKafkaCluster
from onedoor.kafka.security import ClientCredentials
from onedoor.logging import get_logger
from onedoor.settings import Settings

log = get_logger(__name__)

Runtime = Literal["auto", "jvm", "docker"]


class NodeState(BaseModel):
    """One recorded JVM node."""

    node_id: int
    pid: int
    broker_port: int
    controller_port: int
    properties: Path
    """The node's server.properties; it is on the JVM's command line, which guards against pid reuse."""
    log_dir: Path
    server_log: Path


class ClusterState(BaseModel):
    """What ``state.json`` records about the detached local cluster."""

    runtime: Literal["jvm", "docker"]
    bootstrap_servers: str
    version: str
    nodes: list[NodeState] = []
    data_dir: Path | None = None
    container_id: str | None = None
    image: str | None = None
    started_at: datetime
    secured: bool = False
    """SASL/SCRAM users and enforced ACLs (``BrokerSecurity``, passwords in ``security.json``)."""
    ca_file: Path | None = None
    """The CA certificate clients trust when the client listener is TLS (SASL_SSL); ``None``: no TLS."""


@dataclass(frozen=True, slots=True)
class ClusterStatus:
    """The recorded cluster and, per node, whether it is alive."""

    state: ClusterState
    alive: list[bool]
    """Per JVM node in order; a single entry for a Docker container."""

    @property
    def running(self) -> bool:
        """Every node is alive."""
        return bool(self.alive) and all(self.alive)


def kafka_home(settings: Settings) -> Path:
    """Return the directory of the detached local cluster: state, lock and data."""
    return settings.home / "kafka"


def state_path(settings: Settings) -> Path:
    """Return the path of ``state.json``."""
    return kafka_home(settings) / "state.json"


def security_path(settings: Settings) -> Path:
    """Return the path of ``security.json`` (0600): the secured cluster's admin, broker and controller passwords."""
    return kafka_home(settings) / "security.json"


def broker_security(settings: Settings) -> BrokerSecurity:
    """The secured local cluster's users and passwords, made (0600) on first use."""
    return BrokerSecurity.load_or_create(security_path(settings))


def admin_credentials(settings: Settings) -> ClientCredentials:
    """The secured local cluster's admin, trusting the recorded cluster's CA when it speaks TLS.

    Raises:
        KafkaStateInvalid: ``state.json`` exists but cannot be read.
    """
    state = read_state(settings)
    ca_file = state.ca_file if state is not None and state.secured else None
    return replace(broker_security(settings).admin, ca_file=ca_file)


def read_state(settings: Settings) -> ClusterState | None:
    """Return the recorded cluster, or None if none is recorded.

    Raises:
        KafkaStateInvalid: ``state.json`` exists but cannot be read.
    """
    path = state_path(settings)
    try:
        return ClusterState.model_validate_json(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (ValidationError, OSError) as exc:
        raise KafkaStateInvalid(f"{path} is unreadable ({exc}); remove it and stop any broker by hand") from exc


def status(settings: Settings) -> ClusterStatus | None:
    """Return the recorded cluster and which of its nodes are alive, or None if none is recorded."""
    state = read_state(settings)
    if state is None:
        return None
    return ClusterStatus(state, _alive(state))


def docker_engine_reachable(timeout: float = 3.0) -> bool:
    """Tell whether a Docker engine answers (the CLI alone is not enough)."""
    docker = shutil.which("docker")
    if docker is None:
        return False
    try:
        done = subprocess.run(
            [docker, "info", "--format", "{{.ServerVersion}}"],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except (subprocess.TimeoutExpired, OSError):
        return False
    return done.returncode == 0 and bool(done.stdout.strip())


def start_detached(
    settings: Settings,
    *,
    nodes: int | None = None,
    runtime: Runtime = "auto",
    timeout: float = 120.0,
    secure: bool = False,
) -> ClusterState:
    """Return the recorded cluster if alive, else start a detached one and record it.

    Args:
        settings: Provides the home directory and the Kafka version.
        nodes: Required node count; None accepts any live cluster (and starts ``settings.kafka.nodes``).
        runtime: ``auto`` uses Docker when reachable for one node, else JVMs.
        timeout: Seconds to wait for the new cluster to become ready.
        secure: SASL/SCRAM and enforced ACLs (:func:`broker_security`; JVMs only, data in ``secure-data``).

    Raises:
        KafkaStateInvalid: a live cluster with a different node count is recorded, or a
            PLAINTEXT one when ``secure`` was asked.
        ValidationFailed: three nodes, or ``secure``, were asked of the Docker runtime.
        KafkaStartFailed: the new cluster did not come up (message has log tails).
    """
    home = kafka_home(settings)
    home.mkdir(parents=True, exist_ok=True)
    # Two commands starting at once must not both bring up a cluster.
    with file_lock(home / ".lock"):
        current = status(settings)
        if current is not None and current.running:
            count = max(1, len(current.state.nodes))
            if nodes is not None and count != nodes:
                raise KafkaStateInvalid(f"a {count}-node local Kafka is already running; `onedoor kafka down` first")
            if secure and not current.state.secured:
                raise KafkaStateInvalid("a PLAINTEXT local Kafka is already running; `onedoor kafka down` first")
            return current.state
        wanted = nodes if nodes is not None else settings.kafka.nodes
        if current is not None:
            # Some or all nodes died: restart the whole cluster on its data, same size unless told.
            log.warning("kafka.local.restarting", alive=sum(current.alive), nodes=len(current.alive))
            _stop_recorded(current.state, grace=10.0)
            if nodes is None and current.state.runtime == "jvm":
                wanted = len(current.state.nodes)
            secure = secure or current.state.secured
        if runtime == "docker" and wanted != 1:
            raise ValidationFailed("kafka.nodes_unsupported", "the Docker runtime runs one node; use --runtime jvm")
        if runtime == "docker" and secure:
            raise ValidationFailed("kafka.secure_unsupported", "a secured broker runs as local JVMs; use --runtime jvm")
        use_docker = runtime == "docker" or (
            runtime == "auto" and wanted == 1 and not secure and docker_engine_reachable()
        )
        state = _start_docker(timeout) if use_docker else _start_jvm(settings, wanted, timeout, secure=secure)
        state_path(settings).write_text(state.model_dump_json(indent=2) + "\n", encoding="utf-8")
        return state


def stop_detached(settings: Settings, *, purge: bool = False, grace: float = 60.0) -> ClusterState | None:
    """Stop the recorded cluster, forget it, and with ``purge`` delete its data; return what was stopped."""
    home = kafka_home(settings)
    with file_lock(home / ".lock"):
        state = read_state(settings)
        if state is not None:
            _stop_recorded(state, grace=grace)
            state_path(settings).unlink(missing_ok=True)
        if purge:
            shutil.rmtree(home / "data", ignore_errors=True)
            shutil.rmtree(home / "secure-data", ignore_errors=True)
            security_path(settings).unlink(missing_ok=True)
        return state


def ensure_running(settings: Settings, *, timeout: float = 120.0) -> str:
    """Return bootstrap servers of a usable cluster, starting a detached local one if there is none."""
    if settings.kafka.bootstrap_servers:
        return settings.kafka.bootstrap_servers
    return start_detached(settings, timeout=timeout).bootstrap_servers


def _start_jvm(settings: Settings, nodes: int, timeout: float, *, secure: bool = False) -> ClusterState:
    # A secured cluster has its own data: its SCRAM users are written when storage is formatted.
    data_dir = kafka_home(settings) / ("secure-data" if secure else "data")
    cluster = LocalKafkaCluster(
        data_dir,
        nodes=nodes,
        version=settings.kafka.version,
        detached=True,
        start_timeout=timeout,
        security=broker_security(settings) if secure else None,
    ).start()
    records = []
    for layout, pid in zip(cluster.nodes, cluster.node_pids, strict=True):
        if pid is None:  # pragma: no cover - start() returned, so every node is up
            raise KafkaStateInvalid(f"node {layout.node_id} died right after start")
        records.append(
            NodeState(
                node_id=layout.node_id,
                pid=pid,
                broker_port=layout.broker_port,
                controller_port=layout.controller_port,
                properties=layout.properties,
                log_dir=layout.log_dir,
                server_log=layout.server_log,
            )
        )
    return ClusterState(
        runtime="jvm",
        bootstrap_servers=cluster.bootstrap_servers,
        version=settings.kafka.version,
        nodes=records,
        data_dir=cluster.data_dir,
        started_at=datetime.now(UTC),
        secured=secure,
        ca_file=cluster.ca_file,
    )


def _start_docker(timeout: float) -> ClusterState:
    # Deferred: testcontainers is loaded only when an engine is known to be there.
    from onedoor.kafka.docker import IMAGE, KAFKA_VERSION, start_kafka_container  # noqa: PLC0415

    running = start_kafka_container(detached=True, timeout=timeout)
    return ClusterState(
        runtime="docker",
        bootstrap_servers=running.bootstrap_servers,
        version=KAFKA_VERSION,
        image=IMAGE,
        container_id=running.container_id,
        started_at=datetime.now(UTC),
    )


def _alive(state: ClusterState) -> list[bool]:
    if state.runtime == "docker":
        from onedoor.kafka.docker import container_running  # noqa: PLC0415 - see _start_docker

        port = int(state.bootstrap_servers.rsplit(":", 1)[1])
        return [bool(state.container_id) and container_running(str(state.container_id)) and _process.port_open(port)]
    return [
        _process.pid_alive(node.pid, marker=str(node.properties)) and _process.port_open(node.broker_port)
        for node in state.nodes
    ]


def _stop_recorded(state: ClusterState, *, grace: float) -> None:
    if state.runtime == "docker":
        from onedoor.kafka.docker import remove_container  # noqa: PLC0415 - see _start_docker

        if state.container_id:
            remove_container(state.container_id)
        return
    _process.terminate_all([(node.pid, str(node.properties), None) for node in state.nodes], grace=grace)
    log.info("kafka.local.stopped", nodes=len(state.nodes))
