"""What agreements may refer to: agencies (with kinds and groups), contract versions, purposes.

``Catalog.check`` is the check an admin API runs when an agreement is proposed; the index runs
it on every agreement it is built from.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from consent.agreement import Agreement
from consent.contract import TaggedContract
from consent.errors import Invalid, invalid
from consent.ids import GroupName
from consent.model import Actor, ActorScope, DataClass, Member
from consent.purposes import PURPOSES
from onedoor.ids import AgencyId, ContractName, Purpose


@dataclass(frozen=True, slots=True)
class Catalog:
    """Known agencies, groups, kinds, contract versions and purposes. Build with ``Catalog.of``."""

    members: Mapping[AgencyId, Member]
    groups: Mapping[GroupName, frozenset[AgencyId]]
    kinds: frozenset[str]
    contracts: Mapping[tuple[str, int], TaggedContract]
    """By ``(name, version)``."""
    contract_classes: Mapping[ContractName, frozenset[DataClass]]
    """Every class some version of each contract carries."""
    purposes: Mapping[Purpose, str]

    @classmethod
    def of(
        cls,
        members: Iterable[Member],
        contracts: Iterable[TaggedContract],
        purposes: Mapping[Purpose, str] = PURPOSES,
        groups: Iterable[GroupName] = (),
    ) -> Catalog:
        """A catalogue; ``groups`` adds groups that have no member at the moment."""
        by_agency = {m.agency: m for m in members}
        by_group: dict[GroupName, set[AgencyId]] = {GroupName(g): set() for g in groups}
        for member in by_agency.values():
            for group in member.groups:
                by_group.setdefault(group, set()).add(member.agency)
        versions = {(str(c.name), c.version): c for c in contracts}
        classes: dict[ContractName, frozenset[DataClass]] = {}
        for contract in versions.values():
            classes[contract.name] = classes.get(contract.name, frozenset()) | contract.classes
        return cls(
            members=MappingProxyType(by_agency),
            groups=MappingProxyType({g: frozenset(a) for g, a in by_group.items()}),
            kinds=frozenset(m.kind for m in by_agency.values()),
            contracts=MappingProxyType(versions),
            contract_classes=MappingProxyType(classes),
            purposes=purposes,
        )

    def pinned(self, agreement: Agreement) -> Mapping[ContractName, TaggedContract]:
        """The contract versions ``agreement`` is pinned to (run ``check`` first)."""
        return MappingProxyType({c: self.contracts[(str(c), v)] for c, v in agreement.contract_versions.items()})

    def agencies(self, actor: Actor) -> frozenset[AgencyId]:
        """The agencies a party names (a named agency, or a group's members).

        Raises:
            ValidationFailed: ``actor.unknown`` for an agency or group the catalogue does not know.
        """
        if actor.scope is ActorScope.AGENCY:
            if actor.name not in self.members:
                raise invalid(Invalid.UNKNOWN_ACTOR, f"unknown agency: {actor.name}")
            return frozenset({AgencyId(actor.name)})
        if actor.scope is ActorScope.GROUP:
            found = self.groups.get(GroupName(actor.name))
            if found is None:
                raise invalid(Invalid.UNKNOWN_ACTOR, f"unknown group: {actor.name}")
            return found
        raise invalid(Invalid.PARTIES, f"not a party: {actor}")

    def check(self, agreement: Agreement) -> None:
        """Check what an agreement refers to.

        Raises:
            ValidationFailed: ``purpose.unknown``, ``contract.unknown``,
                ``agreement.contract_version_unknown``, ``actor.unknown``,
                ``actor.not_party``, ``agreement.class_not_in_contract``,
                ``agreement.no_special_category_condition``, ``agreement.no_criminal_offence_condition``.
        """
        unknown = sorted(agreement.purposes - self.purposes.keys())
        if unknown:
            raise invalid(Invalid.UNKNOWN_PURPOSE, f"unknown purpose(s): {', '.join(unknown)}")
        missing = sorted(agreement.contracts - self.contract_classes.keys())
        if missing:
            raise invalid(Invalid.UNKNOWN_CONTRACT, f"unknown contract(s): {', '.join(missing)}")
        unpinnable = sorted(f"{c} v{v}" for c, v in agreement.contract_versions.items() if (c, v) not in self.contracts)
        if unpinnable:
            raise invalid(
                Invalid.CONTRACT_VERSION_UNKNOWN,
                f"pinned to contract version(s) not registered: {', '.join(unpinnable)}",
            )
        party_agencies: set[AgencyId] = set()
        for party in agreement.parties:
            party_agencies |= self.agencies(party)
        for actor in agreement.named_actors():
            self._check_actor(actor, party_agencies)
        carried = frozenset().union(*(self.contract_classes[c] for c in agreement.contracts))
        absent = agreement.named_classes() - carried
        if absent:
            raise invalid(
                Invalid.CLASS_NOT_IN_CONTRACT,
                f"no contract of the agreement carries: {', '.join(sorted(absent))}",
            )
        basis = agreement.lawful_basis
        if DataClass.HEALTH in carried and agreement.may_permit(DataClass.HEALTH) and not basis.covers_special_category:
            raise invalid(
                Invalid.NO_SPECIAL_CATEGORY_CONDITION,
                "health data is special category: name a UK GDPR Art. 9 condition (with its DPA 2018 Sch. 1 "
                "condition) or, for police, a DPA 2018 Sch. 8 condition",
            )
        if (
            DataClass.CRIMINAL_INTELLIGENCE in carried
            and agreement.may_permit(DataClass.CRIMINAL_INTELLIGENCE)
            and not basis.covers_criminal_offence_data
        ):
            raise invalid(
                Invalid.NO_CRIMINAL_OFFENCE_CONDITION,
                "criminal intelligence needs a DPA 2018 Sch. 1 condition (UK GDPR Art. 10) or a Sch. 8 condition",
            )

    def _check_actor(self, actor: Actor, party_agencies: set[AgencyId]) -> None:
        if actor.scope is ActorScope.AGENCY:
            if actor.name not in self.members:
                raise invalid(Invalid.UNKNOWN_ACTOR, f"unknown agency: {actor.name}")
            if actor.name not in party_agencies:
                raise invalid(Invalid.ACTOR_NOT_PARTY, f"{actor.name} is not a party, nor a member of a party group")
        elif actor.scope is ActorScope.GROUP and actor.name not in self.groups:
            raise invalid(Invalid.UNKNOWN_ACTOR, f"unknown group: {actor.name}")
        elif actor.scope is ActorScope.KIND and actor.name not in self.kinds:
            raise invalid(Invalid.UNKNOWN_ACTOR, f"unknown agency kind: {actor.name}")
