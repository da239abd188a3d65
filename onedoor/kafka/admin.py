"""Topic administration: the one module that wraps aiokafka's admin client.

Every aiokafka error is converted here: ``kafka.unreachable`` (:class:`Unavailable`, retriable)
when the cluster cannot be reached or does not answer in time, ``kafka.topic_rejected``
(:class:`ValidationFailed`) when the broker refuses a topic as asked, ``kafka.forbidden``
(:class:`Forbidden`) when ACLs deny it, ``kafka.admin_failed`` for anything else.
:func:`authenticate` tells a refused SCRAM login (``kafka.credentials_refused``) and a secured
broker met without credentials (``kafka.credentials_required``) from an unreachable one.
Every function takes ``credentials`` (``onedoor.kafka.security.ClientCredentials``; ``None``:
PLAINTEXT).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import (
    ClusterAuthorizationFailedError,
    InvalidConfigurationError,
    InvalidPartitionsError,
    InvalidReplicationFactorError,
    InvalidTopicError,
    KafkaConnectionError,
    KafkaError,
    KafkaTimeoutError,
    NoBrokersAvailable,
    NodeNotReadyError,
    PolicyViolationError,
    TopicAlreadyExistsError,
    TopicAuthorizationFailedError,
    UnknownTopicOrPartitionError,
    for_code,
)

from onedoor.errors import Forbidden, NotFound, OneDoorError, Unauthenticated, Unavailable, ValidationFailed
from onedoor.kafka.security import ClientCredentials, aiokafka_options
from onedoor.kafka.tls import UNTRUSTED, speaks_tls, tls_failure
from onedoor.logging import get_logger

log = get_logger(__name__)

_REJECTED = (
    InvalidTopicError,
    InvalidPartitionsError,
    InvalidReplicationFactorError,
    InvalidConfigurationError,
    PolicyViolationError,
)
_FORBIDDEN = (TopicAuthorizationFailedError, ClusterAuthorizationFailedError)
# aiokafka does not mark its own timeouts retriable, but for us a slow broker is a transient one.
_TRANSIENT = (KafkaConnectionError, KafkaTimeoutError, NoBrokersAvailable, NodeNotReadyError)
_RETRY_PAUSE = 0.2


@dataclass(frozen=True, slots=True)
class PartitionInfo:
    """Where one partition's replicas are."""

    partition: int
    leader: int
    """Node id of the leader; -1 while there is none."""
    replicas: tuple[int, ...]
    isr: tuple[int, ...]
    """In-sync replicas (node ids)."""


async def ensure_topics(
    bootstrap: str,
    names: Iterable[str],
    *,
    partitions: int,
    replication_factor: int = 1,
    configs: dict[str, str] | None = None,
    within: float = 30.0,
    credentials: ClientCredentials | None = None,
) -> None:
    """Create the topics that do not exist yet and wait until every one has a leader.

    Topics that already exist are left as they are (partitions and configs untouched).
    Transient failures are retried for up to ``within`` seconds.

    Raises:
        Unavailable: ``kafka.unreachable`` if the cluster does not answer within ``within`` s.
        ValidationFailed: ``kafka.topic_rejected`` for a bad name, partition count, RF or config.
        Forbidden: ``kafka.forbidden`` if ACLs deny topic creation.
    """
    wanted = list(dict.fromkeys(names))
    if not wanted:
        return
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    pending = list(wanted)
    last_problem = "no answer"
    while pending:
        try:
            async with _admin(bootstrap, within, credentials) as admin:
                request = [NewTopic(n, partitions, replication_factor, topic_configs=configs or {}) for n in pending]
                response = await admin.create_topics(request, timeout_ms=int(within * 1000))
            pending, last_problem = _unfinished(response, last_problem)
        except _Retry as retry:
            last_problem = retry.reason
        if pending:
            if loop.time() >= deadline:
                raise Unavailable(
                    "kafka.unreachable", f"could not create topics {pending} at {bootstrap}: {last_problem}"
                )
            await asyncio.sleep(_RETRY_PAUSE)
    log.info("kafka.topics.ensured", count=len(wanted), partitions=partitions, replication_factor=replication_factor)
    await wait_for_topics(bootstrap, wanted, within=max(1.0, deadline - loop.time()), credentials=credentials)


async def set_topic_configs(
    bootstrap: str,
    topic: str,
    configs: dict[str, str],
    *,
    within: float = 30.0,
    credentials: ClientCredentials | None = None,
) -> None:
    """Set ``configs`` on an existing topic (``ensure_topics`` leaves existing topics as they are).

    Raises:
        Unavailable: ``kafka.unreachable`` if the cluster does not answer within ``within`` seconds.
        OneDoorError: the broker refused the change (``kafka.forbidden``, ``kafka.topic_rejected``...).
    """
    try:
        async with _admin(bootstrap, within, credentials) as admin:
            await admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic, configs)])
    except _Retry as retry:
        raise Unavailable("kafka.unreachable", f"cannot configure {topic} at {bootstrap}: {retry.reason}") from None


async def wait_for_topics(
    bootstrap: str, names: Iterable[str], *, within: float = 30.0, credentials: ClientCredentials | None = None
) -> None:
    """Wait until every topic's metadata is visible with a leader for each partition.

    Raises:
        Unavailable: ``kafka.unreachable`` if that does not happen within ``within`` seconds.
    """
    wanted = list(dict.fromkeys(names))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    missing = wanted
    while True:
        try:
            described = await _describe(bootstrap, missing, within, credentials)
            missing = [name for name in missing if not _has_leaders(described.get(name))]
        except _Retry:
            pass
        if not missing:
            return
        if loop.time() >= deadline:
            raise Unavailable("kafka.unreachable", f"topics {missing} have no leader at {bootstrap} after {within}s")
        await asyncio.sleep(_RETRY_PAUSE)


async def describe_partitions(
    bootstrap: str, topic: str, *, within: float = 30.0, credentials: ClientCredentials | None = None
) -> list[PartitionInfo]:
    """Return the partitions of ``topic`` with leader, replicas and ISR, ordered by partition.

    Raises:
        Unavailable: ``kafka.unreachable`` if the cluster does not answer.
        NotFound: ``kafka.topic_not_found`` if the topic does not exist.
    """
    try:
        described = await _describe(bootstrap, [topic], within, credentials)
    except _Retry as retry:
        raise Unavailable("kafka.unreachable", f"cannot describe {topic} at {bootstrap}: {retry.reason}") from None
    entry = described.get(topic)
    code = None if entry is None else entry["error_code"]
    if entry is None or code == UnknownTopicOrPartitionError.errno:
        raise NotFound("kafka.topic_not_found", f"topic {topic} does not exist")
    if code != 0:
        raise OneDoorError("kafka.admin_failed", f"cannot describe topic {topic} (broker error code {code})")
    return sorted(
        (
            PartitionInfo(
                partition=int(p["partition"]),
                leader=int(p["leader"]),
                replicas=tuple(int(r) for r in p["replicas"]),
                isr=tuple(int(r) for r in p["isr"]),
            )
            for p in entry["partitions"]
        ),
        key=lambda info: info.partition,
    )


class _Retry(Exception):
    """A transient failure: try again until the caller's deadline."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@asynccontextmanager
async def _admin(
    bootstrap: str, request_seconds: float, credentials: ClientCredentials | None = None
) -> AsyncIterator[Any]:
    """Yield a started admin client; aiokafka errors become OneDoor errors or :class:`_Retry`."""
    client = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap,
        client_id="onedoor-admin",
        request_timeout_ms=int(request_seconds * 1000),
        **aiokafka_options(credentials),
    )
    try:
        await client.start()
        yield client
    except KafkaError as exc:
        raise _convert(exc) from exc
    except TimeoutError as exc:
        raise _Retry("request timed out") from exc
    except AttributeError as exc:
        # aiokafka's admin client dereferences the cluster's controller without checking it: a
        # cluster still electing one (a KRaft quorum just started, or under load) answers
        # metadata with no controller, and the call fails with an AttributeError on None.
        if "nodeId" not in str(exc):
            raise
        raise _Retry("the cluster has no controller yet") from exc
    finally:
        await client.close()


def _convert(exc: KafkaError) -> Exception:
    """Map an aiokafka error to a OneDoor error, or to :class:`_Retry` when it is transient."""
    if isinstance(exc, _FORBIDDEN):
        return Forbidden("kafka.forbidden", f"the broker denied a topic operation: {exc}")
    if isinstance(exc, _REJECTED):
        return ValidationFailed("kafka.topic_rejected", f"the broker rejected the topic: {exc}")
    if isinstance(exc, _TRANSIENT) or getattr(exc, "retriable", False):
        return _Retry(str(exc))
    return OneDoorError("kafka.admin_failed", f"Kafka admin request failed: {exc}")


def _unfinished(response: Any, last_problem: str) -> tuple[list[str], str]:
    """Return topics to retry and the latest transient reason; raise for a final refusal."""
    retry: list[str] = []
    for entry in response.topic_errors:
        name, code = entry[0], entry[1]
        message = entry[2] if len(entry) > 2 else None
        if code in (0, TopicAlreadyExistsError.errno):
            continue
        error = for_code(code)(message or name)
        converted = _convert(error)
        if isinstance(converted, _Retry):
            retry.append(name)
            last_problem = f"{name}: {converted.reason}"
        else:
            raise converted
    return retry, last_problem


async def _describe(
    bootstrap: str, names: list[str], request_seconds: float, credentials: ClientCredentials | None = None
) -> dict[str, dict[str, Any]]:
    async with _admin(bootstrap, request_seconds, credentials) as admin:
        topics = await admin.describe_topics(names)
    return {str(t["topic"]): t for t in topics}


def _has_leaders(entry: dict[str, Any] | None) -> bool:
    if entry is None or entry["error_code"] != 0 or not entry["partitions"]:
        return False
    return all(p["error_code"] == 0 and p["leader"] >= 0 for p in entry["partitions"])


async def authenticate(bootstrap: str, credentials: ClientCredentials | None, *, within: float = 10.0) -> None:
    """Open one connection to the first reachable broker as ``credentials`` and close it: are they accepted?

    aiokafka's clients report a refused SASL login only as "unable to bootstrap"; this tells the
    cases apart, so a connector can say what is wrong in words.

    Raises:
        Unavailable: ``kafka.unreachable`` when no broker accepts a TCP connection.
        Unauthenticated: ``kafka.credentials_refused`` when the broker refuses the SCRAM login;
            ``kafka.credentials_required`` when it answers but drops a client without credentials.
        Unavailable: ``kafka.tls_untrusted`` when the broker's TLS certificate does not verify
            against ``credentials.ca_file`` (or names another host); ``kafka.tls_required`` when it
            speaks TLS and the credentials have no CA file; ``kafka.tls_failed`` for another TLS failure.
    """
    from aiokafka.conn import create_conn  # noqa: PLC0415 - aiokafka's connection, used only here
    from aiokafka.errors import AuthenticationFailedError, SaslAuthenticationFailed  # noqa: PLC0415
    from aiokafka.protocol.metadata import MetadataRequest  # noqa: PLC0415

    last = "no broker listed"
    for server in bootstrap.split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            conn = await create_conn(
                host, int(port), request_timeout_ms=int(within * 1000), **aiokafka_options(credentials)
            )
        except (SaslAuthenticationFailed, AuthenticationFailedError):
            who = credentials.username if credentials is not None else "?"
            raise Unauthenticated(
                "kafka.credentials_refused", f"the broker at {server} refused the SCRAM credentials of {who}"
            ) from None
        except (OSError, KafkaError, TimeoutError) as exc:
            last = f"{server}: {type(exc).__name__}"
            await _tls_problem(server, credentials, exc, host=host, port=int(port), within=within)
            if credentials is None and await _port_open(host, int(port), within):
                raise Unauthenticated(
                    "kafka.credentials_required",
                    f"the broker at {server} accepts connections but drops clients without credentials (it is secured)",
                ) from None
            continue
        try:
            # A SASL listener answers ApiVersions before any login; a metadata request it does not.
            await conn.send(MetadataRequest([]))
        except (OSError, KafkaError, TimeoutError):
            if credentials is None:
                raise Unauthenticated(
                    "kafka.credentials_required",
                    f"the broker at {server} drops clients without credentials (it is secured)",
                ) from None
            raise Unavailable("kafka.unreachable", f"the broker at {server} dropped the connection") from None
        finally:
            conn.close()
        return
    raise Unavailable("kafka.unreachable", f"no broker of {bootstrap} answers ({last})")


async def _tls_problem(
    server: str, credentials: ClientCredentials | None, exc: BaseException, *, host: str, port: int, within: float
) -> None:
    """Raise a ``kafka.tls_*`` error when TLS is why ``credentials`` could not connect to ``server``."""
    if credentials is None:
        return
    if credentials.ca_file is None:
        if await speaks_tls(host, port, within):
            raise Unavailable(
                "kafka.tls_required",
                f"the broker at {server} speaks TLS (SASL_SSL) and no broker CA file is configured "
                "(ONEDOOR_CONNECTOR_KAFKA__CA_FILE / ONEDOOR_KAFKA__CA_FILE)",
            )
        return
    reason = tls_failure(exc)
    if reason is None:
        return
    if reason.startswith(UNTRUSTED):
        raise Unavailable(
            "kafka.tls_untrusted",
            f"the certificate of the broker at {server} is not trusted by {credentials.ca_file} "
            f"({reason.removeprefix(UNTRUSTED)})",
        ) from None
    raise Unavailable("kafka.tls_failed", f"TLS with the broker at {server} failed: {reason}") from None


async def _port_open(host: str, port: int, within: float) -> bool:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout=within)
    except (OSError, TimeoutError):
        return False
    writer.close()
    return True


async def can_read(bootstrap: str, topic: str, credentials: ClientCredentials | None, *, within: float = 10.0) -> bool:
    """Whether the broker lets ``credentials`` read ``topic`` (a throwaway consumer, no group, nothing committed).

    A topic the client may not describe is refused whether it exists or not (the broker does not
    say which), so this answers for a topic that does not exist too.

    Raises:
        Unavailable: ``kafka.unreachable`` when the broker does not answer.
    """
    from aiokafka import AIOKafkaConsumer  # noqa: PLC0415 - only this probe consumes here

    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        request_timeout_ms=int(within * 1000),
        **aiokafka_options(credentials),
    )
    try:
        await consumer.start()
        await consumer.getmany(timeout_ms=int(min(within, 3.0) * 1000), max_records=1)
    except TopicAuthorizationFailedError:
        return False
    except (KafkaConnectionError, KafkaTimeoutError, NoBrokersAvailable) as exc:
        raise Unavailable(
            "kafka.unreachable", f"cannot reach the broker at {bootstrap}: {type(exc).__name__}"
        ) from None
    finally:
        await consumer.stop()
    return True
