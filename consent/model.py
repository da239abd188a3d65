"""The vocabulary of provisions, FHIR-Consent style: who, doing what, for which purpose, with which data, when.

A ``Provision`` permits or denies. Each of its dimensions is either unset (``None``: "any",
which for a nested provision means "whatever the parent allows") or a non-empty set. Nested
``provisions`` are exceptions to their parent: they apply only where the parent applies and,
being more specific, win over it (the full rule is in ``consent.rules``).

Actors name agencies in one of three ways: a named agency, an agency kind (``police``,
``children-services``...) or a named group (``london-boroughs``); or anyone. On a provision,
``senders`` and ``recipients`` say which direction of the flow it governs; "anyone" means
any party of the agreement.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from consent.actors import ANYONE, Actor, ActorScope, Member
from consent.errors import Invalid, invalid
from consent.period import ALWAYS, Period, to_ms
from contracts.sensitivity import Sensitivity
from onedoor.ids import Purpose

__all__ = [
    "ALL_CLASSES",
    "ALWAYS",
    "ANYONE",
    "AccessLevel",
    "Action",
    "Actor",
    "ActorScope",
    "DataClass",
    "Effect",
    "Member",
    "Period",
    "Provision",
    "parse_data_class",
    "to_ms",
]

DataClass = Sensitivity
"""A data class is a contract field's sensitivity tag: the eight kinds of data a field holds."""


def parse_data_class(value: str) -> DataClass:
    """A data class from its text form (``health``, ``criminal-intelligence``...).

    Raises:
        ValidationFailed: ``data_class.unknown``.
    """
    try:
        return DataClass(value)
    except ValueError:
        raise invalid(
            Invalid.UNKNOWN_DATA_CLASS, f"not a data class: {value!r:.40}; one of {', '.join(DataClass)}"
        ) from None


class Effect(StrEnum):
    """What a provision does to the data it matches."""

    PERMIT = "permit"
    DENY = "deny"


class Action(StrEnum):
    """What the flow is. Receiving is not an action of its own: the recipient re-checks the sender's flow."""

    SEND = "send"
    """Push a message to the recipient: a referral, an alert, an update, an acknowledgement."""
    QUERY = "query"
    """Answer a status check ("who else is working with this child?"); the answering agency is the sender."""


class AccessLevel(StrEnum):
    """The seed's access presets, as sets of data classes (pass ``level.classes`` to a provision).

    ``full``: all eight classes; for the agencies that work the case (children's social care,
    the police safeguarding team, the YOT case manager).

    ``limited``: *status, not file*, as CP-IS shares a flag rather than a record:

    - ``operational``: what the exchange needs (ids, times, urgency, status, references);
    - ``safeguarding``: the flags (concern categories, risk, missing episodes, NRM status);
    - ``contact``: who to call, e.g. the professional network and duty contact.

    It leaves out ``identity`` (the recipient resolves the header's subject token against its
    own records), ``location`` (where a child lives or was found is what exploiters look for),
    ``health`` (special category data), ``criminal-intelligence`` and ``demographic``. Fields
    inside a record are shared only if the record's own class is shared too (see
    ``TaggedContract.fields_for``), so in the master referral ``limited`` keeps the
    professional network's contact details but not the child's own phone number (inside the
    ``child`` record, tagged ``identity``). It does keep the parents' and carers' phone and
    email, whose record is tagged ``contact``: an agreement that must not carry them should
    use the Alert contract or deny ``contact``.
    """

    FULL = "full"
    LIMITED = "limited"

    @property
    def classes(self) -> frozenset[DataClass]:
        """The data classes this level contains."""
        return _LEVELS[self]

    @classmethod
    def parse(cls, value: str) -> AccessLevel:
        """An access level from ``full`` or ``limited``.

        Raises:
            ValidationFailed: ``access_level.unknown``.
        """
        try:
            return cls(value)
        except ValueError:
            raise invalid(
                Invalid.UNKNOWN_ACCESS_LEVEL, f"not an access level: {value!r:.40}; one of full, limited"
            ) from None


ALL_CLASSES: Final = frozenset(DataClass)
_LEVELS: Final = {
    AccessLevel.FULL: ALL_CLASSES,
    AccessLevel.LIMITED: frozenset({DataClass.OPERATIONAL, DataClass.SAFEGUARDING, DataClass.CONTACT}),
}


@dataclass(frozen=True, slots=True)
class Provision:
    """Permit or deny a flow of data classes: the FHIR Consent ``provision`` element.

    Build with ``Provision.permit(...)`` or ``Provision.deny(...)``, which accept any iterable,
    a single actor, or an ``AccessLevel`` for ``classes``.

    Raises:
        ValidationFailed: ``provision.empty_set`` for an empty set (leave it unset for "any"),
            ``provision.outside_parent`` for an exception that reaches beyond its parent.
    """

    effect: Effect
    senders: frozenset[Actor] | None = None
    """Who sends (discloses); unset: any party."""
    recipients: frozenset[Actor] | None = None
    """Who receives; unset: any party."""
    actions: frozenset[Action] | None = None
    """Unset: every action."""
    purposes: frozenset[Purpose] | None = None
    """Unset: every purpose of the agreement (or of the parent)."""
    classes: frozenset[DataClass] | None = None
    """Unset, or all eight: every data class."""
    period: Period = ALWAYS
    """When it applies; unbounded: whenever the parent does."""
    provisions: tuple[Provision, ...] = ()
    """Exceptions to this provision."""

    def __post_init__(self) -> None:
        for name in ("senders", "recipients", "actions", "purposes", "classes"):
            value = getattr(self, name)
            if value is None:
                continue
            value = frozenset(value)
            if not value:
                raise invalid(Invalid.EMPTY_SET, f"a provision's {name} cannot be empty: leave it unset to mean any")
            object.__setattr__(self, name, value)
        if self.classes == ALL_CLASSES:
            object.__setattr__(self, "classes", None)
        object.__setattr__(self, "provisions", tuple(self.provisions))
        for child in self.provisions:
            self._check_inside(child)

    def _check_inside(self, child: Provision) -> None:
        for name in ("actions", "purposes", "classes"):
            mine, theirs = getattr(self, name), getattr(child, name)
            if mine is not None and theirs is not None and not theirs <= mine:
                outside = ", ".join(sorted(str(v) for v in theirs - mine))
                raise invalid(Invalid.OUTSIDE_PARENT, f"an exception names {name} its parent does not cover: {outside}")
        if not child.period.unbounded and not child.period.within(self.period):
            raise invalid(Invalid.OUTSIDE_PARENT, "an exception's period reaches outside its parent's period")

    @classmethod
    def permit(
        cls,
        *,
        senders: Actor | Iterable[Actor] | None = None,
        recipients: Actor | Iterable[Actor] | None = None,
        actions: Iterable[Action] | None = None,
        purposes: Iterable[str] | None = None,
        classes: AccessLevel | Iterable[DataClass] | None = None,
        period: Period = ALWAYS,
        provisions: Iterable[Provision] = (),
    ) -> Provision:
        """A permit provision."""
        return cls._make(
            Effect.PERMIT,
            senders=senders,
            recipients=recipients,
            actions=actions,
            purposes=purposes,
            classes=classes,
            period=period,
            provisions=provisions,
        )

    @classmethod
    def deny(
        cls,
        *,
        senders: Actor | Iterable[Actor] | None = None,
        recipients: Actor | Iterable[Actor] | None = None,
        actions: Iterable[Action] | None = None,
        purposes: Iterable[str] | None = None,
        classes: AccessLevel | Iterable[DataClass] | None = None,
        period: Period = ALWAYS,
        provisions: Iterable[Provision] = (),
    ) -> Provision:
        """A deny provision."""
        return cls._make(
            Effect.DENY,
            senders=senders,
            recipients=recipients,
            actions=actions,
            purposes=purposes,
            classes=classes,
            period=period,
            provisions=provisions,
        )

    @classmethod
    def _make(
        cls,
        effect: Effect,
        *,
        senders: Actor | Iterable[Actor] | None,
        recipients: Actor | Iterable[Actor] | None,
        actions: Iterable[Action] | None,
        purposes: Iterable[str] | None,
        classes: AccessLevel | Iterable[DataClass] | None,
        period: Period,
        provisions: Iterable[Provision],
    ) -> Provision:
        return cls(
            effect=effect,
            senders=_actors(senders),
            recipients=_actors(recipients),
            actions=None if actions is None else frozenset(actions),
            purposes=None if purposes is None else frozenset(Purpose(p) for p in purposes),
            classes=None if classes is None else frozenset(_classes(classes)),
            period=period,
            provisions=tuple(provisions),
        )


def _actors(value: Actor | Iterable[Actor] | None) -> frozenset[Actor] | None:
    if value is None:
        return None
    return frozenset({value}) if isinstance(value, Actor) else frozenset(value)


def _classes(value: AccessLevel | Iterable[DataClass]) -> Iterable[DataClass]:
    if isinstance(value, AccessLevel):
        return value.classes
    return (v if isinstance(v, DataClass) else parse_data_class(v) for v in value)
