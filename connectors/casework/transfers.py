"""Case transfer between areas, connector side: offer, accept, hand over.

1. The lead agency's connector records the offer at the hub (``POST /transfers``) and sends each
   candidate a minimal ``TransferOffer``: transfer id, age band, area, urgency, need codes, the
   lead professional's role. No name, no date of birth, no address, no subject token: a body
   with any field the offer contract does not have is refused before anything is sent. The
   full picture waits in the offering connector's ``CaseFiles`` until someone accepts.
2. A candidate's connector accepts at the hub (the first acceptance wins; the hub moves the
   network: the acceptor leads, the offering agency's membership closes) and sends the previous
   lead ``TransferAccepted``.
3. The offering connector's ``HandoverDesk``, on ``TransferAccepted``, checks at the hub that
   exactly the sender accepted this agency's offer, then sends it the ``HandoverPack`` (the case
   file plus the network as it was) and tells the previous network and the other candidates
   with ``TransferCompleted`` (candidates without the subject token).

Every message goes through ``fan_out`` (``Connector.seal`` with ``skipped``, then
``publish_all``), so agreements are enforced at the sender, the router and the recipient;
recipients the sender's policy denies are left out and reported, not refused wholesale.

Nothing is lost quietly: the desk re-raises a retriable failure (the hub unreachable, the broker
down), so the ``TransferAccepted`` is not committed and is handled again; a permanent refusal of
this agency's own transfer is written next to its pack (``CaseFiles.note``), where
``onedoor transfer status TRANSFER_ID`` shows it, and logged with its code and the transfer id.
Accepting is idempotent at the hub for the acceptor, so ``accept_transfer`` run again after a
failed send answers as before and sends ``TransferAccepted`` again.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Protocol

from connectors.casework.fanout import Skipped, fan_out
from connectors.casework.network import Acceptance, NetworkClient, TransferRecord
from connectors.sdk.connector import Connector, ReceivedMessage
from connectors.sdk.hubauth import HubCaller
from contracts.catalog import bundled_contract
from onedoor.envelope.header import Header
from onedoor.envelope.keys import create_private_file
from onedoor.errors import OneDoorError, ValidationFailed
from onedoor.ids import AgencyId, ContractName, CorrelationId, Purpose, SubjectToken, TransferId
from onedoor.logging import get_logger

log = get_logger(__name__)

TRANSFER_OFFER: Final = ContractName("onedoor.transfer.TransferOffer")
TRANSFER_ACCEPTED: Final = ContractName("onedoor.transfer.TransferAccepted")
HANDOVER_PACK: Final = ContractName("onedoor.transfer.HandoverPack")
TRANSFER_COMPLETED: Final = ContractName("onedoor.transfer.TransferCompleted")
TRANSFER_PURPOSE: Final = Purpose("case-coordination")
"""The catalogue's purpose for keeping the network working with a young person up to date (``consent.purposes``)."""
OFFER_FIELD_NOT_ALLOWED: Final = "transfer.offer_field_not_allowed"
HANDOVER_MISSING: Final = "transfer.handover_missing"
NOT_ACCEPTED_BY_SENDER: Final = "transfer.not_accepted_by_sender"
HANDOVER_DIRECTORY: Final = "transfers"
HANDOVER_FIELDS: Final = frozenset({"child", "plan", "risks", "alert_history", "previous_lead_contact"})
"""What the offering agency supplies for the pack; the connector adds the ids, the time and the network."""


def _top_fields(contract: ContractName) -> frozenset[str]:
    return frozenset(f["name"] for f in bundled_contract(contract).parsed["fields"])


def _now_ms() -> int:
    return int(time.time() * 1000)


def check_offer(offer: Mapping[str, Any]) -> None:
    """Refuse an offer holding anything the minimal offer contract does not have (a name, a date of birth...).

    Raises:
        ValidationFailed: ``transfer.offer_field_not_allowed`` naming the fields (never their values).
    """
    extra = sorted(set(offer) - (_top_fields(TRANSFER_OFFER) - {"transfer_id", "offered_at"}))
    if extra:
        raise ValidationFailed(
            OFFER_FIELD_NOT_ALLOWED,
            f"a transfer offer carries only minimal information; not allowed: {', '.join(extra)}",
        )


def check_handover(pack: Mapping[str, Any]) -> None:
    """Refuse a handover pack with fields the connector sets itself or the contract does not have.

    Raises:
        ValidationFailed: ``transfer.handover_invalid`` naming the fields.
    """
    extra = sorted(set(pack) - HANDOVER_FIELDS)
    if extra or "child" not in pack or "plan" not in pack:
        why = f"not allowed: {', '.join(extra)}" if extra else "child and plan are required"
        raise ValidationFailed("transfer.handover_invalid", f"a handover pack holds {sorted(HANDOVER_FIELDS)}; {why}")


class CaseFiles(Protocol):
    """Where the offering connector keeps each offered case's handover pack until someone accepts."""

    def store(self, transfer_id: TransferId, subject_token: SubjectToken, pack: Mapping[str, Any]) -> None:
        """Keep the pack for ``transfer_id``."""

    def load(self, transfer_id: TransferId) -> tuple[SubjectToken, dict[str, Any]] | None:
        """The token and pack kept for ``transfer_id``, if any."""

    def discard(self, transfer_id: TransferId) -> None:
        """Forget the pack (it was handed over, or the offer withdrawn)."""

    def note(self, transfer_id: TransferId, outcome: Mapping[str, Any]) -> None:
        """Keep what the ``HandoverDesk`` last did about ``transfer_id`` (codes and ids, no case detail)."""

    def noted(self, transfer_id: TransferId) -> dict[str, Any] | None:
        """What the desk last did about ``transfer_id``, if anything."""


class MemoryCaseFiles:
    """``CaseFiles`` in memory: for one process that offers and hands over (tests, benchmarks)."""

    def __init__(self) -> None:
        self._packs: dict[str, tuple[SubjectToken, dict[str, Any]]] = {}
        self._notes: dict[str, dict[str, Any]] = {}

    def store(self, transfer_id: TransferId, subject_token: SubjectToken, pack: Mapping[str, Any]) -> None:
        """Keep the pack."""
        self._packs[str(transfer_id)] = (subject_token, dict(pack))

    def load(self, transfer_id: TransferId) -> tuple[SubjectToken, dict[str, Any]] | None:
        """The pack, if kept."""
        return self._packs.get(str(transfer_id))

    def discard(self, transfer_id: TransferId) -> None:
        """Forget it."""
        self._packs.pop(str(transfer_id), None)

    def note(self, transfer_id: TransferId, outcome: Mapping[str, Any]) -> None:
        """Keep the desk's outcome."""
        self._notes[str(transfer_id)] = dict(outcome)

    def noted(self, transfer_id: TransferId) -> dict[str, Any] | None:
        """The desk's last outcome, if any."""
        return self._notes.get(str(transfer_id))


def handover_directory(data_directory: Path) -> Path:
    """Where handover packs wait on a connector host: ``transfers/`` in the connector's data directory.

    The one place both ``onedoor transfer offer|status`` and the running connector's ``HandoverDesk``
    look, so a pack the command leaves is the pack the desk finds.
    """
    return data_directory / HANDOVER_DIRECTORY


class DirectoryCaseFiles:
    """``CaseFiles`` as one JSON file per transfer (mode 0600) in a directory of the agency's connector host.

    ``onedoor transfer offer`` writes here; the running connector's ``HandoverDesk`` reads and
    deletes, and writes what it did in ``TRANSFER_ID.status.json`` (``onedoor transfer status``
    reads it). Plaintext stays on the agency's own side, as everywhere in a connector.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _path(self, transfer_id: TransferId) -> Path:
        return self.directory / f"{TransferId(str(transfer_id))}.json"

    def store(self, transfer_id: TransferId, subject_token: SubjectToken, pack: Mapping[str, Any]) -> None:
        """Write the pack (never overwriting one)."""
        data = json.dumps({"subject_token": str(subject_token), "pack": dict(pack)}).encode()
        create_private_file(self._path(transfer_id), data)

    def load(self, transfer_id: TransferId) -> tuple[SubjectToken, dict[str, Any]] | None:
        """The pack, if its file exists."""
        try:
            found = json.loads(self._path(transfer_id).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        return SubjectToken(found["subject_token"]), dict(found["pack"])

    def discard(self, transfer_id: TransferId) -> None:
        """Delete the file."""
        self._path(transfer_id).unlink(missing_ok=True)

    def _status_path(self, transfer_id: TransferId) -> Path:
        return self.directory / f"{TransferId(str(transfer_id))}.status.json"

    def note(self, transfer_id: TransferId, outcome: Mapping[str, Any]) -> None:
        """Replace the status file (mode 0600; written aside, then renamed over the old one)."""
        path = self._status_path(transfer_id)
        scratch = path.with_name(f".{path.name}.{os.getpid()}.{time.monotonic_ns()}")
        create_private_file(scratch, json.dumps(dict(outcome), sort_keys=True).encode())
        scratch.replace(path)

    def noted(self, transfer_id: TransferId) -> dict[str, Any] | None:
        """The status file's outcome, if the desk wrote one."""
        try:
            found = json.loads(self._status_path(transfer_id).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        return dict(found) if isinstance(found, dict) else None


@dataclass(frozen=True, slots=True)
class OfferReport:
    """An offer recorded at the hub, and the candidates told (or skipped, and why)."""

    transfer: TransferRecord
    sent: Mapping[AgencyId, frozenset[str]]
    skipped: Mapping[AgencyId, Skipped]
    headers: list[Header]


async def offer_transfer(
    connector: Connector,
    hub: HubCaller,
    *,
    subject_token: SubjectToken,
    candidates: Sequence[AgencyId],
    offer: Mapping[str, Any],
    handover: Mapping[str, Any] | None = None,
    case_files: CaseFiles | None = None,
) -> OfferReport:
    """Offer the child's case to ``candidates``: record it at the hub, then send each a minimal ``TransferOffer``.

    Args:
        connector: the lead agency's started connector.
        hub: its authenticated hub client.
        subject_token: the child.
        candidates: agencies in the new area.
        offer: ``area``, ``lead_professional_role`` and optionally ``age_band``, ``urgency``,
            ``needs``, ``respond_by``; nothing else.
        handover: the pack to send whoever accepts (``child``, ``plan``, ``risks``,
            ``alert_history``, ``previous_lead_contact``); kept in ``case_files``.
        case_files: where the pack waits; required with ``handover``.

    Raises:
        ValidationFailed: ``transfer.offer_field_not_allowed``, ``transfer.handover_invalid``,
            or the hub's ``transfer.unknown_candidate`` / ``subject_token.invalid``.
        Forbidden: ``network.not_a_member`` or ``transfer.not_the_lead``.
        Conflict: ``transfer.already_offered``.
    """
    check_offer(offer)
    if handover is not None:
        check_handover(handover)
        if case_files is None:
            raise ValidationFailed(HANDOVER_MISSING, "a handover pack needs somewhere to wait: pass case_files")
    record = await NetworkClient(hub).offer(subject_token, candidates)
    if handover is not None and case_files is not None:
        case_files.store(record.transfer_id, subject_token, handover)
    body = {"needs": [], **offer, "transfer_id": str(record.transfer_id), "offered_at": _now_ms()}
    # No subject token, in the header or the body: a candidate learns who the child is only by accepting.
    report = await fan_out(
        connector,
        contract=TRANSFER_OFFER,
        version=1,
        recipients=record.candidates,
        purpose=TRANSFER_PURPOSE,
        body=body,
        correlation_id=CorrelationId(str(record.transfer_id)),
    )
    log.info(
        "transfer.offered", transfer_id=str(record.transfer_id), told=len(report.sent), skipped=len(report.skipped)
    )
    return OfferReport(record, report.sent, report.skipped, report.headers)


@dataclass(frozen=True, slots=True)
class AcceptReport:
    """An acceptance recorded at the hub, and whether the previous lead was told."""

    acceptance: Acceptance
    told_previous_lead: bool
    skipped: Mapping[AgencyId, Skipped]


async def accept_transfer(
    connector: Connector,
    hub: HubCaller,
    transfer_id: TransferId,
    *,
    accepting_team: str | None = None,
    contact: Mapping[str, Any] | None = None,
) -> AcceptReport:
    """Accept a transfer at the hub (this agency now leads the child's network) and ask for the handover pack.

    Safe to run again: the hub answers this agency's repeated acceptance as the first, and the
    ``TransferAccepted`` is sent again (the previous lead's desk hands over once per pack).

    Raises:
        Conflict: ``transfer.already_accepted`` (another candidate was first) or ``transfer.withdrawn``.
        Forbidden: ``transfer.not_a_candidate``.
        NotFound: ``transfer.not_found``.
    """
    acceptance = await NetworkClient(hub).accept(transfer_id)
    body = {
        "transfer_id": str(transfer_id),
        "accepted_at": _now_ms(),
        "accepting_team": accepting_team,
        "contact": dict(contact) if contact else None,
    }
    report = await fan_out(
        connector,
        contract=TRANSFER_ACCEPTED,
        version=1,
        recipients=[acceptance.previous_lead],
        purpose=TRANSFER_PURPOSE,
        body=body,
        subject_token=acceptance.transfer.subject_token,
        correlation_id=CorrelationId(str(transfer_id)),
    )
    told = acceptance.previous_lead in report.sent
    log.info("transfer.accepted", transfer_id=str(transfer_id), told_previous_lead=told)
    return AcceptReport(acceptance, told, report.skipped)


@dataclass(frozen=True, slots=True)
class Handover:
    """One handover done by the desk."""

    transfer_id: TransferId
    acceptor: AgencyId
    pack_fields: frozenset[str]
    told: Mapping[AgencyId, frozenset[str]]
    """The previous network and the other candidates told with ``TransferCompleted``."""
    skipped: Mapping[AgencyId, Skipped]


@dataclass(eq=False)
class HandoverDesk:
    """The offering connector's handler for ``TransferAccepted``: check at the hub, hand over, tell the rest.

    Route it with ``Dispatcher.route(TRANSFER_ACCEPTED, desk)``. A claim the hub does not back
    (not this agency's offer, not accepted, accepted by someone else) is refused and logged,
    and nothing is sent. A retriable failure (``OneDoorError.retriable``, e.g. ``hub.unreachable``,
    or the broker's error) is raised again, so the message is not committed and comes back; a
    permanent refusal of this agency's own transfer is also noted in ``case_files``.
    """

    connector: Connector
    hub: HubCaller
    case_files: CaseFiles
    done: list[Handover] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)
    """``(transfer_id, reason code)`` of each claim not acted on."""

    def _refuse(self, transfer_id: str, code: str, why: str, *, ours: bool) -> None:
        self.refused.append((transfer_id, code))
        log.warning("transfer.handover_refused", transfer_id=transfer_id, reason=code, noted=ours)
        if ours:
            outcome = {"transfer_id": transfer_id, "state": "refused", "code": code, "message": why, "at": _now_ms()}
            self.case_files.note(TransferId(transfer_id), outcome)

    async def __call__(self, message: ReceivedMessage) -> None:
        if message.header.contract != TRANSFER_ACCEPTED:
            return
        raw = str(message.body.get("transfer_id", ""))
        if not TransferId.pattern.fullmatch(raw):
            self._refuse(raw[:36], "transfer_id.invalid", "not a transfer id", ours=False)
            return
        transfer_id = TransferId(raw)
        try:
            record = await NetworkClient(self.hub).transfer(transfer_id)
        except OneDoorError as exc:
            if exc.retriable:
                log.warning("transfer.handover_retry", transfer_id=raw, reason=exc.code)
                raise
            self._refuse(raw, exc.code, exc.message, ours=self.case_files.load(transfer_id) is not None)
            return
        sender = message.header.sender
        ours = record.offered_by == self.connector.agency
        if not ours or record.status != "accepted" or record.accepted_by != sender:
            why = f"{sender} claimed this transfer, but the hub says it is {record.status} by {record.accepted_by}"
            self._refuse(raw, NOT_ACCEPTED_BY_SENDER, why, ours=ours)
            return
        stored = self.case_files.load(transfer_id)
        noted = self.case_files.noted(transfer_id) if stored is None else None
        if noted is not None and noted.get("state") == "handed_over" and noted.get("acceptor") == sender:
            # The acceptor accepted again (its first TransferAccepted may have looked lost): done already.
            log.info("transfer.already_handed_over", transfer_id=raw)
            return
        if stored is None:
            why = f"no handover pack waits for this transfer; send {sender} the case file another way"
            self._refuse(raw, HANDOVER_MISSING, why, ours=True)
            return
        try:
            await self._hand_over(record, sender, *stored)
        except OneDoorError as exc:
            if exc.retriable:
                log.warning("transfer.handover_retry", transfer_id=raw, reason=exc.code)
                raise
            self._refuse(raw, exc.code, exc.message, ours=True)

    async def _hand_over(
        self, record: TransferRecord, acceptor: AgencyId, subject_token: SubjectToken, pack: dict[str, Any]
    ) -> None:
        correlation = CorrelationId(str(record.transfer_id))
        network = [{"agency_id": str(m.agency), "role": m.role} for m in record.previous_network]
        body = {
            **pack,
            "transfer_id": str(record.transfer_id),
            "handed_over_at": _now_ms(),
            "subject_token": str(subject_token),
            "network": network,
        }
        sent = await fan_out(
            self.connector,
            contract=HANDOVER_PACK,
            version=1,
            recipients=[acceptor],
            purpose=TRANSFER_PURPOSE,
            body=body,
            subject_token=subject_token,
            correlation_id=correlation,
        )
        if acceptor not in sent.sent:
            denied = sent.skipped.get(acceptor)
            why = f"no agreement lets this agency send {acceptor} the handover pack" + (
                f": {denied.why} ({', '.join(denied.codes)})" if denied else ""
            )
            self._refuse(str(record.transfer_id), "sharing.denied", why, ours=True)
            return
        told, skipped = await self._tell_the_rest(record, acceptor, subject_token)
        self.case_files.discard(record.transfer_id)
        self.case_files.note(
            record.transfer_id,
            {
                "transfer_id": str(record.transfer_id),
                "state": "handed_over",
                "acceptor": str(acceptor),
                "told": sorted(map(str, told)),
                "skipped": {str(a): list(s.codes) for a, s in sorted(skipped.items())},
                "at": _now_ms(),
            },
        )
        self.done.append(Handover(record.transfer_id, acceptor, sent.sent[acceptor], told, skipped))
        log.info("transfer.handed_over", transfer_id=str(record.transfer_id), told=len(told), skipped=len(skipped))

    async def _tell_the_rest(
        self, record: TransferRecord, acceptor: AgencyId, subject_token: SubjectToken
    ) -> tuple[dict[AgencyId, frozenset[str]], dict[AgencyId, Skipped]]:
        me = self.connector.agency
        members = [m.agency for m in record.previous_network if m.agency not in (me, acceptor)]
        others = [c for c in record.candidates if c != acceptor and c not in members]
        common = {
            "transfer_id": str(record.transfer_id),
            "completed_at": _now_ms(),
            "previous_lead": str(me),
            "new_lead": str(acceptor),
        }
        told: dict[AgencyId, frozenset[str]] = {}
        skipped: dict[AgencyId, Skipped] = {}
        audiences: tuple[tuple[list[AgencyId], str, SubjectToken | None, list[str], list[AgencyId]], ...] = (
            (members, "NETWORK_MEMBER", subject_token, [str(m.agency) for m in record.previous_network], others),
            (others, "CANDIDATE", None, [], others),
        )
        for recipients, audience, token, network, candidates in audiences:
            if not recipients:
                continue
            body = {
                **common,
                "audience": audience,
                "subject_token": None if token is None else str(token),
                "network": network,
                "other_candidates": [str(c) for c in candidates],
            }
            report = await fan_out(
                self.connector,
                contract=TRANSFER_COMPLETED,
                version=1,
                recipients=recipients,
                purpose=TRANSFER_PURPOSE,
                body=body,
                subject_token=token,
                correlation_id=CorrelationId(str(record.transfer_id)),
            )
            told.update(report.sent)
            skipped.update(report.skipped)
        return told, skipped
