"""Subject tokens derived from a child's identifiers, so an agency need not store one it cannot compute.

``subject_token(key, identifiers)`` is ``st1_`` + base64url of ``HMAC-SHA256(matching key,
"onedoor-subject/1", given, family, date of birth)`` (each field length-prefixed, as in ``tokens.py``)
over the *canonical* forms of ``normalise``:

- given name: the first space-separated given name, its parts joined (``Mary-Jane`` is
  ``maryjane``: twins Mary-Jane and Mary-Kate never share a token), folded (case, accents,
  apostrophes dropped), with its transliteration canon (``Mohammed`` and ``Muhammad`` agree);
  middle names are left out;
- family name: every word folded and joined without separators (``Smith-Okafor``, ``smith okafor``
  and ``SMITH-OKAFOR`` agree; ``O'Connor`` and ``OConnor`` agree);
- date of birth: exactly (no day/month swap, no typo tolerance).

The matching key is every connector's and never the hub's, so the hub cannot compute a token from
a name it guesses. The domain string differs from the identity tokens' (``onedoor-identity/1``) and the
token is longer (256 bits, ``st1_``-prefixed), so a subject token never equals an identity token.

**What the canonical form does not absorb gives a different token**: a nickname (``Jon`` and
``Jonathan``: the nickname list maps ``Jon`` to five formal names and is not symmetric, so there is no
one formal form to choose without merging different names), a typo, a family name recorded with one
part only (``Smith`` for ``Smith-Okafor``), a date of birth with day and month swapped. Two agencies
recording the same child so get two tokens, and so two professional networks and two consent records,
until someone links them. The status check's identity tokens do tolerate those differences; the
subject token does not. So an agency that already knows a child's token (from a referral's header, from
a transfer) keeps it and passes it on rather than deriving again. Rotating the matching key changes
every derived token (see docs/decisions/0014-derived-subject-tokens.md).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from connectors.identity import normalise as n
from connectors.identity.identifiers import Identifiers
from connectors.identity.keys import MatchingKey
from onedoor.errors import ValidationFailed
from onedoor.ids import SubjectToken

DOMAIN: Final = "onedoor-subject/1"
PREFIX: Final = "st1_"
UNDERSPECIFIED: Final = "identity.subject_underspecified"
"""A given name, family name or date of birth is missing (or has no letters)."""
INVALID_DATE: Final = "identity.invalid_date_of_birth"


def canonical_given(name: str) -> str:
    """The given name as the subject token sees it: the first name folded, its transliteration canon ('' if none).

    The first name is the first *space-separated* word with letters, its hyphenated or apostrophed
    parts joined: "Mary-Jane" is ``maryjane``, never ``mary``, so twins Mary-Jane and Mary-Kate
    (same family name and birthday) never share a token, a consent record or a network.
    """
    for word in (name or "").split():
        parts = n.words(word)
        if parts:
            return n.transliterated(n.joined(parts))
    return ""


def canonical_family(name: str) -> str:
    """The family name as the subject token sees it: every word folded, joined without separators."""
    return n.joined(n.words(name or ""))


def subject_token(key: MatchingKey, identifiers: Identifiers) -> SubjectToken:
    """The young person's subject token under the federation matching key (deterministic).

    Raises:
        ValidationFailed: ``identity.subject_underspecified`` when the given name, the family name or the
            date of birth is missing; the message names the field, never a value.
    """
    given, family = canonical_given(identifiers.given_name), canonical_family(identifiers.family_name)
    dob: object = identifiers.date_of_birth
    for label, present in (("given name", given), ("family name", family), ("date of birth", dob)):
        if not present:
            raise ValidationFailed(
                UNDERSPECIFIED, f"a subject token needs the {label}; it is missing or has no letters"
            )
    if not isinstance(dob, dt.date) or isinstance(dob, dt.datetime):
        raise ValidationFailed(UNDERSPECIFIED, "a subject token needs the date of birth as a date")
    fields = (DOMAIN, given, family, dob.isoformat())
    message = "".join(f"{len(field)}:{field}" for field in fields).encode()
    digest = hmac.new(key.secret, message, hashlib.sha256).digest()
    return SubjectToken(PREFIX + base64.urlsafe_b64encode(digest).rstrip(b"=").decode())


@dataclass(frozen=True, slots=True)
class SubjectColumns:
    """Which columns (or CSV headers) of an agency's row hold the identifiers a subject token is derived from."""

    given_name: str
    family_name: str
    date_of_birth: str

    def names(self) -> tuple[str, str, str]:
        """The three column names, in field order."""
        return self.given_name, self.family_name, self.date_of_birth


class UnderivableSubject(ValidationFailed):
    """A row's identifiers cannot give a subject token; ``column`` names the culprit (never its value)."""

    def __init__(self, code: str, message: str, column: str) -> None:
        super().__init__(code, message)
        self.column = column


def subject_token_from_row(
    key: MatchingKey, columns: SubjectColumns, row: Mapping[str, Any], *, today: dt.date | None = None
) -> SubjectToken:
    """Derive the token from one row (a database row or a CSV row by header).

    The date of birth may be a ``date`` (a database column) or text, ``YYYY-MM-DD`` or ``DD/MM/YYYY``.

    Raises:
        UnderivableSubject: ``identity.subject_underspecified`` (a cell empty or without letters) or
            ``identity.invalid_date_of_birth``; ``column`` names the column, the message never quotes a value.
    """
    for column in columns.names():
        value = row.get(column)
        if value is None or not str(value).strip():
            raise UnderivableSubject(UNDERSPECIFIED, f"'{column}' is empty: a subject token needs it", column)
    given, family, dob = (row[c] for c in columns.names())
    for column, value in ((columns.given_name, given), (columns.family_name, family)):
        if not n.words(str(value)):
            raise UnderivableSubject(UNDERSPECIFIED, f"'{column}' has no letters: a subject token needs a name", column)
    if isinstance(dob, dt.datetime):
        dob = dob.date()
    dob_text = dob.isoformat() if isinstance(dob, dt.date) else str(dob)
    try:
        identifiers = Identifiers.parse(str(given), str(family), dob_text, today=today)
    except ValidationFailed as exc:
        raise UnderivableSubject(exc.code, f"'{columns.date_of_birth}': {exc.message}", columns.date_of_birth) from None
    return subject_token(key, identifiers)
