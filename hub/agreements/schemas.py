"""Pydantic in/out models of agreements, and the one conversion to the consent engine's ``Agreement``.

An agreement's body travels and is stored as JSON. It is valid only if the consent engine can
build an ``Agreement`` from it (``to_engine``) and the hub's catalogue accepts that agreement
(``consent.catalog.Catalog.check``, run by the service). Its digest is the SHA-256 of its
canonical JSON: keys sorted, no whitespace, UTF-8.
"""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from consent.actors import ANYONE, Actor, ActorScope
from consent.agreement import Agreement, AgreementState
from consent.basis import Article6, Article9, DpaCondition, LawfulBasis, Statute
from consent.ids import AgreementId
from consent.model import AccessLevel, Action, Effect, Period, Provision, parse_data_class
from hub.agencies.schemas import b64url
from hub.agreements.lifecycle import VersionState
from onedoor.errors import ValidationFailed
from onedoor.ids import ContractName, Purpose

if TYPE_CHECKING:
    from hub.agreements.models import AgreementApproval, AgreementVersion

ActorText = Annotated[str, StringConstraints(min_length=1, max_length=80)]
"""``agency:<id>``, ``kind:<kind>``, ``group:<name>`` or ``anyone``."""
Digest = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
"""A SHA-256 digest in lower-case hex."""


def parse_actor(text: str) -> Actor:
    """An actor from its text form.

    Raises:
        ValidationFailed: ``actor.invalid``.
    """
    if text == "anyone":
        return ANYONE
    scope, _, name = text.partition(":")
    try:
        kind = ActorScope(scope)
    except ValueError:
        raise ValidationFailed(
            "actor.invalid", f"not an actor: {text!r:.80}; use agency:, kind:, group: or anyone"
        ) from None
    return Actor(kind, name)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ProvisionIn(_Strict):
    """Permit or deny a flow of data classes (``consent.model.Provision``)."""

    effect: Effect
    senders: list[ActorText] | None = None
    recipients: list[ActorText] | None = None
    actions: list[Action] | None = None
    purposes: list[str] | None = None
    classes: list[str] | None = None
    """Data classes (sensitivity tags); leave unset (and ``access_level`` unset) for every class."""
    access_level: AccessLevel | None = None
    """``full`` or ``limited``: a preset of data classes instead of ``classes``."""
    valid_from: AwareDatetime | None = None
    valid_until: AwareDatetime | None = None
    provisions: list[ProvisionIn] = []
    """Exceptions to this provision."""

    def to_engine(self) -> Provision:
        """The engine's provision.

        Raises:
            ValidationFailed: with the engine's codes (``data_class.unknown``, ``provision.*`` ...).
        """
        if self.classes is not None and self.access_level is not None:
            raise ValidationFailed("provision.classes_and_level", "name classes or an access level, not both")
        classes = self.access_level.classes if self.access_level is not None else self.classes
        return Provision(
            effect=self.effect,
            senders=_actors(self.senders),
            recipients=_actors(self.recipients),
            actions=None if self.actions is None else frozenset(self.actions),
            purposes=None if self.purposes is None else frozenset(_purposes(self.purposes)),
            classes=None if classes is None else frozenset(parse_data_class(str(c)) for c in classes),
            period=Period(self.valid_from, self.valid_until),
            provisions=tuple(p.to_engine() for p in self.provisions),
        )


class LawfulBasisIn(_Strict):
    """The legal basis, as citations (``consent.basis.LawfulBasis``)."""

    article6: Article6
    article9: Article9 | None = None
    conditions: list[DpaCondition] = []
    statutes: list[Statute] = []


class AgreementBody(_Strict):
    """One version of an information-sharing agreement, as its parties write it."""

    id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    """The agreement's slug, e.g. ``isa-met-hackney-county-lines``; the same for every version."""
    title: Annotated[str, StringConstraints(max_length=200)] = ""
    parties: list[ActorText] = Field(min_length=1)
    """``agency:<id>`` or ``group:<name>``; every named agency must approve."""
    contracts: list[str] = Field(min_length=1)
    contract_versions: dict[str, Annotated[int, Field(ge=1)]] = {}
    """The version of each contract the parties approve it against. ``propose`` pins every contract
    left out to its newest registered version; fields a later version adds are withheld unless
    operational, until an amendment pinned to that version is approved. Part of the digest."""
    purposes: list[str] = Field(min_length=1)
    provisions: list[ProvisionIn] = Field(min_length=1)
    """What may flow in which direction; nothing else does."""
    lawful_basis: LawfulBasisIn
    retention_days: int = Field(gt=0, le=36_500)
    review_date: date
    valid_from: AwareDatetime | None = None
    valid_until: AwareDatetime | None = None

    def canonical(self) -> bytes:
        """Canonical JSON: sorted keys, no whitespace, UTF-8; what approvals refer to.

        A body without pins (stored before agreements pinned contract versions) leaves the key
        out, so its digest is the one its parties approved.
        """
        return canonical_json(
            self.model_dump(mode="json", exclude={"contract_versions"} if not self.contract_versions else None)
        )

    def digest(self) -> str:
        """SHA-256 (hex) of the canonical JSON."""
        return hashlib.sha256(self.canonical()).hexdigest()

    def to_engine(self, version: int, state: AgreementState) -> Agreement:
        """The consent engine's ``Agreement`` for this body.

        Raises:
            ValidationFailed: the engine's codes for anything it cannot accept.
        """
        return Agreement(
            id=AgreementId(self.id),
            version=version,
            state=state,
            parties=frozenset(parse_actor(p) for p in self.parties),
            contracts=frozenset(ContractName(c) for c in self.contracts),
            contract_versions={ContractName(c): v for c, v in self.contract_versions.items()},
            purposes=frozenset(_purposes(self.purposes)),
            provisions=tuple(p.to_engine() for p in self.provisions),
            lawful_basis=LawfulBasis(
                article6=self.lawful_basis.article6,
                article9=self.lawful_basis.article9,
                conditions=frozenset(self.lawful_basis.conditions),
                statutes=frozenset(self.lawful_basis.statutes),
            ),
            retention=timedelta(days=self.retention_days),
            review_date=self.review_date,
            period=Period(self.valid_from, self.valid_until),
            title=self.title,
        )


def canonical_json(value: Any) -> bytes:
    """``value`` as canonical JSON bytes."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _actors(texts: list[str] | None) -> frozenset[Actor] | None:
    return None if texts is None else frozenset(parse_actor(t) for t in texts)


def _purposes(texts: list[str]) -> list[Purpose]:
    return [Purpose(t) for t in texts]


class AgreementPropose(_Strict):
    """Propose a new agreement (``amends`` unset) or an amendment of its latest version."""

    agreement: AgreementBody
    amends: int | None = Field(default=None, ge=1)
    """The latest version the amendment was written against; a later one makes it stale (409)."""


class ApprovalIn(_Strict):
    """Approve one version: the digest says which content the approver read."""

    digest: Digest
    signature: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{86}$")] | None = None
    """Optional: the agency's Ed25519 signature of the approval (``hub.agreements.signing``), base64url.
    Verified against the agency's registered signing keys; without it the approval is recorded, not signed."""

    def signature_bytes(self) -> bytes | None:
        """The signature's raw 64 bytes, if given."""
        return None if self.signature is None else base64.urlsafe_b64decode(self.signature + "==")


class ApprovalOut(BaseModel):
    """One party agency's approval of one version, kept as evidence."""

    agency: str
    approver: str
    """The approving admin's token subject."""
    approved_at: datetime
    digest: str
    """SHA-256 of the canonical version content the approver approved."""
    signature: str | None
    """The agency's Ed25519 signature of the approval (base64url); ``None``: recorded, not signed."""
    key_id: str | None
    """The registered signing key that verified it."""

    @classmethod
    def from_model(cls, row: AgreementApproval) -> Self:
        """Render an approval row."""
        return cls(
            agency=row.agency_id,
            approver=row.approver,
            approved_at=row.approved_at,
            digest=row.digest,
            signature=None if row.signature is None else b64url(row.signature),
            key_id=row.key_id,
        )


class VersionOut(BaseModel):
    """One version of an agreement, with its approvals."""

    version: int
    state: VersionState
    digest: str
    proposed_by: str
    proposed_at: datetime
    changed_at: datetime
    signatories: list[str]
    """Party agencies whose admins must approve."""
    approvals: list[ApprovalOut]
    body: AgreementBody

    @classmethod
    def from_model(cls, row: AgreementVersion) -> Self:
        """Render a version row."""
        body = AgreementBody.model_validate(row.body)
        return cls(
            version=row.version,
            state=row.state,
            digest=row.digest,
            proposed_by=row.proposed_by,
            proposed_at=row.proposed_at,
            changed_at=row.changed_at,
            signatories=sorted(signatories(body)),
            approvals=[ApprovalOut.from_model(a) for a in row.approvals],
            body=body,
        )


class AgreementOut(BaseModel):
    """An agreement with every version, oldest first."""

    id: str
    in_force: int | None
    """The active or suspended version, if any."""
    latest: int
    versions: list[VersionOut]


class AgreementSummary(BaseModel):
    """One line of the agreement list."""

    id: str
    title: str
    latest: int
    latest_state: VersionState
    in_force: int | None
    parties: list[str]


class AgreementList(BaseModel):
    """Agreements the caller may see, by id."""

    items: list[AgreementSummary]


def signatories(body: AgreementBody) -> frozenset[str]:
    """The agencies whose admins must approve: every party named as an agency."""
    return frozenset(name for p in body.parties if (name := p.removeprefix("agency:")) != p)
