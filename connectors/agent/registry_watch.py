"""Follow the hub's registry at once: a revoked key is refused by this connector within a second.

The hub API announces every committed registry change (an agency registered or suspended, a
key added, retired or revoked) on ``<prefix>.registry`` (``hub.policy.bus``). ``RegistryWatch``
reads that topic from its end with no consumer group (every connector sees every event) and,
on a ``registry`` event, calls ``refresh``: ``directory_refresher`` fetches ``GET /directory``
and swaps it into the running ``Connector`` (``use_directory``), so an envelope signed with a
key revoked a moment ago no longer verifies here; and, when the key files changed on disk (a
``rotate-keys`` just swapped them), reloads the agency's own keys (``use_keys``). A periodic
refresh every ``every_s`` seconds backs up a lost announcement or an unreachable broker. If
reading the topic fails, the failure is logged (its type and code, nothing else), the watch
refreshes once (to catch what it missed) and listens again after a growing pause (0.5 s up to
30 s), so a dead listener does not silently leave only the periodic refresh; ``stop`` always
stops the consumer.

The registry topic carries agency ids only, never a name, and no consent or agreement event:
those stay on ``<prefix>.policy``, which a connector neither reads nor may read (its broker
ACLs, ``onedoor.kafka.plan.agency_acl_plan``: threat model S7). This module still acts on
``registry`` events only and ignores anything else.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from connectors.agent.config import ConnectorConfig
from connectors.agent.keyfiles import load_decryption_keys
from connectors.sdk.connector import Connector
from connectors.sdk.directory import fetch_directory
from hub.policy.bus import PolicyEvent
from hub.policy.changes import ChangeKind
from onedoor.envelope.keys import AgencyKeyPair
from onedoor.errors import OneDoorError
from onedoor.ids import KeyId
from onedoor.kafka.security import aiokafka_options
from onedoor.logging import get_logger
from onedoor.topics import TopicNames

log = get_logger(__name__)

START_TIMEOUT_S: Final = 10.0
RESTART_MIN_S: Final = 0.5
RESTART_MAX_S: Final = 30.0

Refresh = Callable[[], Awaitable[bool]]
KeysLoader = Callable[[], tuple[AgencyKeyPair, Mapping[KeyId, X25519PrivateKey]]]


@dataclass(slots=True)
class WatchStats:
    """Counters since start."""

    events: int = 0
    """Registry events read from the topic."""
    refreshes: int = 0
    """Successful refreshes (event or periodic)."""
    key_reloads: int = 0
    """Times the agency's own keys were reloaded from disk."""
    listener_restarts: int = 0
    """Times reading the topic failed and the listener was started again."""


def _files_state(folder: Path) -> tuple[tuple[str, int, int], ...]:
    found = []
    for path in sorted(folder.rglob("*.pem")):
        with contextlib.suppress(OSError):
            stat = path.stat()
            found.append((str(path), stat.st_mtime_ns, stat.st_size))
    return tuple(found)


def directory_refresher(
    connector: Connector,
    hub_url: str,
    *,
    client: httpx.AsyncClient | None = None,
    keys_dir: Path | None = None,
    load_keys: KeysLoader | None = None,
    stats: WatchStats | None = None,
) -> Refresh:
    """A ``refresh``: fetch the directory into ``connector``; reload its keys if the files in ``keys_dir`` changed."""
    seen = [_files_state(keys_dir) if keys_dir is not None else ()]

    async def refresh() -> bool:
        directory = await fetch_directory(hub_url, client=client)
        connector.use_directory(directory)
        if keys_dir is not None and load_keys is not None:
            state = await asyncio.to_thread(_files_state, keys_dir)
            if state != seen[0]:
                keys, old = await asyncio.to_thread(load_keys)
                connector.use_keys(keys, old)
                seen[0] = state
                if stats is not None:
                    stats.key_reloads += 1
                log.info("connector.keys_reloaded", signing_key_id=keys.signing_key_id, old_keys=len(old))
        return True

    return refresh


class RegistryWatch:
    """Calls ``refresh`` on each registry announcement and every ``every_s`` seconds. Use ``async with``."""

    def __init__(
        self,
        *,
        bootstrap: str,
        topic: str,
        refresh: Refresh,
        every_s: float = 30.0,
        client_options: Mapping[str, Any] | None = None,
        stats: WatchStats | None = None,
    ) -> None:
        self._bootstrap = bootstrap
        self._topic = topic
        self._refresh = refresh
        self._every_s = every_s
        self._options = dict(client_options or {})
        self.stats = stats or WatchStats()
        self._consumer: AIOKafkaConsumer | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._lock = asyncio.Lock()

    async def __aenter__(self) -> RegistryWatch:
        await self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        """Assign the topic's one partition at its end; without the topic, only refresh periodically."""
        try:
            consumer = AIOKafkaConsumer(
                bootstrap_servers=self._bootstrap,
                group_id=None,
                enable_auto_commit=False,
                fetch_max_wait_ms=100,
                **self._options,
            )
            await consumer.start()
        except Exception as exc:  # noqa: BLE001 - the periodic refresh still runs; say why once
            log.warning("connector.registry_watch_unavailable", error=type(exc).__name__)
        else:
            try:
                await self._assign_end(consumer)
            except Exception as exc:  # noqa: BLE001 - as above
                log.warning("connector.registry_watch_unavailable", error=type(exc).__name__)
                await consumer.stop()
            else:
                self._consumer = consumer
                self._tasks.append(asyncio.create_task(self._supervise(), name="connector-registry-watch"))
        self._tasks.append(asyncio.create_task(self._periodic(), name="connector-registry-refresh"))

    async def _assign_end(self, consumer: AIOKafkaConsumer) -> None:
        known = await asyncio.wait_for(consumer.topics(), START_TIMEOUT_S)  # fetches fresh metadata
        if self._topic not in known:
            raise LookupError(self._topic)  # the hub API makes it at start; until then, periodic only
        assigned = [TopicPartition(self._topic, 0)]  # the hub makes it with exactly one partition (hub.policy.bus)
        consumer.assign(assigned)
        await consumer.seek_to_end(*assigned)
        for tp in assigned:  # resolve the end now: only later announcements count
            await consumer.position(tp)

    @property
    def topic(self) -> str:
        """The topic read: ``<prefix>.registry`` for a running connector (``watch_registry``)."""
        return self._topic

    @property
    def listening(self) -> bool:
        """Whether announcements are being read (else only the periodic refresh runs)."""
        return self._consumer is not None

    async def stop(self) -> None:
        """Stop listening and refreshing; the consumer is stopped whatever the tasks ended with."""
        try:
            for task in self._tasks:
                task.cancel()
            for task in self._tasks:
                try:
                    await task
                except asyncio.CancelledError:
                    pass
                except Exception as exc:  # noqa: BLE001 - stopping must go on; say what it was
                    log.warning("connector.registry_watch_failed", error=type(exc).__name__, when="stop")
            self._tasks.clear()
        finally:
            if self._consumer is not None:
                consumer, self._consumer = self._consumer, None
                await consumer.stop()

    async def refresh_now(self, why: str) -> bool:
        """Refresh once (never two at a time); ``False`` (logged) if the hub could not be read."""
        async with self._lock:
            try:
                await self._refresh()
            except OneDoorError as exc:
                log.warning("connector.registry_refresh_failed", why=why, code=exc.code)
                return False
            except Exception as exc:  # noqa: BLE001 - a bad answer must not stop the watch
                log.warning("connector.registry_refresh_failed", why=why, error=type(exc).__name__)
                return False
            self.stats.refreshes += 1
            return True

    async def _supervise(self) -> None:
        """Listen; when reading fails, log it, refresh once, and listen again after a growing pause."""
        failures = 0
        while True:
            try:
                await self._listen()
            except Exception as exc:  # noqa: BLE001 - logged with its type and code, then restarted
                failures += 1
                self.stats.listener_restarts += 1
                pause = min(RESTART_MAX_S, RESTART_MIN_S * 2 ** (failures - 1))
                code = exc.code if isinstance(exc, OneDoorError) else None
                log.warning("connector.registry_watch_failed", error=type(exc).__name__, code=code, restart_in_s=pause)
            else:
                return  # the consumer ended (stopped): nothing more to read
            await asyncio.sleep(pause)
            await self.refresh_now("listener restarted")

    async def _listen(self) -> None:
        assert self._consumer is not None  # noqa: S101 - started before the task
        async for record in self._consumer:
            event = PolicyEvent.decode(record.value or b"")
            if event is None or event.kind is not ChangeKind.REGISTRY:
                continue
            self.stats.events += 1
            if await self.refresh_now("announced"):
                log.info("connector.registry_refreshed", agency=event.key)

    async def _periodic(self) -> None:
        while True:
            await asyncio.sleep(self._every_s)
            await self.refresh_now("periodic")


def _passphrase(config: ConnectorConfig) -> bytes | None:
    return None if config.keys_passphrase is None else config.keys_passphrase.get_secret_value().encode()


def old_keys_of(config: ConnectorConfig) -> dict[KeyId, X25519PrivateKey]:
    """The encryption keys besides the current one that still open messages (``keyfiles.load_decryption_keys``)."""
    return load_decryption_keys(config.agency_id, config.keys_dir, _passphrase(config))[1]


def watch_registry(
    config: ConnectorConfig, connector: Connector, bootstrap: str, *, client: httpx.AsyncClient | None = None
) -> RegistryWatch:
    """The running connector's watch: directory on every registry announcement, keys when their files change."""
    stats = WatchStats()
    refresh = directory_refresher(
        connector,
        config.hub_url,
        client=client,
        keys_dir=config.keys_dir,
        load_keys=lambda: load_decryption_keys(config.agency_id, config.keys_dir, _passphrase(config)),
        stats=stats,
    )
    return RegistryWatch(
        bootstrap=bootstrap,
        topic=TopicNames(config.kafka.topic_prefix).registry,
        refresh=refresh,
        every_s=config.policy_refresh_seconds,
        client_options=aiokafka_options(config.kafka.credentials()),
        stats=stats,
    )
