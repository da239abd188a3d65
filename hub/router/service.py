"""The router's async shell: consume outbound topics, decide, produce, audit, commit.

Delivery is at-least-once and idempotent end to end: a batch's offsets are committed only
after every routed copy and dead letter is acknowledged by all in-sync replicas (acks=all,
idempotent producer) and its audit rows are written. A crash before the commit re-reads the
batch; recipients drop the duplicates by message id. Kafka transactions are not used
(aiokafka implements only protocol v0, with open bugs).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from hub.deadletters.wire import replayed_sender, router_pattern
from hub.fleet.effect import applied_row
from hub.ops.telemetry import router_batch_span
from hub.policy.bus import PolicyEvent, PolicyListener
from hub.router.decide import Decision, Delivered, Limits, Rejected, decide
from hub.router.publisher import BatchPublisher
from hub.router.status import ENUMERATION_SUSPECTED, EnumerationAlert, StatusBook, StatusLimits
from hub.router.tables import RoutingTables
from onedoor.envelope import report
from onedoor.envelope.cloudevents import ce_headers
from onedoor.envelope.reasons import Reason
from onedoor.envelope.window import MessageWindow
from onedoor.envelope.wire import read_header
from onedoor.errors import ValidationFailed
from onedoor.ids import MessageId
from onedoor.kafka.security import ClientCredentials, aiokafka_options
from onedoor.logging import get_logger
from onedoor.topics import TopicNames

log = get_logger(__name__)

# Reasons that may only mean "the registry changed a moment ago": re-decide after a refresh.
_REGISTRY_REASONS = frozenset(
    {
        Reason.SENDER_UNKNOWN,
        Reason.SENDER_KEY_UNKNOWN,
        Reason.RECIPIENT_UNKNOWN,
        Reason.CONTRACT_UNKNOWN,
        Reason.CONTRACT_VERSION_UNKNOWN,
        Reason.SENDER_SUSPENDED,
    }
)

TablesLoader = Callable[[], RoutingTables]
"""Builds a fresh registry snapshot (blocking; run in a thread)."""
AuditSink = Callable[[Sequence[dict[str, Any]]], None]
"""Appends audit rows durably (blocking; run in a thread)."""
TopicProvisioner = Callable[[Sequence[str]], Any]
"""Ensures the given agencies' topics exist (async)."""


@dataclass(slots=True)
class RouterStats:
    """Counters since start, for metrics and the demo."""

    delivered: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    batches: int = 0
    policy_reloads: int = 0
    """Reloads caused by an announced agreement or consent change."""


@dataclass(frozen=True, slots=True)
class _InFlight:
    """A decided batch waiting for its broker acknowledgements, audit rows and offset commit."""

    futures: list[Any]
    rows: list[dict[str, Any]]
    offsets: dict[Any, int]


@dataclass(frozen=True, slots=True)
class RouterConfig:
    """How one router process connects and what it enforces."""

    bootstrap_servers: str
    topics: TopicNames
    limits: Limits
    batch_max_records: int = 2000
    refresh_interval_s: float = 2.0
    group_id: str | None = None
    pipeline_depth: int = 16
    """Decided batches that may await acknowledgement, audit and commit at once."""
    listen_for_policy: bool = True
    """Reload at once when the hub API announces a change (policy and registry topics, ``hub.policy.bus``)."""
    replication_factor: int = 1
    """For the policy topic, if the router is the first to need it."""
    status: StatusLimits = field(default_factory=StatusLimits)
    """Deadlines, rate limits and the enumeration watch of status checks (``hub.router.status``)."""
    credentials: ClientCredentials | None = None
    """The hub's SCRAM identity on a secured broker (``hub_acl_plan``); ``None``: PLAINTEXT."""


def _iso(ms: int | None) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, tz=UTC)


def _clip(value: str | None, limit: int) -> str | None:
    # Header fields are authenticated but sender-chosen: never let one overflow a column and
    # stall the router on a batch it can never write.
    return value if value is None or len(value) <= limit else value[: limit - 1] + "~"


def _audit_row(decision: Decision, position: str, now: datetime) -> dict[str, Any]:
    if isinstance(decision, Delivered):
        # Every field of a delivered envelope passed a check that bounds its length.
        return {
            "at": now,
            "kind": "route.delivered",
            "actor": decision.sender,
            "outcome": "delivered",
            "reason_code": None,
            "message_id": decision.message_id,
            "correlation_id": _clip(decision.correlation_id, 128),
            "contract": _clip(decision.contract, 128),
            "contract_version": decision.contract_version,
            "recipients": ",".join(decision.recipients),
            "source": position,
            "expires_at": _iso(decision.expires_at_ms),
            "agreement_id": _clip(decision.agreement_id, 64),
            "agreement_version": decision.agreement_version,
            "purpose": _clip(decision.purpose, 64),
            "subject_token": decision.subject_token,
            "detail": _clip(decision.detail, 2000),
            # End to end so far: envelope created (sender's clock) to routed; the ops dashboard's percentiles.
            "latency_ms": max(0, int(now.timestamp() * 1000) - decision.created_at_ms),
        }
    return {
        "at": now,
        "kind": "route.rejected",
        "actor": _clip(decision.sender, 64),
        "outcome": "rejected",
        "reason_code": decision.reason.value,
        "message_id": decision.message_id if decision.message_id and len(decision.message_id) == 36 else None,
        "correlation_id": _clip(decision.correlation_id, 128),
        "contract": _clip(decision.contract, 128),
        "contract_version": decision.contract_version,
        "recipients": _clip(",".join(decision.recipients), 4000) or None,
        "source": _clip(position, 255),
        "expires_at": _iso(decision.expires_at_ms),
        "agreement_id": decision.agreement_id,
        "agreement_version": decision.agreement_version,
        "purpose": decision.purpose,
        "subject_token": decision.subject_token,
        "detail": _clip(decision.detail, 2000),
    }


def _alert_row(alert: EnumerationAlert, now: datetime) -> dict[str, Any]:
    # Counts only: which checks (and so which young people) stay in their own route.* rows.
    return {
        "at": now,
        "kind": ENUMERATION_SUSPECTED,
        "actor": _clip(alert.requester, 64),
        "outcome": "alert",
        "reason_code": ENUMERATION_SUSPECTED,
        "message_id": None,
        "correlation_id": None,
        "contract": None,
        "contract_version": None,
        "recipients": None,
        "source": None,
        "expires_at": None,
        "agreement_id": None,
        "agreement_version": None,
        "purpose": None,
        "subject_token": None,
        "detail": alert.detail,
    }


class Router:
    """One hub router process. Use as ``async with Router(...) as router: await router.run()``."""

    def __init__(
        self,
        config: RouterConfig,
        *,
        load_tables: TablesLoader,
        audit: AuditSink,
        provision: TopicProvisioner | None = None,
        replay: MessageWindow | None = None,
        status: StatusBook | None = None,
    ) -> None:
        self._config = config
        self._load_tables = load_tables
        self._audit = audit
        self._provision = provision
        self.replay = MessageWindow() if replay is None else replay
        # Per process, like the replay window: see docs/architecture.md, "Not built yet".
        self.status = StatusBook(config.status) if status is None else status
        self.stats = RouterStats()
        self._tables: RoutingTables | None = None
        self._tables_at = 0.0
        self._refresh_lock = asyncio.Lock()
        self._listener: PolicyListener | None = None
        self._provisioned: set[str] = set()
        self._owners: dict[str, str | None] = {}
        self._stopping = asyncio.Event()
        self._consumer: AIOKafkaConsumer | None = None
        self._producer: AIOKafkaProducer | None = None
        self._publisher: BatchPublisher | None = None
        self.ready = asyncio.Event()

    async def __aenter__(self) -> Router:
        await self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        """Load the registry, make sure topics exist, connect to Kafka."""
        await self._refresh(force=True)
        cfg = self._config
        self._producer = AIOKafkaProducer(
            bootstrap_servers=cfg.bootstrap_servers,
            acks="all",
            enable_idempotence=True,
            linger_ms=1,
            max_batch_size=512 * 1024,
            max_request_size=8 * 1024 * 1024,
            client_id="onedoor-hub-router",
            **aiokafka_options(cfg.credentials),
        )
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=cfg.bootstrap_servers,
            group_id=cfg.group_id or f"{cfg.topics.prefix}.hub-router",
            client_id="onedoor-hub-router",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_uncommitted",
            max_partition_fetch_bytes=8 * 1024 * 1024,
            fetch_max_bytes=64 * 1024 * 1024,
            metadata_max_age_ms=1000,
            # A fetch parked at the broker answers late under light load; poll briskly instead.
            fetch_max_wait_ms=5,
            **aiokafka_options(cfg.credentials),
        )
        await self._producer.start()
        self._publisher = BatchPublisher(self._producer)
        try:
            await self._consumer.start()
        except BaseException:
            await self._producer.stop()
            raise
        # Outbound topics, and the replay topic of operators' dead-letter replays (hub.deadletters.wire).
        self._consumer.subscribe(pattern=router_pattern(cfg.topics))
        if cfg.listen_for_policy:
            self._listener = PolicyListener(
                cfg.bootstrap_servers,
                cfg.topics,  # the policy and the registry topic (hub.policy.bus)
                self._on_policy_change,
                replication_factor=cfg.replication_factor,
                credentials=cfg.credentials,
            )
            await self._listener.start()
        log.info("router.started", prefix=cfg.topics.prefix, agencies=len(self._tables_or_fail().agencies))

    async def stop(self) -> None:
        """Stop consuming; flush and close the producer."""
        self._stopping.set()
        if self._listener is not None:
            await self._listener.stop()
        if self._consumer is not None:
            await self._consumer.stop()
        if self._producer is not None:
            await self._producer.stop()
        log.info("router.stopped", delivered=self.stats.delivered, rejected=sum(self.stats.rejected.values()))

    def assigned_partitions(self) -> int:
        """How many outbound-topic partitions this router currently owns (0 before the group settles)."""
        return 0 if self._consumer is None else len(self._consumer.assignment())

    def request_stop(self) -> None:
        """Ask ``run`` to return after the batch in hand."""
        self._stopping.set()

    def _publisher_or_fail(self) -> BatchPublisher:
        if self._publisher is None:
            raise RuntimeError("router not started")
        return self._publisher

    @property
    def tables(self) -> RoutingTables:
        """The registry and policy snapshot routing decisions are made against now."""
        return self._tables_or_fail()

    def _tables_or_fail(self) -> RoutingTables:
        if self._tables is None:
            raise RuntimeError("router tables not loaded; call start() first")
        return self._tables

    async def _refresh(self, *, force: bool = False, changed_at: float | None = None) -> bool:
        """Reload the registry snapshot if it is older than the refresh interval (or forced).

        Reloads never overlap, and each swaps in tables read after it began: so a reload asked
        for by a change announced at ``changed_at`` (monotonic) is skipped only when one that
        began after the announcement has already finished.
        """
        if not force and time.monotonic() - self._tables_at < self._config.refresh_interval_s:
            return False
        async with self._refresh_lock:
            if changed_at is not None and self._tables_at > changed_at:
                return False
            began = time.monotonic()
            tables = await asyncio.to_thread(self._load_tables)
            now_ms = int(time.time() * 1000)
            self.replay.forget_expired(now_ms)
            self.status.forget_expired(now_ms)
            new_agencies = [a for a in tables.agencies if a not in self._provisioned]
            if new_agencies and self._provision is not None:
                await self._provision(new_agencies)
            self._provisioned.update(new_agencies)
            self._tables, self._tables_at = tables, began
            return True

    async def _on_policy_change(self, event: PolicyEvent) -> None:
        arrived = time.monotonic()
        # When the tables in force on arrival began loading (wall clock): they may already hold the change.
        arrived_ms = int(time.time() * 1000)
        loaded_ms = arrived_ms - round((arrived - self._tables_at) * 1000)
        reloaded = await self._refresh(force=True, changed_at=arrived)
        if reloaded:
            self.stats.policy_reloads += 1
            log.info("router.policy_reloaded", kind=event.kind.value)
        # How long the change took to take effect here: a policy.applied audit row (hub.fleet).
        finished_ms = arrived_ms if loaded_ms >= event.at_ms else int(time.time() * 1000)
        row = applied_row(event, self._tables_or_fail(), finished_ms=finished_ms, reloaded=reloaded)
        await asyncio.to_thread(self._audit, [row])

    def _owner(self, topic: str) -> str | None:
        if topic not in self._owners:
            owner = self._config.topics.owner_of_outbound(topic)
            self._owners[topic] = None if owner is None else str(owner)
        return self._owners[topic]

    async def run(self) -> None:
        """Route until ``request_stop``; after a failure, re-read from the last commit.

        Routing and completion are pipelined: while the broker acknowledges one batch and its
        audit rows are written, the next batch is already being decided. Completion (acks,
        audit, offset commit) happens strictly in batch order, so a commit never covers a
        record whose copies or audit row are not yet durable.
        """
        consumer = self._consumer
        if consumer is None:
            raise RuntimeError("router not started")
        self.ready.set()
        backoff = 0.2
        while not self._stopping.is_set():
            inflight: asyncio.Queue[_InFlight | None] = asyncio.Queue(maxsize=self._config.pipeline_depth)
            completer = asyncio.create_task(self._complete(inflight))
            try:
                await self._route_until_stopped(inflight, completer)
                await inflight.put(None)
                await completer
            except Exception:  # keep routing: nothing uncommitted is lost, it is read again
                log.exception("router.batch_failed", retry_in_s=backoff)
                completer.cancel()
                with contextlib.suppress(BaseException):
                    await completer
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                for tp in consumer.assignment():
                    with contextlib.suppress(Exception):
                        await consumer.seek_to_committed(tp)
            else:
                return

    async def _route_until_stopped(
        self, inflight: asyncio.Queue[_InFlight | None], completer: asyncio.Task[None]
    ) -> None:
        consumer = self._consumer
        assert consumer is not None  # noqa: S101 - run() checked it
        while not self._stopping.is_set():
            if completer.done():
                completer.result()  # re-raises what failed
            batches = await consumer.getmany(timeout_ms=100, max_records=self._config.batch_max_records)
            # Registry changes (suspension, revocation, new agencies) apply within the refresh
            # interval even under constant traffic.
            await self._refresh()
            if batches:
                with router_batch_span(sum(len(records) for records in batches.values())):  # off: a no-op
                    routed = await self._route_batch(batches)
                await inflight.put(routed)

    async def _complete(self, inflight: asyncio.Queue[_InFlight | None]) -> None:
        consumer = self._consumer
        assert consumer is not None  # noqa: S101 - run() checked it
        done = False
        while not done:
            # Take every batch already waiting, so one audit transaction and one offset commit
            # cover them all: completion keeps up however small the batches get.
            first = await inflight.get()
            waiting = [first]
            while not inflight.empty():
                waiting.append(inflight.get_nowait())
            done = waiting[-1] is None
            batches = [b for b in waiting if b is not None]
            if not batches:
                continue
            futures = [f for b in batches for f in b.futures]
            if futures:
                await asyncio.gather(*futures)
            await asyncio.to_thread(self._audit, [row for b in batches for row in b.rows])
            offsets: dict[Any, int] = {}
            for b in batches:
                offsets.update(b.offsets)
            await consumer.commit(offsets)
            self.stats.batches += len(batches)

    def _decide(self, record: Any, position: str, owner: str | None, tables: RoutingTables, now_ms: int) -> Decision:
        return decide(
            record.value or b"",
            owner=owner,
            position=position,
            now_ms=now_ms,
            tables=tables,
            replay=self.replay,
            limits=self._config.limits,
            status=self.status,
        )

    async def _route_batch(self, batches: dict[Any, list[Any]]) -> _InFlight:
        cfg = self._config
        now_ms = int(time.time() * 1000)
        now = datetime.now(UTC)
        decisions: list[tuple[Any, str, Decision]] = []
        retry: list[tuple[Any, str, str | None]] = []
        tables = self._tables_or_fail()
        for tp, records in batches.items():
            topic_owner = self._owner(tp.topic)
            for record in records:
                # A replayed dead letter names its sender in a header only the hub can write.
                owner = topic_owner or replayed_sender(tp.topic, record.headers, cfg.topics)
                position = f"{tp.topic}:{tp.partition}:{record.offset}"
                if owner is not None and owner in tables.agencies and report.is_report(record.headers):
                    decisions.append((record, position, _report_decision(record, owner, tables)))
                    continue
                decision = self._decide(record, position, owner, tables, now_ms)
                if isinstance(decision, Rejected) and decision.reason in _REGISTRY_REASONS:
                    retry.append((record, position, owner))
                else:
                    decisions.append((record, position, decision))
        if retry:
            # The registry may have changed since the snapshot: look again before refusing.
            await self._refresh(force=time.monotonic() - self._tables_at > 0.25)
            tables = self._tables_or_fail()
            decisions.extend(
                (record, position, self._decide(record, position, owner, tables, now_ms))
                for record, position, owner in retry
            )

        publisher = self._publisher_or_fail()
        rows = []
        for record, position, decision in decisions:
            rows.append(_audit_row(decision, position, now))
            if isinstance(decision, Delivered):
                headers = ce_headers(
                    message_id=decision.message_id,
                    sender=decision.sender,
                    contract=decision.contract,
                    contract_version=decision.contract_version,
                    created_at_ms=decision.created_at_ms,
                )
                key = (decision.subject_token or decision.correlation_id).encode()
                for recipient in decision.recipients:
                    inbox = f"{cfg.topics.prefix}.in.{recipient}"
                    await publisher.add(inbox, key, record.value, headers)
                self.stats.delivered += 1
            else:
                await publisher.add(
                    cfg.topics.dead_letter,
                    record.key,
                    record.value or b"",
                    _dead_letter_headers(decision, position, record),
                )
                self.stats.rejected[decision.reason.value] += 1
                log.info(
                    "route.rejected",
                    reason=decision.reason.value,
                    sender=decision.sender,
                    message_id=decision.message_id,
                    source=position,
                )
        for alert in self.status.drain_alerts():
            # Alert, don't block: the rate limit is the blocking control. The row names the
            # requester for the operator; the log line carries no identifier.
            rows.append(_alert_row(alert, now))
            log.warning(
                ENUMERATION_SUSPECTED,
                checks_in_window=alert.checks_in_window,
                threshold=alert.threshold,
                window_s=alert.window_ms // 1000,
            )
        offsets = {tp: records[-1].offset + 1 for tp, records in batches.items() if records}
        return _InFlight(futures=await publisher.flush(), rows=rows, offsets=offsets)


def _report_decision(record: Any, reporter: str, tables: RoutingTables) -> Rejected:
    """A recipient refused an envelope the hub delivered (bad signature, malformed body...)."""
    value = record.value or b""
    claimed = report.verified_reason(record.headers or (), value, lambda key_id: tables.mac_key(reporter, key_id))
    if claimed is None:
        return Rejected(Reason.TAMPERED, "rejection report without a valid hub MAC", reporter)
    reason = Reason(claimed) if claimed in Reason._value2member_map_ else Reason.MALFORMED
    message_id = contract = correlation = None
    version = expires = None
    recipients: tuple[str, ...] = ()
    with contextlib.suppress(ValidationFailed):
        h = read_header(value)
        message_id = h["message_id"] if MessageId.pattern.fullmatch(h["message_id"]) else None
        contract, version, correlation = h["contract"], h["contract_version"], h["correlation_id"]
        recipients, expires = tuple(h["recipients"]), h["expires_at"]
    return Rejected(
        reason,
        f"refused by recipient {reporter}",
        reporter,
        message_id=message_id,
        contract=contract,
        contract_version=version,
        correlation_id=correlation,
        recipients=recipients,
        expires_at_ms=expires,
    )


def _dead_letter_headers(decision: Rejected, position: str, record: Any) -> list[tuple[str, bytes]]:
    headers = [
        ("od_reason", decision.reason.value.encode()),
        ("od_detail", decision.detail.encode()),
        ("od_source", position.encode()),
        ("od_rejected_at", datetime.now(UTC).isoformat().encode()),
    ]
    if decision.sender:
        headers.append(("od_sender", decision.sender.encode()))
    if report.is_report(record.headers):
        headers.append(("od_reported_by", (decision.sender or "").encode()))
    if decision.message_id:
        headers.append(("ce_id", decision.message_id.encode()))
    return headers
