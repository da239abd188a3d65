"""Who a provision or a party names: a named agency, an agency kind, a named group, or anyone.

Actors are ranked for specificity (``consent.rules``): a named agency (2) is more specific than
a kind or a group (1), which is more specific than anyone (0).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from consent.errors import Invalid, invalid
from consent.ids import GroupName
from onedoor.errors import ValidationFailed
from onedoor.ids import AgencyId


class ActorScope(StrEnum):
    """How an actor names agencies, from most to least specific."""

    AGENCY = "agency"
    KIND = "kind"
    GROUP = "group"
    ANYONE = "anyone"


_RANK: Final = {ActorScope.AGENCY: 2, ActorScope.KIND: 1, ActorScope.GROUP: 1, ActorScope.ANYONE: 0}
_KIND = re.compile(r"[a-z][a-z0-9-]{1,30}[a-z0-9]")


@dataclass(frozen=True, slots=True)
class Member:
    """What the engine knows of one agency: enough to match actors."""

    agency: AgencyId
    """The agency."""
    kind: str
    """Its kind, e.g. ``police`` or ``children-services``."""
    groups: frozenset[GroupName] = frozenset()
    """Named groups it belongs to, e.g. ``london-boroughs``."""


@dataclass(frozen=True, slots=True)
class Actor:
    """Who a provision or a party names. Build with ``agency``, ``kind``, ``group`` or use ``ANYONE``."""

    scope: ActorScope
    name: str = ""
    """The agency id, kind or group name; empty for anyone."""

    def __post_init__(self) -> None:
        if self.scope is ActorScope.ANYONE:
            if self.name:
                raise invalid(Invalid.BAD_ACTOR, "'anyone' takes no name")
            return
        try:
            if self.scope is ActorScope.AGENCY:
                AgencyId(self.name)
            elif self.scope is ActorScope.GROUP:
                GroupName(self.name)
        except ValidationFailed as exc:
            raise invalid(Invalid.BAD_ACTOR, exc.message) from None
        if self.scope is ActorScope.KIND and not _KIND.fullmatch(self.name):
            raise invalid(Invalid.BAD_ACTOR, f"not an agency kind: {self.name!r:.40}")

    @classmethod
    def agency(cls, agency: str) -> Actor:
        """One named agency."""
        return cls(ActorScope.AGENCY, agency)

    @classmethod
    def kind(cls, kind: str) -> Actor:
        """Every agency of a kind, e.g. ``police``."""
        return cls(ActorScope.KIND, kind)

    @classmethod
    def group(cls, group: str) -> Actor:
        """Every member of a named group, e.g. ``london-boroughs``."""
        return cls(ActorScope.GROUP, group)

    @property
    def rank(self) -> int:
        """Specificity: 2 for a named agency, 1 for a kind or group, 0 for anyone."""
        return _RANK[self.scope]

    def matches(self, member: Member) -> bool:
        """Whether this actor names ``member``."""
        scope = self.scope
        if scope is ActorScope.AGENCY:
            return member.agency == self.name
        if scope is ActorScope.KIND:
            return member.kind == self.name
        if scope is ActorScope.GROUP:
            return self.name in member.groups
        return True

    def __str__(self) -> str:
        return "anyone" if self.scope is ActorScope.ANYONE else f"{self.scope}:{self.name}"


ANYONE: Final = Actor(ActorScope.ANYONE)
