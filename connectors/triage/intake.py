"""The triage connector's intake reader: public referrals from ``<prefix>.intake.<agency>`` into the inbox.

The hub publishes each public referral as it arrived: a reference and the form sealed in the
referrer's browser to this desk's intake key. Only here is it opened (``open_form``),
validated (``PublicReferralForm``) and stored through the ``TriageDesk``. A record that cannot
be opened or does not validate is logged with its reference and the error code (never the
content) and skipped; its offset is committed only after it was handled.
"""

from __future__ import annotations

import asyncio
import traceback
from collections.abc import Callable
from datetime import UTC
from typing import Any, Final

from aiokafka import AIOKafkaConsumer
from pydantic import ValidationError

from connectors.triage.desk import TriageDesk
from hub.intake.publisher import PublicSubmission
from onedoor.envelope.intake import IntakeKeyPair, open_form
from onedoor.envelope.intake_form import PublicReferralForm
from onedoor.errors import OneDoorError
from onedoor.ids import AgencyId
from onedoor.kafka.admin import ensure_topics
from onedoor.logging import get_logger
from onedoor.topics import TopicNames

log = get_logger(__name__)

RETRY_S: Final = 1.0


def open_submission(key: IntakeKeyPair, submission: PublicSubmission) -> PublicReferralForm:
    """Decrypt and validate one public referral.

    Raises:
        ValidationFailed: ``intake.*`` when it does not open; ``intake.form_invalid`` when it does not validate.
    """
    plaintext = open_form(key, submission.sealed)
    try:
        return PublicReferralForm.model_validate_json(plaintext)
    except ValidationError as exc:
        where = sorted({".".join(str(p) for p in e["loc"]) or "form" for e in exc.errors()})
        raise OneDoorError("intake.form_invalid", "the public form does not validate: " + ", ".join(where)) from None


class IntakeReader:
    """Reads this desk's intake topic into the inbox until cancelled. Use ``async with``, then ``run()``."""

    def __init__(
        self,
        *,
        bootstrap: str,
        topics: TopicNames,
        agency: AgencyId,
        key: IntakeKeyPair,
        desk: TriageDesk,
        on_stored: Callable[[str], None] | None = None,
    ) -> None:
        self._bootstrap = bootstrap
        self._topic = topics.intake(agency)
        self._group = f"{topics.prefix}.intake-reader.{agency}"
        self._key = key
        self._desk = desk
        self._on_stored = on_stored
        self._consumer: AIOKafkaConsumer | None = None

    async def __aenter__(self) -> IntakeReader:
        # The hub makes the topic on its first submission; make it now so the reader can subscribe.
        await ensure_topics(self._bootstrap, [self._topic], partitions=1)
        self._consumer = AIOKafkaConsumer(
            self._topic,
            bootstrap_servers=self._bootstrap,
            group_id=self._group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=10,
        )
        await self._consumer.start()
        return self

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
                        self._handle(record)
                if batches:
                    await consumer.commit()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - logged; the batch is read again
                trace = "".join(traceback.format_exception(exc))
                log.error("intake.read_failed", error=type(exc).__name__, traceback=trace)  # noqa: TRY400
                for tp in consumer.assignment():
                    await consumer.seek_to_committed(tp)
                await asyncio.sleep(RETRY_S)

    def _handle(self, record: Any) -> None:
        try:
            submission = PublicSubmission.decode(record.value or b"")
        except (ValueError, EOFError, KeyError, TypeError, IndexError):
            log.warning("intake.record_malformed", offset=record.offset)
            return
        try:
            form = open_submission(self._key, submission)
        except OneDoorError as exc:
            log.warning("intake.unreadable", reference=submission.reference, code=exc.code)
            return
        received = submission.received_at
        if received.tzinfo is None:
            received = received.replace(tzinfo=UTC)
        item = self._desk.receive_public(form, reference=submission.reference, received_at=received)
        if self._on_stored is not None:
            self._on_stored(item.item_id)
