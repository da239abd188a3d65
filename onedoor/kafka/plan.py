"""Who may do what on the broker: pure plans of ACL bindings, tested without a broker.

:func:`agency_acl_plan` is everything an agency's connector may do; :func:`hub_acl_plan` what
the hub's router and API may do. :mod:`onedoor.kafka.acls` applies them to a broker.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from onedoor.ids import AgencyId
from onedoor.topics import TopicNames


class Resource(StrEnum):
    """What an ACL is on."""

    TOPIC = "topic"
    GROUP = "group"


class Pattern(StrEnum):
    """How an ACL's resource name matches: exactly, or as a prefix."""

    LITERAL = "literal"
    PREFIXED = "prefixed"


class Operation(StrEnum):
    """What an ACL allows."""

    READ = "read"
    WRITE = "write"
    DESCRIBE = "describe"
    CREATE = "create"
    DESCRIBE_CONFIGS = "describe_configs"
    ALTER_CONFIGS = "alter_configs"


@dataclass(frozen=True, slots=True, order=True)
class AclBinding:
    """One ALLOW rule: ``principal`` may do ``operation`` on the ``resource`` matching ``name``."""

    principal: str
    """``User:<username>``."""
    resource: Resource
    name: str
    pattern: Pattern
    operation: Operation

    def __str__(self) -> str:
        return f"{self.principal} {self.operation} {self.resource} {self.pattern}:{self.name}"


def agency_username(agency: AgencyId) -> str:
    """The SCRAM user of an agency's connector: ``agency-<id>``."""
    return f"agency-{agency}"


def connector_group(topics: TopicNames, agency: AgencyId) -> str:
    """The consumer group of an agency's connector (``connectors.sdk.connector``)."""
    return f"{topics.prefix}.connector.{agency}"


def intake_group(topics: TopicNames, agency: AgencyId) -> str:
    """The consumer group of a triage desk's intake reader (``connectors.triage.intake``)."""
    return f"{topics.prefix}.intake-reader.{agency}"


def replay_topic(topics: TopicNames) -> str:
    """Dead letters an operator replays: only the hub writes it, the router reads it (``hub.deadletters``)."""
    return f"{topics.prefix}.replay"


def deadletter_group(topics: TopicNames) -> str:
    """The consumer group of the hub API's dead-letter index (``hub.deadletters.ingest``)."""
    return f"{topics.prefix}.hub-deadletters"


def _grants(principal: str, resource: Resource, name: str, pattern: Pattern, *ops: Operation) -> list[AclBinding]:
    return [AclBinding(principal, resource, name, pattern, op) for op in ops]


def agency_acl_plan(agency: AgencyId, topics: TopicNames, *, triage: bool = False) -> list[AclBinding]:
    """Everything an agency's connector may do on the broker, and nothing else.

    Write and describe its own outbound topic; read and describe its own inbox and the registry
    topic (agency status and key changes; never the policy topic, whose consent events carry
    every child's subject token: threat model S7); its consumer group, exactly, and groups under
    ``<group>.`` (with the dot: agency ``met`` never gets ``met-police``'s). A triage desk also
    reads (and may create) its intake topic, with its reader's group.
    """
    who = f"User:{agency_username(agency)}"
    group = connector_group(topics, agency)
    plan = [
        *_grants(who, Resource.TOPIC, topics.outbound(agency), Pattern.LITERAL, Operation.WRITE, Operation.DESCRIBE),
        *_grants(who, Resource.TOPIC, topics.inbox(agency), Pattern.LITERAL, Operation.READ, Operation.DESCRIBE),
        *_grants(who, Resource.TOPIC, topics.registry, Pattern.LITERAL, Operation.READ, Operation.DESCRIBE),
        *_grants(who, Resource.GROUP, group, Pattern.LITERAL, Operation.READ),
        *_grants(who, Resource.GROUP, f"{group}.", Pattern.PREFIXED, Operation.READ),
    ]
    if triage:
        intake = topics.intake(agency)
        plan += [
            *_grants(
                who,
                Resource.TOPIC,
                intake,
                Pattern.LITERAL,
                Operation.READ,
                Operation.DESCRIBE,
                Operation.CREATE,
                # ensure_intake_topic aligns retention on a topic that exists already.
                Operation.DESCRIBE_CONFIGS,
                Operation.ALTER_CONFIGS,
            ),
            *_grants(who, Resource.GROUP, intake_group(topics, agency), Pattern.LITERAL, Operation.READ),
        ]
    return sorted(plan)


def hub_acl_plan(username: str, topics: TopicNames, *, router_group: str | None = None) -> list[AclBinding]:
    """What the hub (router and API) may do: read every outbound topic, write every inbox.

    It also makes those topics as agencies appear, writes and reads the dead-letter topic and
    the replay topic (an operator's replay of a dead letter, ``hub.deadletters``), reads and
    writes (and makes) the policy and the registry topics (``hub.policy.bus``), writes the
    intake topics (public referrals), and consumes with the router's group, and describes the
    connectors' groups (their committed offsets give the ops dashboard each inbox's lag). It
    cannot read an inbox or write an outbound topic.
    """
    who = f"User:{username}"
    p = topics.prefix
    t, lit, pre = Resource.TOPIC, Pattern.LITERAL, Pattern.PREFIXED
    r, w, d, c = Operation.READ, Operation.WRITE, Operation.DESCRIBE, Operation.CREATE
    plan = [
        *_grants(who, t, f"{p}.out.", pre, r, d, c),
        *_grants(who, t, f"{p}.in.", pre, w, d, c),
        *_grants(who, t, topics.dead_letter, lit, r, w, d, c),
        *_grants(who, t, replay_topic(topics), lit, r, w, d, c),
        *_grants(who, Resource.GROUP, deadletter_group(topics), lit, r),
        *_grants(who, t, topics.policy, lit, r, w, d, c),
        *_grants(who, t, topics.registry, lit, r, w, d, c),
        *_grants(who, t, f"{p}.intake.", pre, w, d, c, Operation.DESCRIBE_CONFIGS, Operation.ALTER_CONFIGS),
        *_grants(who, Resource.GROUP, router_group or f"{p}.hub-router", lit, r),
        # Describe only: the ops dashboard reads each connector group's committed offsets
        # (consumer lag per inbox); it cannot join, commit for or reset those groups.
        *_grants(who, Resource.GROUP, f"{p}.connector.", pre, d),
    ]
    return sorted(plan)


def allows(plan: list[AclBinding], principal: str, resource: Resource, name: str, operation: Operation) -> bool:
    """Whether ``plan`` lets ``principal`` do ``operation`` on ``resource`` ``name``, as the broker would match it.

    A LITERAL binding matches its name exactly, a PREFIXED one any name starting with it. The
    broker also lets READ, WRITE and the other operations imply DESCRIBE; that is not modelled:
    plans grant DESCRIBE explicitly.
    """
    return any(
        b.principal == principal
        and b.resource is resource
        and b.operation is operation
        and (b.name == name if b.pattern is Pattern.LITERAL else name.startswith(b.name))
        for b in plan
    )
