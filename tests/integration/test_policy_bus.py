"""Push invalidation: committed changes are announced once, rolled-back ones never, and every replica hears them."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from hub.policy.bus import PolicyAnnouncer, PolicyEvent, PolicyListener
from hub.policy.changes import Change, ChangeKind, announce_commits, mark_changed
from onedoor.db import make_engine, make_session_factory
from onedoor.topics import TopicNames

pytestmark = pytest.mark.integration


@pytest.fixture
def factory() -> sessionmaker[Session]:
    return make_session_factory(make_engine("sqlite://"))


def test_a_change_is_announced_after_its_commit_and_a_rolled_back_one_never(factory: sessionmaker[Session]) -> None:
    announced: list[list[Change]] = []
    announce_commits(factory, announced.append)

    with factory() as session, session.begin():
        mark_changed(session, ChangeKind.AGREEMENT, "isa-fake-one")
        mark_changed(session, ChangeKind.AGREEMENT, "isa-fake-one")  # the same change twice: once
        mark_changed(session, ChangeKind.CONSENT, "st1_FAKEtokenForTestsOnly00")
        assert announced == [], "nothing is announced before the commit"
    assert announced == [[(ChangeKind.AGREEMENT, "isa-fake-one"), (ChangeKind.CONSENT, "st1_FAKEtokenForTestsOnly00")]]

    with factory() as session:
        session.begin()
        mark_changed(session, ChangeKind.AGREEMENT, "isa-fake-two")
        session.rollback()  # the request failed
    with factory() as session, session.begin():
        session.execute(text("select 1"))  # a later commit does not carry the rolled-back mark
    assert len(announced) == 1


def test_garbage_on_the_topic_is_ignored_not_fatal() -> None:
    assert PolicyEvent.decode(b"not json") is None
    assert PolicyEvent.decode(b'{"kind": "shoe-size", "key": "x", "at_ms": 1}') is None
    event = PolicyEvent(ChangeKind.AGREEMENT, "isa-fake-one", 1)
    assert PolicyEvent.decode(event.encode()) == event


async def test_every_replica_hears_every_announcement(kafka_bootstrap: str, topic_prefix: str) -> None:
    topics = TopicNames(topic_prefix)
    heard: dict[str, list[PolicyEvent]] = {"replica-a": [], "replica-b": []}

    def listener(name: str) -> PolicyListener:
        async def on_event(event: PolicyEvent) -> None:
            heard[name].append(event)

        return PolicyListener(kafka_bootstrap, topics, on_event)

    replicas = [listener("replica-a"), listener("replica-b")]
    for replica in replicas:
        await replica.start()  # creates the topics if need be, then reads from their ends
    announcer = PolicyAnnouncer(kafka_bootstrap, topics)
    await announcer.start()
    try:
        announcer.publish(
            [
                (ChangeKind.AGREEMENT, "isa-fake-one"),
                (ChangeKind.REGISTRY, "fake-agency"),  # on the registry topic: heard too
                (ChangeKind.CONSENT, "st1_FAKEtokenForTestsOnly00"),
            ]
        )
        for _ in range(200):
            if all(len(events) == 3 for events in heard.values()):
                break
            await asyncio.sleep(0.05)
    finally:
        await announcer.stop()
        for replica in replicas:
            await replica.stop()
    for events in heard.values():
        # In order on each topic; the two topics' events may interleave either way.
        assert [(e.kind, e.key) for e in events if e.kind is not ChangeKind.REGISTRY] == [
            (ChangeKind.AGREEMENT, "isa-fake-one"),
            (ChangeKind.CONSENT, "st1_FAKEtokenForTestsOnly00"),
        ]
        assert [(e.kind, e.key) for e in events if e.kind is ChangeKind.REGISTRY] == [
            (ChangeKind.REGISTRY, "fake-agency")
        ]
