"""Measure matching quality on labelled pairs with exactly the code the status check uses."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from connectors.identity.identifiers import Identifiers
from connectors.identity.keys import MatchingKey
from connectors.identity.match import MATCH_THRESHOLD, match
from connectors.identity.pairs import Pair, Person
from connectors.identity.tokens import IdentityTokens, derive_tokens


@dataclass(frozen=True, slots=True)
class Scores:
    """Confusion counts over labelled pairs and the precision and recall they give."""

    precision: float
    """Of the pairs called a match, the share that are the same person (1.0 when none was called)."""
    recall: float
    """Of the pairs that are the same person, the share called a match."""
    tp: int
    fp: int
    fn: int
    tn: int
    threshold: float
    """``MATCH_THRESHOLD`` the pairs were judged at."""

    def as_dict(self) -> dict[str, float | int]:
        """A JSON-able form."""
        return {
            "precision": self.precision,
            "recall": self.recall,
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "tn": self.tn,
            "threshold": self.threshold,
        }


def tokens_of(person: Person, key: MatchingKey) -> IdentityTokens:
    """Parse one side of a pair the way a connector parses typed input, then derive its tokens."""
    identifiers = Identifiers.parse(person.given_name, person.family_name, person.date_of_birth, person.postcode)
    return derive_tokens(identifiers, key)


def evaluate(pairs: Iterable[Pair], key: MatchingKey) -> Scores:
    """Count true and false matches of ``derive_tokens`` + ``match`` over ``pairs``.

    Raises:
        ValidationFailed: when a side of a pair is not valid input (same codes as the status check).
    """
    tp = fp = fn = tn = 0
    for pair in pairs:
        found = match(tokens_of(pair.a, key), tokens_of(pair.b, key)) is not None
        if pair.same_person:
            tp, fn = (tp + 1, fn) if found else (tp, fn + 1)
        else:
            fp, tn = (fp + 1, tn) if found else (fp, tn + 1)
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    return Scores(round(precision, 4), round(recall, 4), tp, fp, fn, tn, MATCH_THRESHOLD)
