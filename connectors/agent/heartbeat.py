"""The connector's heartbeat: every ``heartbeat_seconds`` it tells the hub it is alive, and how it is.

``POST /agencies/me/heartbeat`` with the agency's own signed assertion (``HubClient``), carrying
metadata only: the software version, the connector's clock (the hub computes the skew, taking
off half the previous heartbeat's round trip), the signing and encryption key ids it uses, the
outbox's pending and parked counts, and the codes of its own problems. Never a message, a
person, a key or a token. The hub keeps the latest per agency and shows it to ops
(``hub.fleet``: ``GET /ops/connectors``).

A heartbeat the hub does not take is logged (its code) and the next one is sent on time; the
loop only ends when cancelled. ``problems`` says ``connector.heartbeat_stopped`` if it ended anyway.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any, Final

from connectors.sdk.hubauth import HubCaller
from onedoor.errors import OneDoorError
from onedoor.logging import get_logger

if TYPE_CHECKING:
    from connectors.outbox.service import Durability
    from connectors.sdk import Connector

log = get_logger(__name__)

PATH: Final = "/agencies/me/heartbeat"
STOPPED: Final = "connector.heartbeat_stopped"


@dataclass(frozen=True, slots=True)
class Vitals:
    """What one heartbeat reports besides the clock."""

    signing_key_id: str
    encryption_key_id: str
    outbox_pending: int | None
    parked: int | None
    problems: list[str]


def software_version() -> str:
    """The installed ``onedoor`` package's version (``0.0.0`` when run from a bare checkout)."""
    try:
        return version("onedoor")
    except PackageNotFoundError:
        return "0.0.0"


def heartbeat_body(
    vitals: Vitals, *, version_text: str, sent_at: float, rtt_ms: int | None, interval_s: float
) -> dict[str, Any]:
    """The JSON the hub takes (``hub.fleet.schemas.HeartbeatIn``); ``sent_at`` in Unix seconds."""
    return {
        "version": version_text,
        "sent_at": datetime.fromtimestamp(sent_at, tz=UTC).isoformat(),
        "rtt_ms": rtt_ms,
        "interval_s": interval_s,
        "signing_key_id": vitals.signing_key_id,
        "encryption_key_id": vitals.encryption_key_id,
        "outbox_pending": vitals.outbox_pending,
        "parked": vitals.parked,
        "problems": sorted(set(vitals.problems))[:32],
    }


class Heartbeat:
    """Sends heartbeats through ``hub``; ``run`` until cancelled, or ``beat`` once."""

    def __init__(
        self,
        hub: HubCaller,
        vitals: Callable[[], Awaitable[Vitals]],
        *,
        every_s: float,
        version_text: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._hub = hub
        self._vitals = vitals
        self.every_s = every_s
        self._version = version_text or software_version()
        self._clock = clock
        self.rtt_ms: int | None = None
        """The round trip of the last heartbeat the hub answered."""
        self.sent = 0
        self.failed = 0
        self.last_error: str | None = None
        """The code of the last heartbeat the hub did not take, until one is taken again."""
        self.task: asyncio.Task[None] | None = None

    @property
    def problems(self) -> list[str]:
        """``connector.heartbeat_stopped`` if the heartbeat task ended (it runs until cancelled)."""
        return [STOPPED] if self.task is not None and self.task.done() and not self.task.cancelled() else []

    async def beat(self) -> Any:
        """Send one heartbeat; the hub's answer (``received_at``, ``clock_skew_ms``).

        Raises:
            OneDoorError: the hub's refusal (``auth.*`` 401, ``request.invalid`` 422) or ``hub.unreachable``.
        """
        body = heartbeat_body(
            await self._vitals(),
            version_text=self._version,
            sent_at=self._clock(),
            rtt_ms=self.rtt_ms,
            interval_s=self.every_s,
        )
        started = time.monotonic()
        answer = await self._hub.call("POST", PATH, json=body)
        self.rtt_ms = round((time.monotonic() - started) * 1000)
        self.sent += 1
        self.last_error = None
        return answer

    async def run(self) -> None:
        """Beat now and every ``every_s`` until cancelled; a failure is logged and the next beat is on time."""
        while True:
            try:
                await self.beat()
            except OneDoorError as exc:
                self._failed(exc.code)
            except Exception as exc:  # noqa: BLE001 - e.g. a proxy's HTML page: keep beating
                self._failed(type(exc).__name__)
            await asyncio.sleep(self.every_s)

    def start(self, name: str) -> asyncio.Task[None]:
        """Run in a task of its own (cancel it to stop)."""
        self.task = asyncio.create_task(self.run(), name=name)
        return self.task

    def _failed(self, code: str) -> None:
        self.failed += 1
        self.last_error = code
        log.warning("connector.heartbeat_failed", code=code, failed=self.failed)


def vitals_of(
    connector: Connector, durability: Durability | None, problems: Callable[[], list[str]]
) -> Callable[[], Awaitable[Vitals]]:
    """What a running connector process reports: the keys it signs and is sealed to, its outbox, its problems."""

    async def read() -> Vitals:
        keys = connector.keys
        pending = parked = None
        if durability is not None:
            health = await durability.health()
            pending, parked = health.outbox_pending, health.parked
        return Vitals(str(keys.signing_key_id), str(keys.encryption_key_id), pending, parked, problems())

    return read
