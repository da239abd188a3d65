"""The triage connector's intake reader: public referrals from ``<prefix>.intake.<agency>`` into the inbox.

The hub publishes each public referral as it arrived: a reference and the form sealed in the
referrer's browser to this desk's intake key. Only here is it opened (``open_form``),
validated (``PublicReferralForm``) and stored through the ``TriageDesk``.

The reader holds the current intake key and any previous ones (``IntakeKeys``, by key id), so
a backlog sealed before a key rotation still opens. A record that cannot be opened anyway (key
unknown, undecryptable, form invalid, record malformed) becomes an ``unreadable`` inbox item with
its reference and the error code (never the content): nothing is skipped silently. A record's
offset is committed only after its item is stored; a failed batch is read again.

When the reader starts it tries the unreadable items again: one sealed to a previous key that has
since been configured becomes the referral it is (the sealed form is kept for that).

The topic is made, when the reader starts first, with the same settings as the hub makes it
(``onedoor.intake_topic.ensure_intake_topic``).
"""

from __future__ import annotations

import asyncio
import traceback
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, Final

from aiokafka import AIOKafkaConsumer
from pydantic import ValidationError

from connectors.triage.desk import UNREADABLE, TriageDesk
from onedoor.envelope.intake import KEY_UNKNOWN, IntakeKeyPair, PublicSubmission, open_form, parse_sealed
from onedoor.envelope.intake_form import PublicReferralForm
from onedoor.errors import OneDoorError, ValidationFailed
from onedoor.ids import AgencyId
from onedoor.intake_topic import ensure_intake_topic
from onedoor.kafka.security import ClientCredentials, aiokafka_options
from onedoor.logging import get_logger
from onedoor.topics import TopicNames

log = get_logger(__name__)

RETRY_S: Final = 1.0
RECORD_MALFORMED: Final = "intake.record_malformed"
FORM_INVALID: Final = "intake.form_invalid"


class IntakeKeys:
    """The desk's intake keys by key id: the current one first, then previous ones still accepted."""

    def __init__(self, current: IntakeKeyPair, previous: Iterable[IntakeKeyPair] = ()) -> None:
        self.current = current
        self._by_id: dict[str, IntakeKeyPair] = {k.key_id: k for k in (*previous, current)}

    @property
    def key_ids(self) -> list[str]:
        """Every key id held, the current first."""
        return [self.current.key_id, *(k for k in self._by_id if k != self.current.key_id)]

    def get(self, key_id: str) -> IntakeKeyPair | None:
        """The key with this id, if held."""
        return self._by_id.get(key_id)


def open_submission(keys: IntakeKeys | IntakeKeyPair, submission: PublicSubmission) -> PublicReferralForm:
    """Decrypt (with whichever held key it was sealed to) and validate one public referral.

    Raises:
        ValidationFailed: ``intake.*`` when it does not open (``intake.key_unknown`` for a key not
            held); ``intake.form_invalid`` when it does not validate.
    """
    ring = keys if isinstance(keys, IntakeKeys) else IntakeKeys(keys)
    key = ring.get(parse_sealed(submission.sealed).kid)
    if key is None:
        raise ValidationFailed(KEY_UNKNOWN, "the form was sealed to an intake key this desk does not hold")
    plaintext = open_form(key, submission.sealed)
    try:
        return PublicReferralForm.model_validate_json(plaintext)
    except ValidationError as exc:
        where = sorted({".".join(str(p) for p in e["loc"]) or "form" for e in exc.errors()})
        raise ValidationFailed(FORM_INVALID, "the public form does not validate: " + ", ".join(where)) from None


class IntakeReader:
    """Reads this desk's intake topic into the inbox until cancelled. Use ``async with``, then ``run()``."""

    def __init__(
        self,
        *,
        bootstrap: str,
        topics: TopicNames,
        agency: AgencyId,
        keys: IntakeKeys,
        desk: TriageDesk,
        replication_factor: int = 1,
        on_stored: Callable[[str], None] | None = None,
        credentials: ClientCredentials | None = None,
    ) -> None:
        self._bootstrap = bootstrap
        self._topics = topics
        self._agency = agency
        self._topic = topics.intake(agency)
        self._group = f"{topics.prefix}.intake-reader.{agency}"
        self._keys = keys
        self._desk = desk
        self._replication = replication_factor
        self._on_stored = on_stored
        self._credentials = credentials
        self._consumer: AIOKafkaConsumer | None = None

    async def __aenter__(self) -> IntakeReader:
        await asyncio.to_thread(self.reopen_unreadable)
        # The hub makes the topic on its first submission; make it now (the same way) so the reader can subscribe.
        await ensure_intake_topic(
            self._bootstrap,
            self._topics,
            self._agency,
            replication_factor=self._replication,
            credentials=self._credentials,
        )
        self._consumer = AIOKafkaConsumer(
            self._topic,
            bootstrap_servers=self._bootstrap,
            group_id=self._group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=10,
            **aiokafka_options(self._credentials),
        )
        await self._consumer.start()
        return self

    def reopen_unreadable(self) -> int:
        """Open the ``unreadable`` items whose key is now held (e.g. a previous key added); how many opened."""
        opened = 0
        for item in self._desk.store.items(kind=UNREADABLE, limit=1000):
            sealed = item.body.get("sealed")
            if not isinstance(sealed, str) or not item.reference:
                continue
            try:
                form = open_submission(self._keys, PublicSubmission(item.reference, item.received_at, "", sealed))
            except OneDoorError:
                continue
            opened += self._desk.reopen_public(
                item.item_id, form, reference=item.reference, received_at=item.received_at
            )
        if opened:
            log.info("intake.reopened", count=opened)
        return opened

    async def __aexit__(self, *_exc: object) -> None:
        if self._consumer is not None:
            await self._consumer.stop()

    async def run(self) -> None:
        """Read until cancelled; a failed batch is read again."""
        consumer = self._consumer
        assert consumer is not None  # noqa: S101 - only inside ``async with``
        while True:
            try:
                batches = await consumer.getmany(timeout_ms=200, max_records=100)
                for records in batches.values():
                    for record in records:
                        await self.handle(record)
                if batches:
                    await consumer.commit()  # only after every record of the batch is stored
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - logged; the batch is read again
                trace = "".join(traceback.format_exception(exc))
                log.error("intake.read_failed", error=type(exc).__name__, traceback=trace)  # noqa: TRY400
                for tp in consumer.assignment():
                    await consumer.seek_to_committed(tp)
                await asyncio.sleep(RETRY_S)

    async def handle(self, record: Any) -> str:
        """Store one record as a public referral or an unreadable item (in a worker thread); its item id."""
        item_id = await asyncio.to_thread(self._store, record)
        if self._on_stored is not None:
            self._on_stored(item_id)
        return item_id

    def _store(self, record: Any) -> str:
        read_at = _record_time(record)
        try:
            submission = PublicSubmission.decode(record.value or b"")
        except (ValueError, EOFError, KeyError, TypeError, IndexError):
            where = f"{record.topic}:{record.partition}:{record.offset}"
            log.warning("intake.record_malformed", topic=record.topic, offset=record.offset)
            return self._desk.receive_unreadable(reason=RECORD_MALFORMED, received_at=read_at, record=where).item_id
        received = submission.received_at
        if received.tzinfo is None:
            received = received.replace(tzinfo=UTC)
        try:
            form = open_submission(self._keys, submission)
        except OneDoorError as exc:
            log.warning("intake.unreadable", reference=submission.reference, code=exc.code)
            item = self._desk.receive_unreadable(
                reason=exc.code, received_at=received, reference=submission.reference, sealed=submission.sealed
            )
            return item.item_id
        return self._desk.receive_public(form, reference=submission.reference, received_at=received).item_id


def _record_time(record: Any) -> datetime:
    stamp = getattr(record, "timestamp", None)
    if isinstance(stamp, int) and stamp > 0:
        return datetime.fromtimestamp(stamp / 1000, tz=UTC)
    return datetime.now(UTC)
