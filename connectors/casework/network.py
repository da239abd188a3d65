"""The connector's side of the hub's network and transfer API: typed calls over ``HubClient``.

The hub is reached through ``connectors.sdk.hubauth.HubCaller`` (``HubClient``, or a fake in tests).

Every call is made as the connector's own agency (an assertion signed with its key); errors
are the hub's, with its stable codes (``network.not_a_member``, ``transfer.already_accepted``...).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from connectors.sdk.hubauth import HubCaller
from onedoor.errors import Unavailable
from onedoor.ids import AgencyId, SubjectToken, TransferId


@dataclass(frozen=True, slots=True)
class Member:
    """One agency of a child's network."""

    agency: AgencyId
    role: str
    """``lead`` or ``member``."""
    since: datetime | None = None


@dataclass(frozen=True, slots=True)
class NetworkView:
    """A child's network as the hub told this agency."""

    subject_token: SubjectToken
    members: tuple[Member, ...]
    withheld: int = 0
    """Members the hub did not show: this agency has no agreement in force with them (a count only)."""

    @property
    def lead(self) -> AgencyId | None:
        """The lead agency, if any."""
        return next((m.agency for m in self.members if m.role == "lead"), None)

    @property
    def agencies(self) -> tuple[AgencyId, ...]:
        """Every member's id, the lead first."""
        return tuple(m.agency for m in self.members)


@dataclass(frozen=True, slots=True)
class TransferRecord:
    """A transfer as the hub holds it."""

    transfer_id: TransferId
    subject_token: SubjectToken
    offered_by: AgencyId
    candidates: tuple[AgencyId, ...]
    status: str
    accepted_by: AgencyId | None
    previous_network: tuple[Member, ...] = ()
    """Once accepted, for the offering agency and the acceptor: the network as it was."""


@dataclass(frozen=True, slots=True)
class Acceptance:
    """This agency's accepted transfer: it now leads the child's network."""

    transfer: TransferRecord
    previous_lead: AgencyId
    network: tuple[Member, ...]


def _members(raw: Iterable[Mapping[str, Any]]) -> tuple[Member, ...]:
    return tuple(
        Member(AgencyId(m["agency_id"]), str(m["role"]), datetime.fromisoformat(m["since"]) if m.get("since") else None)
        for m in raw
    )


def _dict(found: Any) -> Mapping[str, Any]:
    if not isinstance(found, dict):
        raise Unavailable("hub.bad_answer", "the hub's answer is not a JSON object")
    return found


def _transfer(raw: Mapping[str, Any]) -> TransferRecord:
    accepted = raw.get("accepted_by")
    return TransferRecord(
        transfer_id=TransferId(raw["transfer_id"]),
        subject_token=SubjectToken(raw["subject_token"]),
        offered_by=AgencyId(raw["offered_by"]),
        candidates=tuple(AgencyId(c) for c in raw["candidates"]),
        status=str(raw["status"]),
        accepted_by=AgencyId(accepted) if accepted else None,
        previous_network=_members(raw.get("previous_network") or ()),
    )


class NetworkClient:
    """Subscribe, look up, offer and accept, as this agency."""

    def __init__(self, hub: HubCaller) -> None:
        self._hub = hub

    async def subscribe(self, token: SubjectToken, *, lead: bool = False) -> Member:
        """This agency opened a case on the child: join its network (as its lead, if ``lead``)."""
        found = _dict(
            await self._hub.call("PUT", f"/network/{token}/members/me", {"role": "lead" if lead else "member"})
        )
        return _members([found])[0]

    async def unsubscribe(self, token: SubjectToken) -> None:
        """This agency closed its case on the child: leave its network."""
        await self._hub.call("DELETE", f"/network/{token}/members/me")

    async def network(self, token: SubjectToken) -> NetworkView:
        """The child's network as this agency may see it (itself and the members it has an agreement with).

        Raises:
            Forbidden: ``network.not_a_member`` unless this agency is in it.
        """
        found = _dict(await self._hub.call("GET", f"/network/{token}"))
        withheld = found.get("withheld", 0)
        return NetworkView(
            SubjectToken(found["subject_token"]),
            _members(found["members"]),
            withheld if isinstance(withheld, int) else 0,
        )

    async def offer(self, token: SubjectToken, candidates: Sequence[AgencyId]) -> TransferRecord:
        """Record a transfer offer at the hub (this agency must lead the network)."""
        body = {"subject_token": str(token), "candidates": [str(c) for c in candidates]}
        return _transfer(_dict(await self._hub.call("POST", "/transfers", body)))

    async def transfer(self, transfer_id: TransferId) -> TransferRecord:
        """Where a transfer stands (for its offering agency and its candidates)."""
        return _transfer(_dict(await self._hub.call("GET", f"/transfers/{transfer_id}")))

    async def accept(self, transfer_id: TransferId) -> Acceptance:
        """Accept a transfer (again, if this agency already did: the hub answers the same).

        Raises:
            Conflict: ``transfer.already_accepted`` when another agency was first.
        """
        found = _dict(await self._hub.call("POST", f"/transfers/{transfer_id}/accept"))
        return Acceptance(_transfer(found), AgencyId(found["previous_lead"]), _members(found["network"]))

    async def withdraw(self, transfer_id: TransferId) -> TransferRecord:
        """Withdraw an offer nobody accepted yet."""
        return _transfer(_dict(await self._hub.call("POST", f"/transfers/{transfer_id}/withdraw")))
