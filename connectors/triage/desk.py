"""The desk: referrals and alerts into the workbench store, decisions out under the agreements.

Orchestration over the pure parts (``decision``, ``referral``, ``public``): a ``TriageDesk``
stores every MasterReferral and Alert the connector receives and every public referral the
intake reader opens (and, through ``connectors.triage.transfers``, every case-transfer message
and every message of a contract nothing else handles), submits this agency's own referrals to
the triage desk, records triage decisions and sends the one onward message each implies, and reports a public referral's
progress to the hub (status only). It logs ids and codes, never a body.

With the connector's transactional outbox (``outbox``, in the workbench's own database: the
running connector's), a decision seals its onward message first (nothing is kept when sealing
is refused: no agreement...), then records the decision and enqueues the sealed envelopes in
ONE transaction (``WorkbenchStore.decide``); the relay publishes after the commit. A crash or
error before the commit leaves neither the decision nor the message; after it, both.

Without an outbox (tests, tools), a decision claims the item first (``WorkbenchStore.claim``,
a conditional UPDATE), then sends, then records; a failed send gives the claim back. Either
way two officers deciding at once (or a double-click) send one onward message; the other gets
``triage.already_decided``. Store calls from async methods run in a worker thread, off the
connector's event loop.

A public referral that cannot be opened (an intake key the desk no longer holds, a corrupt
record, a form that does not validate) becomes an ``unreadable`` inbox item naming its
reference and the reason code, so nothing is lost silently.

Every opening of an item (``opened``) and every decision attempt (``decide``, ``decide_entered``)
appends a line to the workbench's audit trail (``connectors.workbench.audit``) naming who, the
item and the outcome, before anything is returned: the workbench pages and the REST API both
come through here, so each is recorded once.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from connectors.sdk.connector import ReceivedMessage, Sealed
from connectors.sdk.hubauth import HubCaller
from connectors.sdk.policy import SharingDenied, SharingPolicy
from connectors.triage.decision import (
    NO_AGREEMENT,
    AgencyInfo,
    DecisionKind,
    MaySend,
    Onward,
    Progress,
    TriageDecision,
    TriageInvalid,
    TriagePlan,
    plan,
    triage_desks,
)
from connectors.triage.public import public_to_master
from connectors.triage.referral import (
    REFERRAL,
    REFERRAL_VERSION,
    SAFEGUARDING_REFERRAL,
    missing_required,
    parse_referral,
    referral_schema,
    to_json,
)
from connectors.triage.transfers import Names, completed_item, handover_item, offer_item, unrouted_item
from connectors.workbench.audit import DECIDE, ITEM_VIEWED, SEND_FAILED, AuditTrail, Outcome
from connectors.workbench.store import Decided, Item, NewItem, WorkbenchStore, now_ms
from consent.contract import TaggedContract
from onedoor.envelope.header import Header
from onedoor.envelope.intake_form import PublicReferralForm
from onedoor.errors import Conflict, Forbidden, NotFound, OneDoorError, ValidationFailed
from onedoor.ids import AgencyId, Purpose, SubjectToken
from onedoor.logging import get_logger

log = get_logger(__name__)

NO_TRIAGE_DESK: Final = "referral.no_triage_desk"
NOT_A_REFERRAL: Final = "triage.not_a_referral"
REFERRAL_INCOMPLETE: Final = "triage.referral_incomplete"
UNREADABLE: Final = "unreadable"
"""The kind (and status) of an inbox item for a public referral the desk could not open."""


class Sender(Protocol):
    """What the desk sends with (``connectors.sdk.Connector``)."""

    async def send(self, **message: Any) -> list[Header]:
        """Seal and publish; the headers sent."""
        ...


class Sealer(Protocol):
    """Seals without sending (``connectors.sdk.Connector.seal``): the durable path's first step."""

    def seal(self, **message: Any) -> list[Sealed]:
        """Encode, project, encrypt and sign; raises ``SharingDenied`` when no agreement permits it."""
        ...


class SessionOutbox(Protocol):
    """The connector's transactional outbox (``connectors.outbox.Outbox``)."""

    def enqueue(self, session: Session, sealed: Sequence[Sealed], idempotency_key: str | None = None) -> object:
        """Enqueue inside the caller's transaction; published once it commits."""
        ...

    def same_database(self, engine: Engine) -> bool:
        """Whether ``engine`` reaches the outbox's database."""
        ...


def transactional_outbox(sender: object, store: WorkbenchStore) -> SessionOutbox | None:
    """The sender's outbox when a decision can share a transaction with it (the same database), else ``None``."""
    outbox = getattr(sender, "outbox", None)
    if outbox is None or not callable(getattr(outbox, "enqueue", None)) or not hasattr(sender, "seal"):
        return None
    same = getattr(outbox, "same_database", None)
    if not callable(same) or not same(store.engine):
        log.warning("triage.outbox_not_shared")
        return None
    found: SessionOutbox = outbox
    return found


class ProgressReporter(Protocol):
    """Tells the hub how a public referral is going (``POST /intake/referrals/{reference}/progress``)."""

    async def report(self, reference: str, progress: Progress) -> None:
        """Report ``progress``; raises a OneDoorError when the hub refuses or cannot be reached."""
        ...


@dataclass(frozen=True, slots=True)
class HubProgress:
    """A ``ProgressReporter`` over the hub's intake API, authenticated as this agency."""

    hub: HubCaller

    async def report(self, reference: str, progress: Progress) -> None:
        """``POST /intake/referrals/{reference}/progress``."""
        await self.hub.call("POST", f"/intake/referrals/{reference}/progress", json={"status": progress.value})


def policy_permits(policy: SharingPolicy, me: AgencyId) -> MaySend:
    """``may_send`` for ``plan``: whether an agreement in force lets ``me`` send a referral for a purpose."""
    tagged = TaggedContract.from_schema(referral_schema(), REFERRAL_VERSION)

    def may_send(recipient: AgencyId, purpose: Purpose) -> bool:
        at = now_ms()
        return policy.decide(sender=me, recipient=recipient, contract=tagged, purpose=purpose, at_ms=at).permitted

    return may_send


def referral_title(body: Mapping[str, Any]) -> str:
    """How the inbox names a referral: the child's name, else a name they are known by."""
    child = body.get("child") or {}
    name = " ".join(str(child.get(k) or "").strip() for k in ("given_name", "family_name")).strip()
    known = [str(k) for k in child.get("known_as") or [] if str(k).strip()]
    if name:
        return name
    return f"Known as {known[0]}" if known else "Name withheld"


def _public_item(form: PublicReferralForm, reference: str, received_at: dt.datetime) -> NewItem:
    body = to_json(public_to_master(form, reference=reference, received_at=received_at))
    return NewItem(
        dedupe_key=f"public:{reference}",
        kind="referral",
        source="public",
        sender="public",
        title=referral_title(body),
        body=body,
        received_at_ms=int(received_at.timestamp() * 1000),
        reference=reference,
        urgency=form.urgency,
    )


class TriageDesk:
    """Receives into the store, submits, decides, reports progress."""

    def __init__(
        self,
        *,
        me: AgencyId,
        store: WorkbenchStore,
        sender: Sender,
        agencies: Mapping[AgencyId, AgencyInfo],
        may_send: MaySend,
        progress: ProgressReporter | None = None,
        outbox: SessionOutbox | None = None,
    ) -> None:
        self.me = me
        self.store = store
        self._sender = sender
        if outbox is not None and not outbox.same_database(store.engine):
            raise ValueError("the outbox must be in the workbench's database to share its transactions")
        self.outbox = outbox if outbox is not None else transactional_outbox(sender, store)
        """Decisions and their onward messages commit together through it; ``None``: claim, send, record."""
        self.agencies = agencies
        self.may_send = may_send
        self._progress = progress
        self.audit = AuditTrail(store)
        """The workbench's audit trail (in ``store``)."""

    @property
    def is_triage(self) -> bool:
        """Whether this agency holds the triage role (kind ``triage`` in the directory)."""
        info = self.agencies.get(self.me)
        return info is not None and info.kind == "triage"

    def agency_name(self, agency: str) -> str:
        """An agency's display name (its id when unknown)."""
        info = self.agencies.get(agency)  # type: ignore[call-overload]
        return info.name if info is not None else agency

    # Receiving

    async def on_referral(self, message: ReceivedMessage) -> None:
        """A MasterReferral from another agency: into the inbox (once, however often delivered)."""
        header = message.header
        body = to_json(message.body)
        item, new = await asyncio.to_thread(
            self.store.add_item,
            NewItem(
                dedupe_key=f"message:{header.message_id}",
                kind="referral",
                source="professional",
                sender=str(header.sender),
                title=referral_title(body),
                body=body,
                received_at_ms=now_ms(),
                message_id=str(header.message_id),
                subject_token=None if header.subject_token is None else str(header.subject_token),
                urgency=body.get("urgency"),
            ),
        )
        if new:
            log.info("triage.referral_received", item_id=item.item_id, message_id=header.message_id)

    async def on_alert(self, message: ReceivedMessage) -> None:
        """An Alert about a child: into the inbox and the child's timeline."""
        header = message.header
        body = to_json(message.body)
        token = body.get("subject_token") or header.subject_token
        occurred = message.body.get("occurred_at")
        item, new = await asyncio.to_thread(
            self.store.add_item,
            NewItem(
                dedupe_key=f"message:{header.message_id}",
                kind="alert",
                source="professional",
                sender=str(header.sender),
                title=str(body.get("kind") or "OTHER").replace("_", " ").capitalize(),
                body=body,
                received_at_ms=now_ms(),
                message_id=str(header.message_id),
                subject_token=None if token is None else str(token),
                urgency=body.get("risk_level"),
                occurred_at_ms=int(occurred.timestamp() * 1000) if isinstance(occurred, dt.datetime) else None,
            ),
        )
        if new:
            log.info("triage.alert_received", item_id=item.item_id, message_id=header.message_id)

    async def on_transfer_offer(self, message: ReceivedMessage) -> None:
        """A ``TransferOffer`` to this agency as a candidate: a ``transfer-offer`` inbox item."""
        await self._receive(message, offer_item, "triage.transfer_offer_received")

    async def on_handover(self, message: ReceivedMessage) -> None:
        """A ``HandoverPack`` for a case this agency accepted: a ``handover`` inbox item."""
        await self._receive(message, handover_item, "triage.handover_received")

    async def on_transfer_completed(self, message: ReceivedMessage) -> None:
        """A ``TransferCompleted``: a ``transfer-done`` inbox item."""
        await self._receive(message, completed_item, "triage.transfer_completed_received")

    async def on_unrouted(self, message: ReceivedMessage) -> None:
        """A message of a contract nothing here handles: an ``unrouted`` item (contract and sender, no body).

        The ``Dispatcher``'s fallback, so nothing the connector receives is dropped silently.
        """
        header = message.header
        item = await self._receive(message, unrouted_item, None)
        if item is not None:
            log.warning(
                "connector.unrouted",
                item_id=item.item_id,
                message_id=header.message_id,
                contract=header.contract,
                sender=header.sender,
            )

    async def _receive(
        self, message: ReceivedMessage, build: Callable[[ReceivedMessage, Names], NewItem], event: str | None
    ) -> Item | None:
        # Stored before the handler returns, so the connector commits the message only once it is kept.
        item, new = await asyncio.to_thread(self.store.add_item, build(message, self.agency_name))
        if not new:
            return None
        if event is not None:
            log.info(event, item_id=item.item_id, message_id=message.header.message_id)
        return item

    def receive_public(self, form: PublicReferralForm, *, reference: str, received_at: dt.datetime) -> Item:
        """A public referral opened by the intake reader: into the inbox (once per reference)."""
        item, new = self.store.add_item(_public_item(form, reference, received_at))
        if new:
            log.info("triage.public_referral_received", item_id=item.item_id, reference=reference)
        return item

    def reopen_public(
        self, item_id: str, form: PublicReferralForm, *, reference: str, received_at: dt.datetime
    ) -> bool:
        """An ``unreadable`` item that opened after all (its key was found): now the referral; ``True`` if so."""
        done = self.store.replace_unreadable(item_id, _public_item(form, reference, received_at))
        if done:
            log.info("triage.public_referral_reopened", item_id=item_id, reference=reference)
        return done

    def receive_unreadable(
        self,
        *,
        reason: str,
        received_at: dt.datetime,
        reference: str | None = None,
        record: str | None = None,
        sealed: str | None = None,
    ) -> Item:
        """A public referral the intake reader could not open: an ``unreadable`` inbox item (no content).

        Args:
            reason: the error code (``intake.key_unknown``, ``intake.undecryptable``, ``intake.form_invalid``...).
            received_at: when the hub received it (or when it was read, if the record gave no time).
            reference: the referral's reference, when the record could be decoded that far.
            record: where the record is (``topic:partition:offset``) when it has no reference.
            sealed: the sealed form, still encrypted, kept so it can be opened once its key is found.
        """
        key = f"public:{reference}" if reference else f"intake-record:{record}"
        name = reference or "with no reference"
        item, new = self.store.add_item(
            NewItem(
                dedupe_key=key,
                kind=UNREADABLE,
                source="public",
                sender="public",
                title=f"Unreadable referral {name}",
                body={
                    "reason": reason,
                    "reference": reference,
                    "record": None if reference else record,
                    "sealed": sealed,
                },
                received_at_ms=int(received_at.timestamp() * 1000),
                reference=reference,
                status=UNREADABLE,
            )
        )
        if new:
            log.warning("triage.public_referral_unreadable", item_id=item.item_id, reference=reference, code=reason)
        return item

    # Sending

    async def submit(self, document: object, *, subject_token: SubjectToken | None = None) -> Header:
        """Send this agency's referral to the triage desk its agreements allow.

        Raises:
            ValidationFailed: ``referral.invalid`` or ``referral.no_identifier``.
            Forbidden: ``referral.no_triage_desk`` when no agreement lets this agency refer to a triage desk.
        """
        body = parse_referral(document)
        desks = [d for d in triage_desks(self.agencies, self.me) if self.may_send(d, SAFEGUARDING_REFERRAL)]
        if not desks:
            raise Forbidden(NO_TRIAGE_DESK, "no agreement in force lets this agency send referrals to a triage desk")
        [header, *_] = await self._sender.send(
            contract=REFERRAL,
            version=REFERRAL_VERSION,
            recipients=[desks[0]],
            purpose=SAFEGUARDING_REFERRAL,
            body=body,
            subject_token=subject_token,
        )
        log.info("triage.referral_submitted", message_id=header.message_id, recipient=desks[0])
        return header

    async def opened(self, item_id: str, *, by: str, address_fp: str | None = None) -> Item:
        """The item was opened by ``by`` (audited); the first opening of a public referral is progress.

        Raises:
            NotFound: ``workbench.item_not_found`` (audited as refused).
        """
        try:
            item = await asyncio.to_thread(self.store.item, item_id)
        except NotFound as exc:
            await self.audit.record(
                ITEM_VIEWED, Outcome.REFUSED, actor=by, item_id=item_id, reason_code=exc.code, address_fp=address_fp
            )
            raise
        await self.audit.record(
            ITEM_VIEWED,
            Outcome.PERMIT,
            actor=by,
            item_id=item.item_id,
            subject_token=item.subject_token,
            address_fp=address_fp,
        )
        first = await asyncio.to_thread(self.store.mark_viewed, item_id, now_ms())
        if first and item.kind == "referral" and item.reference and item.decided_at_ms is None:
            await self._report(item.reference, Progress.BEING_HANDLED)
        return await asyncio.to_thread(self.store.item, item_id)

    def plan(self, item: Item, decision: TriageDecision) -> TriagePlan:
        """Check a decision about ``item`` without recording it (``TriageInvalid`` for a bad one)."""
        if item.kind != "referral":
            raise ValidationFailed(NOT_A_REFERRAL, "only referrals are triaged")
        if item.decided_at_ms is not None:
            raise Conflict("triage.already_decided", "this referral has already been triaged")
        if decision.kind is DecisionKind.NO_FURTHER_ACTION:
            return plan(decision, item.body, me=self.me, agencies=self.agencies, may_send=self.may_send)
        missing = missing_required(item.body)
        if missing:
            # Received under a limited agreement: the desk does not hold what the contract requires,
            # and filling it in would invent facts about a child. Nothing is sent.
            raise TriageInvalid(
                REFERRAL_INCOMPLETE,
                "This referral cannot be sent on: it arrived without fields the referral contract requires ("
                + ", ".join(missing)
                + "). Ask the referring agency for the full referral, or record no further action.",
                "decision",
            )
        body = parse_referral(item.body)
        return plan(decision, body, me=self.me, agencies=self.agencies, may_send=self.may_send)

    async def decide_entered(
        self,
        item_id: str,
        kind: str | None,
        service: str | None,
        reason: str | None,
        *,
        by: str,
        actor: str | None = None,
        address_fp: str | None = None,
    ) -> Item:
        """``decide`` from form or JSON input (``TriageDecision.parse``); an invalid one is audited as refused.

        Raises:
            TriageInvalid: ``triage.kind_required``, ``triage.reason_required``... and as ``decide``.
        """
        try:
            decision = TriageDecision.parse(kind, service, reason)
        except TriageInvalid as exc:
            await self.audit.record(
                DECIDE, Outcome.REFUSED, actor=actor or by, item_id=item_id, reason_code=exc.code, address_fp=address_fp
            )
            raise
        return await self.decide(item_id, decision, by=by, actor=actor, address_fp=address_fp)

    async def decide(
        self,
        item_id: str,
        decision: TriageDecision,
        *,
        by: str,
        actor: str | None = None,
        address_fp: str | None = None,
    ) -> Item:
        """Claim the item, send the decision's onward message, record it; a failed send releases the claim.

        The attempt is audited (``triage.decide``: ``ok``, or ``refused`` with the error's code) as
        ``actor`` (``by`` unless given: the REST API records ``api`` whoever it says decided).

        Raises:
            TriageInvalid: ``triage.*`` (``triage.no_agreement`` names the service,
                ``triage.referral_incomplete`` the missing fields; nothing sent).
            Conflict: ``triage.already_decided`` (also when another decision about it is being sent now).
            NotFound: ``workbench.item_not_found``.
        """
        who = actor or by
        try:
            decided, progress = await self._decide(item_id, decision, by=by)
        except OneDoorError as exc:
            await self.audit.record(
                DECIDE, Outcome.REFUSED, actor=who, item_id=item_id, reason_code=exc.code, address_fp=address_fp
            )
            raise
        except Exception:
            await self.audit.record(
                DECIDE, Outcome.REFUSED, actor=who, item_id=item_id, reason_code=SEND_FAILED, address_fp=address_fp
            )
            raise
        await self.audit.record(
            DECIDE,
            Outcome.OK,
            actor=who,
            item_id=item_id,
            subject_token=decided.subject_token,
            address_fp=address_fp,
        )
        if decided.reference:
            await self._report(decided.reference, progress)
        return decided

    async def _decide(self, item_id: str, decision: TriageDecision, *, by: str) -> tuple[Item, Progress]:
        item = await asyncio.to_thread(self.store.item, item_id)
        chosen = self.plan(item, decision)
        if self.outbox is not None:
            return await self._decide_durably(item, chosen, decision, by=by)
        claimed_at = now_ms()
        await asyncio.to_thread(self.store.claim, item_id, by, claimed_at)
        try:
            onward_id = await self._send_onward(item, chosen)
        except Exception:
            # Not sent: give the claim back so the referral can be decided again. (A cancelled
            # task keeps its claim: whether the message went is then unknown, see the README.)
            await asyncio.shield(asyncio.to_thread(self.store.release, item_id, claimed_at))
            raise
        decided = await asyncio.to_thread(
            self.store.record_decision,
            item_id,
            Decided(
                kind=decision.kind.value,
                target=None if chosen.onward is None else str(chosen.onward.recipient),
                reason=decision.reason,
                by=by,
                onward_message_id=onward_id,
                at_ms=claimed_at,
            ),
        )
        log.info(
            "triage.decided",
            item_id=item_id,
            decision=decision.kind.value,
            recipient=decided.decision_target,
            onward_message_id=onward_id,
            time_to_triage_ms=decided.time_to_triage_ms,
        )
        return decided, chosen.progress

    async def _decide_durably(
        self, item: Item, chosen: TriagePlan, decision: TriageDecision, *, by: str
    ) -> tuple[Item, Progress]:
        outbox = self.outbox
        assert outbox is not None  # noqa: S101 - only called with one
        sealed = self._seal_onward(item, chosen)  # refused here: nothing recorded, nothing kept
        onward_id = str(sealed[0].header.message_id) if sealed else None

        def enqueue(session: Session) -> None:
            if sealed:
                outbox.enqueue(session, sealed)

        # One transaction: the decision and its onward message commit together (a thread runs it to
        # the end even if this task is cancelled, so the outcome is one or the other, never half).
        decided = await asyncio.to_thread(
            self.store.decide,
            item.item_id,
            Decided(
                kind=decision.kind.value,
                target=None if chosen.onward is None else str(chosen.onward.recipient),
                reason=decision.reason,
                by=by,
                onward_message_id=onward_id,
                at_ms=now_ms(),
            ),
            also=enqueue,
        )
        log.info(
            "triage.decided",
            item_id=item.item_id,
            decision=decision.kind.value,
            recipient=decided.decision_target,
            onward_message_id=onward_id,
            time_to_triage_ms=decided.time_to_triage_ms,
        )
        return decided, chosen.progress

    def _seal_onward(self, item: Item, chosen: TriagePlan) -> list[Sealed]:
        if chosen.onward is None:
            return []
        sealer: Sealer = self._sender  # type: ignore[assignment]  # checked by transactional_outbox / the caller
        try:
            return sealer.seal(**_onward_message(item, chosen.onward))
        except SharingDenied as exc:
            raise self._no_agreement(chosen.onward, exc) from None

    async def _send_onward(self, item: Item, chosen: TriagePlan) -> str | None:
        if chosen.onward is None:
            return None
        try:
            headers = await self._sender.send(**_onward_message(item, chosen.onward))
        except SharingDenied as exc:
            raise self._no_agreement(chosen.onward, exc) from None
        return str(headers[0].message_id)

    def _no_agreement(self, onward: Onward, exc: SharingDenied) -> TriageInvalid:
        name = self.agency_name(onward.recipient)
        return TriageInvalid(
            NO_AGREEMENT, f"No agreement lets this desk send this referral to {name}: {exc.message}", "service"
        )

    async def _report(self, reference: str, progress: Progress) -> None:
        # Best effort: the decision stands whether or not the hub heard about it now.
        if self._progress is None:
            return
        try:
            await self._progress.report(reference, progress)
        except OneDoorError as exc:
            log.warning("triage.progress_failed", reference=reference, progress=progress.value, code=exc.code)


def _onward_message(item: Item, onward: Onward) -> dict[str, Any]:
    """The onward referral's ``seal``/``send`` arguments."""
    return {
        "contract": onward.contract,
        "version": REFERRAL_VERSION,
        "recipients": [onward.recipient],
        "purpose": onward.purpose,
        "body": onward.body,
        "subject_token": None if item.subject_token is None else SubjectToken(item.subject_token),
    }
