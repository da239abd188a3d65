"""Broker identities and ACLs: the one module that wraps kafka-python's admin client.

aiokafka's admin client has no SCRAM or ACL requests; kafka-python's ``KafkaAdminClient`` has
both. It is synchronous, so every public function here is async and runs it in a thread.

The plans are pure (:mod:`onedoor.kafka.plan`): an agency (or the hub) and the topic prefix
give the exact ACL bindings.
:func:`provision_agency` creates or rotates an agency's SCRAM user and grants its plan;
:func:`withdraw_user` takes a user's ACLs and SCRAM credentials away (a suspended agency).

Errors: ``kafka.unreachable`` (:class:`Unavailable`) when the broker does not answer,
``kafka.admin_refused`` (:class:`Forbidden`) when the admin credentials are refused or lack the
right, ``kafka.admin_failed`` for anything else the broker answers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Final

from kafka.admin import (
    ACL,
    ACLFilter,
    ACLOperation,
    ACLPermissionType,
    ACLResourcePatternType,
    KafkaAdminClient,
    ResourcePattern,
    ResourcePatternFilter,
    ResourceType,
    ScramMechanism,
    UserScramCredentialDeletion,
    UserScramCredentialUpsertion,
)
from kafka.errors import (
    AuthorizationError,
    KafkaConnectionError,
    KafkaError,
    KafkaTimeoutError,
    SaslAuthenticationFailedError,
    SecurityDisabledError,
)
from pydantic import SecretStr

from onedoor.errors import Forbidden, OneDoorError, Unauthenticated, Unavailable
from onedoor.ids import AgencyId
from onedoor.kafka.admin import authenticate
from onedoor.kafka.plan import AclBinding, Operation, Pattern, Resource, agency_acl_plan, agency_username, hub_acl_plan
from onedoor.kafka.security import ClientCredentials, new_password, write_password_file
from onedoor.logging import get_logger
from onedoor.topics import TopicNames

log = get_logger(__name__)

UNREACHABLE: Final = "kafka.unreachable"
ADMIN_REFUSED: Final = "kafka.admin_refused"
ADMIN_FAILED: Final = "kafka.admin_failed"
SCRAM_ITERATIONS: Final = 8192
"""PBKDF2 rounds the broker stores each SCRAM-SHA-512 password with (Kafka's minimum is 4096)."""


# --- the broker side -----------------------------------------------------------------------------

_RESOURCE = {Resource.TOPIC: ResourceType.TOPIC, Resource.GROUP: ResourceType.GROUP}
_PATTERN = {Pattern.LITERAL: ACLResourcePatternType.LITERAL, Pattern.PREFIXED: ACLResourcePatternType.PREFIXED}
_OPERATION = {
    Operation.READ: ACLOperation.READ,
    Operation.WRITE: ACLOperation.WRITE,
    Operation.DESCRIBE: ACLOperation.DESCRIBE,
    Operation.CREATE: ACLOperation.CREATE,
    Operation.DESCRIBE_CONFIGS: ACLOperation.DESCRIBE_CONFIGS,
    Operation.ALTER_CONFIGS: ACLOperation.ALTER_CONFIGS,
}
_TRANSIENT = (KafkaConnectionError, KafkaTimeoutError)
_REFUSED = (SaslAuthenticationFailedError, AuthorizationError)


def _to_acl(binding: AclBinding) -> Any:
    pattern = ResourcePattern(_RESOURCE[binding.resource], binding.name, _PATTERN[binding.pattern])
    return ACL(binding.principal, "*", _OPERATION[binding.operation], ACLPermissionType.ALLOW, pattern)


@contextmanager
def _admin(bootstrap: str, admin: ClientCredentials, within: float) -> Iterator[Any]:
    """A connected kafka-python admin client; its errors become OneDoor errors."""
    client: Any = None
    try:
        client = KafkaAdminClient(
            bootstrap_servers=bootstrap,
            client_id="onedoor-acl-admin",
            request_timeout_ms=int(within * 1000),
            bootstrap_timeout_ms=int(within * 1000),
            **admin.kafka_python_options(),
        )
        yield client
    except _TRANSIENT as exc:
        raise Unavailable(UNREACHABLE, f"the broker at {bootstrap} does not answer ({type(exc).__name__})") from None
    except _REFUSED as exc:
        raise Forbidden(
            ADMIN_REFUSED, f"the broker refused the admin user {admin.username} ({type(exc).__name__})"
        ) from None
    except SecurityDisabledError:
        raise OneDoorError(ADMIN_FAILED, f"the broker at {bootstrap} has no authorizer: ACLs cannot be set") from None
    except KafkaError as exc:
        raise OneDoorError(ADMIN_FAILED, f"the broker refused an admin request ({type(exc).__name__})") from None
    finally:
        if client is not None:
            client.close()


def _set_password(client: Any, username: str, password: SecretStr) -> None:
    upsert = UserScramCredentialUpsertion(
        username, ScramMechanism.SCRAM_SHA_512, password.get_secret_value(), iterations=SCRAM_ITERATIONS
    )
    answer = client.alter_user_scram_credentials([upsert])
    problem = answer.get(username) if isinstance(answer, dict) else None
    if problem:
        raise OneDoorError(ADMIN_FAILED, f"the broker did not store the SCRAM credentials of {username}: {problem}")


def _grant(client: Any, bindings: Sequence[AclBinding]) -> None:
    if not bindings:
        return
    answer = client.create_acls([_to_acl(b) for b in bindings])
    failed = answer.get("failed", []) if isinstance(answer, dict) else []
    if failed:
        names = ", ".join(sorted({type(f).__name__ if not isinstance(f, type) else f.__name__ for f in failed}))
        raise OneDoorError(ADMIN_FAILED, f"the broker did not create {len(failed)} ACL(s): {names}")


def _granted(client: Any, principal: str) -> list[AclBinding]:
    any_pattern = ResourcePatternFilter(ResourceType.ANY, None, ACLResourcePatternType.ANY)
    acls, error = client.describe_acls(ACLFilter(principal, None, ACLOperation.ANY, ACLPermissionType.ANY, any_pattern))
    if getattr(error, "errno", None):
        raise OneDoorError(ADMIN_FAILED, f"the broker could not list ACLs ({type(error).__name__})")
    resources = {v: k for k, v in _RESOURCE.items()}
    patterns = {v: k for k, v in _PATTERN.items()}
    operations = {v: k for k, v in _OPERATION.items()}
    found = []
    for acl in acls:
        pattern = acl.resource_pattern
        if (
            acl.permission_type != ACLPermissionType.ALLOW
            or pattern.resource_type not in resources
            or pattern.pattern_type not in patterns
            or acl.operation not in operations
        ):
            continue
        found.append(
            AclBinding(
                acl.principal,
                resources[pattern.resource_type],
                pattern.resource_name,
                patterns[pattern.pattern_type],
                operations[acl.operation],
            )
        )
    return sorted(found)


def _revoke_extra(client: Any, principal: str, keep: Sequence[AclBinding]) -> int:
    extra = [b for b in _granted(client, principal) if b not in set(keep)]
    if extra:
        filters = [_to_acl(b) for b in extra]
        answer = client.delete_acls(
            [ACLFilter(a.principal, a.host, a.operation, a.permission_type, a.resource_pattern) for a in filters]
        )
        # kafka-python answers one (filter, deleted ACLs, error class) per filter; check every one.
        results = answer if isinstance(answer, list) else []
        failed = [r[-1] for r in results if getattr(r[-1], "errno", 0)]
        if len(results) != len(filters) or failed:
            names = ", ".join(sorted({getattr(f, "__name__", type(f).__name__) for f in failed})) or "no answer"
            raise OneDoorError(ADMIN_FAILED, f"the broker did not delete {len(failed) or len(filters)} ACL(s): {names}")
    return len(extra)


def _provision(
    bootstrap: str,
    admin: ClientCredentials,
    *,
    username: str,
    password: SecretStr,
    plan: Sequence[AclBinding],
    within: float,
) -> None:
    # Order matters when a step fails: grant the plan first (never a window with no ACLs), then
    # delete what is beyond it (checked), and set the password LAST, so a failure leaves the old
    # password working and the broker never holds a password nobody was given.
    with _admin(bootstrap, admin, within) as client:
        _grant(client, plan)
        revoked = _revoke_extra(client, f"User:{username}", plan)
        _set_password(client, username, password)
    log.info("kafka.identity.provisioned", user=username, acls=len(plan), revoked=revoked)


async def provision_user(
    bootstrap: str,
    admin: ClientCredentials,
    username: str,
    plan: Sequence[AclBinding],
    *,
    password: SecretStr | None = None,
    within: float = 15.0,
) -> ClientCredentials:
    """Create or rotate ``username``'s SCRAM-SHA-512 password and make its ACLs exactly ``plan``.

    Rotation: the broker replaces the stored password, so the old one stops working for new
    connections at once. ACLs the user has beyond ``plan`` are removed. The plan is granted first,
    the extras deleted next, the password set last: if any step fails, nothing was half-rotated
    (the previous password still works, and the user is never left without its ACLs).

    Raises:
        Unavailable: ``kafka.unreachable``.
        Forbidden: ``kafka.admin_refused`` (wrong admin password, or not a super user).
        OneDoorError: ``kafka.admin_failed``.
    """
    secret = password or new_password()
    await _admin_login(bootstrap, admin, within)
    await asyncio.to_thread(
        partial(_provision, bootstrap, admin, username=username, password=secret, plan=list(plan), within=within)
    )
    return ClientCredentials(username, secret, ca_file=admin.ca_file)  # the same broker: the same CA


async def provision_agency(
    bootstrap: str,
    admin: ClientCredentials,
    agency: AgencyId,
    topics: TopicNames,
    *,
    triage: bool = False,
    within: float = 15.0,
) -> ClientCredentials:
    """Create or rotate ``agency``'s broker identity (``agency-<id>``, a fresh random password) and its ACLs.

    Raises:
        Unavailable: ``kafka.unreachable``.
        Forbidden: ``kafka.admin_refused``.
        OneDoorError: ``kafka.admin_failed``.
    """
    plan = agency_acl_plan(agency, topics, triage=triage)
    return await provision_user(bootstrap, admin, agency_username(agency), plan, within=within)


async def provision_hub(
    bootstrap: str,
    admin: ClientCredentials,
    topics: TopicNames,
    *,
    username: str = "hub",
    password: SecretStr | None = None,
    within: float = 15.0,
) -> ClientCredentials:
    """Create or rotate the hub's broker identity with :func:`hub_acl_plan`.

    Raises:
        Unavailable: ``kafka.unreachable``.
        Forbidden: ``kafka.admin_refused``.
        OneDoorError: ``kafka.admin_failed``.
    """
    plan = hub_acl_plan(username, topics)
    return await provision_user(bootstrap, admin, username, plan, password=password, within=within)


async def granted(bootstrap: str, admin: ClientCredentials, username: str, *, within: float = 15.0) -> list[AclBinding]:
    """The ALLOW ACLs ``username`` has on topics and groups, sorted.

    Raises:
        Unavailable: ``kafka.unreachable``.
        Forbidden: ``kafka.admin_refused``.
        OneDoorError: ``kafka.admin_failed``.
    """

    def run() -> list[AclBinding]:
        with _admin(bootstrap, admin, within) as client:
            return _granted(client, f"User:{username}")

    return await asyncio.to_thread(run)


@dataclass(frozen=True, slots=True)
class Presence:
    """What the broker holds for one user: its ALLOW ACLs and whether it has SCRAM credentials."""

    username: str
    acls: tuple[AclBinding, ...]
    scram: bool

    @property
    def empty(self) -> bool:
        """Nothing left: no ACL and no SCRAM credential (the user cannot log in nor do anything)."""
        return not self.acls and not self.scram


_UNKNOWN_USER: Final = "does not exist"
"""In the broker's ResourceNotFound message for a user without SCRAM credentials."""


@dataclass(frozen=True, slots=True)
class Withdrawn:
    """What :func:`withdraw_user` deleted (zero and ``False`` when there was nothing left)."""

    username: str
    acls_deleted: int
    scram_deleted: tuple[str, ...]
    """The SCRAM mechanisms whose credentials were deleted, e.g. ``("SCRAM_SHA_512",)``."""


def _scram_mechanisms(client: Any, usernames: Sequence[str]) -> dict[str, list[Any]]:
    """Each user's stored SCRAM mechanisms; an unknown user has none.

    Raises:
        OneDoorError: ``kafka.admin_failed`` when the broker answers a user with any other error:
            "could not look" must never read as "nothing there" (a withdrawal would say done).
    """
    answer = client.describe_user_scram_credentials(list(usernames))
    found: dict[str, list[Any]] = {name: [] for name in usernames}
    for name, described in (answer if isinstance(answer, dict) else {}).items():
        if name not in found or not isinstance(described, dict):
            continue
        error = described.get("error")
        if not error:
            found[name] = [info["mechanism"] for info in described.get("credential_infos", [])]
        elif _UNKNOWN_USER not in str(error):  # kafka-python passes the broker's message, not its code
            raise OneDoorError(ADMIN_FAILED, f"the broker could not describe the SCRAM credentials of {name}")
    return found


def _delete_all_acls(client: Any, principal: str) -> int:
    # One filter matching every binding of the principal (ALLOW and DENY, any resource and pattern).
    any_pattern = ResourcePatternFilter(ResourceType.ANY, None, ACLResourcePatternType.ANY)
    answer = client.delete_acls([ACLFilter(principal, None, ACLOperation.ANY, ACLPermissionType.ANY, any_pattern)])
    results = answer if isinstance(answer, list) else []
    failed = [r[-1] for r in results if getattr(r[-1], "errno", 0)]
    if len(results) != 1 or failed:
        names = ", ".join(sorted({getattr(f, "__name__", type(f).__name__) for f in failed})) or "no answer"
        raise OneDoorError(ADMIN_FAILED, f"the broker did not delete the ACLs of {principal}: {names}")
    deleted = results[0][1]
    return len(deleted) if isinstance(deleted, list) else 0


def _delete_scram(client: Any, username: str) -> tuple[str, ...]:
    mechanisms = _scram_mechanisms(client, [username])[username]
    if not mechanisms:
        return ()
    answer = client.alter_user_scram_credentials([UserScramCredentialDeletion(username, m) for m in mechanisms])
    problem = answer.get(username) if isinstance(answer, dict) else None
    if problem:
        raise OneDoorError(ADMIN_FAILED, f"the broker did not delete the SCRAM credentials of {username}: {problem}")
    return tuple(sorted(ScramMechanism(m).name for m in mechanisms))


def _withdraw(bootstrap: str, admin: ClientCredentials, username: str, within: float) -> Withdrawn:
    # ACLs first: the authorizer checks every request, so open connections lose their rights at once.
    # The SCRAM credentials next, so no new login works (a connection already open keeps its
    # authenticated session, with no rights left: aiokafka cannot re-authenticate, so we do not
    # set ``connections.max.reauth.ms``, which would drop every client's connections periodically).
    with _admin(bootstrap, admin, within) as client:
        acls = _delete_all_acls(client, f"User:{username}")
        scram = _delete_scram(client, username)
    log.info("kafka.identity.withdrawn", user=username, acls=acls, scram=len(scram))
    return Withdrawn(username, acls, scram)


async def _admin_login(bootstrap: str, admin: ClientCredentials, within: float) -> None:
    try:
        # kafka-python reports a refused login only as a bootstrap timeout: ask plainly first.
        await authenticate(bootstrap, admin, within=within)
    except Unauthenticated:
        raise Forbidden(ADMIN_REFUSED, f"the broker at {bootstrap} refused the admin user {admin.username}") from None


async def withdraw_user(bootstrap: str, admin: ClientCredentials, username: str, *, within: float = 15.0) -> Withdrawn:
    """Delete every ACL binding of ``User:<username>``, then its SCRAM credentials (idempotent).

    The ACLs go first: the broker authorizes each request, so even a connection already open is
    refused from the next request on. Then the credentials, so no new login succeeds. A user that
    has neither is fine (nothing is deleted). Provisioning the user again later gives it a fresh
    password and its plan back.

    Raises:
        Unavailable: ``kafka.unreachable``.
        Forbidden: ``kafka.admin_refused``.
        OneDoorError: ``kafka.admin_failed``.
    """
    await _admin_login(bootstrap, admin, within)
    return await asyncio.to_thread(_withdraw, bootstrap, admin, username, within)


async def presence(
    bootstrap: str, admin: ClientCredentials, usernames: Sequence[str], *, within: float = 15.0
) -> dict[str, Presence]:
    """What the broker still holds for each of ``usernames`` (ACLs, SCRAM credentials), in one admin connection.

    Raises:
        Unavailable: ``kafka.unreachable``.
        Forbidden: ``kafka.admin_refused``.
        OneDoorError: ``kafka.admin_failed``.
    """
    names = list(dict.fromkeys(usernames))
    if not names:
        return {}

    def run() -> dict[str, Presence]:
        with _admin(bootstrap, admin, within) as client:
            scram = _scram_mechanisms(client, names)
            return {n: Presence(n, tuple(_granted(client, f"User:{n}")), bool(scram[n])) for n in names}

    await _admin_login(bootstrap, admin, within)
    return await asyncio.to_thread(run)


async def secure_hub(
    bootstrap: str, admin: ClientCredentials, topics: TopicNames, directory: Path, *, username: str = "hub"
) -> dict[str, str | Path]:
    """Provision (or rotate) the hub's identity; write ``hub.password`` and ``admin.password`` (0600) in ``directory``.

    Returns the ``KafkaSettings`` fields to set (``username``, ``password_file``, ``admin_username``,
    ``admin_password_file``, and ``ca_file`` when ``admin`` has one), e.g.
    ``settings.kafka.model_copy(update=...)``, or as ``ONEDOOR_KAFKA__*`` variables. For ``make run``
    and tests on a ``BrokerSecurity`` cluster.

    Raises:
        Unavailable: ``kafka.unreachable``.
        Forbidden: ``kafka.admin_refused``.
        OneDoorError: ``kafka.admin_failed``.
    """
    identity = await provision_hub(bootstrap, admin, topics, username=username)
    hub_file, admin_file = directory / "hub.password", directory / "admin.password"
    write_password_file(hub_file, identity.password)
    write_password_file(admin_file, admin.password)
    return {
        "username": identity.username,
        "password_file": hub_file,
        "admin_username": admin.username,
        "admin_password_file": admin_file,
        # Under TLS (SASL_SSL) the hub's clients trust the broker's CA, and hand it to enrolling connectors.
        **({"ca_file": admin.ca_file} if admin.ca_file is not None else {}),
    }
