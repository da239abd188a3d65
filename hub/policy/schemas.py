"""The policy document (``GET /policy``): what a connector needs to decide a flow as the hub does.

Agreement terms, agency kinds, group names and contract field tags: none of it is personal
data. ``version`` is the SHA-256 of the document's canonical JSON without the version itself,
so it changes whenever anything in it changes; the API also sends it as the ``ETag``.
"""

from __future__ import annotations

import hashlib
from typing import Self

from pydantic import BaseModel, ConfigDict

from consent.agreement import AgreementState
from hub.agreements.schemas import AgreementBody, canonical_json


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class PolicyAgreement(_Frozen):
    """The governing version of one agreement (``hub.agreements.service.active_agreements``)."""

    version: int
    state: AgreementState
    """The engine's state: ``active``, ``suspended``, ``revoked`` or ``expired``."""
    body: AgreementBody


class PolicyAgency(_Frozen):
    """A registered agency and its kind (what ``kind:`` actors match)."""

    id: str
    kind: str


class PolicyContract(_Frozen):
    """One registered contract version's field tags."""

    name: str
    version: int
    tags: dict[str, str]
    """Field path to data class (sensitivity tag)."""


class PolicyDocument(_Frozen):
    """Everything ``consent.decide`` needs besides consent records; build engine objects with
    ``hub.policy.document.index_from_document``."""

    version: str
    """SHA-256 (hex) of the content below; also the ``ETag``."""
    agreements: list[PolicyAgreement]
    agencies: list[PolicyAgency]
    groups: list[str]
    """Groups the agreements name (the hub keeps no group memberships yet)."""
    contracts: list[PolicyContract]

    @classmethod
    def of(
        cls,
        agreements: list[PolicyAgreement],
        agencies: list[PolicyAgency],
        groups: list[str],
        contracts: list[PolicyContract],
    ) -> Self:
        """A document with its content version computed."""
        content = {
            "agreements": [a.model_dump(mode="json") for a in agreements],
            "agencies": [a.model_dump(mode="json") for a in agencies],
            "groups": groups,
            "contracts": [c.model_dump(mode="json") for c in contracts],
        }
        digest = hashlib.sha256(canonical_json(content)).hexdigest()
        return cls(version=digest, agreements=agreements, agencies=agencies, groups=groups, contracts=contracts)
