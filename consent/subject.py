"""A young person's consent to sharing, and how it bears on a decision.

Consent is one lawful basis among several (UK GDPR Art. 6). The rule, as implemented by
``judge_consent``:

1. **The agreement's basis rests on consent** (Art. 6(1)(a) or Art. 9(2)(a)): sharing needs
   consent ``given``. Refused, withdrawn, not recorded or not sought all deny, and an emergency
   override cannot help: the override is a safeguarding decision, and this agreement has no
   safeguarding basis to rest it on. Withdrawal stops new sharing at once (Art. 7(3)).
2. **The basis does not rest on consent** (public task, legal obligation, vital interests,
   with DPA 2018 Sch. 1 para 18 / Sch. 8 para 4 for special category data): consent is sought
   where it is safe to, but the basis does not depend on it.

   - ``given``: permit.
   - ``not sought, because seeking it would put the child at risk`` (a justification and who
     recorded it are required): permit. This is the case Sch. 1 para 18(2)(c) and Sch. 8
     para 4 describe: obtaining consent would prejudice the child's protection.
   - ``not recorded``: permit, with a note asking for consent or the reason it was not sought.
   - ``refused`` or ``withdrawn``: **deny**, unless an **emergency override** is in force: one
     recorded *after* the refusal or withdrawal, reviewed by a second person, and time-boxed
     (at most ``MAX_OVERRIDE``). Respecting a refusal is the default; overriding it is a
     recorded, reviewed, temporary decision that sharing is needed to protect the child.

A message about no identifiable young person (no subject token) has no consent state and
this rule does not apply to it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final

from consent.errors import Invalid, invalid
from consent.model import to_ms
from consent.reasons import ReasonCode

MAX_OVERRIDE: Final = timedelta(hours=72)
"""Longest an emergency override may last: long enough to hold a strategy discussion."""


class ConsentStatus(StrEnum):
    """The latest consent decision recorded for a young person."""

    NOT_RECORDED = "not-recorded"
    GIVEN = "given"
    REFUSED = "refused"
    WITHDRAWN = "withdrawn"
    NOT_SOUGHT_RISK = "not-sought-risk"
    """Not sought, because seeking it would put the child at risk (e.g. a parent is believed to be involved)."""


def _required(value: str | None, what: str, code: Invalid = Invalid.CONSENT_RECORD) -> str:
    if value is None or not value.strip():
        raise invalid(code, f"{what} is required")
    return value.strip()


@dataclass(frozen=True, slots=True)
class EmergencyOverride:
    """A reviewed, time-boxed decision to share despite a refusal or withdrawal.

    Raises:
        ValidationFailed: ``consent.invalid_override`` when the reviewer is the recorder, the
            period is empty or longer than ``MAX_OVERRIDE``, or a field is blank.
    """

    justification: str
    """Why sharing is needed to protect the child; kept with the record, never in a decision."""
    recorded_by: str
    reviewed_by: str
    """A second person: never the one who recorded it."""
    starts_at: datetime
    expires_at: datetime
    starts_ms: int = field(init=False, repr=False, compare=False)
    expires_ms: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        recorder = _required(self.recorded_by, "who recorded the override", Invalid.OVERRIDE)
        reviewer = _required(self.reviewed_by, "who reviewed the override", Invalid.OVERRIDE)
        _required(self.justification, "a justification for the override", Invalid.OVERRIDE)
        if recorder.casefold() == reviewer.casefold():
            raise invalid(Invalid.OVERRIDE, "an emergency override must be reviewed by a second person")
        starts, expires = to_ms(self.starts_at), to_ms(self.expires_at)
        if expires <= starts:
            raise invalid(Invalid.OVERRIDE, "an emergency override must expire after it starts")
        if self.expires_at - self.starts_at > MAX_OVERRIDE:
            raise invalid(Invalid.OVERRIDE, f"an emergency override lasts at most {MAX_OVERRIDE}")
        object.__setattr__(self, "starts_ms", starts)
        object.__setattr__(self, "expires_ms", expires)


@dataclass(frozen=True, slots=True)
class ConsentState:
    """A young person's consent position, as the records store reports it for one subject token.

    Build with the class methods. ``override`` may sit on top of any status; it only matters
    for ``refused`` and ``withdrawn`` under a basis that does not rest on consent.

    Raises:
        ValidationFailed: ``consent.invalid_record`` when a status lacks the time, person or
            justification it needs.
    """

    status: ConsentStatus
    recorded_at: datetime | None = None
    """When the status was recorded; required for every status but ``not-recorded``."""
    recorded_by: str | None = None
    justification: str | None = None
    """Why consent was not sought; required for ``not-sought-risk``."""
    override: EmergencyOverride | None = None
    recorded_ms: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.status is ConsentStatus.NOT_RECORDED:
            object.__setattr__(self, "recorded_ms", 0)
            return
        if self.recorded_at is None:
            raise invalid(Invalid.CONSENT_RECORD, f"a {self.status} consent status needs the time it was recorded")
        if self.status is ConsentStatus.NOT_SOUGHT_RISK:
            _required(self.justification, "a justification for not seeking consent")
            _required(self.recorded_by, "who decided not to seek consent")
        object.__setattr__(self, "recorded_ms", to_ms(self.recorded_at))

    @classmethod
    def not_recorded(cls) -> ConsentState:
        """No consent decision on record."""
        return cls(ConsentStatus.NOT_RECORDED)

    @classmethod
    def given(cls, at: datetime, by: str | None = None) -> ConsentState:
        """Consent given."""
        return cls(ConsentStatus.GIVEN, at, by)

    @classmethod
    def refused(cls, at: datetime, by: str | None = None) -> ConsentState:
        """Consent refused."""
        return cls(ConsentStatus.REFUSED, at, by)

    @classmethod
    def withdrawn(cls, at: datetime, by: str | None = None) -> ConsentState:
        """Consent withdrawn."""
        return cls(ConsentStatus.WITHDRAWN, at, by)

    @classmethod
    def not_sought_risk(cls, at: datetime, *, justification: str, recorded_by: str) -> ConsentState:
        """Not sought, because seeking it would put the child at risk."""
        return cls(ConsentStatus.NOT_SOUGHT_RISK, at, recorded_by, justification)

    def with_override(self, override: EmergencyOverride) -> ConsentState:
        """The same state with an emergency override on top."""
        return replace(self, override=override)


Judgement = tuple[bool, tuple[ReasonCode, ...]]
"""Whether consent allows sharing, and the consent reasons to add to the decision."""

_R = ReasonCode
_STATUS_CODE: Final = {
    ConsentStatus.REFUSED: _R.CONSENT_REFUSED,
    ConsentStatus.WITHDRAWN: _R.CONSENT_WITHDRAWN,
    ConsentStatus.NOT_RECORDED: _R.CONSENT_REQUIRED,
    ConsentStatus.NOT_SOUGHT_RISK: _R.CONSENT_REQUIRED,
}
# Every judgement is one of these constants: decisions can be cached per judgement.
_GIVEN: Final[Judgement] = (True, (_R.CONSENT_GIVEN,))
_NOT_SOUGHT: Final[Judgement] = (True, (_R.CONSENT_NOT_SOUGHT_RISK,))
_NOT_RECORDED: Final[Judgement] = (True, (_R.CONSENT_NOT_RECORDED,))
_OVERRIDDEN: Final[Judgement] = (True, (_R.CONSENT_OVERRIDDEN,))
_ON_CONSENT: Final = {s: ((False, (c,)), (False, (c, _R.OVERRIDE_NOT_APPLICABLE))) for s, c in _STATUS_CODE.items()}
_REFUSALS: Final = {
    (s, extra): (False, (c,) if extra is None else (c, extra))
    for s, c in _STATUS_CODE.items()
    for extra in (None, _R.OVERRIDE_SUPERSEDED, _R.OVERRIDE_NOT_YET_VALID, _R.OVERRIDE_EXPIRED)
}


def judge_consent(rests_on_consent: bool, state: ConsentState, at_ms: int) -> Judgement:  # noqa: PLR0911 - one return per row of the rule
    """Apply the consent rule (module docstring) to one decision at ``at_ms``."""
    status = state.status
    if status is ConsentStatus.GIVEN:
        return _GIVEN
    override = state.override
    if rests_on_consent:
        return _ON_CONSENT[status][override is not None]
    if status is ConsentStatus.NOT_SOUGHT_RISK:
        return _NOT_SOUGHT
    if status is ConsentStatus.NOT_RECORDED:
        return _NOT_RECORDED
    if override is None:
        return _REFUSALS[status, None]
    if override.starts_ms < state.recorded_ms:
        return _REFUSALS[status, _R.OVERRIDE_SUPERSEDED]
    if at_ms < override.starts_ms:
        return _REFUSALS[status, _R.OVERRIDE_NOT_YET_VALID]
    if at_ms >= override.expires_ms:
        return _REFUSALS[status, _R.OVERRIDE_EXPIRED]
    return _OVERRIDDEN
