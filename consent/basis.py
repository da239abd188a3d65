"""The lawful basis an agreement relies on, as citations an information governance lead recognises.

A basis has up to four parts, as an ISA's "legal basis" section does:

- a **UK GDPR Art. 6** basis (always): public task and legal obligation for statutory
  partners, vital interests in an emergency, consent where nothing else applies;
- an **Art. 9 condition** when special category data (health) may flow;
- **DPA 2018 conditions**: Sch. 1 (which makes Art. 9(2)(g)/(h) usable, and covers criminal
  offence data under Art. 10, by consent under para 29 or otherwise) or Sch. 8 (sensitive
  processing by police and other competent authorities under Part 3). Sch. 1 para 18 and
  Sch. 8 para 4, *safeguarding of children and of individuals at risk*, allow processing
  **without consent** when consent cannot be given, cannot reasonably be obtained, or
  obtaining it would prejudice the child's protection;
- **statutes** that give the function or power: Children Act 1989 s.17 and s.47, Children
  Act 2004 s.10 and s.11, Crime and Disorder Act 1998 s.115, Education Act 2002 s.175.

Consent is one basis among several. ``rests_on_consent`` is what the consent rule reads: when
it is true, a refusal or withdrawal always stops sharing (UK GDPR Art. 7(3)); when it is
false, consent is sought where safe but the basis does not depend on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from consent.errors import Invalid, invalid


class Article6(StrEnum):
    """UK GDPR Art. 6(1): the basis for processing personal data at all."""

    CONSENT = "UK GDPR Art. 6(1)(a)"
    """The young person (or someone with parental responsibility) agreed; can be withdrawn at any time."""
    LEGAL_OBLIGATION = "UK GDPR Art. 6(1)(c)"
    """A statute requires the sharing; the statute must be named (Art. 6(3))."""
    VITAL_INTERESTS = "UK GDPR Art. 6(1)(d)"
    """Needed to protect someone's life, when no other basis fits (an emergency)."""
    PUBLIC_TASK = "UK GDPR Art. 6(1)(e)"
    """Needed for a task in the public interest or an official function: the usual basis for statutory partners."""
    LEGITIMATE_INTERESTS = "UK GDPR Art. 6(1)(f)"
    """For charities and other non-public bodies; public authorities cannot use it for their tasks."""


class Article9(StrEnum):
    """UK GDPR Art. 9(2): the extra condition for special category data (health)."""

    EXPLICIT_CONSENT = "UK GDPR Art. 9(2)(a)"
    VITAL_INTERESTS = "UK GDPR Art. 9(2)(c)"
    """The person cannot give consent and their life is at stake."""
    SUBSTANTIAL_PUBLIC_INTEREST = "UK GDPR Art. 9(2)(g)"
    """Needs a DPA 2018 Sch. 1 Part 2 condition (paras 6, 10, 18)."""
    HEALTH_OR_SOCIAL_CARE = "UK GDPR Art. 9(2)(h)"
    """Needs DPA 2018 Sch. 1 para 2."""


class DpaCondition(StrEnum):
    """Data Protection Act 2018 conditions named by safeguarding ISAs."""

    SCH1_PARA2 = "DPA 2018 Sch. 1 para 2"
    """Health or social care purposes (Part 1; serves Art. 9(2)(h))."""
    SCH1_PARA6 = "DPA 2018 Sch. 1 para 6"
    """Statutory and government purposes (Part 2; serves Art. 9(2)(g))."""
    SCH1_PARA10 = "DPA 2018 Sch. 1 para 10"
    """Preventing or detecting unlawful acts (Part 2; serves Art. 9(2)(g))."""
    SCH1_PARA18 = "DPA 2018 Sch. 1 para 18"
    """Safeguarding of children and of individuals at risk, without consent (Part 2; serves Art. 9(2)(g))."""
    SCH1_PARA29 = "DPA 2018 Sch. 1 para 29"
    """Consent, for criminal offence data (Part 3; UK GDPR Art. 10 only)."""
    SCH8_PARA1 = "DPA 2018 Sch. 8 para 1"
    """Statutory purposes: sensitive processing by a competent authority (police) under Part 3."""
    SCH8_PARA4 = "DPA 2018 Sch. 8 para 4"
    """Safeguarding of children and of individuals at risk, without consent, by a competent authority (Part 3)."""

    @property
    def schedule(self) -> int:
        """1 for UK GDPR processing, 8 for law-enforcement (Part 3) processing."""
        return 8 if self.name.startswith("SCH8") else 1


class Statute(StrEnum):
    """Statutes that give partners the function, duty or power to share."""

    CHILDREN_ACT_1989_S17 = "Children Act 1989 s.17"
    """Services for children in need."""
    CHILDREN_ACT_1989_S47 = "Children Act 1989 s.47"
    """The local authority's duty to make enquiries when a child may be suffering significant harm."""
    CHILDREN_ACT_2004_S10 = "Children Act 2004 s.10"
    """Co-operation to improve the well-being of children."""
    CHILDREN_ACT_2004_S11 = "Children Act 2004 s.11"
    """Duty of named bodies (police, councils, NHS, YOTs) to safeguard and promote the welfare of children."""
    CRIME_AND_DISORDER_ACT_1998_S115 = "Crime and Disorder Act 1998 s.115"
    """Power to disclose to relevant authorities for the purposes of the Act."""
    EDUCATION_ACT_2002_S175 = "Education Act 2002 s.175"
    """Safeguarding duty of local authorities and maintained schools in education functions."""


_SCH1_PART1 = {DpaCondition.SCH1_PARA2: Article9.HEALTH_OR_SOCIAL_CARE}
_SCH1_PART2 = frozenset({DpaCondition.SCH1_PARA6, DpaCondition.SCH1_PARA10, DpaCondition.SCH1_PARA18})
_WITHOUT_CONSENT = frozenset({DpaCondition.SCH1_PARA18, DpaCondition.SCH8_PARA4})


@dataclass(frozen=True, slots=True)
class LawfulBasis:
    """The legal basis an agreement relies on.

    Raises:
        ValidationFailed: ``lawful_basis.condition_mismatch`` (a Sch. 1 condition paired with an
            Art. 9 condition it does not serve), ``lawful_basis.consent_contradiction`` (consent
            together with a "without consent" condition), ``lawful_basis.statute_required``.
    """

    article6: Article6
    """The Art. 6 basis."""
    article9: Article9 | None = None
    """The Art. 9 condition, when special category data may flow."""
    conditions: frozenset[DpaCondition] = frozenset()
    """DPA 2018 schedule conditions."""
    statutes: frozenset[Statute] = frozenset()
    """Statutes giving the function, duty or power."""

    def __post_init__(self) -> None:
        conditions = frozenset(self.conditions)
        statutes = frozenset(self.statutes)
        object.__setattr__(self, "conditions", conditions)
        object.__setattr__(self, "statutes", statutes)
        if self.article9 is not None:
            for condition in conditions:
                serves = _SCH1_PART1.get(condition) or (
                    Article9.SUBSTANTIAL_PUBLIC_INTEREST if condition in _SCH1_PART2 else None
                )
                if serves is not None and serves is not self.article9:
                    raise invalid(Invalid.BASIS_MISMATCH, f"{condition} serves {serves}, not {self.article9}")
        if self.rests_on_consent and conditions & _WITHOUT_CONSENT:
            named = ", ".join(sorted(conditions & _WITHOUT_CONSENT))
            raise invalid(
                Invalid.BASIS_CONTRADICTION,
                f"{named} covers sharing without consent; it cannot be combined with consent as the basis",
            )
        if self.article6 is Article6.LEGAL_OBLIGATION and not statutes:
            raise invalid(Invalid.STATUTE_REQUIRED, "a legal obligation basis must name the statute that imposes it")

    @property
    def rests_on_consent(self) -> bool:
        """Whether sharing depends on consent (Art. 6(1)(a) or Art. 9(2)(a)): then refusal or withdrawal stops it."""
        return self.article6 is Article6.CONSENT or self.article9 is Article9.EXPLICIT_CONSENT

    @property
    def covers_special_category(self) -> bool:
        """Whether health (special category) data may flow: an Art. 9 condition, or a Sch. 8 one for police."""
        return self.article9 is not None or any(c.schedule == 8 for c in self.conditions)

    @property
    def covers_criminal_offence_data(self) -> bool:
        """Whether criminal intelligence may flow: a Sch. 1 condition (Art. 10, DPA s.10(5)) or a Sch. 8 one."""
        return bool(self.conditions)

    def citation(self) -> str:
        """Every part, in the order an ISA cites them, e.g. ``UK GDPR Art. 6(1)(e); DPA 2018 Sch. 1 para 18``."""
        parts: list[str] = [self.article6.value]
        if self.article9 is not None:
            parts.append(self.article9.value)
        parts += sorted(c.value for c in self.conditions)
        parts += sorted(s.value for s in self.statutes)
        return "; ".join(parts)
