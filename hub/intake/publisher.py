"""Publishes sealed public referrals to ``<prefix>.intake.<triage agency>``: the one aiokafka producer of intake.

The record value is Avro ``onedoor.intake.PublicSubmission`` (``onedoor.envelope.intake.PublicSubmission``,
re-exported here): the reference, when it arrived, the key id and the sealed form. The key is
the reference. Nothing in it is readable without the triage desk's key.
"""

from __future__ import annotations

from typing import Final

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from onedoor.envelope.intake import PublicSubmission
from onedoor.errors import Unavailable
from onedoor.ids import AgencyId
from onedoor.intake_topic import ensure_intake_topic, intake_topic_config
from onedoor.kafka.security import ClientCredentials, aiokafka_options
from onedoor.logging import get_logger
from onedoor.topics import TopicNames

log = get_logger(__name__)

INTAKE_TOPIC_CONFIG: Final = intake_topic_config().configs
"""Two weeks: long enough for a triage connector that was down to catch up, then gone
(``onedoor.intake_topic``, shared with the triage connector's reader)."""
SEND_TIMEOUT_S: Final = 15.0


class IntakePublisher:
    """Started in the hub API's lifespan when a broker is configured; ``publish`` sends and waits for the ack."""

    def __init__(
        self,
        bootstrap: str,
        topics: TopicNames,
        *,
        replication_factor: int = 1,
        credentials: ClientCredentials | None = None,
    ) -> None:
        self._bootstrap = bootstrap
        self._credentials = credentials
        self._topics = topics
        self._replication_factor = replication_factor
        self._producer: AIOKafkaProducer | None = None
        self._ensured: set[str] = set()

    async def start(self) -> None:
        """Connect to the broker."""
        self._producer = AIOKafkaProducer(
            bootstrap_servers=self._bootstrap,
            acks="all",
            enable_idempotence=True,
            linger_ms=0,
            **aiokafka_options(self._credentials),
        )
        await self._producer.start()

    async def stop(self) -> None:
        """Disconnect."""
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    async def publish(self, agency: AgencyId, submission: PublicSubmission) -> None:
        """Send ``submission`` to ``agency``'s intake topic (made on first use) and wait until it is stored.

        Raises:
            Unavailable: ``intake.publish_failed`` when the broker does not take it.
        """
        producer = self._producer
        if producer is None:
            raise Unavailable("intake.publish_failed", "the intake publisher is not started")
        topic = self._topics.intake(agency)
        try:
            if topic not in self._ensured:
                await ensure_intake_topic(
                    self._bootstrap,
                    self._topics,
                    agency,
                    replication_factor=self._replication_factor,
                    within=SEND_TIMEOUT_S,
                    credentials=self._credentials,
                )
                self._ensured.add(topic)
            await producer.send_and_wait(topic, submission.encode(), key=submission.reference.encode("ascii"))
        except (KafkaError, Unavailable) as exc:
            log.warning("intake.publish_failed", reference=submission.reference, error=type(exc).__name__)
            raise Unavailable("intake.publish_failed", "the referral could not be passed on; try again") from None
        log.info("intake.published", reference=submission.reference, agency=str(agency), key_id=submission.key_id)


__all__ = ["INTAKE_TOPIC_CONFIG", "IntakePublisher", "PublicSubmission"]
