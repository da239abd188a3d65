"""Which agreements permit which fields of each contract version: pure, over stored bodies and tags.

An agreement "uses" a field of a contract version when some permit provision of it covers the
field's data class (the engine's ``Agreement.may_permit``), the field's enclosing records are
covered too (``TaggedContract.fields_for``), and, for an agreement pinned to an earlier version
of the contract, the field is not one of the sensitive fields added since (``added_since``):
those are withheld until the agreement is amended. Deny provisions can still withhold a field in
one direction; this is what the agreement may share in at least one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from consent.model import DataClass
from hub.agreements.lifecycle import VersionState
from hub.agreements.schemas import AgreementBody
from hub.console.admin.summary import ContractTags, tagged


@dataclass(frozen=True, slots=True)
class AgreementRef:
    """One agreement version whose use of contracts is shown."""

    agreement_id: str
    version: int
    state: VersionState
    body: AgreementBody

    @property
    def label(self) -> str:
        """``isa-met-hackney v2 (active)``."""
        return f"{self.agreement_id} v{self.version} ({self.state.value})"


@dataclass(frozen=True, slots=True)
class FieldUse:
    """One field of a contract version and the agreements that may share it."""

    path: str
    data_class: str
    agreements: tuple[str, ...]
    """Labels of the agreement versions (``AgreementRef.label``)."""
    withheld: tuple[str, ...]
    """Agreements that cover its class but are pinned to an earlier version without it."""


@dataclass(frozen=True, slots=True)
class VersionUsage:
    """One contract version: each field and who uses it."""

    contract: str
    version: int
    fields: tuple[FieldUse, ...]
    agreements: tuple[str, ...]
    """Every agreement version naming this contract."""


def permitted_classes(body: AgreementBody) -> frozenset[DataClass]:
    """The data classes some permit provision of ``body`` covers (the engine's ``may_permit``)."""
    engine = body.to_engine(1, VersionState.PROPOSED.engine_state())
    return frozenset(k for k in DataClass if engine.may_permit(k))


def fields_of(
    body: AgreementBody, contract: str, version: int, contracts: ContractTags
) -> tuple[frozenset[str], frozenset[str]]:
    """``(shared, withheld)`` field paths of one contract version under ``body``.

    ``withheld``: covered by a permit but added since the version ``body`` pins (amend to share them).
    """
    tags = contracts.get(contract, {}).get(version)
    if tags is None or contract not in body.contracts:
        return frozenset(), frozenset()
    here = tagged(contract, version, tags)
    covered = here.fields_for(permitted_classes(body))
    pin = body.contract_versions.get(contract)
    pinned_tags = contracts.get(contract, {}).get(pin) if pin is not None else None
    added = (
        here.added_since(tagged(contract, pin, pinned_tags))
        if pin is not None and pinned_tags is not None
        else frozenset()
    )
    return covered - added, covered & added


def usage(contracts: ContractTags, agreements: Sequence[AgreementRef]) -> list[VersionUsage]:
    """Every contract version, oldest first by name and version, with its fields' users."""
    out = []
    for name in sorted(contracts):
        for version in sorted(contracts[name]):
            users = [a for a in agreements if name in a.body.contracts]
            shared: dict[str, list[str]] = {}
            withheld: dict[str, list[str]] = {}
            for ref in users:
                yes, held = fields_of(ref.body, name, version, contracts)
                for path in yes:
                    shared.setdefault(path, []).append(ref.label)
                for path in held:
                    withheld.setdefault(path, []).append(ref.label)
            fields = tuple(
                FieldUse(path, tag, tuple(shared.get(path, ())), tuple(withheld.get(path, ())))
                for path, tag in contracts[name][version].items()
            )
            out.append(VersionUsage(name, version, fields, tuple(a.label for a in users)))
    return out
