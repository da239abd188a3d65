"""Every agreement, compiled once, with lookups that make a decision a few dict hits.

An ``AgreementIndex`` is immutable apart from its decision memo. It is built from the current
version of every agreement (all states: a revoked agreement still explains a denial) and a
``Catalog``. When anything changes (an agreement, the directory, the contracts), build a new
index with a higher ``version`` (``updated`` reuses what did not change) and swap it in: the
new index starts with an empty memo, which is how cached decisions are invalidated.

The memo keys on ``(sender, recipient, contract key, purpose, action, agreement id)`` and
holds the agreement-level outcome together with the time window in which it stays true (no
agreement period, provision period or review date begins or ends inside it). The subject's
consent is applied after the memo, on every call, so withdrawing consent needs no
invalidation at all.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from consent.agreement import Agreement
from consent.catalog import Catalog
from consent.contract import TaggedContract
from consent.errors import Invalid, invalid
from consent.ids import AgreementId
from consent.model import Member
from consent.period import FOREVER, NEVER
from consent.rules import boundaries
from onedoor.errors import ValidationFailed
from onedoor.ids import AgencyId, ContractName

MEMO_LIMIT: Final = 262_144
"""Entries kept before the memo is cleared (a few hundred bytes each)."""


@dataclass(frozen=True, slots=True)
class Compiled:
    """One agreement with what the index precomputes for it."""

    agreement: Agreement
    parties_of: Mapping[AgencyId, frozenset[int]]
    """For each agency it covers, which of its parties cover it (by position)."""
    single_party: bool
    """A single group whose members share among themselves."""
    boundaries: tuple[int, ...]
    """Sorted times at which its outcome may change."""
    pins: Mapping[ContractName, TaggedContract] = field(default_factory=dict)
    """The contract version each pinned contract was approved at (``Agreement.contract_versions``)."""
    cache: dict[Any, Any] = field(default_factory=dict, repr=False, compare=False)
    """``consent.decide``'s reasons and outcomes for this agreement, shared by every flow it decides."""

    def window(self, at_ms: int) -> tuple[int, int]:
        """The widest ``[from, until)`` around ``at_ms`` in which no boundary falls."""
        i = bisect.bisect_right(self.boundaries, at_ms)
        start = self.boundaries[i - 1] if i else NEVER
        end = self.boundaries[i] if i < len(self.boundaries) else FOREVER
        return start, end

    def between_parties(self, sender: AgencyId, recipient: AgencyId) -> bool:
        """Whether the two agencies are covered by two different parties (or the agreement is one group)."""
        if self.single_party:
            return True
        mine, theirs = self.parties_of[sender], self.parties_of[recipient]
        return not (mine == theirs and len(mine) == 1)


def compile_agreement(agreement: Agreement, catalog: Catalog) -> Compiled:
    """Check an agreement against the catalogue and precompute its lookups.

    Raises:
        ValidationFailed: the codes of ``Catalog.check`` (``agreement.contract_version_unknown``
            for a pin to a version the catalogue lacks).
    """
    catalog.check(agreement)
    parties_of: dict[AgencyId, set[int]] = {}
    for position, party in enumerate(sorted(agreement.parties, key=str)):
        for agency in catalog.agencies(party):
            parties_of.setdefault(agency, set()).add(position)
    times = boundaries(agreement.rules) | {agreement.review_ms}
    if not agreement.period.unbounded:
        times |= {agreement.period.start_ms, agreement.period.end_ms}
    return Compiled(
        agreement=agreement,
        parties_of={a: frozenset(p) for a, p in parties_of.items()},
        single_party=len(agreement.parties) == 1,
        boundaries=tuple(sorted(times)),
        pins=catalog.pinned(agreement),
    )


class AgreementIndex:
    """Agreements compiled for decisions. Build with ``AgreementIndex.build``."""

    __slots__ = ("_by_agency", "_by_id", "catalog", "memo", "memo_limit", "rejected", "version")

    def __init__(self, compiled: Iterable[Compiled], catalog: Catalog, version: int, memo_limit: int) -> None:
        by_id: dict[AgreementId, Compiled] = {}
        by_agency: dict[AgencyId, set[AgreementId]] = {}
        for entry in compiled:
            by_id[entry.agreement.id] = entry
            for agency in entry.parties_of:
                by_agency.setdefault(agency, set()).add(entry.agreement.id)
        self._by_id = by_id
        self._by_agency = {a: frozenset(ids) for a, ids in by_agency.items()}
        self.catalog = catalog
        self.version = version
        """Monotonic: a higher version replaces a lower one, and decisions say which they came from."""
        self.memo: dict[tuple[Any, ...], Any] = {}
        """``consent.decide``'s memo of agreement-level outcomes; nothing else reads it."""
        self.memo_limit = memo_limit
        self.rejected: tuple[tuple[AgreementId, ValidationFailed], ...] = ()
        """Agreements ``build(..., skip_invalid=True)`` left out, with why."""

    @classmethod
    def build(
        cls,
        agreements: Iterable[Agreement],
        catalog: Catalog,
        *,
        version: int = 0,
        memo_limit: int = MEMO_LIMIT,
        skip_invalid: bool = False,
    ) -> AgreementIndex:
        """Check and compile every agreement.

        With ``skip_invalid``, an agreement that fails ``Catalog.check`` (say, a group it names
        was deleted after it was approved) is left out, so it permits nothing, and listed in
        ``rejected``; otherwise the first one raises.

        Raises:
            ValidationFailed: ``agreement.duplicate``, or the codes of ``Catalog.check``.
        """
        seen: set[AgreementId] = set()
        compiled = []
        rejected: list[tuple[AgreementId, ValidationFailed]] = []
        for agreement in agreements:
            if agreement.id in seen:
                raise invalid(Invalid.DUPLICATE, f"agreement {agreement.id} appears twice")
            seen.add(agreement.id)
            try:
                compiled.append(compile_agreement(agreement, catalog))
            except ValidationFailed as exc:
                if not skip_invalid:
                    raise
                rejected.append((agreement.id, exc))
        index = cls(compiled, catalog, version, memo_limit)
        index.rejected = tuple(rejected)
        return index

    def updated(
        self, *, upsert: Iterable[Agreement] = (), remove: Iterable[AgreementId] = (), version: int
    ) -> AgreementIndex:
        """A new index with some agreements added, replaced or removed, and an empty memo.

        Unchanged agreements are not compiled again (their per-agreement caches carry over).
        ``version`` must be higher than this one's. An upsert older than the agreement version
        already held is ignored, so an update delivered late cannot bring back a version an
        amendment or revocation replaced; a state change within one version replaces it.
        A change of directory, contracts or purposes needs a full ``build``.

        Raises:
            ValidationFailed: the codes of ``Catalog.check`` for an upserted agreement.
        """
        if version <= self.version:
            raise ValueError(f"index version must increase: {version} <= {self.version}")
        by_id = dict(self._by_id)
        for agreement_id in remove:
            by_id.pop(agreement_id, None)
        for agreement in upsert:
            held = by_id.get(agreement.id)
            if held is None or held.agreement.version <= agreement.version:
                by_id[agreement.id] = compile_agreement(agreement, self.catalog)
        return AgreementIndex(by_id.values(), self.catalog, version, self.memo_limit)

    def get(self, agreement_id: AgreementId) -> Agreement | None:
        """The current version of an agreement."""
        entry = self._by_id.get(agreement_id)
        return None if entry is None else entry.agreement

    def __len__(self) -> int:
        return len(self._by_id)

    def __iter__(self) -> Iterator[Agreement]:
        return (entry.agreement for entry in self._by_id.values())

    def member(self, agency: AgencyId) -> Member | None:
        """What the catalogue knows of an agency."""
        return self.catalog.members.get(agency)

    def candidates(
        self, sender: AgencyId, recipient: AgencyId, agreement_id: AgreementId | None = None
    ) -> tuple[Compiled, ...]:
        """Agreements covering both agencies (or just the named one, if it does), by id."""
        if agreement_id is not None:
            entry = self._by_id.get(agreement_id)
            if entry is None or sender not in entry.parties_of or recipient not in entry.parties_of:
                return ()
            return (entry,)
        mine = self._by_agency.get(sender)
        theirs = self._by_agency.get(recipient)
        if not mine or not theirs:
            return ()
        return tuple(self._by_id[i] for i in sorted(mine & theirs))

    def remember(self, key: tuple[Any, ...], entry: Any) -> None:
        """Keep a decision outcome, clearing the memo when it is full."""
        if len(self.memo) >= self.memo_limit:
            self.memo.clear()
        self.memo[key] = entry
