"""Finish what a suspension started: withdraw the broker identity of every suspended agency that still has one.

:func:`hub.broker.service.withdraw` runs right after a suspension commits; when the broker did not
answer then, the agency keeps its ACLs or its SCRAM user until this reconciler, a small task in
the API process (every ``ONEDOOR_API__BROKER_RECONCILE_SECONDS``, 30 s by default), finds it.

Cheap when there is nothing to do: each tick reads the suspended agencies from the database (one
query) and asks the broker only about those not already **confirmed** bare (nothing left
at the broker). A confirmation is forgotten when the agency is no longer suspended, and is
re-checked every ``recheck_s`` (10 minutes) in case it was reactivated, enrolled and suspended
again between two ticks with the broker down. With no broker admin configured the task does not
start (the hub manages no broker identities).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Final

from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hub.agencies.enums import AgencyStatus
from hub.agencies.models import Agency
from hub.broker import service
from onedoor.errors import Conflict, OneDoorError
from onedoor.ids import AgencyId
from onedoor.kafka.plan import agency_username
from onedoor.kafka.security import ClientCredentials
from onedoor.logging import get_logger
from onedoor.periodic import every
from onedoor.settings import Settings

if TYPE_CHECKING:
    from onedoor.kafka.acls import Presence

log = get_logger(__name__)

SOURCE: Final = "broker reconciler"
RECHECK_S: Final = 600.0

Look = Callable[[str, ClientCredentials, Sequence[str]], Awaitable[Mapping[str, "Presence"]]]
"""``(bootstrap, admin, usernames) -> what the broker holds for each`` (``onedoor.kafka.acls.presence``)."""
Withdraw = Callable[[AgencyId], Awaitable[service.Withdrawal]]
"""Withdraw one agency's identity (``service.withdraw`` bound to the factory and settings)."""


def due(
    suspended: Sequence[AgencyId], confirmed: Mapping[AgencyId, float], now: float, recheck_s: float = RECHECK_S
) -> list[AgencyId]:
    """The suspended agencies to ask the broker about: not confirmed bare, or confirmed ``recheck_s`` ago or more."""
    return [a for a in suspended if a not in confirmed or now - confirmed[a] >= recheck_s]


def to_withdraw(agencies: Sequence[AgencyId], present: Mapping[str, Presence]) -> list[AgencyId]:
    """Those of ``agencies`` whose user still has an ACL or SCRAM credentials (an agency not described: withdraw)."""
    return [a for a in agencies if (p := present.get(agency_username(a))) is None or not p.empty]


def suspended_agencies(session: Session) -> list[AgencyId]:
    """Every suspended agency, by id."""
    rows = session.scalars(select(Agency.id).where(Agency.status == AgencyStatus.SUSPENDED).order_by(Agency.id))
    return [AgencyId(r) for r in rows]


class Reconciler:
    """One tick at a time: list the suspended agencies, look at the due ones, withdraw what is left."""

    def __init__(
        self,
        list_suspended: Callable[[], Sequence[AgencyId]],
        admin: Callable[[], tuple[str, ClientCredentials]],
        look: Look,
        withdraw: Withdraw,
        *,
        clock: Callable[[], float] = time.monotonic,
        recheck_s: float = RECHECK_S,
    ) -> None:
        self._list_suspended = list_suspended
        self._admin = admin
        self._look = look
        self._withdraw = withdraw
        self._clock = clock
        self._recheck_s = recheck_s
        self.confirmed: dict[AgencyId, float] = {}
        """Suspended agencies the broker was seen to hold nothing for, and when (the clock's time)."""
        self.broker_calls = 0

    async def tick(self) -> list[AgencyId]:
        """One pass; the agencies whose identity it withdrew.

        Raises:
            OneDoorError: the broker does not answer or refuses the admin (the next tick tries again).
        """
        suspended = await asyncio.to_thread(self._list_suspended)
        self.confirmed = {a: t for a, t in self.confirmed.items() if a in set(suspended)}
        now = self._clock()
        todo = due(suspended, self.confirmed, now, self._recheck_s)
        if not todo:
            return []
        bootstrap, admin = self._admin()
        self.broker_calls += 1
        present = await self._look(bootstrap, admin, [agency_username(a) for a in todo])
        left = to_withdraw(todo, present)
        for agency in todo:
            if agency not in left:
                self.confirmed[agency] = now
        withdrawn = []
        for agency in left:
            result = await self._withdraw(agency)
            if result.done:
                self.confirmed[agency] = now
                withdrawn.append(agency)
        return withdrawn


async def _look(bootstrap: str, admin: ClientCredentials, usernames: Sequence[str]) -> Mapping[str, Presence]:
    from onedoor.kafka.acls import presence  # noqa: PLC0415 - kafka-python only when needed

    return await presence(bootstrap, admin, usernames, within=service.WITHDRAW_WITHIN_S)


def reconciler_for(factory: sessionmaker[Session], settings: Settings) -> Reconciler:
    """The reconciler of the API process: real database, real broker."""

    def list_suspended() -> list[AgencyId]:
        with factory() as session:
            return suspended_agencies(session)

    async def withdraw(agency: AgencyId) -> service.Withdrawal:
        return await service.withdraw(factory, settings, agency, source=SOURCE, audit_failure=False)

    return Reconciler(list_suspended, lambda: service.admin_of(settings), _look, withdraw)


@asynccontextmanager
async def running(app: FastAPI, settings: Settings, factory: sessionmaker[Session]) -> AsyncIterator[None]:
    """Run the reconciler for the API's lifetime (``app.state.broker_reconciler``); not without a broker admin."""
    try:
        service.admin_of(settings)
    except Conflict:
        log.info("broker.reconcile_off", why="no broker admin configured: this hub manages no broker identities")
        yield
        return
    except OneDoorError as exc:
        log.warning("broker.reconcile_degraded", code=exc.code)  # each tick will say so again
    reconciler = reconciler_for(factory, settings)
    app.state.broker_reconciler = reconciler
    every_s = settings.api.broker_reconcile_seconds

    async def tick() -> None:
        withdrawn = await reconciler.tick()
        if withdrawn:
            log.info("broker.reconciled", withdrawn=len(withdrawn))

    async with every("broker-reconcile", every_s, tick, failed="broker.reconcile_failed"):
        yield
