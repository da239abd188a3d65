"""Issue an agency's broker identity: check the agency, provision its SCRAM user and ACLs, seal the password.

The hub never stores a broker password: it makes a fresh one, has the broker store it (as a
salted SCRAM verifier), seals it to the agency's current X25519 encryption key and forgets it.
Asking again rotates it: the old password stops working for new connections. Only the agency's
**current** signing key may ask (a retired key in its grace period may not rotate the password:
``agency.key_not_current``), and the caller names the encryption key it holds: if that is not the
agency's current one the hub refuses (``broker.encryption_key_mismatch``) *before* touching the
broker. Every decision is audited as ``broker.credentials`` (permit or deny, with the reason code).

A **suspended** agency loses its broker identity: :func:`withdraw` deletes its ACLs, then its SCRAM
credentials, after the suspension commits (``broker.withdrawn`` audit rows). If the broker does not
answer, the suspension still stands (the router already stops routing for it) and the API's
reconciler (:mod:`hub.broker.reconcile`) finishes the job. Reactivation gives nothing back: the
connector enrols again (``onedoor connector enrol``) and gets a fresh password and its ACLs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from hub.agencies.enums import AgencyKind, AgencyStatus, KeyStatus, KeyUse
from hub.agencies.models import Agency, AgencyKey
from hub.agencies.registration import require_current_signing
from hub.audit.service import AuditEntry, append_now
from onedoor.errors import Conflict, Forbidden, NotFound, OneDoorError, Unavailable
from onedoor.ids import AgencyId, KeyId
from onedoor.kafka.plan import AclBinding, agency_acl_plan, agency_username
from onedoor.kafka.security import ClientCredentials, seal_secret
from onedoor.logging import get_logger
from onedoor.settings import Settings
from onedoor.topics import TopicNames

if TYPE_CHECKING:
    from onedoor.kafka.acls import Withdrawn

log = get_logger(__name__)

AUDIT_KIND: Final = "broker.credentials"
AGENCY_UNKNOWN: Final = "broker.agency_unknown"
AGENCY_SUSPENDED: Final = "broker.agency_suspended"
NO_ENCRYPTION_KEY: Final = "broker.no_encryption_key"
PROVISIONING_OFF: Final = "broker.provisioning_off"
BROKER_UNAVAILABLE: Final = "broker.unavailable"
PROVISIONING_FAILED: Final = "broker.provisioning_failed"
ENCRYPTION_KEY_MISMATCH: Final = "broker.encryption_key_mismatch"
WITHDRAWN_KIND: Final = "broker.withdrawn"
WITHDRAWAL_FAILED: Final = "broker.withdrawal_failed"
AGENCY_ACTIVE: Final = "broker.agency_active"
WITHDRAW_WITHIN_S: Final = 10.0
"""How long one withdrawal waits for the broker before it is left to the reconciler."""

Provision = Callable[[str, ClientCredentials, AgencyId, TopicNames, bool], Awaitable[ClientCredentials]]
"""``(bootstrap, admin, agency, topics, triage) -> the agency's new credentials`` (``provision_agency``)."""

Withdraw = Callable[[str, ClientCredentials, str], Awaitable["Withdrawn"]]
"""``(bootstrap, admin, username) -> what was deleted`` (``onedoor.kafka.acls.withdraw_user``)."""


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
    withdraw_user: Withdraw | None = None,
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
        if await run_in_threadpool(_status, factory, agency) is not AgencyStatus.ACTIVE:
            # Suspended while the broker provisioned: the suspension's own withdrawal may have run
            # first, and this provisioning put the identity back. Take it away again; issue nothing.
            again = f"{source} (suspended while provisioning)"
            await withdraw(factory, settings, agency, source=again, withdraw_user=withdraw_user or _default_withdraw)
            raise Forbidden(
                AGENCY_SUSPENDED,
                f"agency {agency} was suspended while its broker identity was made: none issued",
            )
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


# --- withdrawal: a suspended agency loses its broker identity ------------------------------------


@dataclass(frozen=True, slots=True)
class Withdrawal:
    """The outcome of :func:`withdraw`: ``withdrawn``, ``failed`` (left to the reconciler) or ``skipped``."""

    agency: AgencyId
    outcome: str
    reason_code: str | None
    detail: str

    @property
    def done(self) -> bool:
        """The broker holds nothing for the agency any more (or held nothing)."""
        return self.outcome == "withdrawn"


async def _default_withdraw(bootstrap: str, admin: ClientCredentials, username: str) -> Withdrawn:
    from onedoor.kafka.acls import withdraw_user  # noqa: PLC0415 - kafka-python only when needed

    return await withdraw_user(bootstrap, admin, username, within=WITHDRAW_WITHIN_S)


def _status(factory: sessionmaker[Session], agency: AgencyId) -> AgencyStatus | None:
    with factory() as session:
        row = session.get(Agency, str(agency))
        return None if row is None else row.status


async def withdraw(
    factory: sessionmaker[Session],
    settings: Settings,
    agency: AgencyId,
    *,
    source: str,
    audit_failure: bool = True,
    withdraw_user: Withdraw = _default_withdraw,
) -> Withdrawal:
    """Delete a suspended ``agency``'s ACLs, then its SCRAM user; audited as ``broker.withdrawn``.

    Never raises for the broker's sake: the suspension stands whatever happens here. Outcomes:
    ``withdrawn`` (the ACLs and credentials are gone, or there were none), ``failed``
    (``broker.unavailable``, ``broker.withdrawal_failed``: the reconciler tries again),
    ``skipped`` (``broker.provisioning_off``: this hub manages no broker identities;
    ``broker.agency_active``: the agency was reactivated meanwhile, so its identity is left alone).
    With ``audit_failure=False`` (the reconciler, every tick) a failure is logged, not audited.
    """
    username = agency_username(agency)
    try:
        bootstrap, admin = admin_of(settings)
    except Conflict as exc:
        result = Withdrawal(agency, "skipped", exc.code, f"user {username} left alone: {exc.message}")
    except OneDoorError as exc:
        result = Withdrawal(agency, "failed", exc.code, exc.message)
    else:
        status = await run_in_threadpool(_status, factory, agency)
        if status is AgencyStatus.ACTIVE:
            why = f"agency {agency} is active again: user {username} left alone (it enrols anew)"
            result = Withdrawal(agency, "skipped", AGENCY_ACTIVE, why)
        else:
            result = await _withdraw_at(bootstrap, admin, agency, username, withdraw_user)
    if result.outcome != "failed" or audit_failure:
        entry = AuditEntry(
            kind=WITHDRAWN_KIND,
            outcome=result.outcome,
            actor=str(agency),
            reason_code=result.reason_code,
            source=source,
            detail=result.detail[:2000],
        )
        await run_in_threadpool(_audit, factory, entry)
    event = "broker.identity_withdrawn" if result.done else f"broker.withdrawal_{result.outcome}"
    log_at = log.warning if result.outcome == "failed" else log.info
    log_at(event, agency=str(agency), code=result.reason_code, source=source)
    return result


async def _withdraw_at(
    bootstrap: str, admin: ClientCredentials, agency: AgencyId, username: str, withdraw_user: Withdraw
) -> Withdrawal:
    try:
        done = await withdraw_user(bootstrap, admin, username)
    except Unavailable as exc:
        why = f"the broker at {bootstrap} does not answer ({exc.code}); the reconciler withdraws user {username} later"
        return Withdrawal(agency, "failed", BROKER_UNAVAILABLE, why)
    except OneDoorError as exc:
        why = f"the broker did not withdraw user {username}: {exc.message} ({exc.code}); the reconciler tries again"
        return Withdrawal(agency, "failed", WITHDRAWAL_FAILED, why)
    mechanisms = ", ".join(done.scram_deleted) or "none"
    why = f"user {username}; {done.acls_deleted} ACLs deleted; SCRAM credentials deleted: {mechanisms}"
    return Withdrawal(agency, "withdrawn", None, why)
