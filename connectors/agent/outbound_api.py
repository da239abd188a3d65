"""``POST /outbound``: the agency's own system sends any contract's message through its connector.

Behind the connector's bearer token, like every other route. The request names the contract
and version, the recipients, the purpose and the body as JSON (dates ``YYYY-MM-DD``, times ISO
8601); it is checked before anything is sealed, and a 422 names the field, never its value:

- ``outbound.contract_unknown`` / ``outbound.version_unknown``: the connector knows no such contract (version);
- ``outbound.purpose_invalid``, ``outbound.subject_token_invalid``: not of their form;
- ``outbound.recipient_unknown``: ``recipients[i]`` is not an active registered agency;
- ``outbound.body_invalid``: ``body.<field>`` does not fit the contract (a MasterReferral gets a
  ``referral_id`` and ``submitted_at`` when it has none, and ``referral.no_identifier`` when
  nothing identifies the child).

Then it is handed to the running connector's ``send`` (durable where the connector's outbox
is). With an ``Idempotency-Key`` header a retried POST does not send twice: the first answer is
replayed; the same key with another request is ``409 outbound.idempotency_key_reused``; while
the first is still sending, ``409 outbound.in_progress``; if the connector stopped part-way through
that first send, ``409 outbound.outcome_unknown`` (look at the recipient's side before sending
again under a new key). A send that failed before anything was published (sealing: a recipient
refused, a body that does not fit) may be retried under the same key; one that failed once
publishing began (without the outbox, some envelopes of a split send may be out) answers a retry
with ``409 outbound.outcome_unknown``. Keys are kept for seven days, hashed, with the message ids only.

With the connector's outbox the key also goes to the outbox (``outbound:<sha256 of the key>``):
a retry after the connector stopped part-way through the first send sends it again under the
same key, the outbox adds nothing, and the envelopes first kept are answered (no
``outcome_unknown``, no second message).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Final, Protocol

from fastapi import APIRouter, Header, Request
from pydantic import BaseModel, Field

from connectors.adapters.values import check_body
from connectors.sdk.codec import ContractCodecs
from connectors.sdk.directory import PublicDirectory
from connectors.triage.referral import REFERRAL, parse_referral
from onedoor.envelope.reasons import EnvelopeRejected
from onedoor.errors import Conflict, Forbidden, NotFound, OneDoorError, ValidationFailed
from onedoor.ids import AgencyId, ContractName, Purpose, SubjectToken
from onedoor.logging import get_logger

log = get_logger(__name__)

CONTRACT_UNKNOWN: Final = "outbound.contract_unknown"
VERSION_UNKNOWN: Final = "outbound.version_unknown"
PURPOSE_INVALID: Final = "outbound.purpose_invalid"
SUBJECT_TOKEN_INVALID: Final = "outbound.subject_token_invalid"  # noqa: S105 - an error code
RECIPIENT_UNKNOWN: Final = "outbound.recipient_unknown"
BODY_INVALID: Final = "outbound.body_invalid"
KEY_REUSED: Final = "outbound.idempotency_key_reused"
IN_PROGRESS: Final = "outbound.in_progress"
OUTCOME_UNKNOWN: Final = "outbound.outcome_unknown"
KEEP_S: Final = 7 * 86_400
LEDGER_FILE: Final = "outbound-requests.sqlite3"


class OutboundIn(BaseModel):
    """A message to send: any contract the connector knows."""

    contract: str = Field(max_length=200, examples=["onedoor.alert.Alert"])
    version: int = Field(ge=1, le=10_000, examples=[1])
    recipients: list[str] = Field(min_length=1, max_length=200, examples=[["lb-hackney-csc"]])
    purpose: str = Field(max_length=64, examples=["safeguarding-referral"])
    body: dict[str, Any]
    subject_token: str | None = Field(default=None, max_length=100, description="The young person's st1_ token")


class EnvelopeOut(BaseModel):
    """One envelope sent (a message splits per agreement and field set)."""

    message_id: str
    recipients: list[str]


class OutboundSent(BaseModel):
    """The message is on its way."""

    envelopes: list[EnvelopeOut]
    replayed: bool = False
    """``true`` when this answers a retried request (same ``Idempotency-Key``): nothing was sent again."""


class Sender(Protocol):
    """The running connector's sending side (``connectors.sdk.Connector``)."""

    directory: PublicDirectory

    async def send(self, **message: Any) -> list[Any]:
        """Seal and send; the headers sent."""
        ...


class RequestLedger:
    """Idempotency keys already used, in a small SQLite file in the connector's data directory."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS requests (key TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, "
            "state TEXT NOT NULL, owner TEXT NOT NULL, response TEXT, at REAL NOT NULL)"
        )
        self._db.execute("DELETE FROM requests WHERE at < ?", (time.time() - KEEP_S,))
        self._owner = uuid.uuid4().hex
        """This process: a pending key of another owner was being sent when a connector stopped."""

    def begin(self, key: str, fingerprint: str, *, resumable: bool = False) -> dict[str, Any] | None:
        """Claim ``key`` for a request; the stored answer if it was sent before, else ``None``.

        ``resumable``: the send is idempotent (the connector's outbox holds the key), so a claim left
        pending by a connector that stopped is taken over rather than ``outbound.outcome_unknown``.

        Raises:
            Conflict: ``outbound.idempotency_key_reused``, ``outbound.in_progress``, ``outbound.outcome_unknown``.
        """
        hashed = _digest(key.encode())
        row = self._db.execute(
            "SELECT fingerprint, state, owner, response FROM requests WHERE key = ?", (hashed,)
        ).fetchone()
        if row is None:
            self._db.execute(
                "INSERT INTO requests (key, fingerprint, state, owner, at) VALUES (?, ?, 'pending', ?, ?)",
                (hashed, fingerprint, self._owner, time.time()),
            )
            return None
        stored_fingerprint, state, owner, response = row
        if stored_fingerprint != fingerprint:
            raise Conflict(KEY_REUSED, "this Idempotency-Key was used for a different request")
        if state == "done":
            answer: dict[str, Any] = json.loads(response)
            return answer
        if state == "unknown":
            raise Conflict(
                OUTCOME_UNKNOWN,
                "the request with this Idempotency-Key failed part-way through sending; some of it may have been "
                "sent: check with the recipient before sending again under a new key",
            )
        if owner == self._owner:
            raise Conflict(IN_PROGRESS, "a request with this Idempotency-Key is still being sent")
        if resumable:
            self._db.execute("UPDATE requests SET owner = ? WHERE key = ?", (self._owner, hashed))
            return None
        raise Conflict(
            OUTCOME_UNKNOWN,
            "the connector stopped while sending the request with this Idempotency-Key; it may have been "
            "sent: check with the recipient before sending again under a new key",
        )

    def done(self, key: str, response: Mapping[str, Any]) -> None:
        """Record the answer to replay for ``key``."""
        self._db.execute(
            "UPDATE requests SET state = 'done', response = ? WHERE key = ?",
            (json.dumps(response), _digest(key.encode())),
        )

    def unknown(self, key: str) -> None:
        """Record that the send under ``key`` failed part-way: a retry is ``outbound.outcome_unknown``."""
        self._db.execute(
            "UPDATE requests SET state = 'unknown' WHERE key = ? AND state = 'pending'", (_digest(key.encode()),)
        )

    def release(self, key: str) -> None:
        """Forget a claim whose send failed before anything was sent: the caller may retry it."""
        self._db.execute("DELETE FROM requests WHERE key = ? AND state = 'pending'", (_digest(key.encode()),))

    def close(self) -> None:
        """Close the file."""
        self._db.close()


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def outbox_key(idempotency_key: str) -> str:
    """The outbox's key for a POST /outbound ``Idempotency-Key``: scoped to this API, hashed."""
    return f"outbound:{_digest(idempotency_key.encode())}"


def checked(request: OutboundIn, directory: PublicDirectory, codecs: ContractCodecs) -> dict[str, Any]:
    """The arguments of ``Connector.send`` for a request, every field checked.

    Raises:
        ValidationFailed: an ``outbound.*`` code (or ``referral.no_identifier``) naming the field.
    """
    if ContractName.pattern.fullmatch(request.contract) is None:
        raise ValidationFailed(CONTRACT_UNKNOWN, "contract: not a contract name")
    try:
        schema = codecs.schema(request.contract, request.version)
    except OneDoorError as exc:
        if exc.code == "contract.version_unknown":
            raise ValidationFailed(
                VERSION_UNKNOWN, f"version: {request.contract} has no version {request.version} here"
            ) from None
        raise ValidationFailed(
            CONTRACT_UNKNOWN, f"contract: {request.contract} is not a contract this connector knows"
        ) from None
    if Purpose.pattern.fullmatch(request.purpose) is None:
        raise ValidationFailed(PURPOSE_INVALID, "purpose: not a purpose name (lowercase letters, digits, hyphens)")
    token = None
    if request.subject_token is not None:
        if SubjectToken.pattern.fullmatch(request.subject_token) is None:
            raise ValidationFailed(SUBJECT_TOKEN_INVALID, "subject_token: not an st1_ subject token")
        token = SubjectToken(request.subject_token)
    recipients = _recipients(request.recipients, directory)
    if request.contract == REFERRAL and request.version == 1:
        try:
            body = parse_referral(request.body)
        except ValidationFailed as exc:
            if exc.code != "referral.invalid":
                raise
            where = exc.message.removeprefix("the referral does not fit the contract: ")
            where = where.replace("field '", "field 'body.", 1) if "field '" in where else f"body.{where}"
            raise ValidationFailed(BODY_INVALID, where) from None
    else:
        body = check_body(request.body, schema, code=BODY_INVALID, prefix="body.")
    return {
        "contract": ContractName(request.contract),
        "version": request.version,
        "recipients": recipients,
        "purpose": Purpose(request.purpose),
        "body": body,
        "subject_token": token,
    }


def _recipients(given: Sequence[str], directory: PublicDirectory) -> tuple[AgencyId, ...]:
    found: list[AgencyId] = []
    for i, recipient in enumerate(given):
        if AgencyId.pattern.fullmatch(recipient) is None:
            raise ValidationFailed(RECIPIENT_UNKNOWN, f"recipients[{i}]: not an agency id")
        try:
            directory.recipient(AgencyId(recipient))
        except EnvelopeRejected:
            raise ValidationFailed(
                RECIPIENT_UNKNOWN, f"recipients[{i}]: {recipient} is not an active registered agency"
            ) from None
        found.append(AgencyId(recipient))
    return tuple(dict.fromkeys(found))


async def _send(
    sender: Sender, arguments: dict[str, Any], ledger: RequestLedger | None, key: str | None, *, durable: bool
) -> list[Any]:
    """Send, keeping the claim on ``key`` honest when it fails.

    With the outbox a failed send is retried under the same key (the outbox's put is all or nothing,
    and idempotent): the claim is released. Without it, a failure before anything was published
    (sealing: an unknown recipient, no agreement, a bad body) releases the claim; a failure once
    publishing began (some envelopes of a split send may be on the broker) records
    ``outbound.outcome_unknown`` for the key.
    """
    if ledger is None or key is None:
        return await sender.send(**arguments)
    seal = getattr(sender, "seal", None)
    publish_all = getattr(sender, "publish_all", None)
    if durable or seal is None or publish_all is None:
        try:
            return await sender.send(**arguments)
        except BaseException as exc:
            if durable or isinstance(exc, _BEFORE_PUBLISHING):
                ledger.release(key)
            else:
                ledger.unknown(key)
            raise
    try:
        sealed = seal(**arguments)
    except BaseException:
        ledger.release(key)
        raise
    try:
        await publish_all(sealed)
    except BaseException:
        ledger.unknown(key)
        log.warning("outbound.outcome_unknown", contract=str(arguments["contract"]), envelopes=len(sealed))
        raise
    return [item.header for item in sealed]


_BEFORE_PUBLISHING: Final = (ValidationFailed, Forbidden, NotFound, EnvelopeRejected)
"""What ``Connector.send`` raises while sealing, before anything is published."""


def _sender(request: Request) -> Sender:
    sender: Sender = request.app.state.backend.connector
    return sender


def _codecs(request: Request) -> ContractCodecs:
    codecs: ContractCodecs | None = getattr(request.app.state.backend, "codecs", None)
    return codecs or _BUNDLED


def _ledger(request: Request) -> RequestLedger:
    ledger: RequestLedger | None = getattr(request.app.state, "outbound_ledger", None)
    if ledger is None:
        ledger = request.app.state.outbound_ledger = RequestLedger(
            request.app.state.config.data_directory / LEDGER_FILE
        )
    return ledger


_BUNDLED: Final = ContractCodecs.bundled()

router = APIRouter()


@router.post("/outbound", tags=["outbound"], status_code=202)
async def send_outbound(
    request: Request,
    message: OutboundIn,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> OutboundSent:
    """Send a message of any contract this connector knows to the agencies named, under its agreements.

    Errors: 422 ``outbound.*`` naming the field; 403 ``sharing.denied`` (no agreement permits it);
    409 ``outbound.idempotency_key_reused`` / ``outbound.in_progress`` / ``outbound.outcome_unknown``.
    """
    sender = _sender(request)
    arguments = checked(message, sender.directory, _codecs(request))
    ledger = _ledger(request) if idempotency_key else None
    durable = getattr(sender, "outbox", None) is not None
    if ledger is not None and idempotency_key is not None:
        fingerprint = _digest(json.dumps(message.model_dump(mode="json"), sort_keys=True).encode())
        previous = ledger.begin(idempotency_key, fingerprint, resumable=durable)
        if previous is not None:
            return OutboundSent.model_validate({**previous, "replayed": True})
        if durable:
            arguments["idempotency_key"] = outbox_key(idempotency_key)
    claimed = idempotency_key if ledger is not None else None
    headers = await _send(sender, arguments, ledger, claimed, durable=durable)
    answer = OutboundSent(
        envelopes=[
            EnvelopeOut(message_id=str(h.message_id), recipients=[str(r) for r in h.recipients]) for h in headers
        ]
    )
    if ledger is not None and idempotency_key is not None:
        ledger.done(idempotency_key, answer.model_dump(mode="json"))
    log.info("outbound.sent", contract=message.contract, envelopes=len(headers), idempotent=ledger is not None)
    return answer
