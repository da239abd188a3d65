"""Issue an agency's broker identity: check the agency, provision its SCRAM user and ACLs, seal the password.

The hub never stores a broker password: it makes a fresh one, has the broker store it (as a
salted SCRAM verifier), seals it to the agency's current X25519 encryption key and forgets it.
Asking again rotates it: the old password stops working for new connections. Only the agency's
**current** signing key may ask (a retired key in its grace period may not rotate the password:
``agency.key_not_current``), and the caller names the encryption key it holds: if that is not the
agency's current one the hub refuses (``broker.encryption_key_mismatch``) *before* touching the
broker. Every decision is audited as ``broker.credentials`` (permit or deny, with the reason code).
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
from hub.agencies.registration import require_current_signing
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
ENCRYPTION_KEY_MISMATCH: Final = "broker.encryption_key_mismatch"

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


def candidate(
    session: Session, agency: AgencyId, *, signed_with: KeyId | None = None, encryption_key_id: str | None = None
) -> Candidate:
    """The registered, active ``agency`` and its current encryption key.

    With ``signed_with``, that must be the agency's current signing key; with ``encryption_key_id``,
    that must be its current encryption key (what the connector can open the password with).

    Raises:
        NotFound: ``broker.agency_unknown``.
        Forbidden: ``broker.agency_suspended``, ``agency.key_not_current``.
        Conflict: ``broker.no_encryption_key`` (nothing to seal the password to),
            ``broker.encryption_key_mismatch``.
    """
    row = session.get(Agency, str(agency))
    if row is None:
        raise NotFound(AGENCY_UNKNOWN, f"agency {agency} is not registered at this hub")
    if row.status is not AgencyStatus.ACTIVE:
        raise Forbidden(AGENCY_SUSPENDED, f"agency {agency} is suspended: it gets no broker identity")
    if signed_with is not None:
        require_current_signing(row, signed_with, "fetch or rotate the broker password")
    key = session.scalars(
        select(AgencyKey).where(
            AgencyKey.agency_id == str(agency),
            AgencyKey.use == KeyUse.ENCRYPTION,
            AgencyKey.status == KeyStatus.CURRENT,
        )
    ).first()
    if key is None:
        raise Conflict(NO_ENCRYPTION_KEY, f"agency {agency} has no current encryption key to seal a password to")
    if encryption_key_id is not None and encryption_key_id != key.key_id:
        raise Conflict(
            ENCRYPTION_KEY_MISMATCH,
            f"this connector holds encryption key {encryption_key_id[:80]}, but agency {agency}'s current encryption "
            f"key is {key.key_id}: the broker password was not changed. Use the right keys_dir, or finish the key "
            "rotation (onedoor connector rotate-keys), then enrol again",
        )
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
    signed_with: KeyId | None = None,
    encryption_key_id: str | None = None,
    provision: Provision = _default_provision,
) -> Issued:
    """Create or rotate ``agency``'s SCRAM user and ACLs; the password sealed to its encryption key. Audited.

    Raises:
        NotFound: ``broker.agency_unknown``.
        Forbidden: ``broker.agency_suspended``, ``agency.key_not_current`` (``signed_with`` is not current).
        Conflict: ``broker.no_encryption_key``, ``broker.provisioning_off``, ``broker.encryption_key_mismatch``.
        Unavailable: ``broker.unavailable`` (the broker does not answer) or ``broker.provisioning_failed``.
    """
    topics = TopicNames(settings.kafka.topic_prefix)
    try:
        bootstrap, admin = admin_of(settings)
        found = await run_in_threadpool(_candidate, factory, agency, signed_with, encryption_key_id)
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


def _candidate(
    factory: sessionmaker[Session], agency: AgencyId, signed_with: KeyId | None, encryption_key_id: str | None
) -> Candidate:
    with factory() as session:
        return candidate(session, agency, signed_with=signed_with, encryption_key_id=encryption_key_id)


def _entry(agency: AgencyId, outcome: str, code: str | None, source: str, why: str) -> AuditEntry:
    return AuditEntry(
        kind=AUDIT_KIND, outcome=outcome, actor=str(agency), reason_code=code, source=source, detail=why[:2000]
    )


def _audit(factory: sessionmaker[Session], entry: AuditEntry) -> None:
    append_now(factory, [entry])
