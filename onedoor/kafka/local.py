"""A real Apache Kafka cluster (1 or 3 KRaft combined-mode nodes) as local JVMs.

Each node lives in ``<data_dir>/node-<id>/``: ``server.properties``, ``log4j.properties``,
``server.log`` (the broker's log), ``jvm.out`` (anything the JVM prints itself) and ``data/``
(``log.dirs``: the raw partition segments). Ports are free loopback ports picked at start.

In-process clusters (tests) register their JVMs with a reaper process, so a test run that
dies, even by SIGKILL, does not leave brokers behind. Detached clusters (``onedoor kafka up``)
have no reaper: they are meant to outlive the command that started them.
"""

from __future__ import annotations

import base64
import json
import os
import select
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from types import TracebackType
from typing import IO, Final, Self

from pydantic import SecretStr

from onedoor.errors import ValidationFailed
from onedoor.files import write_atomically
from onedoor.kafka import _process, _reaper
from onedoor.kafka._files import tail
from onedoor.kafka.errors import KafkaRuntimeError, KafkaStartFailed, KafkaStateInvalid
from onedoor.kafka.jars import classpath, ensure_jars
from onedoor.kafka.security import ClientCredentials, new_password
from onedoor.kafka.tls import BrokerTls, ensure_broker_tls
from onedoor.logging import get_logger

log = get_logger(__name__)

DEFAULT_VERSION = "3.9.1"
READY_LINE = "Kafka Server started"
MAX_MESSAGE_BYTES = 4 * 1024 * 1024
"""Broker-side record batch limit: above OneDoor's envelope limit, so the router sees oversized
envelopes and rejects them itself (with an audit trail) rather than the producer getting an error."""

_JVM_OPTIONS = (
    "-Xms128m",
    "-Xmx512m",
    "-XX:+UseSerialGC",
    "-XX:+ExitOnOutOfMemoryError",
    "-Djava.awt.headless=true",
)
# C1 only: the broker starts in about half the time; throughput is ample for tests and dev.
_FAST_START = "-XX:TieredStopAtLevel=1"


@dataclass(frozen=True, slots=True)
class NodeLayout:
    """Where one node keeps its files and which ports it listens on."""

    node_id: int
    """KRaft node id (1-based)."""
    broker_port: int
    """PLAINTEXT listener for clients and replication."""
    controller_port: int
    """CONTROLLER listener for the KRaft quorum."""
    home: Path
    """The node's directory."""

    @property
    def log_dir(self) -> Path:
        """The node's ``log.dirs``: one directory per partition, holding the raw segments."""
        return self.home / "data"

    @property
    def properties(self) -> Path:
        """The node's ``server.properties``; its path also identifies the JVM in ``ps``."""
        return self.home / "server.properties"

    @property
    def server_log(self) -> Path:
        """The broker's own log."""
        return self.home / "server.log"

    @property
    def jvm_out(self) -> Path:
        """The JVM's stdout and stderr (crashes before logging starts land here)."""
        return self.home / "jvm.out"


def new_cluster_id() -> str:
    """Return a KRaft cluster id: 16 random bytes, URL-safe base64 without padding."""
    while True:
        cluster_id = base64.urlsafe_b64encode(os.urandom(16)).rstrip(b"=").decode()
        # StorageTool parses ids starting with '-' as options.
        if not cluster_id.startswith("-"):
            return cluster_id


def server_properties(node: NodeLayout, voters: list[NodeLayout]) -> dict[str, str]:
    """Return the broker configuration of ``node`` in a cluster of ``voters``."""
    count = len(voters)
    replication = min(count, 3)
    # With three nodes, acks=all survives one node down without losing acknowledged writes.
    min_isr = 2 if count >= 3 else 1
    return {
        "process.roles": "broker,controller",
        "node.id": str(node.node_id),
        "controller.quorum.voters": ",".join(f"{v.node_id}@127.0.0.1:{v.controller_port}" for v in voters),
        "listeners": f"PLAINTEXT://127.0.0.1:{node.broker_port},CONTROLLER://127.0.0.1:{node.controller_port}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{node.broker_port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "log.dirs": str(node.log_dir.resolve()),
        "default.replication.factor": str(replication),
        "min.insync.replicas": str(min_isr),
        "unclean.leader.election.enable": "false",
        "auto.create.topics.enable": "false",
        "offsets.topic.replication.factor": str(replication),
        "offsets.topic.num.partitions": "3",
        "transaction.state.log.replication.factor": str(replication),
        "transaction.state.log.min.isr": str(min_isr),
        "transaction.state.log.num.partitions": "3",
        "group.initial.rebalance.delay.ms": "0",
        "message.max.bytes": str(MAX_MESSAGE_BYTES),
        "replica.fetch.max.bytes": str(MAX_MESSAGE_BYTES),
        # Each cleaner thread allocates this up front; the 128 MiB default does not fit a 512 MiB heap.
        "log.cleaner.dedupe.buffer.size": str(16 * 1024 * 1024),
        # Notice a dead node in seconds, not the default 9 s (+30 s ISR lag), so failover tests stay fast.
        "broker.heartbeat.interval.ms": "1000",
        "broker.session.timeout.ms": "4000",
        "replica.lag.time.max.ms": "10000",
    }


AUTHORIZER: Final = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
CONTROLLER_USERNAME: Final = "controller"
CONTROLLER_PRINCIPAL: Final = f"User:{CONTROLLER_USERNAME}"
"""Who the KRaft controllers (and each node's broker, to them) are on the SASL/PLAIN CONTROLLER listener."""
_SCRAM: Final = "SCRAM-SHA-512"
_PLAIN: Final = "PLAIN"


@dataclass(frozen=True, slots=True)
class BrokerSecurity:
    """A secured local cluster: SASL/SCRAM-SHA-512 for every client, ACLs enforced, no allow-all.

    The client listener is SASL_SSL on 127.0.0.1 (TLS with the cluster's own CA,
    ``onedoor.kafka.tls``; ``tls=False``: SASL_PLAINTEXT); brokers replicate over it as
    ``broker_username``. The CONTROLLER listener (loopback) is SASL_PLAINTEXT with SASL/PLAIN:
    KRaft controllers cannot use SCRAM (its users live in the metadata log they serve), so the
    one user ``controller`` and its password are in ``server.properties`` (0600), and
    ``User:controller``, not ``User:ANONYMOUS``, is the super user there (docs/threat-model.md
    E7). Keep the same value for every start of one data directory: the SCRAM users are written
    when storage is formatted.
    """

    admin_username: str = "admin"
    """The super user that provisions agency users and ACLs (``onedoor.kafka.acls``)."""
    admin_password: SecretStr = field(default_factory=new_password, repr=False)
    broker_username: str = "broker"
    """The inter-broker user (a super user)."""
    broker_password: SecretStr = field(default_factory=new_password, repr=False)
    controller_password: SecretStr = field(default_factory=new_password, repr=False)
    """The SASL/PLAIN password of ``User:controller`` on the CONTROLLER listener (a super user)."""
    extra_super_users: tuple[str, ...] = ()
    """More principals (``User:<name>``) with every right, e.g. a hub that has no least-privilege plan."""
    tls: bool = True
    """TLS on the client listener (SASL_SSL), with a CA and certificate made in ``<data dir>/tls``."""

    @property
    def listener(self) -> str:
        """The client listener's name and security protocol: ``SASL_SSL`` or ``SASL_PLAINTEXT``."""
        return "SASL_SSL" if self.tls else "SASL_PLAINTEXT"

    @property
    def admin(self) -> ClientCredentials:
        """The admin's client credentials."""
        return ClientCredentials(self.admin_username, self.admin_password)

    @property
    def super_users(self) -> tuple[str, ...]:
        """Every principal the authorizer lets do anything."""
        return (
            f"User:{self.admin_username}",
            f"User:{self.broker_username}",
            CONTROLLER_PRINCIPAL,
            *self.extra_super_users,
        )

    def properties(self, node: NodeLayout) -> dict[str, str]:
        """The broker properties that secure ``node`` (they replace its PLAINTEXT listener)."""
        jaas = (
            "org.apache.kafka.common.security.scram.ScramLoginModule required "
            f'username="{self.broker_username}" password="{self.broker_password.get_secret_value()}";'
        )
        controller = self.controller_password.get_secret_value()
        # The login (username/password) is what this node presents to the controllers; the
        # user_<name> list is the only user the CONTROLLER listener accepts.
        controller_jaas = (
            "org.apache.kafka.common.security.plain.PlainLoginModule required "
            f'username="{CONTROLLER_USERNAME}" password="{controller}" user_{CONTROLLER_USERNAME}="{controller}";'
        )
        name = self.listener
        return {
            "listeners": f"{name}://127.0.0.1:{node.broker_port},CONTROLLER://127.0.0.1:{node.controller_port}",
            "advertised.listeners": f"{name}://127.0.0.1:{node.broker_port}",
            "inter.broker.listener.name": name,
            "listener.security.protocol.map": f"CONTROLLER:SASL_PLAINTEXT,{name}:{name}",
            "sasl.enabled.mechanisms": _SCRAM,
            "sasl.mechanism.inter.broker.protocol": _SCRAM,
            f"listener.name.{name.lower()}.scram-sha-512.sasl.jaas.config": jaas,
            "listener.name.controller.sasl.enabled.mechanisms": _PLAIN,
            "sasl.mechanism.controller.protocol": _PLAIN,
            "listener.name.controller.plain.sasl.jaas.config": controller_jaas,
            "authorizer.class.name": AUTHORIZER,
            "super.users": ";".join(self.super_users),
            "allow.everyone.if.no.acl.found": "false",
        }

    def format_arguments(self) -> list[str]:
        """StorageTool ``--add-scram`` arguments creating the broker and admin users."""
        users = ((self.broker_username, self.broker_password), (self.admin_username, self.admin_password))
        arguments: list[str] = []
        for name, password in users:
            arguments += ["--add-scram", f"{_SCRAM}=[name={name},password={password.get_secret_value()}]"]
        return arguments

    def save(self, path: Path) -> None:
        """Write this to ``path`` (JSON, mode 0600) so a restart of the same data directory reuses it."""
        record = {
            "admin_username": self.admin_username,
            "admin_password": self.admin_password.get_secret_value(),
            "broker_username": self.broker_username,
            "broker_password": self.broker_password.get_secret_value(),
            "controller_password": self.controller_password.get_secret_value(),
            "extra_super_users": list(self.extra_super_users),
            "tls": self.tls,
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(record, handle)

    @classmethod
    def load_or_create(cls, path: Path, *, admin_username: str = "admin") -> BrokerSecurity:
        """The security recorded at ``path``, or a new one with fresh passwords, recorded there (0600).

        A record from before TLS (no ``tls`` key) gets TLS: the listener is configured at each start.
        A record from before the authenticated CONTROLLER listener (no ``controller_password``) gets
        a fresh one, recorded there: it is written into ``server.properties`` at each start.
        """
        if path.is_file():
            known = json.loads(path.read_text(encoding="utf-8"))
            controller = known.get("controller_password")
            loaded = cls(
                admin_username=str(known["admin_username"]),
                admin_password=SecretStr(str(known["admin_password"])),
                broker_username=str(known["broker_username"]),
                broker_password=SecretStr(str(known["broker_password"])),
                controller_password=new_password() if controller is None else SecretStr(str(controller)),
                extra_super_users=tuple(str(p) for p in known.get("extra_super_users", [])),
                tls=bool(known.get("tls", True)),
            )
            if controller is None:
                loaded.save(path)
            return loaded
        made = cls(admin_username=admin_username)
        made.save(path)
        return made


class LocalKafkaCluster:
    """One or three Kafka KRaft nodes running as local JVMs under ``data_dir``.

    Use as a context manager, or call :meth:`start` and :meth:`stop`.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        nodes: int = 1,
        version: str = DEFAULT_VERSION,
        detached: bool = False,
        start_timeout: float = 120.0,
        java: str = "java",
        jar_root: Path | None = None,
        overrides: Mapping[str, str] | None = None,
        fast_start: bool = True,
        security: BrokerSecurity | None = None,
    ) -> None:
        """Describe a cluster; nothing starts until :meth:`start`.

        Args:
            data_dir: Directory holding every node's configuration, logs and data.
            nodes: 1, or 3 for replication and fault tests.
            version: Apache Kafka version (Maven Central ``kafka_2.13``).
            detached: Let the JVMs outlive this process (``onedoor kafka up``).
            start_timeout: Seconds to wait for every node to report ready.
            java: The ``java`` executable.
            jar_root: Jar cache root (default ``${XDG_CACHE_HOME:-~/.cache}/onedoor/kafka``).
            overrides: Extra broker properties, applied to every node last.
            fast_start: JIT with C1 only: about half the start time, lower peak throughput.
                Pass False for benchmarks.
            security: SASL/SCRAM listeners and enforced ACLs (:class:`BrokerSecurity`); ``None``
                (the default) keeps the PLAINTEXT listener with no authorizer.
        """
        if nodes not in (1, 3):
            raise ValidationFailed("kafka.nodes_unsupported", f"a local cluster has 1 or 3 nodes, not {nodes}")
        self.data_dir = data_dir.resolve()
        self.version = version
        self.detached = detached
        self.start_timeout = start_timeout
        self._java = java
        self._jar_root = jar_root
        self._overrides = dict(overrides or {})
        self.security = security
        self._jvm_options = (*_JVM_OPTIONS, _FAST_START) if fast_start else _JVM_OPTIONS
        self._node_count = nodes
        self._layouts: list[NodeLayout] = []
        self._procs: list[subprocess.Popen[bytes] | None] = [None] * nodes
        # Where each node's server.log ended when it was last launched: readiness is looked for after it.
        self._log_offsets: list[int] = [0] * nodes
        self._reaper: subprocess.Popen[bytes] | None = None
        self._classpath = ""
        self._java_path = ""
        self.cluster_id = ""

    # -- what callers read -------------------------------------------------------------------

    @property
    def nodes(self) -> list[NodeLayout]:
        """Every node's layout (empty before :meth:`start`)."""
        return list(self._layouts)

    @property
    def bootstrap_servers(self) -> str:
        """``host:port`` of every node, comma-separated."""
        self._require_started()
        return ",".join(f"127.0.0.1:{node.broker_port}" for node in self._layouts)

    @property
    def tls(self) -> BrokerTls | None:
        """The cluster's TLS files (``<data_dir>/tls``) when its client listener is SASL_SSL, else ``None``."""
        return BrokerTls(self.data_dir / "tls") if self.security is not None and self.security.tls else None

    @property
    def ca_file(self) -> Path | None:
        """The CA certificate clients must trust (``ClientCredentials.ca_file``); ``None`` without TLS."""
        tls = self.tls
        return None if tls is None else tls.ca_file

    @property
    def admin_credentials(self) -> ClientCredentials | None:
        """The super user's client credentials on a secured cluster (with the CA under TLS), else ``None``."""
        return None if self.security is None else replace(self.security.admin, ca_file=self.ca_file)

    @property
    def log_dirs(self) -> list[Path]:
        """Each node's ``log.dirs`` directory, in node order (raw segments for inspection)."""
        self._require_started()
        return [node.log_dir for node in self._layouts]

    @property
    def node_pids(self) -> list[int | None]:
        """Each node's JVM pid, or None where the node is not running."""
        return [proc.pid if proc is not None and proc.poll() is None else None for proc in self._procs]

    def is_running(self, index: int) -> bool:
        """Tell whether node ``index`` (0-based) has a live JVM."""
        proc = self._procs[index]
        return proc is not None and proc.poll() is None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> Self:
        """Resolve jars, format storage where needed, start every node and wait until all are ready.

        Raises:
            KafkaJarsUnavailable: the broker jars could not be resolved.
            KafkaRuntimeError: Java is missing or storage formatting failed.
            KafkaStartFailed: a node exited or was not ready in time (message has log tails).
        """
        if self._layouts:
            raise KafkaStateInvalid("this cluster was already started; use start_node() to restart a node")
        began = time.monotonic()
        java_path = shutil.which(self._java)
        if java_path is None:
            raise KafkaRuntimeError(
                "kafka.java_missing",
                f"Java ({self._java}) is not on PATH; install Java 11+ (17 recommended) or set KAFKA_BOOTSTRAP_SERVERS",
            )
        self._java_path = java_path
        self._classpath = classpath(ensure_jars(self.version, root=self._jar_root))
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.cluster_id = self._cluster_id()
        ports = _process.free_ports(2 * self._node_count)
        self._layouts = [
            NodeLayout(i + 1, ports[2 * i], ports[2 * i + 1], self.data_dir / f"node-{i + 1}")
            for i in range(self._node_count)
        ]
        try:
            for node in self._layouts:
                self._write_config(node)
            self._format_storage()
            for index in range(self._node_count):
                self._launch(index)
            self._wait_ready(range(self._node_count))
        except BaseException:
            # Half a cluster is worse than none: it holds ports and confuses the next attempt.
            self._stop_all(grace=5.0)
            raise
        log.info(
            "kafka.local.started",
            nodes=self._node_count,
            bootstrap=self.bootstrap_servers,
            seconds=round(time.monotonic() - began, 2),
            detached=self.detached,
        )
        return self

    def stop(self, *, grace: float = 30.0) -> None:
        """Stop every node: SIGTERM (controlled shutdown), SIGKILL whatever is left after ``grace`` s."""
        self._stop_all(grace=grace)
        log.info("kafka.local.stopped", data_dir=str(self.data_dir))

    def kill_node(self, index: int) -> None:
        """SIGKILL node ``index`` (0-based): a crash, with no controlled shutdown."""
        proc = self._procs[index]
        if proc is not None:
            _process.kill(proc.pid, marker=None, popen=proc)
            self._unregister(proc.pid, self._layouts[index])
        log.info("kafka.local.node_killed", node=index + 1)

    def stop_node(self, index: int, *, grace: float = 30.0) -> None:
        """Stop node ``index`` (0-based) gracefully, as an operator's rolling restart would."""
        proc = self._procs[index]
        if proc is not None:
            _process.terminate(proc.pid, marker=None, popen=proc, grace=grace)
            self._unregister(proc.pid, self._layouts[index])
        log.info("kafka.local.node_stopped", node=index + 1)

    def start_node(self, index: int, *, wait: bool = True) -> None:
        """Start node ``index`` (0-based) again on its old ports and data; wait until ready."""
        self._require_started()
        if self.is_running(index):
            return
        self._launch(index)
        if wait:
            self._wait_ready([index])

    def wait_ready(self, index: int, *, timeout: float | None = None) -> None:
        """Wait until node ``index`` is ready again (after ``start_node(..., wait=False)``)."""
        self._wait_ready([index], timeout=timeout)

    def __enter__(self) -> Self:
        return self.start() if not self._layouts else self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def log_tails(self, lines: int = 40) -> str:
        """Return the tail of every node's broker log and JVM output, for error messages."""
        parts = []
        for node in self._layouts:
            parts.append(f"--- node {node.node_id}: {node.server_log} ---\n{tail(node.server_log, lines)}")
            jvm = tail(node.jvm_out, 10).strip()
            if jvm:
                parts.append(f"--- node {node.node_id}: {node.jvm_out} ---\n{jvm}")
        return "\n".join(parts)

    # -- internals ---------------------------------------------------------------------------

    def _require_started(self) -> None:
        if not self._layouts:
            raise KafkaStateInvalid("the cluster has not been started")

    def _cluster_id(self) -> str:
        """Reuse the id of existing data in ``data_dir``, or make and record a new one."""
        record = self.data_dir / "cluster.json"
        if record.is_file():
            known = json.loads(record.read_text(encoding="utf-8"))
            if known.get("nodes") != self._node_count:
                raise KafkaStateInvalid(
                    f"{self.data_dir} holds a {known.get('nodes')}-node cluster, not {self._node_count}: "
                    "remove it (onedoor kafka down --purge) or use another directory"
                )
            return str(known["cluster_id"])
        cluster_id = new_cluster_id()
        record.write_text(
            json.dumps({"cluster_id": cluster_id, "nodes": self._node_count, "version": self.version}) + "\n",
            encoding="utf-8",
        )
        return cluster_id

    def _write_config(self, node: NodeLayout) -> None:
        node.log_dir.mkdir(parents=True, exist_ok=True)
        props = server_properties(node, self._layouts)
        if self.security is not None:
            props |= self.security.properties(node)
        if self.tls is not None:
            props |= ensure_broker_tls(self.tls.directory).properties()
        props |= self._overrides
        text = "".join(f"{k}={v}\n" for k, v in props.items())
        if self.security is None:
            node.properties.write_text(text, encoding="utf-8")
        else:
            # It holds the inter-broker and controller passwords: readable by the owner only.
            fd = os.open(node.properties, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
        log4j = resources.files("onedoor.kafka").joinpath("log4j.properties").read_text(encoding="utf-8")
        (node.home / "log4j.properties").write_text(log4j, encoding="utf-8")

    def _jvm(self, node: NodeLayout, main_class: str, *args: str) -> list[str]:
        return [
            self._java_path,
            *self._jvm_options,
            f"-Dlog4j.configuration=file:{node.home / 'log4j.properties'}",
            f"-Dkafka.logs.dir={node.home}",
            "-cp",
            self._classpath,
            main_class,
            *args,
        ]

    def _jvm_from_file(self, node: NodeLayout, argfile: Path, main_class: str, *args: str) -> list[str]:
        """``_jvm``'s command with the main class and its arguments read from ``argfile`` (made 0600)."""
        command = self._jvm(node, main_class)
        write_atomically(argfile, "".join(f"{_java_quoted(a)}\n" for a in (main_class, *args)).encode())
        return [*command[:-1], f"@{argfile}"]

    def _format_storage(self) -> None:
        """Run StorageTool on every node in parallel (each is a JVM start, about a second)."""
        try:
            failures = self._run_storage_tool()
        finally:
            for node in self._layouts:  # the argument files hold passwords: gone whatever happened
                _format_argfile(node).unlink(missing_ok=True)
        if failures:
            raise KafkaRuntimeError("kafka.format_failed", "formatting KRaft storage failed:\n" + "\n".join(failures))

    def _run_storage_tool(self) -> list[str]:
        runs = []
        for node in self._layouts:
            arguments = ["format", "-c", str(node.properties), "-t", self.cluster_id, "--ignore-formatted"]
            if self.security is None:
                command = self._jvm(node, "kafka.tools.StorageTool", *arguments)
            else:
                # StorageTool takes the SCRAM passwords only as arguments: they go in a 0600 Java
                # argument file, so ``ps`` and /proc/<pid>/cmdline show its path, never a password.
                secret = [*arguments, *self.security.format_arguments()]
                command = self._jvm_from_file(node, _format_argfile(node), "kafka.tools.StorageTool", *secret)
            runs.append(
                (
                    node,
                    subprocess.Popen(
                        command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
                    ),
                )
            )
        failures = []
        for node, proc in runs:
            try:
                out, _ = proc.communicate(timeout=120)
            except subprocess.TimeoutExpired:
                proc.kill()
                out, _ = proc.communicate()
                failures.append(f"node {node.node_id}: StorageTool did not finish within 120s")
                continue
            if proc.returncode != 0:
                text = self._without_passwords(out.decode(errors="replace").strip())
                failures.append(f"node {node.node_id} (exit {proc.returncode}):\n{text[-3000:]}")
        return failures

    def _without_passwords(self, text: str) -> str:
        """``text`` with every password of the cluster's security blanked (a tool may echo its arguments)."""
        if self.security is None:
            return text
        for secret in (
            self.security.admin_password,
            self.security.broker_password,
            self.security.controller_password,
        ):
            text = text.replace(secret.get_secret_value(), "**********")
        return text

    def _launch(self, index: int) -> None:
        """Start node ``index``'s JVM."""
        node = self._layouts[index]
        self._log_offsets[index] = node.server_log.stat().st_size if node.server_log.exists() else 0
        command = self._jvm(node, "kafka.Kafka", str(node.properties))
        if not self.detached:
            command = _die_with_owner() + command
        with node.jvm_out.open("ab") as out:
            proc = subprocess.Popen(
                command,
                cwd=node.home,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                # Own session: Ctrl-C on the terminal reaches the owner, which then stops brokers in order.
                start_new_session=True,
            )
        self._procs[index] = proc
        if not self.detached:
            self._register(proc.pid, node)
        log.info("kafka.local.node_launched", node=node.node_id, pid=proc.pid, port=node.broker_port)

    def _wait_ready(self, indexes: Iterable[int], *, timeout: float | None = None) -> None:
        """Wait until each node logged READY_LINE since its launch and accepts connections."""
        limit = timeout if timeout is not None else self.start_timeout
        deadline = time.monotonic() + limit
        waiting = set(indexes)
        while waiting:
            for index in sorted(waiting):
                node = self._layouts[index]
                proc = self._procs[index]
                if proc is None or proc.poll() is not None:
                    code = None if proc is None else proc.returncode
                    raise KafkaStartFailed(
                        f"Kafka node {node.node_id} exited (code {code}) before it was ready.\n{self.log_tails()}"
                    )
                offset = self._log_offsets[index]
                if _logged_since(node.server_log, offset, READY_LINE) and _process.port_open(node.broker_port):
                    waiting.discard(index)
            if not waiting:
                return
            if time.monotonic() > deadline:
                names = ", ".join(str(self._layouts[i].node_id) for i in waiting)
                raise KafkaStartFailed(f"Kafka node(s) {names} not ready after {limit:.0f}s.\n{self.log_tails()}")
            time.sleep(0.1)

    def _stop_all(self, *, grace: float) -> None:
        targets: list[tuple[int, str | None, subprocess.Popen[bytes] | None]] = [
            (proc.pid, None, proc) for proc in self._procs if proc is not None
        ]
        _process.terminate_all(targets, grace=grace)
        for proc, node in zip(self._procs, self._layouts, strict=False):
            if proc is not None:
                self._unregister(proc.pid, node)
        self._close_reaper()

    # -- reaper: kills our JVMs if this process dies without stopping them -------------------

    def _register(self, pid: int, node: NodeLayout) -> None:
        reaper = self._ensure_reaper()
        self._tell_reaper(reaper.stdin, f"+ {pid} {node.properties}\n")

    def _unregister(self, pid: int, node: NodeLayout) -> None:
        if self._reaper is not None:
            self._tell_reaper(self._reaper.stdin, f"- {pid} {node.properties}\n")

    def _ensure_reaper(self) -> subprocess.Popen[bytes]:
        if self._reaper is None or self._reaper.poll() is not None:
            self._reaper = subprocess.Popen(
                [sys.executable, "-m", "onedoor.kafka._reaper"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                # Not our stderr: a caller capturing it would otherwise wait for the reaper too.
                stderr=subprocess.DEVNULL,
                start_new_session=True,
                env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
            )
            # A reaper that failed to start would fail silently later; say so now instead.
            out = self._reaper.stdout
            answered = out is not None and select.select([out], [], [], 10.0)[0]
            if not answered or out is None or out.readline() != _reaper.READY:
                log.warning("kafka.local.reaper_unavailable", detail="JVMs may outlive a crash of this process")
        return self._reaper

    @staticmethod
    def _tell_reaper(stdin: IO[bytes] | None, line: str) -> None:
        if stdin is None:
            return
        try:
            stdin.write(line.encode())
            stdin.flush()
        except BrokenPipeError:
            pass  # the reaper is gone; stop() still stops the JVMs itself

    def _close_reaper(self) -> None:
        if self._reaper is None:
            return
        if self._reaper.stdin is not None:
            self._reaper.stdin.close()
        if self._reaper.stdout is not None:
            self._reaper.stdout.close()
        try:
            self._reaper.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._reaper.kill()
        self._reaper = None


def _format_argfile(node: NodeLayout) -> Path:
    return node.home / "format.args"


def _java_quoted(argument: str) -> str:
    """One argument of a Java ``@argfile``: in double quotes, with backslashes and quotes escaped."""
    return '"' + argument.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _die_with_owner() -> list[str]:
    """Return a command prefix that has the kernel SIGKILL the JVM when this process dies.

    Backs up the reaper for when a whole process tree is killed at once (reaper included).
    PR_SET_PDEATHSIG fires when the launching *thread* ends, so it is used only from the main
    thread, which lives as long as the process; ``setpriv`` (util-linux) is Linux-only.
    """
    setpriv = shutil.which("setpriv")
    if setpriv is None or threading.current_thread() is not threading.main_thread():
        return []
    return [setpriv, "--pdeathsig", "KILL", "--"]


def _logged_since(path: Path, offset: int, needle: str) -> bool:
    """Tell whether ``needle`` appears in ``path`` after byte ``offset``."""
    try:
        with path.open("rb") as handle:
            size = handle.seek(0, 2)
            # The file rolled over (RollingFileAppender) since the offset was taken: read it all.
            handle.seek(offset if size >= offset else 0)
            return needle.encode() in handle.read()
    except FileNotFoundError:
        return False
