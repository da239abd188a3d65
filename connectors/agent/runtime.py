"""A running connector process: the agency's ``Connector`` with a status checker and responder on one inbox.

``running_connector(config, bootstrap=...)`` loads the agency's keys, the federation matching
key and its status records; fetches the directory and the sharing policy from the hub; starts
the ``Connector``; routes ``StatusCheck``s to a ``StatusResponder`` (disclosures logged in the
``DisclosureLog``, owner notices kept on a ``NoticeBoard``) and replies to a ``StatusChecker``
through one ``Dispatcher``; reads the inbox in a task, and fetches the policy again every
``policy_refresh_seconds``; reads the status records again every ``status_refresh_seconds`` and
swaps in a rebuilt index when they changed (``status_refresh``). Both refresh loops are supervised
(``supervise``: a crash is logged, is a problem, and the loop restarts). Everything is stopped when
the ``async with`` block ends.

It also runs the agency's triage desk and workbench: every MasterReferral, Alert, TransferOffer,
HandoverPack and TransferCompleted received goes into the workbench store
(``connectors.workbench.store``) through a ``TriageDesk``, and so does a message of any contract
nothing routes (an ``unrouted`` item: contract and sender, no body); with
``intake_key_path`` set (a triage desk), an ``IntakeReader`` opens public referrals from the
hub's intake topic into the same inbox (the current intake key and ``intake_previous_key_paths``);
``workbench`` holds what the ``/workbench`` pages use.

A triage desk with an intake key registers its public key with the hub at start-up (with its
own agency assertion) unless the hub already shows it, and checks on every policy refresh that
the hub's intake key is its own; on a mismatch (``intake.key_mismatch``) it is unhealthy.
"""

from __future__ import annotations

import asyncio
import contextlib
import traceback
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import httpx

from connectors.adapters.base import AdapterContext
from connectors.adapters.registry import Adapters, load_adapters, sender
from connectors.agent.config import ConnectorConfig
from connectors.agent.heartbeat import Heartbeat, vitals_of
from connectors.agent.keyfiles import load_pair
from connectors.agent.notices import NoticeBoard
from connectors.agent.registry_watch import old_keys_of, watch_registry
from connectors.agent.status_refresh import StatusRefresh, status_refresh_of
from connectors.agent.supervise import Supervised
from connectors.casework.transfers import (
    HANDOVER_PACK,
    TRANSFER_ACCEPTED,
    TRANSFER_COMPLETED,
    TRANSFER_OFFER,
    DirectoryCaseFiles,
    HandoverDesk,
    handover_directory,
)
from connectors.identity import Identifiers, MatchingKey
from connectors.outbox.service import Durability, open_durability
from connectors.sdk import Connector
from connectors.sdk.codec import ContractCodecs
from connectors.sdk.directory import fetch_directory
from connectors.sdk.hubauth import HubClient
from connectors.sdk.policy import SharingPolicy, fetch_policy
from connectors.status import (
    STATUS_CHECK,
    DisclosureLog,
    Dispatcher,
    StatusAnswer,
    StatusChecker,
    StatusIndex,
    StatusRecord,
    StatusResponder,
)
from connectors.triage.agencies import fetch_agencies
from connectors.triage.desk import HubProgress, ProgressReporter, TriageDesk, policy_permits
from connectors.triage.intake import IntakeKeys, IntakeReader
from connectors.triage.intakekey import KEY_MISMATCH, IntakeKeyWatch
from connectors.triage.referral import ALERT, REFERRAL
from connectors.workbench.security import Sessions, load_or_create_secret, sign_in_limiter
from connectors.workbench.store import WorkbenchStore
from connectors.workbench.users import Staff
from connectors.workbench.web import Workbench
from onedoor.envelope.intake import IntakeKeyPair
from onedoor.envelope.keys import AgencyKeyPair
from onedoor.errors import OneDoorError, ValidationFailed
from onedoor.kafka.security import aiokafka_options
from onedoor.logging import get_logger
from onedoor.topics import TopicNames

log = get_logger(__name__)

PUMP_RETRY_S: Final = 1.0
"""How long the inbox reader waits after a failed batch before reading again (the batch is re-read)."""
NO_BROKER: Final = "connector.no_broker"
KEYS_UNREADABLE: Final = "connector.keys_unreadable"


@dataclass(eq=False, slots=True)
class ConnectorProcess:
    """What a running connector process holds; valid inside ``running_connector``."""

    config: ConnectorConfig
    connector: Connector
    dispatcher: Dispatcher
    checker: StatusChecker
    responder: StatusResponder
    disclosures: DisclosureLog
    notices: NoticeBoard
    policy: SharingPolicy
    pump: asyncio.Task[None]
    """Reads the inbox and hands every message to the dispatcher."""
    desk: TriageDesk
    """Referrals and alerts into the workbench store; triage decisions out."""
    workbench: Workbench | None
    """What ``/workbench`` serves; ``None`` when the workbench is turned off."""
    intake: asyncio.Task[None] | None = None
    """Reads public referrals (a triage desk with an intake key), else ``None``."""
    intake_key: IntakeKeyWatch | None = None
    """Registers and checks the desk's intake key at the hub (a triage desk with an intake key)."""
    durability: Durability | None = None
    """The outbox, its relay and the durable inbox (``connectors.outbox``)."""
    adapters: Adapters | None = None
    """The agency's systems plugged in through its adapters file (``connectors.adapters``)."""
    heartbeat: Heartbeat | None = None
    """Tells the hub every ``heartbeat_seconds`` that this connector is alive, and how it is (``hub.fleet``)."""
    status_refresh: StatusRefresh | None = None
    """Re-reads the status records every ``status_refresh_seconds`` (``None`` when set to 0)."""
    supervised: tuple[Supervised, ...] = ()
    """Background loops restarted when they fail (policy refresh, status refresh): failing ones are problems."""

    @property
    def problems(self) -> list[str]:
        """Codes of what is wrong: ``connector.inbox_stopped``, ``intake.key_mismatch``."""
        found = []
        if self.pump.done():
            found.append("connector.inbox_stopped")
        if self.durability is not None and self.durability.stopped:
            found.append("connector.outbox_relay_stopped")
        if self.intake_key is not None and self.intake_key.ok is False:
            found.append(KEY_MISMATCH)
        if self.adapters is not None:
            found.extend(self.adapters.problems)
        if self.heartbeat is not None:
            found.extend(self.heartbeat.problems)
        if self.status_refresh is not None:
            found.extend(self.status_refresh.problems)  # status.refresh_failed until a refresh succeeds
        for loop in self.supervised:
            found.extend(loop.problems)  # connector.task_failed.<name>
        return found

    @property
    def healthy(self) -> bool:
        """Whether the inbox is still being read and the hub seals public referrals to this desk's key."""
        return not self.problems

    async def check(self, identifiers: Identifiers) -> StatusAnswer:
        """Ask the agencies that may answer, with the configured deadlines."""
        deadlines = self.config.deadlines
        return await self.checker.check(
            identifiers, soft_deadline_s=deadlines.soft_seconds, hard_deadline_s=deadlines.hard_seconds
        )


def load_index(config: ConnectorConfig, key: MatchingKey, records: Iterable[StatusRecord] | None = None) -> StatusIndex:
    """The agency's status index: ``records`` if given, else the records file, else empty.

    Raises:
        ValidationFailed: ``status.invalid_records`` (or an identity code) for a bad record file.
    """
    if records is not None:
        return StatusIndex.build(records, key)
    if config.records_path is None:
        return StatusIndex.build([], key)
    try:
        return StatusIndex.load(config.records_path, key)
    except OSError as exc:
        raise ValidationFailed("status.invalid_records", f"cannot read {config.records_path}: {exc.strerror}") from None


def adapter_context(config: ConnectorConfig, matching_key: MatchingKey | None = None) -> AdapterContext:
    """What every adapter of the agency is told: the agency, its data directory, the adapters file's folder
    and the matching key (adapters may derive subject tokens with it)."""
    base = config.adapters_file.parent if config.adapters_file is not None else config.data_directory
    return AdapterContext(config.agency_id, config.data_directory, base, matching_key)


def load_keys(config: ConnectorConfig) -> tuple[AgencyKeyPair, MatchingKey]:
    """The agency's key pair and the federation matching key.

    Raises:
        ValidationFailed: ``connector.keys_unreadable`` or ``identity.key_file``.
    """
    passphrase = None if config.keys_passphrase is None else config.keys_passphrase.get_secret_value().encode()
    # connector.keys_passphrase (wrong or missing passphrase) or connector.keys_unreadable, in words.
    keys = load_pair(config.agency_id, config.keys_dir, passphrase)
    try:
        key = MatchingKey.load(config.matching_key_path)
    except OSError as exc:
        raise ValidationFailed(
            "identity.key_file", f"cannot read the matching key {config.matching_key_path}: {exc.strerror}"
        ) from None
    return keys, key


def load_intake_keys(config: ConnectorConfig) -> IntakeKeys | None:
    """The triage desk's intake key and its previous ones, if configured.

    Raises:
        ValidationFailed: ``intake.bad_private_key`` or ``connector.keys_unreadable``.
    """
    if config.intake_key_path is None:
        return None
    current = _intake_key(config.intake_key_path)
    return IntakeKeys(current, [_intake_key(path) for path in config.intake_previous_key_paths])


def _intake_key(path: Path) -> IntakeKeyPair:
    try:
        return IntakeKeyPair.load(path)
    except OSError as exc:
        raise ValidationFailed(KEYS_UNREADABLE, f"cannot read the intake key {path}: {exc.strerror}") from None


@asynccontextmanager
async def running_connector(
    config: ConnectorConfig,
    *,
    bootstrap: str | None = None,
    client: httpx.AsyncClient | None = None,
    records: Iterable[StatusRecord] | None = None,
    hub_transport: httpx.AsyncBaseTransport | None = None,
    progress: ProgressReporter | None = None,
) -> AsyncIterator[ConnectorProcess]:
    """Start the agency's connector with its status checker and responder; stop it all on exit.

    Args:
        config: the connector's settings.
        bootstrap: the broker; default ``config.kafka.bootstrap_servers``.
        client: an HTTP client for the hub (its base URL set; tests pass an in-process one);
            default a new client per call to ``config.hub_url``.
        records: the agency's status records; default those of ``config.records_path``.
        hub_transport: the transport of the agency's authenticated hub client (tests pass an
            in-process one); default HTTP to ``config.hub_url``.
        progress: where a public referral's progress is reported; default the hub's intake API.

    Yields:
        The running process.

    Raises:
        ValidationFailed: ``connector.no_broker``, unreadable keys or records.
        Unavailable: ``hub.unreachable`` when the directory or the policy cannot be fetched.
    """
    servers = bootstrap or config.kafka.bootstrap_servers
    if not servers:
        raise ValidationFailed(
            NO_BROKER, "no broker: set ONEDOOR_CONNECTOR_KAFKA__BOOTSTRAP_SERVERS or KAFKA_BOOTSTRAP_SERVERS"
        )
    keys, key = load_keys(config)
    # The agency's systems (adapters file): their status records join the index; they take referrals and alerts.
    adapters = load_adapters(config.adapters_file, adapter_context(config, key))
    records = None if records is None else list(records)  # read again by the status refresh
    index = load_index(config, key, adapters.index_records(records, config.records_path))
    directory = await fetch_directory(config.hub_url, client=client)
    agencies = await fetch_agencies(config.hub_url, client=client)
    policy = await fetch_policy(config.hub_url, client=client)
    intake_keys = load_intake_keys(config)
    # outbox, relay and received ids in the workbench database; the relay logs in as the agency too
    durability = open_durability(config, servers, **aiokafka_options(config.kafka.credentials()))
    connector = Connector(
        keys=keys,
        directory=directory,
        codec=ContractCodecs.bundled(),
        bootstrap_servers=servers,
        topics=TopicNames(config.kafka.topic_prefix),
        policy=policy,
        policy_refresh=policy.refresher(config.hub_url, client=client),
        old_keys=old_keys_of(config),  # encryption keys replaced by a rotation, within their overlap
        outbox=durability.outbox,
        inbox=durability.inbox,
        credentials=config.kafka.credentials(),
    )
    notices = NoticeBoard(config.notices_kept)
    config.data_directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    store = WorkbenchStore(config.workbench_database_url()).create()
    hub = HubClient(config.hub_url, keys, transport=hub_transport)
    with (
        DisclosureLog(config.disclosure_log_path) as disclosures,
        contextlib.closing(store),
        contextlib.closing(durability.store),
    ):
        async with hub, connector:
            desk = TriageDesk(
                me=config.agency_id,
                store=store,
                sender=connector,
                agencies=agencies,
                may_send=policy_permits(policy, config.agency_id),
                progress=progress or HubProgress(hub),
                outbox=durability.outbox,  # a decision and its onward message commit together
            )
            responder = StatusResponder(connector, index, disclosures=disclosures, on_checked=notices.notify)
            handover = HandoverDesk(connector, hub, DirectoryCaseFiles(handover_directory(config.data_directory)))
            dispatcher = _dispatcher(desk, responder, handover, adapters)
            checker = StatusChecker(connector, key, policy, dispatcher=dispatcher)
            watch = None if intake_keys is None else IntakeKeyWatch(hub, intake_keys.current)
            if watch is not None:
                await watch.register()
            # The status index follows the records file and the adapters' systems while running.
            status_refresh = status_refresh_of(
                responder,
                key,
                every_s=config.status_refresh_seconds,
                records=records,
                records_path=config.records_path,
                adapters=adapters,
            )
            # The relay publishes what `send` commits to the outbox; parked messages put back go to the dispatcher.
            # The registry watch: a revoked key is refused here within a second, rotated keys are picked up.
            async with (
                contextlib.AsyncExitStack() as stack,
                durability.running(connector, dispatcher),
                adapters.running(sender(connector)),
                watch_registry(config, connector, servers, client=client),
            ):
                # Started inside the block, and cancelled by the finally below whatever fails after
                # them, so no task outlives a connector that did not start.
                pump = asyncio.create_task(_pump(connector, dispatcher), name=f"connector-inbox-{config.agency}")
                loops = _start_loops(config, policy, client, watch, status_refresh)
                tasks = [t for t in (*(loop.task for loop in loops), pump) if t is not None]
                try:
                    intake = await _start_intake(stack, config, servers, intake_keys, desk)
                    if intake is not None:
                        tasks.append(intake)
                    log.info(
                        "connector.started",
                        agency=config.agency,
                        records=len(index),
                        agencies=len(directory.agencies),
                        policy_version=policy.version[:12],
                        triage_desk=desk.is_triage,
                        intake=intake is not None,
                        intake_key_ok=None if watch is None else watch.ok,
                    )
                    process = ConnectorProcess(
                        config,
                        connector,
                        dispatcher,
                        checker,
                        responder,
                        disclosures,
                        notices,
                        policy,
                        pump,
                        desk,
                        build_workbench(config, desk) if config.workbench.enabled else None,
                        intake,
                        watch,
                        durability,
                        adapters=adapters,
                        status_refresh=status_refresh,
                        supervised=loops,
                    )
                    # The heartbeat reports the process's own problems, so it starts once the process exists.
                    vitals = vitals_of(connector, durability, lambda: process.problems)
                    process.heartbeat = Heartbeat(hub, vitals, every_s=config.heartbeat_seconds)
                    tasks.append(process.heartbeat.start(f"connector-heartbeat-{config.agency}"))
                    yield process
                finally:
                    for task in tasks:
                        task.cancel()
                    for task in tasks:
                        with contextlib.suppress(asyncio.CancelledError):
                            await task
                    log.info("connector.stopped", agency=config.agency)


async def _start_intake(
    stack: contextlib.AsyncExitStack,
    config: ConnectorConfig,
    servers: str,
    intake_keys: IntakeKeys | None,
    desk: TriageDesk,
) -> asyncio.Task[None] | None:
    """A triage desk reads its public intake topic (the reader closes with ``stack``); others read none."""
    if intake_keys is None:
        return None
    reader = await stack.enter_async_context(
        IntakeReader(
            bootstrap=servers,
            topics=TopicNames(config.kafka.topic_prefix),
            agency=config.agency_id,
            keys=intake_keys,
            desk=desk,
            replication_factor=config.kafka.intake_replication_factor,
            credentials=config.kafka.credentials(),
        )
    )
    return asyncio.create_task(reader.run(), name=f"connector-intake-{config.agency}")


def _dispatcher(desk: TriageDesk, responder: StatusResponder, handover: HandoverDesk, adapters: Adapters) -> Dispatcher:
    """Where each contract received goes."""
    # Nothing received is dropped silently: a contract nobody routes is an `unrouted` inbox item.
    dispatcher = Dispatcher(fallback=desk.on_unrouted)
    dispatcher.route(STATUS_CHECK, responder)
    # Referrals and alerts go to the workbench first, then to the agency's own systems (adapters).
    dispatcher.route(REFERRAL, adapters.after(desk.on_referral))
    dispatcher.route(ALERT, adapters.after(desk.on_alert))
    # Case transfer: hand the pack `onedoor transfer offer` left waiting to whoever the hub says accepted;
    # offers, packs and completions received go into the workbench inbox.
    dispatcher.route(TRANSFER_ACCEPTED, handover)
    dispatcher.route(TRANSFER_OFFER, desk.on_transfer_offer)
    dispatcher.route(HANDOVER_PACK, desk.on_handover)
    dispatcher.route(TRANSFER_COMPLETED, desk.on_transfer_completed)
    return dispatcher


def build_workbench(config: ConnectorConfig, desk: TriageDesk) -> Workbench:
    """The workbench's sessions, staff and sign-in limits over the desk's store."""
    settings = config.workbench
    sessions = Sessions(
        desk.store,
        load_or_create_secret(config.workbench_secret_path()),
        idle_s=settings.session_idle_minutes * 60,
        absolute_s=settings.session_absolute_hours * 3600,
    )
    return Workbench(
        desk=desk,
        staff=Staff(desk.store),
        sessions=sessions,
        limiter=sign_in_limiter(settings.sign_in_attempts),
        secure_cookies=settings.secure_cookies,
    )


async def _pump(connector: Connector, dispatcher: Dispatcher) -> None:
    # The one reader of the inbox. A failed batch is not committed and is read again (the
    # connector rewinds to the last commit), so keep reading rather than go deaf.
    while True:
        try:
            await connector.run(dispatcher)
        except Exception as exc:  # noqa: BLE001 - logged; the next read retries the batch
            # A plain traceback, not exc_info: rich renderers would print frame locals (message bodies).
            trace = "".join(traceback.format_exception(exc))
            log.error("connector.inbox_failed", agency=connector.agency, error=type(exc).__name__, traceback=trace)  # noqa: TRY400
            await asyncio.sleep(PUMP_RETRY_S)


def _start_loops(
    config: ConnectorConfig,
    policy: SharingPolicy,
    client: httpx.AsyncClient | None,
    watch: IntakeKeyWatch | None,
    status_refresh: StatusRefresh | None,
) -> tuple[Supervised, ...]:
    """Start the background loops, supervised (a crash is logged, is a problem, and restarts the loop)."""
    every_s = config.policy_refresh_seconds
    policy_loop = Supervised(
        "policy-refresh",
        lambda: _refresh_policy(policy, config.hub_url, client, every_s=every_s, watch=watch),
        stable_s=2 * every_s,
    )
    policy_loop.start(f"connector-policy-{config.agency}")
    if status_refresh is None:
        return (policy_loop,)
    status_loop = status_refresh.supervised()
    status_loop.start(f"connector-status-{config.agency}")
    return (policy_loop, status_loop)


async def _refresh_policy(
    policy: SharingPolicy,
    hub_url: str,
    client: httpx.AsyncClient | None,
    *,
    every_s: float,
    watch: IntakeKeyWatch | None = None,
) -> None:
    # Who may be asked, and what a reply may hold, follow agreements approved or revoked since start;
    # and the hub must still seal public referrals to this desk's intake key.
    while True:
        await asyncio.sleep(every_s)
        try:
            if await policy.refresh(hub_url, client=client):
                log.info("connector.policy_refreshed", policy_version=policy.version[:12])
        except OneDoorError as exc:
            log.warning("connector.policy_refresh_failed", code=exc.code)
        except Exception as exc:  # noqa: BLE001 - e.g. a proxy's HTML page while the hub is away: keep refreshing
            log.warning("connector.policy_refresh_failed", error=type(exc).__name__)
        if watch is not None:
            await watch.check()
