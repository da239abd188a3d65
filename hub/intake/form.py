"""The referral page's fields: parse a posted form into a ``PublicReferralForm`` or GOV.UK error messages.

Pure: no I/O, the caller passes ``today``. The browser module (``static/refer.js``) applies the
same rules with the same messages, which it reads from ``rules()`` embedded in the page, so the
two cannot drift apart in wording or limits. A message never quotes what was typed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Final

from pydantic import ValidationError

from onedoor.envelope.intake_form import (
    AGE_MAX,
    AREA_MAX,
    CONCERN_LABELS,
    CONTACT_MAX,
    IDENTIFY_RULE,
    KNOWN_AS_MAX,
    NAME_MAX,
    PARENT_KNOWS_LABELS,
    RELATIONSHIP_LABELS,
    SCHOOL_MAX,
    SUMMARY_MAX,
    URGENCY_LABELS,
    PublicReferralForm,
    oldest_birth_date,
)

# Field name -> (what it is called in a message, character limit) for the free-text fields.
TEXT_FIELDS: Final = {
    "referrer-name": ("Your name", NAME_MAX),
    "referrer-contact": ("Your phone number or email address", CONTACT_MAX),
    "child-given-name": ("The child's first name", NAME_MAX),
    "child-family-name": ("The child's last name", NAME_MAX),
    "child-known-as": ("Other names the child is known by", KNOWN_AS_MAX),
    "area": ("The area or town", AREA_MAX),
    "school": ("The school or college", SCHOOL_MAX),
    "summary": ("What worries you", SUMMARY_MAX),
}
CHOICES: Final = {
    "relationship": tuple(str(k) for k in RELATIONSHIP_LABELS),
    "concerns": tuple(CONCERN_LABELS),
    "urgency": tuple(URGENCY_LABELS),
    "parent-knows": tuple(str(k) for k in PARENT_KNOWS_LABELS),
}
MESSAGES: Final = {
    "relationship": "Select who you are",
    "concerns": "Select at least one thing that worries you",
    "summary": "Tell us what worries you",
    "urgency": "Select how urgent this is",
    "parent-knows": "Select whether the child's parent or carer knows about this",
    "identify": IDENTIFY_RULE,
    "dob-incomplete": "Date of birth must include a day, month and year",
    "dob-real": "Date of birth must be a real date",
    "dob-future": "Date of birth must be in the past",
    "dob-too-old": f"The child must be {AGE_MAX} or younger: check the date of birth",
    "age-number": "Age must be a whole number, like 14",
    "age-range": f"Age must be between 0 and {AGE_MAX}",
}
MAX_FIELD_CHARS: Final = SUMMARY_MAX + 1000
"""Any single posted value longer than this is refused outright (the page caps every field)."""


def too_long(label: str, limit: int) -> str:
    """The GOV.UK wording for a value over its limit."""
    return f"{label} must be {limit:,} characters or less"


def rules() -> dict[str, Any]:
    """The limits and messages the browser module validates with (embedded in the page as JSON)."""
    return {
        "text": {
            name: {"max": limit, "tooLong": too_long(label, limit)} for name, (label, limit) in TEXT_FIELDS.items()
        },
        "choices": {name: list(values) for name, values in CHOICES.items()},
        "messages": MESSAGES,
        "ageMax": AGE_MAX,
    }


@dataclass(frozen=True, slots=True)
class FieldError:
    """One problem, anchored on the field the error summary links to."""

    field: str
    """The id of the input to focus (the first one for radios, checkboxes and dates)."""
    message: str


@dataclass(frozen=True, slots=True)
class FormOutcome:
    """A valid form, or the errors to show with the values to fill back in."""

    form: PublicReferralForm | None
    errors: list[FieldError] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)

    def error_for(self, name: str) -> str | None:
        """The message for field ``name``, if any."""
        return next((e.message for e in self.errors if e.field == name), None)


def _first(fields: Mapping[str, Sequence[str]], name: str) -> str:
    values = fields.get(name) or []
    return values[0].strip() if values else ""


def _date_of_birth(day: str, month: str, year: str, today: date) -> tuple[date | None, str | None]:  # noqa: PLR0911 - one return per rule reads best
    parts = (day, month, year)
    if not any(parts):
        return None, None
    if not all(parts):
        return None, MESSAGES["dob-incomplete"]
    if not all(p.isdecimal() for p in parts) or len(year) != 4:
        return None, MESSAGES["dob-real"]
    try:
        born = date(int(year), int(month), int(day))
    except ValueError:
        return None, MESSAGES["dob-real"]
    if born > today:
        return None, MESSAGES["dob-future"]
    if born <= oldest_birth_date(today):
        return None, MESSAGES["dob-too-old"]
    return born, None


def _age(raw: str) -> tuple[int | None, str | None]:
    if not raw:
        return None, None
    if not raw.isdecimal() or len(raw) > 3:
        return None, MESSAGES["age-number"]
    age = int(raw)
    return (age, None) if 0 <= age <= AGE_MAX else (None, MESSAGES["age-range"])


def parse(fields: Mapping[str, Sequence[str]], today: date) -> FormOutcome:
    """Check a posted referral form; on success the ``PublicReferralForm`` to seal."""
    values: dict[str, Any] = {name: _first(fields, name) for name in (*TEXT_FIELDS, "estimated-age")}
    values.update({name: _first(fields, name) for name in ("dob-day", "dob-month", "dob-year")})
    errors: list[FieldError] = []

    def choice(name: str) -> str:
        value = _first(fields, name)
        values[name] = value if value in CHOICES[name] else ""
        if not values[name]:
            errors.append(FieldError(name, MESSAGES[name]))
        return str(values[name])

    relationship = choice("relationship")
    for name, (label, limit) in TEXT_FIELDS.items():
        if len(values[name]) > limit:
            errors.append(FieldError(name, too_long(label, limit)))
    born, dob_error = _date_of_birth(values["dob-day"], values["dob-month"], values["dob-year"], today)
    if dob_error:
        errors.append(FieldError("dob-day", dob_error))
    age, age_error = _age(values["estimated-age"])
    if age_error:
        errors.append(FieldError("estimated-age", age_error))
    named = values["child-given-name"] or values["child-family-name"]
    placed = born or age is not None or values["area"] or values["school"]
    if not (dob_error or age_error) and not (named and placed):
        errors.append(FieldError("child-given-name", MESSAGES["identify"]))
    concerns = [c for c in dict.fromkeys(fields.get("concerns") or []) if c in CHOICES["concerns"]]
    values["concerns"] = concerns
    if not concerns:
        errors.append(FieldError("concerns", MESSAGES["concerns"]))
    if not values["summary"]:
        errors.append(FieldError("summary", MESSAGES["summary"]))
    urgency = choice("urgency")
    parent_knows = choice("parent-knows")
    values["progress-link"] = _first(fields, "progress-link") == "yes"
    if errors:
        return FormOutcome(None, _in_page_order(errors), values)
    try:
        form = PublicReferralForm.model_validate(
            {
                "referrer": {
                    "relationship": relationship,
                    "name": values["referrer-name"],
                    "contact": values["referrer-contact"],
                },
                "child": {
                    "given_name": values["child-given-name"],
                    "family_name": values["child-family-name"],
                    "known_as": values["child-known-as"],
                    "date_of_birth": born,
                    "estimated_age": age,
                    "area": values["area"],
                    "school": values["school"],
                },
                "concern_categories": concerns,
                "concern_summary": values["summary"],
                "urgency": urgency,
                "parent_carer_knows": parent_knows,
            }
        )
    except ValidationError:
        # Unreachable when the checks above agree with the model; never echo the details.
        return FormOutcome(None, [FieldError("summary", "Check your answers and try again")], values)
    return FormOutcome(form, [], values)


_ORDER: Final = (
    "relationship",
    "referrer-name",
    "referrer-contact",
    "child-given-name",
    "child-family-name",
    "child-known-as",
    "dob-day",
    "estimated-age",
    "area",
    "school",
    "concerns",
    "summary",
    "urgency",
    "parent-knows",
)


def _in_page_order(errors: list[FieldError]) -> list[FieldError]:
    return sorted(errors, key=lambda e: _ORDER.index(e.field) if e.field in _ORDER else len(_ORDER))
