"""Plain English for the agreement vocabulary: what a council admin reads instead of codes.

Pure: no database, no HTTP. Every label keeps the code beside it where the code is what people
search for (a purpose, a data class), so the page can show both.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from typing import Final

from consent.basis import Article6, Article9
from consent.model import AccessLevel, Action, DataClass
from consent.purposes import PURPOSES
from onedoor.ids import Purpose

CLASS_WORDS: Final[Mapping[DataClass, str]] = {
    DataClass.OPERATIONAL: "operational details (ids, times, urgency, status)",
    DataClass.SAFEGUARDING: "safeguarding flags (concerns, risk, missing episodes, NRM status)",
    DataClass.CONTACT: "contact details (who to call)",
    DataClass.IDENTITY: "identity (names, dates of birth, case references)",
    DataClass.LOCATION: "locations (addresses, schools, places found)",
    DataClass.HEALTH: "health (special category data)",
    DataClass.CRIMINAL_INTELLIGENCE: "criminal intelligence (offences, associates)",
    DataClass.DEMOGRAPHIC: "demographics (gender, ethnicity, language, education)",
}
"""Each data class, in words; in the order the access levels are explained."""

ARTICLE6_WORDS: Final[Mapping[Article6, str]] = {
    Article6.CONSENT: "the young person's consent (it can be withdrawn at any time)",
    Article6.LEGAL_OBLIGATION: "a legal obligation (a statute requires the sharing)",
    Article6.VITAL_INTERESTS: "vital interests (to protect someone's life in an emergency)",
    Article6.PUBLIC_TASK: "a public task (an official function of the parties)",
    Article6.LEGITIMATE_INTERESTS: "legitimate interests (for charities and other non-public bodies)",
}
ARTICLE9_WORDS: Final[Mapping[Article9, str]] = {
    Article9.EXPLICIT_CONSENT: "explicit consent",
    Article9.VITAL_INTERESTS: "vital interests, when the person cannot consent",
    Article9.SUBSTANTIAL_PUBLIC_INTEREST: "substantial public interest",
    Article9.HEALTH_OR_SOCIAL_CARE: "health or social care",
}
ACTION_WORDS: Final[Mapping[Action, str]] = {
    Action.SEND: "send messages",
    Action.QUERY: "answer status checks",
}


def classes_in_words(classes: Iterable[DataClass]) -> str:
    """``operational details (...), contact details (...)``, in the canonical order."""
    chosen = set(classes)
    return join_words([CLASS_WORDS[c] for c in CLASS_WORDS if c in chosen])


def access_in_words(level: AccessLevel | None, classes: Iterable[DataClass] | None) -> str:
    """What a provision's data clause means: an access level, a list of classes, or everything."""
    if level is AccessLevel.LIMITED:
        return "limited access (status, not the file): " + classes_in_words(level.classes)
    if level is AccessLevel.FULL or classes is None:
        return "full access: every kind of data"
    return classes_in_words(classes)


def purpose_words(purpose: str) -> str:
    """The catalogue's sentence for a purpose, or the code itself when it is not catalogued."""
    return PURPOSES.get(Purpose(purpose), purpose)


def join_words(items: Iterable[str], conjunction: str = "and") -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    listed = list(items)
    if len(listed) <= 1:
        return "".join(listed)
    return f"{', '.join(listed[:-1])} {conjunction} {listed[-1]}"


def days_in_words(days: int) -> str:
    """``365 days (about 1 year)``; plain days below two months."""
    if days < 60:
        return f"{days} day" + ("" if days == 1 else "s")
    years, rest = divmod(days, 365)
    if years and rest == 0:
        return f"{days} days ({years} year{'' if years == 1 else 's'})"
    if years:
        return f"{days} days (about {round(days / 365, 1):g} years)"
    return f"{days} days (about {round(days / 30.4)} months)"


def date_in_words(day: date) -> str:
    """``22 November 2027``."""
    return f"{day.day} {day.strftime('%B %Y')}"
