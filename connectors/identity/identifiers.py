"""``Identifiers``: what an officer typed or an agency recorded, validated.

Error messages never echo a name, a date or a postcode: they may end up in logs and audit
events. Only the stable code and a sentence about the *shape* of the problem are given.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from connectors.identity.normalise import words
from onedoor.errors import ValidationFailed

OLDEST_AGE_YEARS = 120
"""A date of birth further back than this is taken as a typing error."""

_ISO = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
_DAY_FIRST = re.compile(r"(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})")
# Outward code (the district) of a UK postcode, optionally followed by the inward code.
_POSTCODE = re.compile(r"([A-Z]{1,2}[0-9][A-Z0-9]?)(?:([0-9][A-Z]{2}))?")


def parse_date_of_birth(text: str | None, *, today: date | None = None) -> date:
    """A date of birth from ``YYYY-MM-DD`` or day-first ``DD/MM/YYYY``, not in the future, not implausibly old.

    Raises:
        ValidationFailed: ``identity.invalid_date_of_birth``.
    """
    cleaned = (text or "").strip()
    if not cleaned:
        raise ValidationFailed("identity.invalid_date_of_birth", "the date of birth is missing")
    if iso := _ISO.fullmatch(cleaned):
        year, month, day = (int(part) for part in iso.groups())
    elif day_first := _DAY_FIRST.fullmatch(cleaned):
        day, month, year = (int(part) for part in day_first.groups())
    else:
        raise ValidationFailed(
            "identity.invalid_date_of_birth", "the date of birth must be written YYYY-MM-DD or DD/MM/YYYY"
        )
    try:
        dob = date(year, month, day)
    except ValueError:
        raise ValidationFailed("identity.invalid_date_of_birth", "the date of birth is not a calendar date") from None
    today = today or date.today()
    if dob > today:
        raise ValidationFailed("identity.invalid_date_of_birth", "the date of birth is in the future")
    if today.year - dob.year > OLDEST_AGE_YEARS:
        raise ValidationFailed(
            "identity.invalid_date_of_birth", f"the date of birth is more than {OLDEST_AGE_YEARS} years ago"
        )
    return dob


def parse_postcode_district(text: str | None) -> str | None:
    """The outward code (district) of a UK postcode, upper case; ``None`` when blank.

    A full postcode (``NR2 4AB``, ``nr24ab``) or the district alone (``NR2``) is accepted.

    Raises:
        ValidationFailed: ``identity.invalid_postcode``.
    """
    cleaned = re.sub(r"\s+", "", text or "").upper()
    if not cleaned:
        return None
    found = _POSTCODE.fullmatch(cleaned)
    if found is None:
        raise ValidationFailed("identity.invalid_postcode", "the postcode is not a UK postcode or postcode district")
    return found.group(1)


@dataclass(frozen=True, slots=True)
class Identifiers:
    """One person as typed by an officer or held in an agency's record. ``repr`` never shows the values."""

    given_name: str
    """Given name(s) as written (trimmed); normalised only when tokens are derived."""
    family_name: str
    """Family name as written (trimmed), hyphens and particles included."""
    date_of_birth: date
    """Date of birth."""
    postcode: str | None = None
    """Postcode district (outward code, e.g. ``NR2``), upper case; the inward code is never kept."""

    def __repr__(self) -> str:
        return "Identifiers(<redacted>)"

    @classmethod
    def parse(
        cls, given: str, family: str, dob_text: str, postcode: str | None = None, *, today: date | None = None
    ) -> Identifiers:
        """Validate typed text into ``Identifiers``.

        Args:
            given: given name(s).
            family: family name.
            dob_text: date of birth, ``YYYY-MM-DD`` or day-first ``DD/MM/YYYY``.
            postcode: optional UK postcode or district; only the district is kept.
            today: the date "now" is checked against (tests pin it).

        Raises:
            ValidationFailed: ``identity.empty_name``, ``identity.invalid_date_of_birth`` or
                ``identity.invalid_postcode``; the message never repeats the input.
        """
        for label, value in (("given name", given), ("family name", family)):
            if not words(value or ""):
                raise ValidationFailed("identity.empty_name", f"the {label} is empty or has no letters")
        return cls(
            given_name=given.strip(),
            family_name=family.strip(),
            date_of_birth=parse_date_of_birth(dob_text, today=today),
            postcode=parse_postcode_district(postcode),
        )
