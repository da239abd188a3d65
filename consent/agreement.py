"""An information-sharing agreement as the decision engine sees it: one version, in one state.

The lifecycle (draft → proposed → active once every party approved → suspended / revoked /
expired), the approvals and the history belong to the agreements store, not to the engine.
The engine is given the current version of each agreement and permits only under ``active``
ones, inside their period.

**Parties.** Named agencies and named groups ("all London boroughs"). A flow is between two
*different* parties: in an agreement between the Met and the London boroughs group, the Met
may share with each borough and each borough with the Met, but boroughs may not share with
each other under it. An agreement whose only party is a group is the exception: its members
share among themselves. Which data classes may flow in which direction is said by the
provisions (``senders`` / ``recipients``); anything no provision permits is not shared.

**Contract versions.** The parties approve an agreement against the contract versions that
exist when they approve it. ``contract_versions`` pins each contract to the version they saw;
a later version's fields that the pinned one lacks are shared only if they are ``operational``
(``consent.contract.SENSITIVE``), until an amendment pinned to the new version is approved.
No pin (an empty mapping, or a contract left out of it) means every version is covered as is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from types import MappingProxyType

from consent.basis import LawfulBasis
from consent.errors import Invalid, invalid
from consent.ids import AgreementId
from consent.model import ALWAYS, Actor, ActorScope, DataClass, Effect, Period, Provision, to_ms
from consent.rules import Rule, flatten
from onedoor.ids import ContractName, Purpose

_NO_PINS: Mapping[ContractName, int] = MappingProxyType({})


class AgreementState(StrEnum):
    """Where an agreement is in its life. Only ``active`` permits anything."""

    DRAFT = "draft"
    PROPOSED = "proposed"
    """Waiting for every party's approval."""
    ACTIVE = "active"
    SUSPENDED = "suspended"
    """Paused, e.g. pending a review or an incident; may become active again."""
    REVOKED = "revoked"
    """Ended by a party; never active again (a new agreement is needed)."""
    EXPIRED = "expired"
    """Past its end date."""


@dataclass(frozen=True, slots=True)
class Agreement:
    """One version of an information-sharing agreement (ISA).

    Raises:
        ValidationFailed: ``agreement.invalid_version``, ``agreement.invalid_parties``,
            ``agreement.nothing_agreed``, ``agreement.invalid_retention``,
            ``agreement.pinned_contract_not_covered``, and the provision codes of
            ``consent.rules.flatten``.
    """

    id: AgreementId
    version: int
    """Starts at 1; every amendment is a new version that needs fresh approvals."""
    state: AgreementState
    parties: frozenset[Actor]
    """Named agencies and groups that signed."""
    contracts: frozenset[ContractName]
    """Contracts whose messages it covers."""
    purposes: frozenset[Purpose]
    """Purposes it covers; provisions may narrow them."""
    provisions: tuple[Provision, ...]
    """What may flow in which direction; nothing else does."""
    lawful_basis: LawfulBasis
    retention: timedelta
    """How long recipients keep what they receive under it."""
    review_date: date
    """When the parties must review it; overdue reviews are flagged on every decision, not enforced."""
    period: Period = ALWAYS
    """When it has effect."""
    title: str = ""
    contract_versions: Mapping[ContractName, int] = field(default_factory=lambda: _NO_PINS, hash=False)
    """The version of each contract the parties approved it against (read-only). Fields a later
    version adds are withheld unless operational; a contract without a pin is not restricted."""
    rules: tuple[Rule, ...] = field(init=False, repr=False, compare=False)
    """The provisions flattened for the engine."""
    review_ms: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "id", AgreementId(self.id))
        object.__setattr__(self, "parties", frozenset(self.parties))
        object.__setattr__(self, "contracts", frozenset(ContractName(c) for c in self.contracts))
        object.__setattr__(self, "purposes", frozenset(Purpose(p) for p in self.purposes))
        object.__setattr__(self, "provisions", tuple(self.provisions))
        pins = {ContractName(c): v for c, v in sorted(self.contract_versions.items())}
        object.__setattr__(self, "contract_versions", MappingProxyType(pins) if pins else _NO_PINS)
        if self.version < 1:
            raise invalid(Invalid.BAD_VERSION, f"agreement versions start at 1, not {self.version}")
        scopes = {p.scope for p in self.parties}
        if not scopes <= {ActorScope.AGENCY, ActorScope.GROUP}:
            raise invalid(Invalid.PARTIES, "parties must be named agencies or named groups")
        if len(self.parties) < 2 and scopes != {ActorScope.GROUP}:
            raise invalid(Invalid.PARTIES, "an agreement needs two parties, or one group whose members share")
        if not self.contracts or not self.purposes:
            raise invalid(Invalid.NOTHING_AGREED, "an agreement must name at least one contract and one purpose")
        outside = sorted(c for c, v in pins.items() if c not in self.contracts or v < 1)
        if outside:
            raise invalid(
                Invalid.PIN_NOT_COVERED,
                f"contract version pins must name a contract of the agreement and a version >= 1: {', '.join(outside)}",
            )
        if self.retention <= timedelta(0):
            raise invalid(Invalid.BAD_RETENTION, "retention must be a positive period")
        object.__setattr__(self, "rules", flatten(self.provisions, self.purposes))
        midnight = datetime(self.review_date.year, self.review_date.month, self.review_date.day, tzinfo=UTC)
        object.__setattr__(self, "review_ms", to_ms(midnight))

    def may_permit(self, klass: DataClass) -> bool:
        """Whether some permit provision covers ``klass`` (for checking the lawful basis)."""
        return any(r.effect is Effect.PERMIT and (r.classes is None or klass in r.classes) for r in self.rules)

    def named_classes(self) -> frozenset[DataClass]:
        """Every data class a provision names explicitly."""
        return frozenset(c for r in self.rules if r.classes is not None for c in r.classes)

    def named_actors(self) -> frozenset[Actor]:
        """Every actor a provision names."""
        return frozenset(a for r in self.rules for level in (*r.senders, *r.recipients) for a in level)
