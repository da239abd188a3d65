"""What changed between two versions of an agreement, in words: pure, over two ``AgreementBody``.

Each change names its area (parties, contracts, purposes, provisions, fields, lawful basis,
retention, review date, period), whether something was added, removed or changed, and a
sentence. Provisions are compared by content, in order; the fields each contract shares are
compared as the consent engine computes them (``usage.fields_of``), so a change of access level
shows up as the fields it adds or takes away.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any

from hub.agreements.schemas import AgreementBody, canonical_json
from hub.console.admin import words
from hub.console.admin.summary import ContractTags, actor_words, pinned_versions, summarize
from hub.console.admin.usage import fields_of


class ChangeKind(StrEnum):
    """What happened to an item."""

    ADDED = "added"
    REMOVED = "removed"
    CHANGED = "changed"


@dataclass(frozen=True, slots=True)
class Change:
    """One difference between two versions."""

    area: str
    kind: ChangeKind
    text: str


def _sets(area: str, before: Sequence[str], after: Sequence[str], show: Any = str) -> list[Change]:
    old, new = set(before), set(after)
    added = [Change(area, ChangeKind.ADDED, show(x)) for x in after if x not in old]
    removed = [Change(area, ChangeKind.REMOVED, show(x)) for x in before if x not in new]
    return added + removed


def _value(area: str, before: object, after: object, show: Any = str) -> list[Change]:
    if before == after:
        return []
    if before is None:
        return [Change(area, ChangeKind.ADDED, show(after))]
    if after is None:
        return [Change(area, ChangeKind.REMOVED, show(before))]
    return [Change(area, ChangeKind.CHANGED, f"{show(before)} → {show(after)}")]


def _provisions(a: AgreementBody, b: AgreementBody, contracts: ContractTags, names: Mapping[str, str]) -> list[Change]:
    today = date.min  # the review flag plays no part in a provision's words
    before = [canonical_json(p.model_dump(mode="json")) for p in a.provisions]
    after = [canonical_json(p.model_dump(mode="json")) for p in b.provisions]
    old_words = [f.sentence for f in summarize(a, contracts, names, today=today).flows]
    new_words = [f.sentence for f in summarize(b, contracts, names, today=today).flows]
    remaining = list(after)
    gone = []
    for i, item in enumerate(before):
        if item in remaining:
            remaining[remaining.index(item)] = b""  # matched once
        else:
            gone.append(i)
    came = [i for i, item in enumerate(after) if item not in before]
    changes = []
    for i, j in zip(gone, came, strict=False):
        text = f"{old_words[i]} → {new_words[j]}"
        if old_words[i] == new_words[j]:
            text = f"{new_words[j]} (its periods or exceptions changed)"
        changes.append(Change("provisions", ChangeKind.CHANGED, text))
    changes += [Change("provisions", ChangeKind.REMOVED, old_words[i]) for i in gone[len(came) :]]
    changes += [Change("provisions", ChangeKind.ADDED, new_words[j]) for j in came[len(gone) :]]
    return changes


def _fields(a: AgreementBody, b: AgreementBody, contracts: ContractTags) -> list[Change]:
    changes = []
    old_pins, new_pins = pinned_versions(a, contracts), pinned_versions(b, contracts)
    for name in [*b.contracts, *(c for c in a.contracts if c not in b.contracts)]:
        old_v, new_v = old_pins.get(name, (None, False))[0], new_pins.get(name, (None, False))[0]
        old = fields_of(a, name, old_v, contracts)[0] if old_v is not None else frozenset()
        new = fields_of(b, name, new_v, contracts)[0] if new_v is not None else frozenset()
        if new - old:
            changes.append(Change("fields", ChangeKind.ADDED, f"{name}: " + ", ".join(sorted(new - old))))
        if old - new:
            changes.append(Change("fields", ChangeKind.REMOVED, f"{name}: " + ", ".join(sorted(old - new))))
    return changes


def diff(
    before: AgreementBody, after: AgreementBody, contracts: ContractTags, names: Mapping[str, str]
) -> list[Change]:
    """Every difference from ``before`` to ``after``, area by area; empty when the content is the same."""
    out: list[Change] = []
    out += _value("title", before.title or None, after.title or None)
    out += _sets("parties", before.parties, after.parties, lambda p: actor_words(p, names))
    out += _sets("contracts", before.contracts, after.contracts)
    for name in after.contracts:
        if name in before.contracts:
            out += _value(
                "contract versions",
                before.contract_versions.get(name),
                after.contract_versions.get(name),
                lambda v, n=name: f"{n} version {v}",
            )
    out += _sets("purposes", before.purposes, after.purposes, lambda p: p.replace("-", " "))
    out += _provisions(before, after, contracts, names)
    out += _fields(before, after, contracts)
    old, new = before.lawful_basis, after.lawful_basis
    out += _value("lawful basis", old.article6.value, new.article6.value)
    out += _value(
        "lawful basis", old.article9.value if old.article9 else None, new.article9.value if new.article9 else None
    )
    out += _sets("lawful basis", sorted(old.conditions), sorted(new.conditions))
    out += _sets("lawful basis", sorted(old.statutes), sorted(new.statutes))
    out += _value("retention", before.retention_days, after.retention_days, words.days_in_words)
    out += _value("review date", before.review_date, after.review_date, words.date_in_words)
    out += _value("valid from", before.valid_from, after.valid_from, lambda d: words.date_in_words(d.date()))
    out += _value("valid until", before.valid_until, after.valid_until, lambda d: words.date_in_words(d.date()))
    return out
