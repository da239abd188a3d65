"""The ops snapshot task: once a second, tail new audit rows and rebuild the dashboard's figures.

One task per API process (started in the lifespan by :func:`running`). Each tick it reads the
audit rows appended since the last (by id, metadata columns only), counts the routing decisions
in rolling windows (``hub.ops.flow``), takes the consumer lag read every few seconds in the
background (``hub.ops.lag``) and the optional sections other components provide, and stores
one :class:`~hub.ops.schemas.Snapshot` with its JSON already encoded. Every viewer, JSON, SSE
or Prometheus, reads that cached result: no request ever recomputes an aggregate.

The task starts at the newest audit row (the windows fill from the moment the process starts;
rates are over the time it has been up). A failing tick is logged and retried a second later.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, cast

from fastapi import FastAPI
from pydantic import BaseModel
from sqlalchemy import String, Table, func, null, select, type_coerce
from sqlalchemy.orm import Session, sessionmaker

from hub.audit.models import AuditEvent
from hub.auth.policy import AuthzDecision
from hub.auth.tokens import Principal
from hub.ops.flow import DELIVERED, REJECTED, WINDOWS, FlowWindows, batch_from_rows
from hub.ops.lag import LagReader
from hub.ops.readaudit import ReadAudit
from hub.ops.schemas import InboxLag, Snapshot
from onedoor.logging import get_logger
from onedoor.periodic import every
from onedoor.settings import Settings

log = get_logger(__name__)

DEFAULT_WINDOW = "1m"
CHUNK_ROWS = 50_000
"""Audit ids read per query: a backlog is read in slices so one tick never holds it all."""
MAX_ROWS_PER_TICK = 500_000

_TABLE = cast(Table, AuditEvent.__table__)
_LATENCY = _TABLE.c.get("latency_ms")
_COLUMNS = (
    type_coerce(_TABLE.c.at, String),  # SQLite's text as stored: parsed once per second, not per row
    _TABLE.c.kind,
    _TABLE.c.actor,
    _TABLE.c.reason_code,
    _TABLE.c.contract,
    _TABLE.c.recipients,
)

SectionProvider = Callable[[sessionmaker[Session]], Any]
"""A blocking function (run in a thread) returning a JSON-able section: list, dict or pydantic model."""


def _fleet_connectors(factory: sessionmaker[Session]) -> Any:
    from hub.fleet.service import connector_health  # noqa: PLC0415 - optional component

    with factory() as session:
        return connector_health(session, datetime.now(UTC))


def _fleet_triage(factory: sessionmaker[Session]) -> Any:
    from hub.fleet.service import time_to_triage  # noqa: PLC0415 - optional component

    with factory() as session:
        return time_to_triage(session, datetime.now(UTC))


def _fleet_policy_effect(factory: sessionmaker[Session]) -> Any:
    from hub.fleet.service import policy_effect_times  # noqa: PLC0415 - optional component

    with factory() as session:
        return policy_effect_times(session, now=datetime.now(UTC))


def _dead_letters(factory: sessionmaker[Session]) -> Any:
    from hub.deadletters.service import summary  # noqa: PLC0415 - optional component

    with factory() as session:
        return summary(session).as_dict()


# Optional sections other components provide: section -> (the module that must be present, reader).
# A missing module leaves the section ``None`` ("not available in this hub").
SECTION_HOOKS: dict[str, tuple[str, SectionProvider]] = {
    "connectors": ("hub.fleet.service", _fleet_connectors),
    "triage": ("hub.fleet.service", _fleet_triage),
    "policy_effect": ("hub.fleet.service", _fleet_policy_effect),
    "dead_letters": ("hub.deadletters.service", _dead_letters),
}


def discover_sections() -> dict[str, SectionProvider]:
    """The section providers present in this installation."""
    found: dict[str, SectionProvider] = {}
    for section, (module_name, provider) in SECTION_HOOKS.items():
        try:
            importlib.import_module(module_name)
        except ImportError:
            continue
        found[section] = provider
    return found


def newest_id(factory: sessionmaker[Session]) -> int:
    """The id of the newest audit row (0 when there is none)."""
    with factory() as session:
        return int(session.execute(select(func.max(_TABLE.c.id))).scalar() or 0)


def rows_after(factory: sessionmaker[Session], cursor: int) -> tuple[list[Sequence[object]], int]:
    """Routing rows after id ``cursor`` (metadata columns only), and the new cursor."""
    columns = (*_COLUMNS, _LATENCY if _LATENCY is not None else null())
    rows: list[Sequence[object]] = []
    with factory() as session:
        newest = int(session.execute(select(func.max(_TABLE.c.id))).scalar() or 0)
        newest = min(newest, cursor + MAX_ROWS_PER_TICK)
        while cursor < newest:
            upper = min(newest, cursor + CHUNK_ROWS)
            stmt = select(*columns).where(
                _TABLE.c.id > cursor, _TABLE.c.id <= upper, _TABLE.c.kind.in_((DELIVERED, REJECTED))
            )
            rows.extend(session.execute(stmt).all())
            cursor = upper
    return rows, cursor


def _jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


class OpsHub:
    """The cached snapshot and everything that builds it; one per API process (``app.state.ops``)."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        *,
        lag: LagReader | None = None,
        sections: dict[str, SectionProvider] | None = None,
        lag_every_s: float = 5.0,
        sections_every_s: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.factory = factory
        self.read_audit = ReadAudit(factory)
        self.verified: dict[str, tuple[Principal, AuthzDecision]] = {}
        """Reader tokens already verified and permitted (``hub.ops.api``), until they expire."""
        self.lag_reader = lag
        self.sections = dict(sections or {})
        self.lag_every_s = lag_every_s
        self.sections_every_s = sections_every_s
        self.clock = clock
        self.flow = FlowWindows(started_s=clock())
        self.lock = threading.Lock()
        """Held while the flow counters change (in a worker thread); ``/metrics`` reads them under it."""
        self.cursor: int | None = None
        self.lag: list[InboxLag] = []
        self._lag_task: asyncio.Task[None] | None = None
        self._lag_due = 0.0
        self._section_values: dict[str, Any] = {}
        self._section_errors: dict[str, str] = {}
        self._sections_task: asyncio.Task[None] | None = None
        self._sections_due = 0.0
        self.snapshot = self._build()
        self.encoded = self.snapshot.model_dump_json().encode()
        self.generation = 0
        self._changed = asyncio.Event()

    async def tick(self) -> Snapshot:
        """Read new audit rows, start due background reads, rebuild and publish the snapshot."""
        if self.cursor is None:
            self.cursor = await asyncio.to_thread(newest_id, self.factory)
        # Reading, counting and encoding run in a thread: under full routing load they take tens of
        # milliseconds a second, which the event loop serving viewers must not wait for.
        snapshot, encoded = await asyncio.to_thread(self._advance)
        now = time.monotonic()
        if self.lag_reader is not None and now >= self._lag_due and self._idle(self._lag_task):
            self._lag_due = now + self.lag_every_s
            self._lag_task = asyncio.create_task(self._read_lag(), name="ops-lag")
        if self.sections and now >= self._sections_due and self._idle(self._sections_task):
            self._sections_due = now + self.sections_every_s
            self._sections_task = asyncio.create_task(self._read_sections(), name="ops-sections")
        self.publish(snapshot, encoded)
        return self.snapshot

    def _advance(self) -> tuple[Snapshot, bytes]:
        with self.lock:
            rows, self.cursor = rows_after(self.factory, self.cursor or 0)
            self.flow.ingest_batch(batch_from_rows(rows), self.clock())
            snapshot = self._build()
        return snapshot, snapshot.model_dump_json().encode()

    def publish(self, snapshot: Snapshot, encoded: bytes | None = None) -> None:
        """Make ``snapshot`` the one every viewer gets, and wake the streams."""
        self.snapshot = snapshot
        self.encoded = encoded if encoded is not None else snapshot.model_dump_json().encode()
        self.generation += 1
        self._changed.set()
        self._changed = asyncio.Event()

    async def changed(self, timeout_s: float) -> bool:
        """Wait until the next snapshot is published (``False`` after ``timeout_s`` without one)."""
        event = self._changed
        try:
            await asyncio.wait_for(event.wait(), timeout=timeout_s)
        except TimeoutError:
            return False
        return True

    async def stop(self) -> None:
        """Cancel background reads and close the broker clients."""
        for task in (self._lag_task, self._sections_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self.lag_reader is not None:
            await self.lag_reader.close()

    @staticmethod
    def _idle(task: asyncio.Task[None] | None) -> bool:
        return task is None or task.done()

    async def _read_lag(self) -> None:
        if self.lag_reader is not None:
            self.lag = await self.lag_reader.read()

    async def _read_sections(self) -> None:
        for section, provider in self.sections.items():
            try:
                self._section_values[section] = _jsonable(await asyncio.to_thread(provider, self.factory))
                self._section_errors.pop(section, None)
            except Exception as exc:  # noqa: BLE001 - another component's failure must not stop the dashboard
                log.warning("ops.section_failed", section=section, error=type(exc).__name__)
                self._section_errors[section] = "ops.section_failed"

    def _build(self) -> Snapshot:
        windows = {name: self.flow.window(name) for name in WINDOWS}
        default = windows[DEFAULT_WINDOW]
        return Snapshot(
            generated_at=datetime.fromtimestamp(self.clock(), UTC),
            window_s=default.window_s,
            flow_by_contract=default.flow_by_contract,
            flow_by_pair=default.flow_by_pair,
            rejections=default.rejections,
            latency_ms=default.latency_ms,
            totals=default.totals,
            lag=list(self.lag),
            series=self.flow.series(),
            windows=windows,
            connectors=self._section_values.get("connectors"),
            triage=self._section_values.get("triage"),
            policy_effect=self._section_values.get("policy_effect"),
            dead_letters=self._section_values.get("dead_letters"),
            sections_unavailable=dict(self._section_errors),
        )


def current(app: FastAPI) -> Snapshot:
    """The cached snapshot of this API process (never recomputed per call)."""
    ops: OpsHub = app.state.ops
    return ops.snapshot


@asynccontextmanager
async def running(
    app: FastAPI, settings: Settings, factory: sessionmaker[Session], bootstrap: str | None
) -> AsyncIterator[OpsHub]:
    """Run the snapshot task for the API's lifetime; ``app.state.ops`` holds its :class:`OpsHub`."""
    lag = (
        LagReader(bootstrap, settings.kafka.topic_prefix, settings.kafka.credentials())
        if bootstrap is not None
        else None
    )
    ops = OpsHub(
        factory,
        lag=lag,
        sections=discover_sections(),
        lag_every_s=settings.ops.lag_refresh_seconds,
    )
    ops.read_audit.start()
    app.state.ops = ops
    collector = getattr(getattr(app.state, "metrics", None), "flow", None)
    if collector is not None:
        collector.ops = ops  # /metrics reads the same counters
    every_s = settings.ops.snapshot_interval_seconds

    try:
        async with every("ops-snapshot", every_s, ops.tick, failed="ops.snapshot_failed"):
            yield ops
    finally:
        await ops.stop()
        await ops.read_audit.stop()
        provider = getattr(app.state, "tracer_provider", None)
        if provider is not None:
            provider.shutdown()  # flush the last spans
