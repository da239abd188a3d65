"""Find the installed adapter kinds, build the agency's adapters from its adapters file, and run them.

Kinds are plugins: every entry point of the ``onedoor.adapters`` group is an ``AdapterFactory``
(``sql``, ``webhook``, ``folder``...; another package can add its own). ``load_adapters`` reads
the agency's adapters file (format in ``connectors.adapters.base``), builds each adapter with its
factory and returns an ``Adapters``: the status records of all of them, a received message
delivered to each that takes its contract, and their ``run`` loops as tasks (``running``).

Errors are data: ``adapter.invalid_file`` (the file cannot be read or is not the format),
``adapter.unknown_kind`` (naming the installed kinds), ``adapter.duplicate_name`` and
``adapter.invalid_options`` (naming the adapter and the option, never its value).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Final

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from connectors.adapters.base import (
    ENTRY_POINT_GROUP,
    AdapterContext,
    AdapterFactory,
    AgencyAdapter,
    Outbound,
    OutboundRequest,
)
from connectors.sdk.connector import Connector, ReceivedMessage
from connectors.status.index import StatusRecord, given_or_read
from onedoor.errors import ValidationFailed
from onedoor.ids import ContractName, Purpose, SubjectToken
from onedoor.logging import get_logger

log = get_logger(__name__)

INVALID_FILE: Final = "adapter.invalid_file"
UNKNOWN_KIND: Final = "adapter.unknown_kind"
DUPLICATE_NAME: Final = "adapter.duplicate_name"
INVALID_OPTIONS: Final = "adapter.invalid_options"
NOT_AN_ADAPTER: Final = "adapter.not_an_adapter"

Handler = Callable[[ReceivedMessage], Awaitable[None]]


class AdapterEntry(BaseModel):
    """One entry of an adapters file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: str = Field(min_length=1)
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    options: dict[str, Any] = Field(default_factory=dict)


class AdaptersFile(BaseModel):
    """An agency's adapters file: ``adapters: [...]``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    adapters: list[AdapterEntry] = Field(default_factory=list)


def installed() -> dict[str, Callable[[], AdapterFactory]]:
    """The installed adapter kinds: name to a loader of its factory (loaded only when used)."""
    return {ep.name: ep.load for ep in entry_points(group=ENTRY_POINT_GROUP)}


def describe_options_error(exc: ValidationError) -> str:
    """``options.status.table: Field required; ...``: where and why, never the input."""
    problems = []
    for error in exc.errors(include_input=False, include_url=False):
        where = ".".join(str(part) for part in error["loc"])
        problems.append(f"options.{where}: {error['msg']}" if where else error["msg"])
    return "; ".join(problems)


def invalid_options(adapter: str, detail: str) -> ValidationFailed:
    """The error a factory raises for bad options: ``adapter.invalid_options`` naming the adapter."""
    return ValidationFailed(INVALID_OPTIONS, f"adapter {adapter!r}: {detail}")


def read_adapters_file(path: Path) -> AdaptersFile:
    """Parse an adapters file.

    Raises:
        ValidationFailed: ``adapter.invalid_file`` (unreadable, not YAML, not the format) or
            ``adapter.duplicate_name``.
    """
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValidationFailed(INVALID_FILE, f"cannot read the adapters file {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ValidationFailed(INVALID_FILE, f"the adapters file {path} is not valid YAML{where}") from None
    if document is None:
        document = {}
    try:
        parsed = AdaptersFile.model_validate(document)
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_input=False, include_url=False):
            where = ".".join(str(part) for part in error["loc"])
            problems.append(f"{where}: {error['msg']}" if where else error["msg"])
        raise ValidationFailed(INVALID_FILE, f"{path.name}: {'; '.join(problems)}") from None
    seen: set[str] = set()
    for entry in parsed.adapters:
        if entry.name in seen:
            raise ValidationFailed(DUPLICATE_NAME, f"{path.name}: two adapters are named {entry.name!r}")
        seen.add(entry.name)
    return parsed


def build_adapters(
    entries: Sequence[AdapterEntry],
    context: AdapterContext,
    *,
    kinds: Mapping[str, Callable[[], AdapterFactory]] | None = None,
) -> Adapters:
    """Build each entry's adapter with its kind's factory; on any failure close those already built.

    Raises:
        ValidationFailed: ``adapter.unknown_kind``, ``adapter.duplicate_name`` or what a factory raises.
        Unavailable: what a factory raises when the agency's system cannot be reached.
    """
    available = installed() if kinds is None else kinds
    built: list[AgencyAdapter] = []
    try:
        for entry in entries:
            built.append(_build_one(entry, context, available, taken={a.name for a in built}))
    except BaseException:
        for adapter in built:
            with contextlib.suppress(Exception):
                _close_now(adapter)
        raise
    return Adapters(built)


def _build_one(
    entry: AdapterEntry,
    context: AdapterContext,
    available: Mapping[str, Callable[[], AdapterFactory]],
    *,
    taken: set[str],
) -> AgencyAdapter:
    if entry.name in taken:
        raise ValidationFailed(DUPLICATE_NAME, f"two adapters are named {entry.name!r}")
    loader = available.get(entry.kind)
    if loader is None:
        known = ", ".join(sorted(available)) or "none"
        raise ValidationFailed(
            UNKNOWN_KIND, f"adapter {entry.name!r}: no adapter kind {entry.kind!r} is installed (installed: {known})"
        )
    adapter = loader()(entry.name, entry.options, context)
    if not isinstance(adapter, AgencyAdapter):
        raise ValidationFailed(NOT_AN_ADAPTER, f"adapter {entry.name!r}: kind {entry.kind!r} built no adapter")
    return adapter


def load_adapters(path: Path | None, context: AdapterContext) -> Adapters:
    """The adapters of the agency's adapters file (none if ``path`` is ``None``).

    Relative paths in options are relative to the file's directory (``context.base_dir``).

    Raises:
        ValidationFailed: ``adapter.*`` as ``read_adapters_file`` and ``build_adapters``.
    """
    if path is None:
        return Adapters([])
    parsed = read_adapters_file(path)
    return build_adapters(parsed.adapters, context)


class Adapters:
    """The agency's adapters, used together: records merged, deliveries to each, run loops as tasks."""

    def __init__(self, adapters: Iterable[AgencyAdapter]) -> None:
        self._adapters = tuple(adapters)
        self._tasks: list[asyncio.Task[None]] = []

    def __len__(self) -> int:
        return len(self._adapters)

    def __iter__(self) -> Iterator[AgencyAdapter]:
        return iter(self._adapters)

    @property
    def names(self) -> tuple[str, ...]:
        """Each adapter's name, in file order."""
        return tuple(adapter.name for adapter in self._adapters)

    def status_records(self) -> list[StatusRecord]:
        """The status records of every adapter, in file order."""
        records: list[StatusRecord] = []
        for adapter in self._adapters:
            found = list(adapter.status_records())
            if found:
                log.info("adapter.status_records", adapter=adapter.name, records=len(found))
            records.extend(found)
        return records

    def index_records(
        self, records: Iterable[StatusRecord] | None, records_path: Path | None
    ) -> Iterable[StatusRecord] | None:
        """What the status index is built from: ``records`` (or the records file) and every adapter's records.

        ``None`` (the records file alone, as before) when no adapter is configured.
        """
        if not self._adapters:
            return records
        return given_or_read(records, records_path) + self.status_records()

    async def deliver_all(self, message: ReceivedMessage) -> list[str]:
        """Hand ``message`` to every adapter that takes its contract; the names of those that took it.

        An adapter should take a message it already has without a second copy: after a
        ``DeliveryRetry`` from a later adapter the whole message comes again.

        Raises:
            DeliveryRetry: an adapter's system could not take it now (the inbox retries it).
            DeliveryRefused: an adapter can never take it (the inbox parks it with the reason).
        """
        took = []
        for adapter in self._adapters:
            if await adapter.deliver(message):
                took.append(adapter.name)
        if took:
            log.info(
                "adapter.delivered",
                message_id=message.header.message_id,
                contract=message.header.contract,
                adapters=took,
            )
        return took

    def after(self, handler: Handler) -> Handler:
        """``handler``, then ``deliver_all``: the workbench has the message before the agency's system."""

        async def both(message: ReceivedMessage) -> None:
            await handler(message)
            await self.deliver_all(message)

        return both

    def start(self, outbound: Outbound) -> list[asyncio.Task[None]]:
        """Run every adapter's ``run(outbound)`` as a task (stopped by ``close``)."""
        for adapter in self._adapters:
            self._tasks.append(asyncio.create_task(_run(adapter, outbound), name=f"adapter-{adapter.name}"))
        return list(self._tasks)

    @property
    def problems(self) -> list[str]:
        """``adapter.stopped.<name>`` for each run loop that ended with an error.

        Lowercase, with a dot and at most 64 characters: the hub's heartbeat takes problem codes of
        that shape only (a colon or capital once had the whole heartbeat refused).
        """
        return [
            f"adapter.stopped.{task.get_name().removeprefix('adapter-').lower()}"[:64]
            for task in self._tasks
            if task.done() and not task.cancelled() and task.exception() is not None
        ]

    async def close(self) -> None:
        """Stop the run loops and close every adapter."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        for adapter in self._adapters:
            try:
                await adapter.close()
            except Exception as exc:  # noqa: BLE001 - one adapter failing to close must not keep others open
                log.warning("adapter.close_failed", adapter=adapter.name, error=type(exc).__name__)

    @asynccontextmanager
    async def running(self, outbound: Outbound) -> AsyncIterator[Adapters]:
        """Run the adapters' loops while inside; close everything on exit."""
        self.start(outbound)
        try:
            yield self
        finally:
            await self.close()


async def _run(adapter: AgencyAdapter, outbound: Outbound) -> None:
    try:
        await adapter.run(outbound)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        log.error("adapter.run_failed", adapter=adapter.name, error=type(exc).__name__, code=getattr(exc, "code", None))  # noqa: TRY400 - no traceback: frame locals may hold personal data
        raise


def _close_now(adapter: AgencyAdapter) -> None:
    # A factory failed after others were built (no loop may be running yet): close what we can.
    closing = adapter.close()
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(closing)
    else:
        task = loop.create_task(closing)
        _closing.add(task)
        task.add_done_callback(_closing.discard)


_closing: set[asyncio.Task[None]] = set()


def sender(connector: Connector) -> Outbound:
    """An ``Outbound`` that sends each request with the running connector's ``send``.

    A request's ``subject_token`` goes into the envelope header; its ``idempotency_key`` is passed
    on when the connector has an outbox (which then adds nothing for a key it holds already).
    """

    async def send(request: OutboundRequest) -> None:
        keyed = (
            {}
            if request.idempotency_key is None or connector.outbox is None
            else {"idempotency_key": request.idempotency_key}
        )
        await connector.send(
            contract=ContractName(request.contract),
            version=request.version,
            recipients=list(request.recipients),
            purpose=Purpose(request.purpose),
            body=request.body,
            subject_token=None if request.subject_token is None else SubjectToken(request.subject_token),
            **keyed,
        )

    return send
