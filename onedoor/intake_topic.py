"""The intake topic ``<prefix>.intake.<triage agency>``: one configuration, whichever side makes it.

The hub API publishes public referrals to it; the triage connector reads it, and often starts
first, so both create it through :func:`ensure_intake_topic` with the same settings: one
partition, ``cleanup.policy=delete`` and two weeks' retention (long enough for a triage
connector that was down to catch up, then gone). If the topic already exists with other
settings (say made by an older connector), its retention and cleanup policy are set right; the
replication factor of an existing topic cannot change here (``kafka-reassign-partitions``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from onedoor.errors import OneDoorError
from onedoor.ids import AgencyId
from onedoor.kafka.admin import ensure_topics, set_topic_configs
from onedoor.kafka.security import ClientCredentials
from onedoor.logging import get_logger
from onedoor.topics import TopicNames

log = get_logger(__name__)

INTAKE_PARTITIONS: Final = 1
"""One partition: referrals are few, and the desk reads them in the order they came."""
INTAKE_RETENTION_MS: Final = 14 * 24 * 3600 * 1000
"""Two weeks."""


@dataclass(frozen=True, slots=True)
class IntakeTopicConfig:
    """How the intake topic is made."""

    partitions: int
    replication_factor: int
    configs: dict[str, str] = field(default_factory=dict)


def intake_topic_config(replication_factor: int = 1, *, retention_ms: int = INTAKE_RETENTION_MS) -> IntakeTopicConfig:
    """The intake topic's partitions, replication factor and topic configs (``retention.ms`` included)."""
    return IntakeTopicConfig(
        partitions=INTAKE_PARTITIONS,
        replication_factor=replication_factor,
        configs={"cleanup.policy": "delete", "retention.ms": str(retention_ms)},
    )


async def ensure_intake_topic(
    bootstrap: str,
    topics: TopicNames,
    agency: AgencyId,
    *,
    replication_factor: int = 1,
    within: float = 30.0,
    credentials: ClientCredentials | None = None,
) -> str:
    """Make ``agency``'s intake topic if it is missing, set its retention if not; its name.

    Raises:
        Unavailable: ``kafka.unreachable`` when the cluster does not answer within ``within`` s.
        ValidationFailed: ``kafka.topic_rejected`` (e.g. a replication factor above the broker count).
    """
    topic = topics.intake(agency)
    config = intake_topic_config(replication_factor)
    await ensure_topics(
        bootstrap,
        [topic],
        partitions=config.partitions,
        replication_factor=config.replication_factor,
        configs=config.configs,
        within=within,
        credentials=credentials,
    )
    await _align_configs(bootstrap, topic, config.configs, within, credentials)
    return topic


async def _align_configs(
    bootstrap: str, topic: str, configs: dict[str, str], within: float, credentials: ClientCredentials | None = None
) -> None:
    # ensure_topics leaves an existing topic as it is; set the retention the intake topic needs.
    try:
        await set_topic_configs(bootstrap, topic, configs, within=within, credentials=credentials)
    except OneDoorError as exc:
        # Not fatal: the topic works, only its retention may be the broker's default.
        log.warning("intake.topic_config_not_set", topic=topic, error=exc.code)


__all__ = [
    "INTAKE_PARTITIONS",
    "INTAKE_RETENTION_MS",
    "IntakeTopicConfig",
    "ensure_intake_topic",
    "intake_topic_config",
]
