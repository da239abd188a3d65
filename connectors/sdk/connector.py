"""An agency's connector: seal and send to its outbound topic, receive and open from its inbox.

Plaintext exists only here. Every failure to open has its own reason code; a refused
envelope is never handed to the agency's application, and it is reported to the hub (which
dead-letters and audits it) through the agency's own outbound topic, the only topic an
agency may write.

With a ``SharingPolicy`` the connector enforces agreements at both ends. Sending, it decides
each recipient, refuses the whole message if any recipient is denied (``sharing.denied``),
and seals one envelope per group of recipients that rely on the same agreement and may
receive the same fields, each cut down to those fields and naming its agreement in the
header. Receiving, it decides again as the recipient and drops any field it is not entitled
to, or refuses the message (``agreement.not_entitled``). The plaintext is a frame
(``connectors.sdk.frame``) that says which fields the sender included.

Both ends decide a flow under an action (``consent.model.Action``): ``send`` for most
contracts, ``query`` for a contract that answers a status check (``consent.actions``), so an agreement
can let an agency answer a check with less than it would send.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError, KafkaError

from connectors.sdk.directory import PublicDirectory
from connectors.sdk.frame import frame, unframe
from connectors.sdk.policy import SharingDenied, SharingPolicy
from consent.actions import action_for
from consent.contract import TaggedContract
from consent.decide import Decision
from consent.model import Action
from consent.project import project, projection_schema
from consent.subject import ConsentState
from contracts import codec as avro
from contracts.catalog import ContractSchema
from contracts.parsing import parse_fastavro
from onedoor.envelope import hubmac, report
from onedoor.envelope.cloudevents import ce_headers
from onedoor.envelope.header import Header
from onedoor.envelope.keys import AgencyKeyPair
from onedoor.envelope.opening import open_envelope
from onedoor.envelope.reasons import EnvelopeRejected, Reason
from onedoor.envelope.seal import seal
from onedoor.envelope.window import MessageWindow
from onedoor.errors import OneDoorError, Unavailable, ValidationFailed
from onedoor.ids import AgencyId, AgreementId, ContractName, CorrelationId, KeyId, MessageId, Purpose, SubjectToken
from onedoor.kafka.security import ClientCredentials, aiokafka_options
from onedoor.logging import get_logger
from onedoor.topics import TopicNames

log = get_logger(__name__)

POLICY_RECHECK_S = 1.0
"""The least time between two policy fetches caused by refused messages."""

_OPEN_REASONS = {
    "contract.unknown": Reason.CONTRACT_UNKNOWN,
    "contract.version_unknown": Reason.CONTRACT_VERSION_UNKNOWN,
}


"""The action each contract's messages are decided under, by contract name; any other contract is ``send``."""

_PROJECTIONS_KEPT = 256
"""Derived schemas kept per contract version (one per field set seen; a sender could vary them)."""


class BodyCodec(Protocol):
    """Encodes message bodies, and knows the schema of each contract version."""

    def encode(self, contract: str, version: int, body: Mapping[str, Any]) -> bytes:
        """Avro-encode ``body``; raises a OneDoorError for an unknown contract or bad value."""

    def schema(self, contract: str, version: int) -> ContractSchema:
        """The schema of that contract version; raises NotFound ``contract.unknown`` / ``contract.version_unknown``."""


@dataclass(frozen=True, slots=True)
class ReceivedMessage:
    """A verified, decrypted, decoded message from the inbox."""

    header: Header
    body: dict[str, Any]
    """Decoded with the header's contract version, holding only ``fields``."""
    fields: frozenset[str] = frozenset()
    """Field paths this agency received (what the sender included, less what was dropped)."""
    dropped: frozenset[str] = frozenset()
    """Field paths the sender included that this agency is not entitled to: removed before hand-over."""
    withheld: frozenset[str] = frozenset()
    """Field paths of the contract version not received (left out by the sender, or dropped here)."""

    @property
    def dropped_count(self) -> int:
        """How many fields were dropped on receipt."""
        return len(self.dropped)


@dataclass(frozen=True, slots=True)
class Sealed:
    """One sealed envelope, ready to ``publish``."""

    header: Header
    value: bytes
    """The envelope bytes."""
    fields: frozenset[str]
    """Field paths its body holds (every field of the contract version without a policy)."""


@dataclass(slots=True)
class _ContractView:
    """One contract version as the connector frames and projects it."""

    schema: ContractSchema
    tagged: TaggedContract
    paths: tuple[str, ...]
    """Field paths in schema order: the frame's bitmap order."""
    every: frozenset[str]
    projections: dict[frozenset[str], dict[str, Any]] = field(default_factory=dict)

    def writer(self, fields: frozenset[str]) -> ContractSchema | dict[str, Any]:
        """The schema a body holding ``fields`` is written with (derived once per field set)."""
        if fields == self.every:
            return self.schema
        found = self.projections.get(fields)
        if found is None:
            if len(self.projections) >= _PROJECTIONS_KEPT:
                self.projections.clear()
            found = self.projections[fields] = parse_fastavro(projection_schema(self.schema, fields))
        return found


@dataclass(slots=True)
class ConnectorStats:
    """Counters since start."""

    sent: int = 0
    received: int = 0
    duplicates: int = 0
    dropped_fields: int = 0
    """Fields removed from received messages because this agency was not entitled to them."""
    refused: dict[str, int] = field(default_factory=dict)


Handler = Callable[[ReceivedMessage], Awaitable[None]]


IDEMPOTENCY_NEEDS_OUTBOX = "connector.idempotency_needs_outbox"


class DurableOutbox(Protocol):
    """Where ``send`` puts sealed envelopes when the connector has one (``connectors.outbox.Outbox``)."""

    async def put(self, sealed: Sequence[Sealed], idempotency_key: str | None = None) -> Sequence[Header]:
        """Write them durably (committed when this returns); a relay publishes them.

        With ``idempotency_key`` already used: nothing is written; the headers first kept under it.
        """


class InboxGuard(Protocol):
    """Hands each opened message to the handler once across restarts (``connectors.outbox.DurableInbox``)."""

    async def deliver(self, message: ReceivedMessage, value: bytes, handler: Handler) -> bool:
        """``True`` if the handler took it now (``False``: a duplicate, or parked)."""


BROKER_UNREACHABLE = "connector.broker_unreachable"
BROKER_REFUSED = "connector.broker_refused"


def broker_error(bootstrap: str, exc: KafkaError) -> Unavailable:
    """A broker failure at start-up in words: which broker, and what to check (never a credential)."""
    if isinstance(exc, KafkaConnectionError):
        return Unavailable(
            BROKER_UNREACHABLE,
            f"the broker at {bootstrap} does not answer: is Kafka running, and is "
            "ONEDOOR_CONNECTOR_KAFKA__BOOTSTRAP_SERVERS right? (`onedoor connector check` tells more)",
        )
    return Unavailable(
        BROKER_REFUSED,
        f"the broker at {bootstrap} refused the connector ({type(exc).__name__}): check its broker "
        "identity with `onedoor connector check`, or enrol again with `onedoor connector enrol`",
    )


class Connector:
    """One agency's connection to the hub. Use ``async with``."""

    def __init__(
        self,
        *,
        keys: AgencyKeyPair,
        directory: PublicDirectory,
        codec: BodyCodec,
        bootstrap_servers: str,
        topics: TopicNames,
        old_keys: Mapping[KeyId, Any] | None = None,
        policy: SharingPolicy | None = None,
        policy_refresh: Callable[[], Awaitable[bool]] | None = None,
        outbox: DurableOutbox | None = None,
        inbox: InboxGuard | None = None,
        credentials: ClientCredentials | None = None,
    ) -> None:
        self.agency: AgencyId = keys.agency
        self.credentials = credentials
        """The agency's SCRAM identity on a secured broker (``onedoor connector enrol``); ``None``: PLAINTEXT."""
        self.outbox = outbox
        """With an outbox, ``send`` commits envelopes to it and returns; a relay publishes them."""
        self.inbox = inbox
        """With a durable inbox, dedupe survives restarts and a failing handler's message is parked."""
        self._keys = keys
        self.directory = directory
        self.policy = policy
        """The sharing policy to enforce; ``None`` sends every field to anyone and keeps all it receives."""
        self._policy_refresh = policy_refresh
        """Fetches a newer policy (``True`` if it changed): tried once before refusing a message as not
        entitled, since the refusal may only mean an agreement was approved a moment ago."""
        self._policy_checked_at = 0.0
        self._views: dict[tuple[str, int], _ContractView] = {}
        self._codec = codec
        self._bootstrap = bootstrap_servers
        self._topics = topics
        self._decryption_keys = {keys.encryption_key_id: keys.encryption, **(old_keys or {})}
        self._mac_key = hubmac.sender_mac_key(keys.encryption, keys.encryption_public, directory.hub_public)
        self._seen = MessageWindow()
        self._producer: AIOKafkaProducer | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self.stats = ConnectorStats()

    def use_directory(self, directory: PublicDirectory) -> None:
        """Swap in a newer directory (a key rotated or revoked, an agency added or suspended): used at once."""
        self.directory = directory
        self._mac_key = hubmac.sender_mac_key(self._keys.encryption, self._keys.encryption_public, directory.hub_public)

    @property
    def keys(self) -> AgencyKeyPair:
        """The agency's keys in use now (``use_keys`` swaps them after a rotation)."""
        return self._keys

    def use_keys(self, keys: AgencyKeyPair, old_keys: Mapping[KeyId, Any] | None = None) -> None:
        """Swap in the agency's keys after a rotation; ``old_keys`` still open what was sealed to them."""
        if keys.agency != self.agency:
            raise ValueError("a connector's keys belong to its own agency")
        self._keys = keys
        self._decryption_keys = {keys.encryption_key_id: keys.encryption, **(old_keys or {})}
        self._mac_key = hubmac.sender_mac_key(keys.encryption, keys.encryption_public, self.directory.hub_public)

    async def __aenter__(self) -> Connector:
        await self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        """Connect the producer (outbound topic) and the consumer (inbox)."""
        self._producer = AIOKafkaProducer(
            bootstrap_servers=self._bootstrap,
            acks="all",
            enable_idempotence=True,
            linger_ms=2,
            max_request_size=8 * 1024 * 1024,
            client_id=f"onedoor-connector-{self.agency}",
            **aiokafka_options(self.credentials),
        )
        self._consumer = AIOKafkaConsumer(
            self._topics.inbox(self.agency),
            bootstrap_servers=self._bootstrap,
            group_id=f"{self._topics.prefix}.connector.{self.agency}",
            client_id=f"onedoor-connector-{self.agency}",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_uncommitted",
            max_partition_fetch_bytes=8 * 1024 * 1024,
            fetch_max_wait_ms=10,
            **aiokafka_options(self.credentials),
        )
        try:
            await self._producer.start()
        except KafkaError as exc:
            raise broker_error(self._bootstrap, exc) from None
        try:
            await self._consumer.start()
        except BaseException as exc:
            await self._producer.stop()
            if isinstance(exc, KafkaError):
                raise broker_error(self._bootstrap, exc) from None
            raise

    async def stop(self) -> None:
        """Close both clients."""
        if self._consumer is not None:
            await self._consumer.stop()
        if self._producer is not None:
            await self._producer.stop()

    def seal(
        self,
        *,
        contract: ContractName,
        version: int,
        recipients: Sequence[AgencyId],
        purpose: Purpose,
        body: Mapping[str, Any],
        subject_token: SubjectToken | None = None,
        correlation_id: CorrelationId | None = None,
        ttl: timedelta = timedelta(days=1),
        agreement: AgreementId | None = None,
        consent: ConsentState | None = None,
        action: Action | None = None,
        skipped: dict[AgencyId, Decision] | None = None,
    ) -> list[Sealed]:
        """Encode, project, encrypt, sign and MAC a message without sending it.

        With a policy, each recipient is decided first; recipients relying on the same agreement
        and allowed the same fields share one envelope, whose body holds only those fields.

        Args:
            contract: the contract the body is written with.
            version: its registered version.
            recipients: the agencies to send to.
            purpose: the purpose relied on (in the header).
            body: the message, as the contract version's record.
            subject_token: the young person's ``st1_...`` token, if the message is about one.
            correlation_id: ties a reply to a referral; a new one by default.
            ttl: how long the envelopes stay deliverable.
            agreement: the agreement to rely on; with a policy only it is considered, without
                one it is named in the header as is.
            consent: what this agency knows of the subject's consent; by default ``not recorded``
                when ``subject_token`` is given (the hub holds the records and enforces them).
            action: the action the policy decides each recipient under; by default the
                contract's (``actions``: ``query`` for a status reply, else ``send``).
            skipped: if given, a recipient the policy denies is left out and recorded here with
                its decision, instead of refusing the whole message (a fan-out to a network).

        Returns:
            One ``Sealed`` per group of recipients, in the order of their first recipient.

        Raises:
            EnvelopeRejected: ``recipient.unknown`` for a recipient not in the directory.
            SharingDenied: ``sharing.denied`` when the policy permits nothing to some recipient.
            OneDoorError: the codec's error for an unknown contract or an invalid body.
        """
        recipient_keys = {r: self.directory.recipient(r) for r in dict.fromkeys(recipients)}
        view = self._view(contract, version)
        encoded = self._codec.encode(contract, version, body)
        now = int(time.time() * 1000)
        if consent is None and subject_token is not None:
            consent = ConsentState.not_recorded()
        groups = self._groups(
            view,
            list(recipient_keys),
            purpose=purpose,
            now=now,
            agreement=agreement,
            consent=consent,
            action=action or self.action_for(contract),
            skipped=skipped,
        )
        correlation = correlation_id or CorrelationId.new()
        decoded: dict[str, Any] | None = None
        sealed = []
        for (relied_on, fields), members in groups.items():
            if fields == view.every:
                payload = encoded
            else:
                # Project the decoded body: values in the form the schema gives them, nothing unknown.
                decoded = decoded if decoded is not None else avro.decode(encoded, view.schema)
                payload = avro.encode(view.writer(fields), project(decoded, view.tagged, fields))
            header = Header(
                message_id=MessageId.new(),
                contract=contract,
                contract_version=version,
                sender=self.agency,
                sender_signing_key=self._keys.signing_key_id,
                sender_encryption_key=self._keys.encryption_key_id,
                recipients=tuple(members),
                purpose=purpose,
                subject_token=subject_token,
                created_at_ms=now,
                expires_at_ms=now + int(ttl.total_seconds() * 1000),
                correlation_id=correlation,
                agreement=relied_on,
            )
            value = seal(
                header=header,
                body=frame(view.paths, fields, payload),
                sender=self._keys,
                recipients=[recipient_keys[m] for m in members],
                hub_mac_key=self._mac_key,
            )
            sealed.append(Sealed(header, value, fields))
        return sealed

    def _groups(
        self,
        view: _ContractView,
        recipients: list[AgencyId],
        *,
        purpose: Purpose,
        now: int,
        agreement: AgreementId | None,
        consent: ConsentState | None,
        action: Action,
        skipped: dict[AgencyId, Decision] | None = None,
    ) -> dict[tuple[AgreementId | None, frozenset[str]], list[AgencyId]]:
        """Recipients by (agreement relied on, fields allowed); refuses if any is denied, unless ``skipped`` given."""
        if self.policy is None:
            return {(agreement, view.every): recipients}
        groups: dict[tuple[AgreementId | None, frozenset[str]], list[AgencyId]] = {}
        denied: dict[AgencyId, Decision] = {}
        for recipient in recipients:
            decision = self.policy.decide(
                sender=self.agency,
                recipient=recipient,
                contract=view.tagged,
                purpose=purpose,
                at_ms=now,
                consent=consent,
                agreement=agreement,
                action=action,
            )
            if decision.permitted:
                groups.setdefault((decision.agreement_id, decision.allowed_fields), []).append(recipient)
            else:
                denied[recipient] = decision
        if denied and skipped is not None:
            skipped.update(denied)
        elif denied:
            raise SharingDenied(denied, contract=view.tagged.name, version=view.tagged.version, purpose=purpose)
        return groups

    def action_for(self, contract: str) -> Action:
        """The action messages of ``contract`` are decided under: the contract's, as the hub decides it."""
        return action_for(str(contract))

    def _view(self, contract: str, version: int) -> _ContractView:
        """The contract version's schema, tags and derived schemas (raises the codec's NotFound)."""
        key = (str(contract), version)
        view = self._views.get(key)
        if view is None:
            schema = self._codec.schema(contract, version)
            tagged = TaggedContract.from_schema(schema, version)
            view = self._views[key] = _ContractView(schema, tagged, tuple(tagged.tags), frozenset(tagged.tags))
        return view

    async def send(self, *, idempotency_key: str | None = None, **message: Any) -> list[Header]:
        """Seal a message (same arguments as ``seal``) and publish every envelope to this agency's outbound topic.

        Nothing is published when sealing fails (an unknown recipient, a denied recipient, a bad body).
        With an ``outbox`` the envelopes are committed to it instead, and a relay publishes them;
        then an ``idempotency_key`` already used sends nothing and returns the headers first kept
        (``connector.idempotency_needs_outbox`` without an outbox).

        Returns:
            The headers sent, one per envelope; ``header.message_id`` identifies each everywhere.
        """
        if idempotency_key is not None and self.outbox is None:
            raise ValidationFailed(IDEMPOTENCY_NEEDS_OUTBOX, "an idempotent send needs the connector's outbox")
        sealed = self.seal(**message)
        if idempotency_key is not None and self.outbox is not None:
            return list(await self.outbox.put(sealed, idempotency_key=idempotency_key))
        if self.outbox is not None:
            await self.outbox.put(sealed)  # durable once this returns; the relay publishes
        else:
            await self.publish_all(sealed)
        return [item.header for item in sealed]

    async def publish(self, header: Header, value: bytes) -> None:
        """Publish already-sealed envelope bytes and wait for the broker's acknowledgement."""
        producer = self._require(self._producer)
        headers = ce_headers(
            message_id=header.message_id,
            sender=header.sender,
            contract=header.contract,
            contract_version=header.contract_version,
            created_at_ms=header.created_at_ms,
        )
        key = (header.subject_token or header.correlation_id).encode()
        await producer.send_and_wait(self._topics.outbound(self.agency), value, key=key, headers=headers)
        self.stats.sent += 1
        log.info("connector.sent", message_id=header.message_id, contract=header.contract)

    async def publish_all(self, sealed: Sequence[Sealed]) -> None:
        """Publish several sealed envelopes at once and wait for every acknowledgement.

        The producer batches them, so a send split per agreement and field set, or a status check
        to forty agencies, waits about one broker round trip instead of one per envelope.
        """
        await asyncio.gather(*(self.publish(item.header, item.value) for item in sealed))

    def open(self, value: bytes) -> ReceivedMessage:
        """Verify, decrypt, unframe and decode one envelope from the inbox; with a policy, check entitlement.

        The body is decoded with the schema of the fields the sender included (writer and reader),
        so it is in the header's contract version. With a policy the connector decides again, as
        the recipient, under the header's agreement at the header's ``created_at`` (consent is the
        hub's to enforce), and removes any field it is not entitled to (``ReceivedMessage.dropped``).

        Raises:
            EnvelopeRejected: a distinct reason for each failure (bad signature, not addressed to me,
                expired, unknown sender key, undecryptable, unknown contract, malformed body or frame,
                ``agreement.not_entitled`` when the policy permits this agency nothing).
        """
        opened = open_envelope(value, me=self.agency, my_keys=self._decryption_keys, senders=self.directory)
        header = opened.header
        try:
            view = self._view(header.contract, header.contract_version)
            included, payload = unframe(view.paths, opened.body)
            body = avro.decode(payload, view.writer(included))
        except EnvelopeRejected:
            raise
        except OneDoorError as exc:
            reason = _OPEN_REASONS.get(exc.code, Reason.BODY_MALFORMED)
            raise EnvelopeRejected(reason, exc.message) from None
        fields, dropped = included, frozenset[str]()
        if self.policy is not None:
            decision = self.policy.decide(
                sender=header.sender,
                recipient=self.agency,
                contract=view.tagged,
                purpose=header.purpose,
                at_ms=header.created_at_ms,
                agreement=header.agreement,
            )
            if not decision.permitted:
                raise EnvelopeRejected(
                    Reason.NOT_ENTITLED,
                    f"{header.message_id}: {self.agency} is not entitled to it under "
                    f"{header.agreement or 'any agreement'} ({', '.join(decision.codes)})",
                )
            dropped = included - decision.allowed_fields
            if dropped:
                fields = included & decision.allowed_fields
                body = project(body, view.tagged, fields)
                self.stats.dropped_fields += len(dropped)
                log.warning("connector.fields_dropped", message_id=header.message_id, count=len(dropped))
        return ReceivedMessage(header, body, fields=fields, dropped=dropped, withheld=view.every - fields)

    async def run(self, handler: Handler, *, stop_after: float | None = None) -> None:
        """Hand every new inbox message to ``handler``; commit after each batch is handled.

        A message is committed only after its handler returned, so a crash re-delivers it;
        duplicates (same message id) are dropped before the handler sees them.
        """
        deadline = None if stop_after is None else time.monotonic() + stop_after
        while deadline is None or time.monotonic() < deadline:
            await self.poll(handler, timeout_ms=200)

    async def poll(self, handler: Handler, *, timeout_ms: int = 500) -> int:
        """Handle one batch from the inbox; returns how many messages reached the handler."""
        consumer = self._require(self._consumer)
        batches = await consumer.getmany(timeout_ms=timeout_ms, max_records=500)
        handled = 0
        now_ms = int(time.time() * 1000)
        try:
            for tp, records in batches.items():
                for record in records:
                    handled += await self._handle(tp, record, handler)
        except BaseException:
            # The handler failed: nothing of this batch is committed, and the consumer must not
            # skip past it either, so rewind to the last commit and let the caller decide.
            for tp in consumer.assignment():
                await consumer.seek_to_committed(tp)
            raise
        if batches:
            await consumer.commit()
            self._seen.forget_expired(now_ms)
        return handled

    async def _handle(self, tp: Any, record: Any, handler: Handler) -> int:
        position = f"{tp.topic}:{tp.partition}:{record.offset}"
        try:
            try:
                message = self.open(record.value or b"")
            except EnvelopeRejected as exc:
                if exc.reason is not Reason.NOT_ENTITLED or not await self._newer_policy():
                    raise
                message = self.open(record.value or b"")
        except EnvelopeRejected as exc:
            await self._report(record, exc)
            return 0
        if not self._seen.admit(message.header.message_id, position, message.header.expires_at_ms):
            self.stats.duplicates += 1
            return 0
        if self.inbox is not None:
            taken = await self.inbox.deliver(message, record.value or b"", handler)
            self.stats.received += int(taken)
            return int(taken)
        await handler(message)
        self.stats.received += 1
        return 1

    async def _newer_policy(self) -> bool:
        # At most one fetch a second, however many messages a stale policy refuses.
        if self._policy_refresh is None or time.monotonic() - self._policy_checked_at < POLICY_RECHECK_S:
            return False
        self._policy_checked_at = time.monotonic()
        try:
            return await self._policy_refresh()
        except OneDoorError as exc:
            log.warning("connector.policy_refresh_failed", code=exc.code)
            return False

    async def receive(self, *, count: int, timeout_s: float = 30.0) -> list[ReceivedMessage]:
        """Collect ``count`` messages (or as many as arrive within ``timeout_s``)."""
        received: list[ReceivedMessage] = []

        async def collect(message: ReceivedMessage) -> None:
            received.append(message)

        deadline = time.monotonic() + timeout_s
        while len(received) < count and time.monotonic() < deadline:
            await self.poll(collect, timeout_ms=200)
        return received

    async def _report(self, record: Any, exc: EnvelopeRejected) -> None:
        """Tell the hub this agency refused an envelope, so it is dead-lettered and audited."""
        producer = self._require(self._producer)
        self.stats.refused[exc.code] = self.stats.refused.get(exc.code, 0) + 1
        log.warning("connector.refused", reason=exc.code, offset=record.offset)
        await producer.send_and_wait(
            self._topics.outbound(self.agency),
            record.value,
            key=record.key,
            headers=report.report_headers(
                reason=exc.code, value=record.value or b"", key_id=self._keys.encryption_key_id, mac_key=self._mac_key
            ),
        )

    @staticmethod
    def _require(client: Any) -> Any:
        if client is None:
            raise RuntimeError("connector not started; use `async with Connector(...)`")
        return client
