"""The hub's broker identity may replay dead letters; no agency may touch the replay or dead-letter topics."""

from __future__ import annotations

from onedoor.ids import AgencyId
from onedoor.kafka.plan import (
    Operation,
    Resource,
    agency_acl_plan,
    allows,
    deadletter_group,
    hub_acl_plan,
    replay_topic,
)
from onedoor.topics import TopicNames

TOPICS = TopicNames("onedoor")
HUB = "User:hub"
MET = AgencyId("met")


def test_the_hub_reads_dead_letters_and_writes_and_reads_the_replay_topic() -> None:
    plan = hub_acl_plan("hub", TOPICS)
    assert allows(plan, HUB, Resource.TOPIC, TOPICS.dead_letter, Operation.READ)
    assert allows(plan, HUB, Resource.TOPIC, replay_topic(TOPICS), Operation.WRITE)
    assert allows(plan, HUB, Resource.TOPIC, replay_topic(TOPICS), Operation.READ)
    assert allows(plan, HUB, Resource.GROUP, deadletter_group(TOPICS), Operation.READ)
    # Still: no outbound topic written, no inbox read.
    assert not allows(plan, HUB, Resource.TOPIC, TOPICS.outbound(MET), Operation.WRITE)
    assert not allows(plan, HUB, Resource.TOPIC, TOPICS.inbox(MET), Operation.READ)


def test_no_agency_writes_the_replay_topic_or_reads_dead_letters() -> None:
    who = "User:agency-met"
    for triage in (False, True):
        plan = agency_acl_plan(MET, TOPICS, triage=triage)
        assert not allows(plan, who, Resource.TOPIC, replay_topic(TOPICS), Operation.WRITE)
        assert not allows(plan, who, Resource.TOPIC, TOPICS.dead_letter, Operation.READ)
