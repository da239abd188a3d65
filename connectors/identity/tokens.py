"""Identity tokens: keyed HMAC-SHA256 digests of normalised identifiers, several kinds per person.

Every token is ``HMAC-SHA256(matching key, "onedoor-identity/1", kind, *parts)`` (each field
length-prefixed, so fields can never run into each other), truncated to 128 bits and written base64url. The kind
is inside the HMAC input, so two kinds never share a token even when their parts are equal
(a given name "Jordan" and a family name "Jordan" give unrelated tokens).

Most kinds are *anchored* on the date of birth with day and month unordered: a token agrees only
when the dates of birth agree up to a day/month swap, which keeps each token specific to about
one person in many thousands (see README, "What the hub can learn").
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Iterable, Iterator, Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from connectors.identity import normalise as n
from connectors.identity.identifiers import Identifiers
from connectors.identity.keys import MatchingKey
from onedoor.errors import ValidationFailed

DOMAIN = "onedoor-identity/1"
TOKEN_BYTES = 16
MAX_WIRE_TOKENS = 512
"""A wire form with more tokens than this is refused (a person derives well under 100)."""
_TOKEN = re.compile(r"[A-Za-z0-9_-]{22}")


class Kind(StrEnum):
    """Kinds of token. ``~dob`` means "with the date of birth, day and month unordered"."""

    GIVEN_EXACT = "given.exact~dob"
    GIVEN_VARIANT = "given.variant~dob"
    GIVEN_METAPHONE = "given.metaphone~dob"
    GIVEN_NYSIIS = "given.nysiis~dob"
    GIVEN_TYPO = "given.typo~dob"
    GIVEN_INITIAL = "given.initial~dob"
    FAMILY_EXACT = "family.exact~dob"
    FAMILY_PART = "family.part~dob"
    FAMILY_METAPHONE = "family.metaphone~dob"
    FAMILY_NYSIIS = "family.nysiis~dob"
    FAMILY_TYPO = "family.typo~dob"
    NAMES_UNORDERED = "names.unordered~dob"
    NAMES_UNORDERED_LOOSE = "names.unordered_loose~dob"
    NAMES_DOB_PARTIAL = "names.dob_partial"
    DOB_EXACT = "dob.exact"
    POSTCODE_DISTRICT = "postcode.district~dob"


# Length-prefixed (netstring-like) fields: no two different field lists encode to the same bytes.
_PREFIX = {kind: f"{len(DOMAIN)}:{DOMAIN}{len(kind.value)}:{kind.value}" for kind in Kind}


class IdentityTokens(Mapping[str, frozenset[str]]):
    """An immutable mapping from token kind to the set of that kind's tokens for one person."""

    __slots__ = ("_by_kind",)

    def __init__(self, by_kind: Mapping[str, Iterable[str]]) -> None:
        self._by_kind: Mapping[str, frozenset[str]] = MappingProxyType(
            {kind: frozenset(values) for kind, values in sorted(by_kind.items()) if values}
        )

    def __getitem__(self, kind: str) -> frozenset[str]:
        return self._by_kind[kind]

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_kind)

    def __len__(self) -> int:
        return len(self._by_kind)

    def __repr__(self) -> str:
        return f"IdentityTokens({sum(len(v) for v in self._by_kind.values())} tokens, {len(self)} kinds)"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, IdentityTokens) and dict(self._by_kind) == dict(other._by_kind)

    def __hash__(self) -> int:
        return hash(frozenset(self._by_kind.items()))

    def get_set(self, kind: str) -> frozenset[str]:
        """The tokens of ``kind``, empty when there are none."""
        return self._by_kind.get(kind, frozenset())

    def all(self) -> frozenset[str]:
        """Every token of every kind (what a status index is looked up by)."""
        return frozenset().union(*self._by_kind.values())

    def to_json(self) -> list[dict[str, str]]:
        """The wire form: ``[{"kind": ..., "value": ...}, ...]``, sorted so equal tokens give equal JSON."""
        return [{"kind": kind, "value": value} for kind in self._by_kind for value in sorted(self._by_kind[kind])]

    @classmethod
    def from_json(cls, items: Any) -> IdentityTokens:
        """Read the wire form, checking its shape (unknown kinds are kept: a newer connector may send more).

        Raises:
            ValidationFailed: ``identity.invalid_tokens``.
        """
        if not isinstance(items, list) or len(items) > MAX_WIRE_TOKENS:
            raise ValidationFailed("identity.invalid_tokens", f"tokens must be a list of at most {MAX_WIRE_TOKENS}")
        by_kind: dict[str, set[str]] = {}
        for item in items:
            if not isinstance(item, dict) or set(item) != {"kind", "value"}:
                raise ValidationFailed("identity.invalid_tokens", "each token must be an object {kind, value}")
            kind, value = item["kind"], item["value"]
            if not isinstance(kind, str) or not 0 < len(kind) <= 64:
                raise ValidationFailed("identity.invalid_tokens", "a token kind must be a short string")
            if not isinstance(value, str) or not _TOKEN.fullmatch(value):
                raise ValidationFailed("identity.invalid_tokens", "a token value must be 22 base64url characters")
            by_kind.setdefault(kind, set()).add(value)
        return cls(by_kind)


def derive_tokens(identifiers: Identifiers, key: MatchingKey) -> IdentityTokens:
    """Derive every kind of token for one person under the federation matching key."""
    mac = hmac.new(key.secret, digestmod=hashlib.sha256)
    prefix = _PREFIX

    def token(kind: Kind, *parts: str) -> str:
        h = mac.copy()
        h.update((prefix[kind] + "".join(f"{len(part)}:{part}" for part in parts)).encode())
        return base64.urlsafe_b64encode(h.digest()[:TOKEN_BYTES]).rstrip(b"=").decode()

    return IdentityTokens({kind: {token(kind, *parts) for parts in forms} for kind, forms in _forms(identifiers)})


def _forms(ids: Identifiers) -> Iterator[tuple[Kind, set[tuple[str, ...]]]]:
    """The plaintext parts of each kind of token (never leaves this module except as HMAC input)."""
    given_words, family_words = n.words(ids.given_name), n.words(ids.family_name)
    first, given = given_words[0], n.joined(given_words)
    family = n.joined(family_words)
    givens = {first, given}
    families = {family} | n.family_parts(family_words)
    anchor = n.day_month_unordered(ids.date_of_birth)

    def anchored(values: Iterable[str]) -> set[tuple[str, ...]]:
        return {(value, anchor) for value in values if value}

    variants = {n.transliterated(v) for g in givens for v in n.given_variants(g)}
    given_codes = [n.phonetic(n.transliterated(g)) for g in givens]
    family_codes = [n.phonetic(f) for f in families]
    yield Kind.GIVEN_EXACT, anchored(givens)
    yield Kind.GIVEN_VARIANT, anchored(variants)
    yield Kind.GIVEN_METAPHONE, anchored(code for code, _ in given_codes)
    yield Kind.GIVEN_NYSIIS, anchored(code for _, code in given_codes)
    yield Kind.GIVEN_TYPO, anchored(d for g in givens for d in n.deletions(g))
    yield Kind.GIVEN_INITIAL, anchored({first[0]})
    yield Kind.FAMILY_EXACT, anchored({family})
    yield Kind.FAMILY_PART, anchored(families)
    yield Kind.FAMILY_METAPHONE, anchored(code for code, _ in family_codes)
    yield Kind.FAMILY_NYSIIS, anchored(code for _, code in family_codes)
    yield Kind.FAMILY_TYPO, anchored(d for f in families for d in n.deletions(f))
    yield Kind.NAMES_UNORDERED, {(*sorted((g, family)), anchor) for g in givens}
    # Each name's exact, variant and metaphone forms, tagged so levels never meet, paired without order:
    # agrees when the names were swapped, even with a typo or a nickname on top.
    loose_given = {f"e:{g}" for g in givens} | {f"v:{v}" for v in variants} | {f"m:{c}" for c, _ in given_codes}
    loose_family = {f"e:{f}" for f in families} | {f"m:{c}" for c, _ in family_codes}
    yield Kind.NAMES_UNORDERED_LOOSE, {(*sorted((g, f)), anchor) for g in loose_given for f in loose_family}
    yield Kind.NAMES_DOB_PARTIAL, {(first, family, partial) for partial in n.partial_dates(ids.date_of_birth)}
    yield Kind.DOB_EXACT, {(ids.date_of_birth.isoformat(),)}
    if ids.postcode:
        yield Kind.POSTCODE_DISTRICT, {(ids.postcode, anchor)}
