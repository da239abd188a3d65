"""The sharing policy as a connector holds it: the hub's agreements, compiled for local decisions.

Fetched from the hub's ``GET /policy`` and turned into engine objects by the same function the
hub's document comes from (``hub.policy.document.index_from_document``), so the sending
connector projects, and the receiving connector checks, exactly as the hub decides. The hub
alone knows consent records: it enforces consent; connectors pass what they know.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import httpx
from pydantic import ValidationError

from consent.actions import action_for
from consent.catalog import Catalog
from consent.contract import TaggedContract
from consent.decide import Decision, DecisionRequest, decide
from consent.index import AgreementIndex
from consent.model import Action
from consent.subject import ConsentState
from hub.policy.document import index_from_document
from hub.policy.schemas import PolicyDocument
from onedoor.errors import Category, OneDoorError, Unavailable, ValidationFailed
from onedoor.ids import AgencyId, AgreementId, ContractName, Purpose

SHARING_DENIED: Final = "sharing.denied"


class SharingDenied(OneDoorError):
    """The policy permits nothing to one or more recipients; nothing was sealed or sent.

    The message lists each denied recipient with the engine's reason sentences (agreement ids
    and data classes, never a value from the body).
    """

    category = Category.BUSINESS
    http_status = 403

    def __init__(
        self, denied: Mapping[AgencyId, Decision], *, contract: ContractName, version: int, purpose: Purpose
    ) -> None:
        lines = "; ".join(f"{r}: {_sentences(d)}" for r, d in denied.items())
        super().__init__(SHARING_DENIED, f"may not send {contract} v{version} for {purpose} to {lines}")
        self.denied = dict(denied)
        """The decision for each denied recipient."""


@dataclass(frozen=True, slots=True)
class _Compiled:
    version: str
    index: AgreementIndex
    catalog: Catalog


class SharingPolicy:
    """Agreements and the catalogue they refer to, ready to ``decide``. Build with ``from_document``
    or ``fetch_policy``; ``refresh`` swaps in a newer document when the hub has one."""

    __slots__ = ("_compiled",)

    def __init__(self, document: PolicyDocument, *, serial: int = 0) -> None:
        self._compiled = _compile(document, serial)

    @classmethod
    def from_document(cls, document: PolicyDocument | Mapping[str, Any]) -> SharingPolicy:
        """Build from the hub's ``GET /policy`` JSON (or its parsed model).

        Raises:
            ValidationFailed: the document or an agreement in it does not validate.
        """
        return cls(_parse(document))

    @property
    def version(self) -> str:
        """The document version this policy was built from (the hub's ``ETag``)."""
        return self._compiled.version

    @property
    def index(self) -> AgreementIndex:
        """The compiled agreements (``index.rejected``: agreements left out, with why)."""
        return self._compiled.index

    @property
    def catalog(self) -> Catalog:
        """Agencies, groups and contract versions as the hub registered them."""
        return self._compiled.catalog

    def decide(
        self,
        *,
        sender: AgencyId,
        recipient: AgencyId,
        contract: TaggedContract,
        purpose: Purpose,
        at_ms: int,
        consent: ConsentState | None = None,
        agreement: AgreementId | None = None,
        action: Action | None = None,
    ) -> Decision:
        """Decide one flow with ``consent.decide``.

        Args:
            sender: the sending agency.
            recipient: the receiving agency.
            contract: the contract version the body is written with.
            purpose: the purpose the sender relies on.
            at_ms: when (ms since the epoch): sealing time, or the header's ``created_at``.
            consent: the subject's consent state as far as the caller knows it; ``None`` for a
                message about no identifiable young person.
            agreement: restrict the decision to this agreement (the header's).
            action: what the flow is; by default the contract's (``consent.actions``: a status
                check's answer is a ``query``), as the hub decides it.

        Returns:
            The engine's decision: permit or deny, allowed fields, the agreement relied on, reasons.
        """
        request = DecisionRequest(
            sender,
            recipient,
            contract,
            purpose,
            at_ms,
            consent,
            action=action or action_for(contract.name),
            agreement_id=agreement,
        )
        return decide(request, self._compiled.index)

    def update(self, document: PolicyDocument | Mapping[str, Any]) -> bool:
        """Swap in ``document`` if its version differs; returns whether it did.

        Raises:
            ValidationFailed: the document does not validate (the current policy is kept).
        """
        parsed = _parse(document)
        if parsed.version == self._compiled.version:
            return False
        self._compiled = _compile(parsed, self._compiled.index.version + 1)
        return True

    async def refresh(self, hub_url: str, *, client: httpx.AsyncClient | None = None) -> bool:
        """Fetch the hub's policy again (``If-None-Match``: cheap when unchanged); returns whether it changed.

        Raises:
            Unavailable: ``hub.unreachable`` when the hub does not answer (the current policy is kept).
        """
        found = await _fetch(hub_url, client, etag=self.version)
        return found is not None and self.update(found)

    def refresher(self, hub_url: str, *, client: httpx.AsyncClient | None = None) -> Callable[[], Awaitable[bool]]:
        """``refresh`` bound to one hub, for ``Connector(policy_refresh=...)``."""

        async def refresh() -> bool:
            return await self.refresh(hub_url, client=client)

        return refresh


async def fetch_policy(hub_url: str, *, client: httpx.AsyncClient | None = None) -> SharingPolicy:
    """Fetch the sharing policy from a hub.

    Raises:
        Unavailable: ``hub.unreachable`` when the hub does not answer.
        ValidationFailed: the document does not validate.
    """
    found = await _fetch(hub_url, client, etag=None)
    assert found is not None  # noqa: S101 - without an ETag the hub never answers 304
    return SharingPolicy(found)


async def _fetch(hub_url: str, client: httpx.AsyncClient | None, *, etag: str | None) -> PolicyDocument | None:
    own = client is None
    http = client or httpx.AsyncClient(base_url=hub_url, timeout=10.0)
    try:
        headers = {} if etag is None else {"If-None-Match": f'"{etag}"'}
        response = await http.get("/policy", headers=headers)
        if response.status_code == httpx.codes.NOT_MODIFIED:
            return None
        response.raise_for_status()
        return _parse(response.json())
    except httpx.HTTPError as exc:
        raise Unavailable("hub.unreachable", f"cannot fetch the sharing policy from {hub_url}: {exc}") from None
    finally:
        if own:
            await http.aclose()


def _parse(document: PolicyDocument | Mapping[str, Any]) -> PolicyDocument:
    if isinstance(document, PolicyDocument):
        return document
    try:
        return PolicyDocument.model_validate(document)
    except ValidationError as exc:
        where = ", ".join(".".join(str(p) for p in e["loc"]) for e in exc.errors()[:5])
        raise ValidationFailed("policy.invalid", f"not a policy document: {where}") from None


def _compile(document: PolicyDocument, serial: int) -> _Compiled:
    index, catalog = index_from_document(document, version=serial)
    return _Compiled(document.version, index, catalog)


def _sentences(decision: Decision) -> str:
    return " ".join(reason.sentence for reason in decision.reasons)
