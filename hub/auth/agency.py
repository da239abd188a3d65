"""Connectors authenticate to the hub API as their agency, with their own signing key.

A connector holds no shared secret with the hub. For each request it signs a short-lived JWT
assertion (RFC 7523 / OpenID ``private_key_jwt`` style) with its agency's Ed25519 signing key,
the key the registry already holds the public half of: ``iss`` = ``sub`` = the agency id,
``aud`` = ``ASSERTION_AUDIENCE``, ``kid`` = the signing key id, ``iat``/``exp`` at most
``MAX_LIFETIME_S`` apart, and a fresh ``jti``. The hub checks the signature against that key,
that the key is current (or retired and still within ``not_after``) and the agency active, and
that the ``jti`` was not seen before while the assertion is valid. Every decision, admit or
refuse, is an ``api.authz`` audit row naming the agency.

Replay protection is per API process (``SeenAssertions``): with several API replicas behind a
load balancer an intercepted assertion could be replayed once per replica within its minute.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Final

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from fastapi import Depends, Request
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from hub.agencies.enums import AgencyStatus, KeyStatus, KeyUse
from hub.agencies.models import Agency, AgencyKey
from hub.auth.deps import Credentials, audit_authz, request_source
from onedoor.errors import Unauthenticated, ValidationFailed
from onedoor.ids import AgencyId, KeyId

ASSERTION_AUDIENCE: Final = "onedoor-hub"
"""The ``aud`` every agency assertion must carry."""
MAX_LIFETIME_S: Final = 300
"""The longest an assertion may be valid (``exp`` - ``iat``)."""
LEEWAY_S: Final = 30
"""Clock skew tolerated between a connector and the hub."""

INVALID: Final = "auth.assertion_invalid"
EXPIRED: Final = "auth.assertion_expired"
REPLAYED: Final = "auth.assertion_replayed"
KEY_UNKNOWN: Final = "auth.key_unknown"
AGENCY_INACTIVE: Final = "auth.agency_inactive"


@dataclass(frozen=True, slots=True)
class AgencyPrincipal:
    """An agency that proved it holds its registered signing key."""

    agency: AgencyId
    key_id: KeyId


class AssertionRefused(Unauthenticated):
    """An assertion the hub does not accept (HTTP 401), with the agency it claimed, if any."""

    def __init__(self, code: str, message: str, claimed: str | None = None) -> None:
        super().__init__(code, message)
        self.claimed = claimed


class SeenAssertions:
    """``jti`` values seen while their assertions are valid: each assertion is admitted once."""

    def __init__(self) -> None:
        self._until: dict[str, float] = {}
        self._lock = threading.Lock()

    def admit(self, jti: str, expires_at: float, now: float) -> bool:
        """Record ``jti``; ``False`` if it was already recorded and has not expired."""
        with self._lock:
            if len(self._until) > 10_000:
                self._until = {k: v for k, v in self._until.items() if v > now}
            seen = self._until.get(jti)
            if seen is not None and seen > now:
                return False
            self._until[jti] = expires_at + LEEWAY_S
            return True


def _unverified(token: str) -> tuple[str, str]:
    try:
        header = jwt.get_unverified_header(token)
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise AssertionRefused(INVALID, "the bearer token is not a well-formed agency assertion") from None
    kid, issuer = header.get("kid"), claims.get("iss")
    if header.get("alg") != "EdDSA" or not isinstance(kid, str) or not isinstance(issuer, str):
        raise AssertionRefused(INVALID, "an agency assertion is signed with EdDSA and names its kid and iss")
    return kid, issuer


def _signing_key(session: Session, agency: AgencyId, key_id: str, now: datetime) -> bytes:
    row = session.execute(
        select(AgencyKey, Agency.status)
        .join(Agency, Agency.id == AgencyKey.agency_id)
        .where(AgencyKey.key_id == key_id, AgencyKey.agency_id == str(agency), AgencyKey.use == KeyUse.SIGNING)
    ).first()
    if row is None:
        raise AssertionRefused(KEY_UNKNOWN, "the assertion's key is not a signing key of that agency", agency)
    key, status = row
    trusted = key.status is KeyStatus.CURRENT or (
        key.status is KeyStatus.RETIRED and key.not_after is not None and key.not_after > now
    )
    if not trusted:
        raise AssertionRefused(KEY_UNKNOWN, "the assertion's signing key is revoked or no longer trusted", agency)
    if status is not AgencyStatus.ACTIVE:
        raise AssertionRefused(AGENCY_INACTIVE, "the agency is not active at this hub", agency)
    return bytes(key.public_key)


def verify_assertion(
    token: str, factory: sessionmaker[Session], seen: SeenAssertions, *, now: float | None = None
) -> AgencyPrincipal:
    """The agency an assertion proves, or ``AssertionRefused`` with a stable ``auth.*`` code."""
    if not token:
        raise AssertionRefused("auth.missing_token", "this endpoint needs an agency assertion as bearer token")
    moment = time.time() if now is None else now
    kid, issuer = _unverified(token)
    try:
        agency = AgencyId(issuer)
        key_id = KeyId(kid)
    except ValidationFailed:
        raise AssertionRefused(INVALID, "the assertion's iss or kid is not an agency or key id") from None
    with factory() as session:
        raw = _signing_key(session, agency, key_id, datetime.fromtimestamp(moment, tz=UTC))
    claims = _verified_claims(token, raw, agency, moment)
    if not seen.admit(claims["jti"], float(claims["exp"]), moment):
        raise AssertionRefused(REPLAYED, "this assertion was already used; sign a new one per request", agency)
    return AgencyPrincipal(agency, key_id)


def _verified_claims(token: str, raw: bytes, agency: AgencyId, moment: float) -> dict[str, Any]:
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            Ed25519PublicKey.from_public_bytes(raw),
            algorithms=["EdDSA"],
            audience=ASSERTION_AUDIENCE,
            issuer=str(agency),
            leeway=LEEWAY_S,
            options={"require": ["iss", "sub", "aud", "iat", "exp", "jti"], "verify_iat": False},
        )
    except jwt.ExpiredSignatureError:
        raise AssertionRefused(EXPIRED, "the assertion has expired; check the connector's clock", agency) from None
    except jwt.PyJWTError as exc:
        raise AssertionRefused(INVALID, f"the assertion does not verify ({type(exc).__name__})", agency) from None
    iat, exp = claims["iat"], claims["exp"]
    if claims["sub"] != str(agency) or not isinstance(claims["jti"], str) or not claims["jti"]:
        raise AssertionRefused(INVALID, "the assertion's sub must equal its iss, and it needs a jti", agency)
    if not isinstance(iat, int | float) or iat > moment + LEEWAY_S or exp - iat > MAX_LIFETIME_S:
        raise AssertionRefused(INVALID, f"the assertion must be issued now and live at most {MAX_LIFETIME_S} s", agency)
    return claims


def _seen(request: Request) -> SeenAssertions:
    state = request.app.state
    if getattr(state, "seen_assertions", None) is None:
        state.seen_assertions = SeenAssertions()
    seen: SeenAssertions = state.seen_assertions
    return seen


async def agency_caller(request: Request, credentials: Credentials) -> AgencyPrincipal:
    """The dependency behind ``AgencyCaller``: verify the assertion, audit the decision either way."""
    source = request_source(request, {})
    factory: sessionmaker[Session] = request.app.state.session_factory
    token = credentials.credentials if credentials else ""
    try:
        principal = await run_in_threadpool(verify_assertion, token, factory, _seen(request))
    except AssertionRefused as refused:
        await audit_authz(
            request, outcome="deny", actor=refused.claimed, reason_code=refused.code, source=source, why=refused.message
        )
        raise
    await audit_authz(
        request,
        outcome="permit",
        actor=str(principal.agency),
        reason_code=None,
        source=source,
        why=f"agency assertion signed with {principal.key_id}",
    )
    return principal


AgencyCaller = Annotated[AgencyPrincipal, Depends(agency_caller)]
"""The calling agency, proven by an assertion signed with its registered signing key."""
