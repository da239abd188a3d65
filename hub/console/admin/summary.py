"""A readable summary of one agreement version: who shares what with whom, why, and on what basis.

Pure: it takes the version's ``AgreementBody``, the registered contract versions' field tags and
the agencies' display names, and returns sentences and lists a council admin can read. Which
fields a provision means is the consent engine's rule (``TaggedContract.fields_for``: a field is
shared only with every record it sits in), worked out per contract version the agreement is
pinned to (or the newest registered one, for a contract it does not pin).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime

from consent.basis import Article6, Article9
from consent.contract import TaggedContract
from consent.model import ALL_CLASSES, Action, DataClass, parse_data_class
from hub.agreements.schemas import AgreementBody, ProvisionIn
from hub.console.admin import words

ContractTags = Mapping[str, Mapping[int, Mapping[str, str]]]
"""Contract name -> version -> field path -> data class: what the registry holds."""


@dataclass(frozen=True, slots=True)
class ContractFields:
    """The fields of one contract version that a provision covers."""

    contract: str
    version: int | None
    """``None``: no version of the contract is registered."""
    pinned: bool
    """Whether the agreement names this version (else it is the newest registered)."""
    fields: tuple[tuple[str, str], ...]
    """``(field path, data class)`` in schema order."""


@dataclass(frozen=True, slots=True)
class Flow:
    """One provision in words, with the fields it means and its exceptions."""

    permit: bool
    sentence: str
    senders: str
    recipients: str
    actions: str
    data: str
    access_level: str | None
    purposes: tuple[str, ...]
    period: str | None
    fields: tuple[ContractFields, ...]
    exceptions: tuple[Flow, ...]


@dataclass(frozen=True, slots=True)
class Summary:
    """One agreement version, readable."""

    id: str
    title: str
    headline: str
    parties: tuple[str, ...]
    purposes: tuple[tuple[str, str], ...]
    """``(code, what it means)``."""
    contracts: tuple[tuple[str, int | None, bool], ...]
    """``(contract, version read, pinned)``."""
    flows: tuple[Flow, ...]
    basis_citation: str
    basis_words: tuple[str, ...]
    consent: str
    retention: str
    review: str
    review_overdue: bool
    period: str | None


def actor_words(text: str, names: Mapping[str, str]) -> str:
    """``agency:met-police`` -> ``Metropolitan Police (met-police)``; kinds, groups and anyone in words."""
    if text == "anyone":
        return "any party"
    scope, _, name = text.partition(":")
    if scope == "agency":
        shown = names.get(name)
        return f"{shown} ({name})" if shown and shown != name else name
    if scope == "kind":
        return f"any {name.replace('-', ' ')} party"
    if scope == "group":
        return f"members of the group {name}"
    return text


def _actors(texts: list[str] | None, names: Mapping[str, str], fallback: str) -> str:
    if not texts:
        return fallback
    return words.join_words(actor_words(t, names) for t in texts)


def _classes(provision: ProvisionIn) -> frozenset[DataClass] | None:
    if provision.access_level is not None:
        return provision.access_level.classes
    if provision.classes is None:
        return None
    found = frozenset(parse_data_class(c) for c in provision.classes)
    return None if found == ALL_CLASSES else found


def pinned_versions(body: AgreementBody, contracts: ContractTags) -> dict[str, tuple[int | None, bool]]:
    """Each contract of ``body``: the version it is read at (its pin, else the newest registered) and whether pinned."""
    out: dict[str, tuple[int | None, bool]] = {}
    for name in body.contracts:
        pin = body.contract_versions.get(name)
        known = contracts.get(name, {})
        out[name] = (pin, True) if pin is not None else (max(known) if known else None, False)
    return out


def tagged(name: str, version: int, tags: Mapping[str, str]) -> TaggedContract:
    """The engine's view of a registered contract version."""
    return TaggedContract.from_tags(name, version, {p: DataClass(t) for p, t in tags.items()})


def _fields(
    classes: frozenset[DataClass] | None, permit: bool, body: AgreementBody, contracts: ContractTags
) -> tuple[ContractFields, ...]:
    out = []
    for name, (version, pinned) in pinned_versions(body, contracts).items():
        tags = contracts.get(name, {}).get(version) if version is not None else None
        if tags is None or version is None:
            out.append(ContractFields(name, version, pinned, ()))
            continue
        contract = tagged(name, version, tags)
        wanted = ALL_CLASSES if classes is None else classes
        if permit:
            covered = contract.fields_for(wanted)
        else:  # a deny withholds every field whose own class, or an enclosing record's, it names
            covered = frozenset(contract.tags) - contract.fields_for(ALL_CLASSES - wanted)
        shown = tuple((p, str(t)) for p, t in contract.tags.items() if p in covered)
        out.append(ContractFields(name, version, pinned, shown))
    return tuple(out)


def _period(start: datetime | None, end: datetime | None) -> str | None:
    if start is None and end is None:
        return None
    parts = []
    if start is not None:
        parts.append(f"from {words.date_in_words(start.date())}")
    if end is not None:
        parts.append(f"until {words.date_in_words(end.date())}")
    return " ".join(parts)


def _flow(
    provision: ProvisionIn, body: AgreementBody, contracts: ContractTags, names: Mapping[str, str], *, nested: bool
) -> Flow:
    permit = provision.effect.value == "permit"
    classes = _classes(provision)
    senders = _actors(provision.senders, names, "the same senders" if nested else "any party")
    recipients = _actors(provision.recipients, names, "the same recipients" if nested else "any other party")
    actions = words.join_words(words.ACTION_WORDS[a] for a in (provision.actions or list(Action)))
    data = words.access_in_words(provision.access_level, classes)
    purposes = tuple(provision.purposes or ())
    why = words.join_words(p.replace("-", " ") for p in purposes) if purposes else None
    verb = "may" if permit else "may not"
    sentence = f"{senders[:1].upper()}{senders[1:]} {verb} share {data} with {recipients} ({actions})"
    if why:
        sentence += f", for {why} only"
    return Flow(
        permit=permit,
        sentence=sentence + ".",
        senders=senders,
        recipients=recipients,
        actions=actions,
        data=data,
        access_level=None if provision.access_level is None else provision.access_level.value,
        purposes=purposes,
        period=_period(provision.valid_from, provision.valid_until),
        fields=_fields(classes, permit, body, contracts),
        exceptions=tuple(_flow(p, body, contracts, names, nested=True) for p in provision.provisions),
    )


def _basis(body: AgreementBody) -> tuple[str, tuple[str, ...], str]:
    basis = body.lawful_basis
    lines = [f"UK GDPR Article 6: {words.ARTICLE6_WORDS[basis.article6]}."]
    if basis.article9 is not None:
        lines.append(f"Special category data (health): {words.ARTICLE9_WORDS[basis.article9]}.")
    if basis.conditions:
        lines.append("Data Protection Act 2018 conditions: " + "; ".join(sorted(basis.conditions)) + ".")
    if basis.statutes:
        lines.append("Statutes giving the power or duty: " + "; ".join(sorted(basis.statutes)) + ".")
    citation = "; ".join(
        [
            basis.article6.value,
            *([basis.article9.value] if basis.article9 else []),
            *sorted(basis.conditions),
            *sorted(basis.statutes),
        ]
    )
    on_consent = basis.article6 is Article6.CONSENT or basis.article9 is Article9.EXPLICIT_CONSENT
    consent = (
        "Sharing depends on consent: a refusal or a withdrawal stops it at once."
        if on_consent
        else "Consent is sought where it is safe to, but sharing does not depend on it."
    )
    return citation, tuple(lines), consent


def summarize(body: AgreementBody, contracts: ContractTags, names: Mapping[str, str], *, today: date) -> Summary:
    """The readable summary of ``body`` (one agreement version)."""
    parties = tuple(actor_words(p, names) for p in body.parties)
    short = [
        names.get(p.removeprefix("agency:"), p) if p.startswith("agency:") else actor_words(p, names)
        for p in body.parties
    ]
    why = words.join_words(p.replace("-", " ") for p in body.purposes)
    headline = f"{words.join_words(short)} share information for {why}."
    citation, basis_words, consent = _basis(body)
    pins = pinned_versions(body, contracts)
    return Summary(
        id=body.id,
        title=body.title or body.id,
        headline=headline,
        parties=parties,
        purposes=tuple((p, words.purpose_words(p)) for p in body.purposes),
        contracts=tuple((name, version, pinned) for name, (version, pinned) in pins.items()),
        flows=tuple(_flow(p, body, contracts, names, nested=False) for p in body.provisions),
        basis_citation=citation,
        basis_words=basis_words,
        consent=consent,
        retention=f"Recipients keep what they receive for {words.days_in_words(body.retention_days)}.",
        review=f"Review by {words.date_in_words(body.review_date)}.",
        review_overdue=body.review_date < today,
        period=_period(body.valid_from, body.valid_until),
    )
