"""What a consent record may say: its status, and the fixed grounds for not seeking or overriding consent.

Grounds are codes, never free text: the reasoning stays in the agency's own case record,
which a record may point to with an opaque ``reference``.
"""

from __future__ import annotations

from enum import StrEnum

from consent.subject import ConsentStatus


class RecordedStatus(StrEnum):
    """A status an agency can record: the engine's ``ConsentStatus`` values, except ``not-recorded``."""

    GIVEN = ConsentStatus.GIVEN.value
    REFUSED = ConsentStatus.REFUSED.value
    WITHDRAWN = ConsentStatus.WITHDRAWN.value
    NOT_SOUGHT_RISK = ConsentStatus.NOT_SOUGHT_RISK.value
    """Not sought, because seeking it would put the child at risk; needs a ``NotSoughtGround``."""

    @property
    def engine(self) -> ConsentStatus:
        """The consent engine's status."""
        return ConsentStatus(self.value)


class NotSoughtGround(StrEnum):
    """Why consent was not sought: the reasons of DPA 2018 Sch. 1 para 18(2) and Sch. 8 para 4(2)."""

    CANNOT_BE_GIVEN = "consent-cannot-be-given"
    """(a) In the circumstances, consent cannot be given by the young person."""
    CANNOT_REASONABLY_EXPECT = "cannot-reasonably-expect-consent"
    """(b) The agency cannot reasonably be expected to obtain consent."""
    WOULD_PREJUDICE_PROTECTION = "would-prejudice-protection"
    """(c) Obtaining consent would prejudice the child's protection (e.g. a parent is believed to be involved)."""

    @property
    def justification(self) -> str:
        """The consent engine's ``justification``: the code, its legal reference and its sentence."""
        return _NOT_SOUGHT[self]


# (letter of Sch. 1 para 18(2) and Sch. 8 para 4(2), sentence)
_NOT_SOUGHT_TEXT = {
    NotSoughtGround.CANNOT_BE_GIVEN: ("a", "consent cannot be given by the young person in the circumstances"),
    NotSoughtGround.CANNOT_REASONABLY_EXPECT: ("b", "the agency cannot reasonably be expected to obtain consent"),
    NotSoughtGround.WOULD_PREJUDICE_PROTECTION: ("c", "obtaining consent would prejudice the child's protection"),
}
_NOT_SOUGHT = {
    ground: f"{ground.value} (DPA 2018 Sch. 1 para 18(2)({letter}), Sch. 8 para 4(2)({letter})): {sentence}"
    for ground, (letter, sentence) in _NOT_SOUGHT_TEXT.items()
}


class OverrideGround(StrEnum):
    """Why sharing must go ahead despite a refusal or withdrawal, for a time-boxed emergency override."""

    SIGNIFICANT_HARM = "risk-of-significant-harm"
    """Reasonable cause to suspect the child is suffering, or likely to suffer, significant harm (CA 1989 s.47)."""
    RISK_TO_LIFE = "risk-to-life"
    """The child's life or safety is at immediate risk (vital interests: UK GDPR Art. 6(1)(d), Art. 9(2)(c))."""
    SERIOUS_CRIME = "prevent-serious-crime"
    """Sharing is needed to prevent or detect a serious crime against the child (DPA 2018 Sch. 2 para 2)."""

    @property
    def justification(self) -> str:
        """The consent engine's ``EmergencyOverride.justification``: the code and its legal reference."""
        return f"{self.value} ({_OVERRIDE_BASIS[self]})"


_OVERRIDE_BASIS = {
    OverrideGround.SIGNIFICANT_HARM: "Children Act 1989 s.47",
    OverrideGround.RISK_TO_LIFE: "UK GDPR Art. 6(1)(d), Art. 9(2)(c)",
    OverrideGround.SERIOUS_CRIME: "DPA 2018 Sch. 2 para 2",
}
