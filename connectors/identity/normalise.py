"""Normalise names, dates of birth and postcodes into the plain forms tokens are made from.

Pure functions over text. Nothing here is secret or keyed: the forms become tokens only in
``tokens.py``, under the federation matching key.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from functools import cache

import jellyfish
from nicknames import NickNamer

# Letters that NFKD does not decompose into a base letter plus a mark.
_FOLD = str.maketrans(
    {"ß": "ss", "æ": "ae", "œ": "oe", "ø": "o", "ł": "l", "đ": "d", "ð": "d", "þ": "th", "\u0131": "i"}
)  # dotless i
_APOSTROPHES = re.compile("['`\u2018\u2019\u00b4\u02bc]")  # straight, curly, acute, modifier
_SEPARATORS = re.compile(r"[^a-z]+")

# Particles of double-barrelled and prefixed family names that say nothing on their own.
PARTICLES = frozenset({"al", "bin", "bint", "da", "de", "del", "della", "der", "di", "du", "el", "ibn", "la", "le"})
PARTICLES |= frozenset({"st", "van", "von", "den", "dos", "das", "mac", "mc", "o"})

# Transliteration variants that the phonetic codes (metaphone, NYSIIS) do not already bring together.
# Each row maps spellings to one canonical form; kept small on purpose (see README).
_TRANSLITERATIONS: dict[str, str] = {
    spelling: row[0]
    for row in (
        ("aisha", "ayesha", "aysha", "aishah", "ayesa"),
        ("muhammad", "mohammed", "mohamed", "mohammad", "muhammed", "mohamad", "mehmet", "mohd"),
        ("yusuf", "yousef", "youssef", "yousuf", "yosef", "yousif"),
        ("ibrahim", "ebrahim", "ibraheem"),
        ("abdullah", "abdallah", "abdulla"),
        ("fatima", "fatimah", "fatma"),
        ("zainab", "zaynab", "zaineb"),
        ("katherine", "catherine", "kathryn", "catherina", "katharine", "kathrine"),
        ("sophia", "sofia", "sofiya"),
        ("oleksandr", "aleksandr", "alexandr", "oleksander"),
        ("mikhail", "mykhailo", "michail"),
        ("hussain", "hussein", "husain", "hossein"),
    )
    for spelling in row
}


def words(text: str) -> tuple[str, ...]:
    """Lower-case ASCII words of a name: accents folded, apostrophes dropped, anything else separates."""
    folded = unicodedata.normalize("NFKD", text.casefold().translate(_FOLD))
    ascii_only = "".join(ch for ch in folded if not unicodedata.combining(ch))
    ascii_only = _APOSTROPHES.sub("", ascii_only)
    return tuple(word for word in _SEPARATORS.split(ascii_only) if word)


def joined(parts: tuple[str, ...]) -> str:
    """The name with its separators removed: ``Mc Donald`` and ``McDonald`` agree."""
    return "".join(parts)


def family_parts(parts: tuple[str, ...]) -> frozenset[str]:
    """Meaningful parts of a hyphenated or double-barrelled family name (particles dropped)."""
    return frozenset(part for part in parts if part not in PARTICLES and len(part) >= 2)


@cache
def _nicknamer() -> NickNamer:
    return NickNamer()


def given_variants(name: str) -> frozenset[str]:
    """The name, its formal forms if it is a nickname (Jon -> Jonathan, John) and its transliteration canon."""
    variants = {name, *_nicknamer().canonicals_of(name)}
    variants |= {_TRANSLITERATIONS[v] for v in list(variants) if v in _TRANSLITERATIONS}
    return frozenset(variants)


def transliterated(name: str) -> str:
    """The canonical spelling of a transliteration variant, or the name itself."""
    return _TRANSLITERATIONS.get(name, name)


def phonetic(name: str) -> tuple[str, str]:
    """Metaphone and NYSIIS codes of a name (typos and spelling variants often keep them)."""
    return jellyfish.metaphone(name), jellyfish.nysiis(name)


def deletions(name: str) -> frozenset[str]:
    """The name and every string made by deleting one letter: two names one typo apart share one of them.

    Only for names of four letters or more; shorter ones would agree with too many others.
    """
    if len(name) < 4:
        return frozenset({name})
    return frozenset({name} | {name[:i] + name[i + 1 :] for i in range(len(name))})


def day_month_unordered(dob: date) -> str:
    """Year plus the day and month as an unordered pair: equal for a date and its day/month swap."""
    low, high = sorted((dob.day, dob.month))
    return f"{dob.year:04d}:{low:02d}:{high:02d}"


def partial_dates(dob: date) -> frozenset[str]:
    """The date with each digit that can be mistyped blanked in turn: equal when one digit differs.

    The century digits are kept: a date of birth mistyped there is caught by the plausibility check.
    """
    text = f"{dob.year:04d}{dob.month:02d}{dob.day:02d}"
    return frozenset(text[:i] + "*" + text[i + 1 :] for i in range(2, len(text)))
