"""Provisions flattened into rules, and which rule wins for each data class.

**Matching.** A rule matches a flow when the sender matches its senders at every level of its
chain (itself and each ancestor that names senders), likewise the recipient, and the action,
purpose, data class and time fall inside its effective sets (a nested provision's unset
dimension is its parent's). So an exception only ever matches where its parent matches.

**Specificity.** Each matching rule has two ranks: the sender rank and the recipient rank. A
rank is the most specific actor that matched anywhere along the chain: 2 for a named agency,
1 for an agency kind or a named group, 0 for anyone. Purposes, classes, actions and periods
narrow what a rule matches but do not make it more specific: to carve an exception out of a
rule, nest it. Rule P **beats** rule Q when

1. P is nested (at any depth) inside Q: an exception beats its parent; or
2. neither is nested in the other, and P's ranks are at least Q's on both axes and higher on
   one (P names the sender or the recipient more precisely and nothing less precisely).

A child's ranks are never below its parent's (ranks are the maximum along the chain), so the
relation has no cycles. For each data class, the **winners** are the matching rules that no
other matching rule beats. The class is permitted only if there is at least one winner and
every winner permits: **deny wins among equally (or incomparably) specific rules**. No
matching rule means not permitted: an agreement is a closed list of what may flow.

Order never matters: the same provisions in any order give the same result.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final, TypeVar

from consent.errors import Invalid, invalid
from consent.model import ALWAYS, ANYONE, Action, Actor, ActorScope, DataClass, Effect, Member, Period, Provision
from onedoor.ids import Purpose

CLASS_ORDER: Final = tuple(DataClass)
_BIT: Final = {klass: 1 << i for i, klass in enumerate(CLASS_ORDER)}
_ALL_BITS: Final = (1 << len(CLASS_ORDER)) - 1
_SETS: Final = tuple(
    frozenset(k for i, k in enumerate(CLASS_ORDER) if mask >> i & 1) for mask in range(1 << len(CLASS_ORDER))
)
"""Every subset of the classes, by bit mask: resolution works on masks."""


def mask_of(classes: frozenset[DataClass] | None) -> int:
    """The bit mask of a set of classes (``None``: every class)."""
    return _ALL_BITS if classes is None else sum(_BIT[k] for k in classes)


@dataclass(frozen=True, slots=True)
class Level:
    """One level's set of actors, split by scope so matching is a few set lookups."""

    agencies: frozenset[str]
    kinds: frozenset[str]
    groups: frozenset[str]
    anyone: bool

    @classmethod
    def of(cls, actors: frozenset[Actor]) -> Level:
        """Compile a set of actors."""

        def names(scope: ActorScope) -> frozenset[str]:
            return frozenset(a.name for a in actors if a.scope is scope)

        return cls(names(ActorScope.AGENCY), names(ActorScope.KIND), names(ActorScope.GROUP), ANYONE in actors)

    def rank(self, member: Member) -> int:
        """The most specific actor of this level that names ``member``: 2, 1, 0, or -1 for none."""
        if member.agency in self.agencies:
            return 2
        if member.kind in self.kinds or not self.groups.isdisjoint(member.groups):
            return 1
        return 0 if self.anyone else -1


@dataclass(frozen=True, slots=True)
class Rule:
    """One provision with its chain's constraints folded in."""

    index: int
    """Position in the agreement's depth-first order."""
    effect: Effect
    ancestors: frozenset[int]
    """Indexes of the provisions this one is nested in."""
    senders: tuple[frozenset[Actor], ...]
    """The sender sets named along the chain; every one must match."""
    recipients: tuple[frozenset[Actor], ...]
    actions: frozenset[Action] | None
    purposes: frozenset[Purpose] | None
    classes: frozenset[DataClass] | None
    period: Period
    has_exceptions: bool
    sender_levels: tuple[Level, ...] = field(init=False, repr=False, compare=False)
    recipient_levels: tuple[Level, ...] = field(init=False, repr=False, compare=False)
    mask: int = field(init=False, repr=False, compare=False)
    """``classes`` as a bit mask."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "sender_levels", tuple(Level.of(a) for a in self.senders))
        object.__setattr__(self, "recipient_levels", tuple(Level.of(a) for a in self.recipients))
        object.__setattr__(self, "mask", mask_of(self.classes))


@dataclass(frozen=True, slots=True)
class Verdict:
    """Which data classes a flow may carry under one agreement."""

    permitted: frozenset[DataClass]
    denied: frozenset[DataClass]
    """Classes a winning deny rule covers (the rest of the unpermitted ones no rule covers)."""


def flatten(provisions: Sequence[Provision], purposes: frozenset[Purpose]) -> tuple[Rule, ...]:
    """Flatten an agreement's provisions into rules, depth first.

    Raises:
        ValidationFailed: ``provision.purpose_not_in_agreement``, ``provision.conflict``.
    """
    rules: list[Rule] = []
    _flatten(provisions, None, purposes, rules)
    return tuple(rules)


def _flatten(
    provisions: Sequence[Provision], parent: Rule | None, purposes: frozenset[Purpose], out: list[Rule]
) -> None:
    level: list[Rule] = []
    for provision in provisions:
        if provision.purposes is not None and not provision.purposes <= purposes:
            extra = ", ".join(sorted(provision.purposes - purposes))
            raise invalid(
                Invalid.PURPOSE_NOT_IN_AGREEMENT, f"a provision names purposes the agreement does not list: {extra}"
            )
        rule = _rule(provision, parent, len(out))
        out.append(rule)
        level.append(rule)
        _flatten(provision.provisions, rule, purposes, out)
    _check_conflicts(level, provisions)


def _rule(provision: Provision, parent: Rule | None, index: int) -> Rule:
    if parent is None:
        return Rule(
            index=index,
            effect=provision.effect,
            ancestors=frozenset(),
            senders=() if provision.senders is None else (provision.senders,),
            recipients=() if provision.recipients is None else (provision.recipients,),
            actions=provision.actions,
            purposes=provision.purposes,
            classes=provision.classes,
            period=provision.period,
            has_exceptions=bool(provision.provisions),
        )
    return Rule(
        index=index,
        effect=provision.effect,
        ancestors=parent.ancestors | {parent.index},
        senders=parent.senders + (() if provision.senders is None else (provision.senders,)),
        recipients=parent.recipients + (() if provision.recipients is None else (provision.recipients,)),
        actions=parent.actions if provision.actions is None else provision.actions,
        purposes=parent.purposes if provision.purposes is None else provision.purposes,
        classes=parent.classes if provision.classes is None else provision.classes,
        period=parent.period if provision.period.unbounded else provision.period,
        has_exceptions=bool(provision.provisions),
    )


def _check_conflicts(level: Sequence[Rule], provisions: Sequence[Provision]) -> None:
    """Refuse a permit that a sibling deny for the same actors covers entirely: it could never apply."""
    for permit, p in zip(level, provisions, strict=True):
        if permit.effect is not Effect.PERMIT or permit.has_exceptions:
            continue
        for deny, d in zip(level, provisions, strict=True):
            if (
                deny.effect is Effect.DENY
                and p.senders == d.senders
                and p.recipients == d.recipients
                and _covers(deny.actions, permit.actions)
                and _covers(deny.purposes, permit.purposes)
                and _covers(deny.classes, permit.classes)
                and permit.period.within(deny.period)
            ):
                raise invalid(
                    Invalid.CONFLICT,
                    "a permit is entirely covered by a deny for the same senders and recipients, so it can never "
                    "apply: remove one, or nest the permit inside the deny as an exception",
                )


_T = TypeVar("_T")


def _covers(outer: frozenset[_T] | None, inner: frozenset[_T] | None) -> bool:
    return outer is None or (inner is not None and inner <= outer)


def rank(levels: tuple[Level, ...], member: Member) -> int:
    """The most specific actor matching ``member`` along a chain; -1 if some level does not match."""
    best = 0
    for level in levels:
        found = level.rank(member)
        if found < 0:
            return -1
        best = max(best, found)
    return best


def resolve(
    rules: Iterable[Rule], *, sender: Member, recipient: Member, action: Action, purpose: Purpose, at_ms: int
) -> Verdict:
    """Apply the specificity rule to every data class (see the module docstring)."""
    matched: list[tuple[Rule, int, int]] = []
    permits = denies = 0
    for rule in rules:
        if rule.actions is not None and action not in rule.actions:
            continue
        if rule.purposes is not None and purpose not in rule.purposes:
            continue
        if not rule.period.contains(at_ms):
            continue
        s = rank(rule.sender_levels, sender)
        if s < 0:
            continue
        r = rank(rule.recipient_levels, recipient)
        if r < 0:
            continue
        matched.append((rule, s, r))
        if rule.effect is Effect.PERMIT:
            permits |= rule.mask
        else:
            denies |= rule.mask
    # A class only permits match is permitted, one only denies match is denied; only a class both
    # match needs the specificity rule.
    permitted, denied = permits & ~denies, denies & ~permits
    contested = permits & denies
    for i in range(len(CLASS_ORDER)):
        bit = 1 << i
        if not contested & bit:
            continue
        candidates = [m for m in matched if m[0].mask & bit]
        winners = [m for m in candidates if not any(_beats(other, m) for other in candidates)]
        # The relation has no cycles, so winners is never empty; the check keeps a bug fail-closed.
        if winners and all(rule.effect is Effect.PERMIT for rule, _, _ in winners):
            permitted |= bit
        else:
            denied |= bit
    return Verdict(_SETS[permitted], _SETS[denied])


def _beats(p: tuple[Rule, int, int], q: tuple[Rule, int, int]) -> bool:
    """Whether matched rule ``p`` is more specific than matched rule ``q``."""
    rule_p, sender_p, recipient_p = p
    rule_q, sender_q, recipient_q = q
    if rule_q.index in rule_p.ancestors:
        return True
    if rule_p.index in rule_q.ancestors or rule_p is rule_q:
        return False
    return sender_p >= sender_q and recipient_p >= recipient_q and (sender_p, recipient_p) != (sender_q, recipient_q)


def boundaries(rules: Iterable[Rule]) -> set[int]:
    """Every time at which some rule starts or stops applying."""
    found: set[int] = set()
    for rule in rules:
        if rule.period is not ALWAYS:
            found.update((rule.period.start_ms, rule.period.end_ms))
    return found
