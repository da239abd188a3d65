"""``match``: compare two people's tokens and say how confident a match is, and which identifiers agreed.

Each identifier (given name, family name, date of birth, postcode district) scores the weight of
the strongest level on which the two token sets share a token; the confidence is the sum, capped
at 1. Exact agreement on given name, family name and date of birth scores 1.0 on its own; a
postcode district only ever adds (children move: a different district is no evidence against).
"""

from __future__ import annotations

from dataclasses import dataclass

from connectors.identity.tokens import IdentityTokens, Kind

MATCH_THRESHOLD = 0.8
"""Confidence at or above which two token sets are reported as a match (tuned on synthetic pairs, README)."""

_Level = tuple[tuple[Kind, ...], float, str]
"""Kinds that must all agree, the weight this level scores, and the words an officer reads."""

_GIVEN: tuple[_Level, ...] = (
    ((Kind.GIVEN_EXACT,), 0.35, "given name"),
    ((Kind.GIVEN_VARIANT,), 0.32, "given name (as a variant)"),
    ((Kind.GIVEN_METAPHONE, Kind.GIVEN_NYSIIS), 0.30, "given name (sounds alike)"),
    ((Kind.GIVEN_TYPO,), 0.26, "given name (spelling differs slightly)"),
    ((Kind.GIVEN_METAPHONE,), 0.24, "given name (sounds alike)"),
    ((Kind.GIVEN_NYSIIS,), 0.24, "given name (sounds alike)"),
    ((Kind.GIVEN_INITIAL,), 0.06, "given initial"),
)
_FAMILY: tuple[_Level, ...] = (
    ((Kind.FAMILY_EXACT,), 0.35, "family name"),
    ((Kind.FAMILY_PART,), 0.30, "family name (part of a hyphenated or double-barrelled name)"),
    ((Kind.FAMILY_METAPHONE, Kind.FAMILY_NYSIIS), 0.30, "family name (sounds alike)"),
    ((Kind.FAMILY_TYPO,), 0.26, "family name (spelling differs slightly)"),
    ((Kind.FAMILY_METAPHONE,), 0.24, "family name (sounds alike)"),
    ((Kind.FAMILY_NYSIIS,), 0.24, "family name (sounds alike)"),
)
_SWAPPED_NAMES = 0.30, "given and family names (swapped)"
_SWAPPED_LOOSE = 0.27, "given and family names (swapped, spelt differently)"
_DOB_EXACT = 0.30, "date of birth"
_DOB_SWAPPED = 0.22, "date of birth (day and month swapped)"
_DOB_PARTIAL = 0.10, "date of birth (one of day, month or year differs)"
_POSTCODE = 0.05, "postcode district"


@dataclass(frozen=True, slots=True)
class Match:
    """Two token sets that probably name the same person."""

    confidence: float
    """0 to 1; reported only at or above ``MATCH_THRESHOLD``."""
    agreed: tuple[str, ...]
    """Which identifiers agreed, and how, in words an officer reads (given, family, date of birth, postcode)."""


def match(query: IdentityTokens, record: IdentityTokens) -> Match | None:
    """Score ``record`` against ``query``; ``None`` below ``MATCH_THRESHOLD``. Symmetric and deterministic."""
    confidence, agreed = score(query, record)
    return Match(confidence, agreed) if confidence >= MATCH_THRESHOLD else None


def score(query: IdentityTokens, record: IdentityTokens) -> tuple[float, tuple[str, ...]]:
    """The confidence and the agreed identifiers, whatever the threshold (for evaluation and tuning)."""
    shared = frozenset(kind for kind in query if not query[kind].isdisjoint(record.get_set(kind)))
    if not shared:
        return 0.0, ()
    given = _best(_GIVEN, shared)
    family = _best(_FAMILY, shared)
    anchored = any(kind.endswith("~dob") for kind in shared)
    parts: list[tuple[float, str]] = []
    if Kind.NAMES_DOB_PARTIAL in shared and Kind.DOB_EXACT not in shared and not anchored:
        parts = [(0.35, "given name"), (0.35, "family name"), _DOB_PARTIAL]
    else:
        swapped = _SWAPPED_NAMES if Kind.NAMES_UNORDERED in shared else _SWAPPED_LOOSE
        if Kind.NAMES_UNORDERED_LOOSE in shared and given[0] + family[0] < 2 * swapped[0]:
            parts.append((2 * swapped[0], swapped[1]))
        else:
            parts += [level for level in (given, family) if level[0] > 0]
        if anchored:
            parts.append(_DOB_EXACT if Kind.DOB_EXACT in shared else _DOB_SWAPPED)
        elif Kind.DOB_EXACT in shared:
            parts.append(_DOB_EXACT)
    if Kind.POSTCODE_DISTRICT in shared:
        parts.append(_POSTCODE)
    confidence = round(min(1.0, sum(weight for weight, _ in parts)), 3)
    return confidence, tuple(words for _, words in parts)


def _best(levels: tuple[_Level, ...], shared: frozenset[str]) -> tuple[float, str]:
    for kinds, weight, words in levels:
        if all(kind in shared for kind in kinds):
            return weight, words
    return 0.0, ""
