"""The policy document to and from the consent engine's objects: one conversion for hub and connectors.

``document_from(agreements, catalog)`` is what ``GET /policy`` serves: the governing version of
each agreement (as ``hub.agreements.service.active_agreements`` selects it) and the catalogue
``hub.agreements.service.catalog_for`` builds for them. ``index_from_document`` turns a fetched
document back into an ``AgreementIndex`` and ``Catalog`` built exactly as the hub's router
builds its own (``AgreementIndex.build(..., skip_invalid=True)``), so a connector decides a
flow as the hub does. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from consent.agreement import Agreement
from consent.catalog import Catalog
from consent.contract import TaggedContract
from consent.ids import GroupName
from consent.index import AgreementIndex
from consent.model import DataClass, Member, parse_data_class
from hub.agreements.schemas import AgreementBody
from hub.policy.schemas import PolicyAgency, PolicyAgreement, PolicyContract, PolicyDocument
from onedoor.ids import AgencyId


def document_from(bodies: Sequence[tuple[AgreementBody, Agreement]], catalog: Catalog) -> PolicyDocument:
    """The document for governing agreement versions (each with its stored body) and their catalogue."""
    agreements = [
        PolicyAgreement(version=agreement.version, state=agreement.state, body=body)
        for body, agreement in sorted(bodies, key=lambda pair: pair[1].id)
    ]
    agencies = [PolicyAgency(id=str(m.agency), kind=m.kind) for _, m in sorted(catalog.members.items())]
    contracts = [
        PolicyContract(name=name, version=version, tags={p: str(t) for p, t in contract.tags.items()})
        for (name, version), contract in sorted(catalog.contracts.items())
    ]
    return PolicyDocument.of(agreements, agencies, sorted(str(g) for g in catalog.groups), contracts)


def catalog_from_document(document: PolicyDocument) -> Catalog:
    """The catalogue the hub decides with: agencies with kinds, named groups, contract versions' tags."""
    members = [Member(AgencyId(a.id), a.kind) for a in document.agencies]
    contracts = [TaggedContract.from_tags(c.name, c.version, _tags(c.tags)) for c in document.contracts]
    return Catalog.of(members, contracts, groups=[GroupName(g) for g in document.groups])


def agreements_from_document(document: PolicyDocument) -> list[Agreement]:
    """Each agreement's governing version, in the engine's terms.

    Raises:
        ValidationFailed: the engine's codes for a body it cannot accept.
    """
    return [a.body.to_engine(a.version, a.state) for a in document.agreements]


def index_from_document(document: PolicyDocument, *, version: int = 0) -> tuple[AgreementIndex, Catalog]:
    """The index and catalogue to decide with; agreements the catalogue rejects are left out
    (``index.rejected`` says why), as the hub's router leaves them out.

    Raises:
        ValidationFailed: the engine's codes for an agreement body it cannot build at all.
    """
    catalog = catalog_from_document(document)
    index = AgreementIndex.build(agreements_from_document(document), catalog, version=version, skip_invalid=True)
    return index, catalog


def _tags(tags: Mapping[str, str]) -> dict[str, DataClass]:
    return {path: parse_data_class(tag) for path, tag in tags.items()}
