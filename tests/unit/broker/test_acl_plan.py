"""The ACL plans: what an agency's connector and the hub may do on the broker, and nothing more."""

from __future__ import annotations

import pytest

from onedoor.ids import AgencyId
from onedoor.kafka.plan import (
    Operation,
    Pattern,
    Resource,
    agency_acl_plan,
    agency_username,
    allows,
    hub_acl_plan,
)
from onedoor.topics import TopicNames

TOPICS = TopicNames("onedoor")
MET = AgencyId("met")
MET_POLICE = AgencyId("met-police")
WHO = "User:agency-met"
R, W, D, C = Operation.READ, Operation.WRITE, Operation.DESCRIBE, Operation.CREATE
TOPIC, GROUP = Resource.TOPIC, Resource.GROUP


def test_an_agency_gets_exactly_its_own_topics_and_group() -> None:
    plan = agency_acl_plan(MET, TOPICS)

    assert agency_username(MET) == "agency-met"
    assert {str(b) for b in plan} == {
        "User:agency-met write topic literal:onedoor.out.met",
        "User:agency-met describe topic literal:onedoor.out.met",
        "User:agency-met read topic literal:onedoor.in.met",
        "User:agency-met describe topic literal:onedoor.in.met",
        "User:agency-met read topic literal:onedoor.registry",
        "User:agency-met describe topic literal:onedoor.registry",
        "User:agency-met read group literal:onedoor.connector.met",
        "User:agency-met read group prefixed:onedoor.connector.met.",
    }
    assert plan == sorted(plan)


CASES = [
    # (sentence, resource, name, operation, allowed)
    ("writes its own outbound topic", TOPIC, "onedoor.out.met", W, True),
    ("reads its own inbox", TOPIC, "onedoor.in.met", R, True),
    ("consumes with its own group", GROUP, "onedoor.connector.met", R, True),
    ("and with a group under its own, after the dot", GROUP, "onedoor.connector.met.policy", R, True),
    ("never with met-police's group: the prefix ends with a dot", GROUP, "onedoor.connector.met-police", R, False),
    ("nor a group under met-police's", GROUP, "onedoor.connector.met-police.x", R, False),
    ("never reads met-police's inbox", TOPIC, "onedoor.in.met-police", R, False),
    ("never writes met-police's outbound topic", TOPIC, "onedoor.out.met-police", W, False),
    ("never writes an inbox, its own included (only the hub does)", TOPIC, "onedoor.in.met", W, False),
    ("never reads an outbound topic, its own included", TOPIC, "onedoor.out.met", R, False),
    ("reads the registry topic (key revocations within a second)", TOPIC, "onedoor.registry", R, True),
    ("never writes the registry topic", TOPIC, "onedoor.registry", W, False),
    (
        "never reads the policy topic: its consent events name every child's token (S7)",
        TOPIC,
        "onedoor.policy",
        R,
        False,
    ),
    ("nor describes it", TOPIC, "onedoor.policy", D, False),
    ("never writes the policy topic", TOPIC, "onedoor.policy", W, False),
    ("never reads the dead-letter topic", TOPIC, "onedoor.deadletter", R, False),
    ("never creates topics (the hub does)", TOPIC, "onedoor.out.met", C, False),
    ("never reads a triage desk's intake", TOPIC, "onedoor.intake.met", R, False),
]


@pytest.mark.parametrize(("sentence", "resource", "name", "operation", "allowed"), CASES, ids=[c[0] for c in CASES])
def test_what_agency_met_may_do(
    sentence: str, resource: Resource, name: str, operation: Operation, allowed: bool
) -> None:
    assert allows(agency_acl_plan(MET, TOPICS), WHO, resource, name, operation) is allowed, sentence


def test_no_binding_of_met_names_anything_of_met_police() -> None:
    for binding in agency_acl_plan(MET, TOPICS, triage=True):
        assert "met-police" not in binding.name
        assert binding.pattern is Pattern.LITERAL or binding.name.endswith(".")


def test_a_triage_desk_also_reads_and_may_create_its_intake_topic() -> None:
    plan = agency_acl_plan(MET, TOPICS, triage=True)

    assert allows(plan, WHO, TOPIC, "onedoor.intake.met", R)
    assert allows(plan, WHO, TOPIC, "onedoor.intake.met", C)
    assert allows(plan, WHO, GROUP, "onedoor.intake-reader.met", R)
    assert not allows(plan, WHO, TOPIC, "onedoor.intake.met-police", R)
    assert not allows(plan, WHO, TOPIC, "onedoor.intake.met", W)  # the hub API writes it
    assert not allows(agency_acl_plan(MET, TOPICS), WHO, TOPIC, "onedoor.intake.met", R)


def test_the_hub_routes_but_reads_no_inbox_and_writes_no_outbound_topic() -> None:
    plan = hub_acl_plan("hub", TOPICS)
    hub = "User:hub"

    assert allows(plan, hub, TOPIC, "onedoor.out.met", R)
    assert allows(plan, hub, TOPIC, "onedoor.in.met-police", W)
    assert allows(plan, hub, TOPIC, "onedoor.deadletter", W)
    assert allows(plan, hub, TOPIC, "onedoor.policy", W)
    assert allows(plan, hub, TOPIC, "onedoor.policy", R)
    assert allows(plan, hub, TOPIC, "onedoor.registry", W)
    assert allows(plan, hub, TOPIC, "onedoor.registry", R)
    assert allows(plan, hub, TOPIC, "onedoor.registry", C)
    assert allows(plan, hub, TOPIC, "onedoor.intake.triage", W)
    assert allows(plan, hub, TOPIC, "onedoor.in.met", C)
    assert allows(plan, hub, GROUP, "onedoor.hub-router", R)
    assert not allows(plan, hub, TOPIC, "onedoor.in.met", R)
    assert not allows(plan, hub, TOPIC, "onedoor.out.met", W)
    assert not allows(plan, hub, TOPIC, "onedoor.intake.triage", R)
    assert not allows(plan, hub, GROUP, "onedoor.connector.met", R)
    assert not allows(plan, hub, TOPIC, "other.out.met", R)  # another prefix is another hub's


def test_no_agency_plan_grants_anything_on_the_policy_topic() -> None:
    for triage in (False, True):
        assert not [b for b in agency_acl_plan(MET, TOPICS, triage=triage) if b.name == TOPICS.policy]
