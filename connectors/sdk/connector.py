"""An agency's connector: seal and send to its outbound topic, receive and open from its inbox.

Plaintext exists only here. Every failure to open has its own reason code; a refused
envelope is never handed to the agency's application, and it is reported to the hub (which
dead-letters and audits it) through the agency's own outbound topic, the only topic an
agency may write.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from connectors.sdk.directory import PublicDirectory
from onedoor.envelope import hubmac, report
from onedoor.envelope.cloudevents import ce_headers
from onedoor.envelope.header import Header
from onedoor.envelope.keys import AgencyKeyPair
from onedoor.envelope.opening import open_envelope
from onedoor.envelope.reasons import EnvelopeRejected, Reason
from onedoor.envelope.seal import seal
from onedoor.envelope.window import MessageWindow
from onedoor.errors import OneDoorError
from onedoor.ids import AgencyId, ContractName, CorrelationId, KeyId, MessageId, Purpose, SubjectToken
from onedoor.logging import get_logger
from onedoor.topics import TopicNames

log = get_logger(__name__)

_OPEN_REASONS = {
    "contract.unknown": Reason.CONTRACT_UNKNOWN,
    "contract.version_unknown": Reason.CONTRACT_VERSION_UNKNOWN,
}


class BodyCodec(Protocol):
    """Encodes and decodes message bodies by contract and version."""

    def encode(self, contract: str, version: int, body: Mapping[str, Any]) -> bytes:
        """Avro-encode ``body``; raises a OneDoorError for an unknown contract or bad value."""

    def decode(self, contract: str, version: int, data: bytes) -> dict[str, Any]:
        """Decode ``data`` written with that contract version."""


@dataclass(frozen=True, slots=True)
class ReceivedMessage:
    """A verified, decrypted, decoded message from the inbox."""

    header: Header
    body: dict[str, Any]


@dataclass(slots=True)
class ConnectorStats:
    """Counters since start."""

    sent: int = 0
    received: int = 0
    duplicates: int = 0
    refused: dict[str, int] = field(default_factory=dict)


Handler = Callable[[ReceivedMessage], Awaitable[None]]


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
    ) -> None:
        self.agency: AgencyId = keys.agency
        self._keys = keys
        self.directory = directory
        self._codec = codec
        self._bootstrap = bootstrap_servers
        self._topics = topics
        self._decryption_keys = {keys.encryption_key_id: keys.encryption, **(old_keys or {})}
        self._mac_key = hubmac.sender_mac_key(keys.encryption, keys.encryption_public, directory.hub_public)
        self._seen = MessageWindow()
        self._producer: AIOKafkaProducer | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self.stats = ConnectorStats()

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
        )
        await self._producer.start()
        try:
            await self._consumer.start()
        except BaseException:
            await self._producer.stop()
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
    ) -> tuple[Header, bytes]:
        """Encode, encrypt, sign and MAC a message without sending it.

        Raises:
            EnvelopeRejected: ``recipient.unknown`` for a recipient not in the directory.
            OneDoorError: the codec's error for an unknown contract or an invalid body.
        """
        recipient_keys = [self.directory.recipient(r) for r in recipients]
        encoded = self._codec.encode(contract, version, body)
        now = int(time.time() * 1000)
        header = Header(
            message_id=MessageId.new(),
            contract=contract,
            contract_version=version,
            sender=self.agency,
            sender_signing_key=self._keys.signing_key_id,
            sender_encryption_key=self._keys.encryption_key_id,
            recipients=tuple(recipients),
            purpose=purpose,
            subject_token=subject_token,
            created_at_ms=now,
            expires_at_ms=now + int(ttl.total_seconds() * 1000),
            correlation_id=correlation_id or CorrelationId.new(),
        )
        value = seal(
            header=header, body=encoded, sender=self._keys, recipients=recipient_keys, hub_mac_key=self._mac_key
        )
        return header, value

    async def send(self, **message: Any) -> Header:
        """Seal a message (same arguments as ``seal``) and publish it to this agency's outbound topic.

        Returns:
            The header that was sent; ``header.message_id`` identifies it everywhere.
        """
        header, value = self.seal(**message)
        await self.publish(header, value)
        return header

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

    def open(self, value: bytes) -> ReceivedMessage:
        """Verify, decrypt and decode one envelope from the inbox.

        Raises:
            EnvelopeRejected: a distinct reason for each failure (bad signature, not addressed to me,
                expired, unknown sender key, undecryptable, unknown contract, malformed body).
        """
        opened = open_envelope(value, me=self.agency, my_keys=self._decryption_keys, senders=self.directory)
        header = opened.header
        try:
            body = self._codec.decode(header.contract, header.contract_version, opened.body)
        except EnvelopeRejected:
            raise
        except OneDoorError as exc:
            reason = _OPEN_REASONS.get(exc.code, Reason.BODY_MALFORMED)
            raise EnvelopeRejected(reason, exc.message) from None
        return ReceivedMessage(header=header, body=body)

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
            message = self.open(record.value or b"")
        except EnvelopeRejected as exc:
            await self._report(record, exc)
            return 0
        if not self._seen.admit(message.header.message_id, position, message.header.expires_at_ms):
            self.stats.duplicates += 1
            return 0
        await handler(message)
        self.stats.received += 1
        return 1

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
