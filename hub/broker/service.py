"""Issue an agency's broker identity: check the agency, provision its SCRAM user and ACLs, seal the password.

The hub never stores a broker password: it makes a fresh one, has the broker store it (as a
salted SCRAM verifier), seals it to the agency's current X25519 encryption key and forgets it.
Asking again rotates it: the old password stops working for new connections. Every decision
is audited as ``broker.credentials`` (permit or deny, with the reason code).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from hub.agencies.enums import AgencyKind, AgencyStatus, KeyStatus, KeyUse
from hub.agencies.models import Agency, AgencyKey
from hub.audit.service import AuditEntry, append_now
from onedoor.errors import Conflict, Forbidden, NotFound, OneDoorError, Unavailable
from onedoor.ids import AgencyId, KeyId
from onedoor.kafka.plan import AclBinding, agency_acl_plan
from onedoor.kafka.security import ClientCredentials, seal_secret
from onedoor.logging import get_logger
from onedoor.settings import Settings
from onedoor.topics import TopicNames

log = get_logger(__name__)

AUDIT_KIND: Final = "broker.credentials"
AGENCY_UNKNOWN: Final = "broker.agency_unknown"
AGENCY_SUSPENDED: Final = "broker.agency_suspended"
NO_ENCRYPTION_KEY: Final = "broker.no_encryption_key"
PROVISIONING_OFF: Final = "broker.provisioning_off"
BROKER_UNAVAILABLE: Final = "broker.unavailable"
PROVISIONING_FAILED: Final = "broker.provisioning_failed"

Provision = Callable[[str, ClientCredentials, AgencyId, TopicNames, bool], Awaitable[ClientCredentials]]
"""``(bootstrap, admin, agency, topics, triage) -> the agency's new credentials`` (``provision_agency``)."""


@dataclass(frozen=True, slots=True)
class Candidate:
    """An agency the hub may issue a broker identity to: active, with a current encryption key."""

    agency: AgencyId
    kind: AgencyKind
    encryption_key_id: KeyId
    encryption_public: bytes


@dataclass(frozen=True, slots=True)
class Issued:
    """A broker identity just provisioned, its password sealed to the agency's key."""

    candidate: Candidate
    username: str
    mechanism: str
    sealed_password: str
    topic_prefix: str
    acls: list[AclBinding]


def candidate(session: Session, agency: AgencyId) -> Candidate:
    """The registered, active ``agency`` and its current encryption key.

    Raises:
        NotFound: ``broker.agency_unknown``.
        Forbidden: ``broker.agency_suspended``.
        Conflict: ``broker.no_encryption_key`` (nothing to seal the password to).
    """
    row = session.get(Agency, str(agency))
    if row is None:
        raise NotFound(AGENCY_UNKNOWN, f"agency {agency} is not registered at this hub")
    if row.status is not AgencyStatus.ACTIVE:
        raise Forbidden(AGENCY_SUSPENDED, f"agency {agency} is suspended: it gets no broker identity")
    key = session.scalars(
        select(AgencyKey).where(
            AgencyKey.agency_id == str(agency),
            AgencyKey.use == KeyUse.ENCRYPTION,
            AgencyKey.status == KeyStatus.CURRENT,
        )
    ).first()
    if key is None:
        raise Conflict(NO_ENCRYPTION_KEY, f"agency {agency} has no current encryption key to seal a password to")
    return Candidate(agency, row.kind, KeyId(key.key_id), bytes(key.public_key))


def admin_of(settings: Settings) -> tuple[str, ClientCredentials]:
    """The broker and the admin identity the hub provisions with.

    Raises:
        Conflict: ``broker.provisioning_off`` when either is not configured.
        Unavailable: ``broker.provisioning_failed`` when the admin password file is unusable.
    """
    bootstrap = settings.kafka.bootstrap_servers
    try:
        admin = settings.kafka.admin_credentials()
    except OneDoorError as exc:
        # The hub's own misconfiguration, not the caller's fault: a 503 naming the file, never its content.
        raise Unavailable(
            PROVISIONING_FAILED, f"the hub cannot use its broker admin credentials: {exc.message}"
        ) from None
    if bootstrap is None or admin is None:
        raise Conflict(
            PROVISIONING_OFF,
            "this hub does not provision broker identities: set ONEDOOR_KAFKA__ADMIN_USERNAME and "
            "ONEDOOR_KAFKA__ADMIN_PASSWORD_FILE (and the broker's bootstrap servers)",
        )
    return bootstrap, admin


async def _default_provision(
    bootstrap: str, admin: ClientCredentials, agency: AgencyId, topics: TopicNames, triage: bool
) -> ClientCredentials:
    # kafka-python is imported only when the hub provisions: it is heavy, and the API needs it rarely.
    from onedoor.kafka.acls import provision_agency  # noqa: PLC0415

    return await provision_agency(bootstrap, admin, agency, topics, triage=triage)


async def issue(
    factory: sessionmaker[Session],
    settings: Settings,
    agency: AgencyId,
    *,
    source: str,
    provision: Provision = _default_provision,
) -> Issued:
    """Create or rotate ``agency``'s SCRAM user and ACLs; the password sealed to its encryption key. Audited.

    Raises:
        NotFound: ``broker.agency_unknown``.
        Forbidden: ``broker.agency_suspended``.
        Conflict: ``broker.no_encryption_key``, ``broker.provisioning_off``.
        Unavailable: ``broker.unavailable`` (the broker does not answer) or ``broker.provisioning_failed``.
    """
    topics = TopicNames(settings.kafka.topic_prefix)
    try:
        bootstrap, admin = admin_of(settings)
        found = await run_in_threadpool(_candidate, factory, agency)
        triage = found.kind is AgencyKind.TRIAGE
        try:
            credentials = await provision(bootstrap, admin, agency, topics, triage)
        except Unavailable as exc:
            raise Unavailable(
                BROKER_UNAVAILABLE,
                f"the broker at {bootstrap} does not answer, so no broker identity was issued; try again later "
                f"({exc.code})",
            ) from None
        except OneDoorError as exc:
            raise Unavailable(
                PROVISIONING_FAILED, f"the broker refused to provision the identity: {exc.message} ({exc.code})"
            ) from None
    except OneDoorError as exc:
        await run_in_threadpool(_audit, factory, _entry(agency, "deny", exc.code, source, exc.message))
        log.info("broker.credentials_refused", agency=str(agency), code=exc.code)
        raise
    sealed = seal_secret(
        found.encryption_public, credentials.password, agency=str(agency), username=credentials.username
    )
    plan = agency_acl_plan(agency, topics, triage=triage)
    why = f"user {credentials.username}; {len(plan)} ACLs; password sealed to {found.encryption_key_id}"
    await run_in_threadpool(_audit, factory, _entry(agency, "permit", None, source, why))
    log.info("broker.credentials_issued", agency=str(agency), acls=len(plan), key_id=str(found.encryption_key_id))
    return Issued(found, credentials.username, credentials.mechanism, sealed, topics.prefix, plan)


def _candidate(factory: sessionmaker[Session], agency: AgencyId) -> Candidate:
    with factory() as session:
        return candidate(session, agency)


def _entry(agency: AgencyId, outcome: str, code: str | None, source: str, why: str) -> AuditEntry:
    return AuditEntry(
        kind=AUDIT_KIND, outcome=outcome, actor=str(agency), reason_code=code, source=source, detail=why[:2000]
    )


def _audit(factory: sessionmaker[Session], entry: AuditEntry) -> None:
    append_now(factory, [entry])
