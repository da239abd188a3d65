"""Hub API tokens: verify one into a ``Principal``, or mint one (the development issuer's half).

Pure: no I/O and no clock; the caller passes ``now``. A token is a JWS-signed JWT whose
algorithm is EdDSA or ES256, checked with the key configured for that algorithm (PyJWT is
told only that key's algorithm), so ``alg=none``, HMAC with a public key as the secret, and
RSA are all refused. Every refusal is a ``TokenRefused`` with a stable ``auth.*`` code; its
message never quotes the token or a claim value.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import jwt
from jwt.types import Options

from hub.auth.keys import ALLOWED_ALGORITHMS, PrivateKey, VerificationKey, algorithm_of, thumbprint
from hub.auth.roles import Role
from onedoor.errors import Unauthenticated, ValidationFailed
from onedoor.ids import AgencyId

MAX_TOKEN_CHARS: Final = 8192
"""Longer bearer values are refused before any parsing."""
REQUIRED_CLAIMS: Final = ("exp", "iat", "aud", "iss", "sub", "roles")
DEFAULT_LEEWAY: Final = timedelta(seconds=30)

# Printable ASCII without spaces: subjects and token ids go into audit rows and log lines.
_SUBJECT = re.compile(r"[\x21-\x7e]{1,64}")
_TOKEN_ID = re.compile(r"[\x21-\x7e]{1,128}")
# datetime's own ceiling, so an absurd but finite ``exp`` cannot overflow the conversion.
_LATEST: Final = datetime(9999, 12, 31, tzinfo=UTC).timestamp()
_ALLOWED_TEXT: Final = " or ".join(sorted(ALLOWED_ALGORITHMS))

# PyJWT checks the signature only; every claim is checked below, against the caller's clock.
_SIGNATURE_ONLY: Options = {
    "verify_signature": True,
    "verify_exp": False,
    "verify_nbf": False,
    "verify_iat": False,
    "verify_aud": False,
    "verify_iss": False,
    "verify_sub": False,
    "verify_jti": False,
    "require": [],
}


class TokenRefused(Unauthenticated):
    """A bearer token that does not authenticate its holder (HTTP 401)."""

    def __init__(self, code: str, message: str, subject: str | None = None) -> None:
        super().__init__(code, message)
        self.subject = subject
        """The token's ``sub``, only when its signature verified (for the audit log)."""


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a verified token speaks for."""

    subject: str
    """The ``sub`` claim: the person or service, as the issuer names it."""
    roles: frozenset[Role]
    agency: AgencyId | None
    """The agency an agency-admin administers; ``None`` for every other token."""
    token_id: str | None
    """The ``jti`` claim, when the issuer sets one."""
    expires_at: datetime

    def has(self, role: Role) -> bool:
        """Whether the token carries ``role``."""
        return role in self.roles


@dataclass(frozen=True, slots=True)
class TokenPolicy:
    """What a token must satisfy: one of these keys, this issuer, this audience."""

    keys: tuple[VerificationKey, ...] = field(repr=False)
    issuer: str
    audience: str
    leeway: timedelta = DEFAULT_LEEWAY


def verify(token: str, policy: TokenPolicy, now: datetime) -> Principal:
    """Check ``token`` against ``policy`` at ``now`` and say whom it speaks for.

    Raises:
        TokenRefused: with one of the codes ``auth.missing_token``, ``auth.malformed_token``,
            ``auth.algorithm_not_allowed``, ``auth.bad_signature``, ``auth.missing_claim``,
            ``auth.wrong_issuer``, ``auth.wrong_audience``, ``auth.expired``,
            ``auth.not_yet_valid`` or ``auth.unknown_role``.
    """
    if not token:
        raise TokenRefused("auth.missing_token", "this operation needs a bearer token")
    if len(token) > MAX_TOKEN_CHARS:
        raise TokenRefused("auth.malformed_token", f"the token is longer than {MAX_TOKEN_CHARS} characters")
    claims = _verified_claims(token, policy)
    return _principal(claims, policy, now.timestamp())


def _verified_claims(token: str, policy: TokenPolicy) -> dict[str, Any]:
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise TokenRefused("auth.malformed_token", "the token is not a signed JWT") from None
    algorithm = header.get("alg")
    if not isinstance(algorithm, str) or algorithm not in ALLOWED_ALGORITHMS:
        raise TokenRefused("auth.algorithm_not_allowed", f"tokens must be signed with {_ALLOWED_TEXT}")
    kid = header.get("kid")
    if "crit" in header or not isinstance(kid, str | None):
        raise TokenRefused("auth.malformed_token", "the token's header has unsupported parameters")
    for key in policy.keys:
        if key.algorithm != algorithm or (kid is not None and key.kid not in (None, kid)):
            continue
        try:
            claims: dict[str, Any] = jwt.decode(token, key.public, algorithms=[key.algorithm], options=_SIGNATURE_ONLY)
        except jwt.InvalidSignatureError:
            continue
        except jwt.PyJWTError:
            raise TokenRefused("auth.malformed_token", "the token is not a signed JWT") from None
        return claims
    raise TokenRefused("auth.bad_signature", "the token is not signed by a key this hub trusts")


def _numeric(claims: Mapping[str, Any], name: str, subject: str | None) -> float:
    value = claims[name]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise TokenRefused("auth.malformed_token", f"the {name!r} claim is not a NumericDate", subject)
    return float(value)


def _principal(claims: Mapping[str, Any], policy: TokenPolicy, now: float) -> Principal:
    sub = claims.get("sub")
    subject = sub if isinstance(sub, str) and _SUBJECT.fullmatch(sub) else None
    for name in REQUIRED_CLAIMS:
        if claims.get(name) is None:
            raise TokenRefused("auth.missing_claim", f"the token has no {name!r} claim", subject)
    if claims["iss"] != policy.issuer:
        raise TokenRefused("auth.wrong_issuer", "the token is from an issuer this hub does not trust", subject)
    audience = claims["aud"]
    audiences = [audience] if isinstance(audience, str) else audience
    if not isinstance(audiences, list) or not all(isinstance(a, str) for a in audiences):
        raise TokenRefused("auth.malformed_token", "the 'aud' claim is neither a string nor a list of strings", subject)
    if policy.audience not in audiences:
        raise TokenRefused("auth.wrong_audience", "the token is meant for another service", subject)
    leeway = policy.leeway.total_seconds()
    expires = _numeric(claims, "exp", subject)
    if now >= expires + leeway:
        raise TokenRefused("auth.expired", "the token has expired", subject)
    for name in ("iat", "nbf"):
        if name in claims and _numeric(claims, name, subject) > now + leeway:
            raise TokenRefused("auth.not_yet_valid", f"the token is not valid yet ({name} is in the future)", subject)
    if subject is None:
        raise TokenRefused("auth.malformed_token", "'sub' must be 1 to 64 printable ASCII characters")
    token_id = claims.get("jti")
    if token_id is not None and not (isinstance(token_id, str) and _TOKEN_ID.fullmatch(token_id)):
        raise TokenRefused("auth.malformed_token", "'jti' must be 1 to 128 printable ASCII characters", subject)
    roles = _roles(claims["roles"], subject)
    return Principal(
        subject=subject,
        roles=roles,
        agency=_agency(claims, subject) if Role.AGENCY_ADMIN in roles else None,
        token_id=token_id,
        expires_at=datetime.fromtimestamp(min(expires, _LATEST), UTC),
    )


def _roles(value: object, subject: str) -> frozenset[Role]:
    if not isinstance(value, list) or not all(isinstance(r, str) for r in value):
        raise TokenRefused("auth.malformed_token", "'roles' must be a list of strings", subject)
    if not value:
        raise TokenRefused("auth.missing_claim", "the token's 'roles' claim is empty", subject)
    known = {r.value for r in Role}
    if not set(value) <= known:
        raise TokenRefused("auth.unknown_role", f"roles must be among {', '.join(sorted(known))}", subject)
    return frozenset(Role(r) for r in value)


def _agency(claims: Mapping[str, Any], subject: str) -> AgencyId:
    value = claims.get("agency")
    if value is None:
        raise TokenRefused("auth.missing_claim", "an agency-admin token must name its 'agency'", subject)
    try:
        return AgencyId(value)
    except ValidationFailed:
        raise TokenRefused("auth.malformed_token", "the 'agency' claim is not an agency id", subject) from None


def mint(
    key: PrivateKey,
    *,
    issuer: str,
    audience: str,
    subject: str,
    roles: Iterable[Role],
    now: datetime,
    ttl: timedelta,
    agency: AgencyId | None = None,
    token_id: str | None = None,
) -> str:
    """A signed token for ``subject`` with ``roles``, valid from ``now`` for ``ttl``.

    Args:
        key: an Ed25519 key (signs EdDSA) or a P-256 key (signs ES256); its thumbprint is the ``kid``.
        issuer: the ``iss`` claim.
        audience: the ``aud`` claim.
        subject: the ``sub`` claim, 1 to 64 printable ASCII characters.
        roles: at least one role.
        now: the ``iat`` and ``nbf`` claims.
        ttl: how long the token lives (``exp`` is ``now + ttl``).
        agency: the agency an agency-admin administers; required for, and only for, agency-admin.
        token_id: the ``jti`` claim; a random one when not given.

    Returns:
        The compact JWS.

    Raises:
        ValidationFailed: ``auth.missing_claim`` (no role, or agency-admin without an agency),
            ``auth.unexpected_agency``, ``auth.bad_subject`` or ``auth.bad_ttl``.
    """
    wanted = frozenset(roles)
    if not wanted:
        raise ValidationFailed("auth.missing_claim", "a token needs at least one role")
    if Role.AGENCY_ADMIN in wanted and agency is None:
        raise ValidationFailed("auth.missing_claim", "an agency-admin token must name its agency")
    if agency is not None and Role.AGENCY_ADMIN not in wanted:
        raise ValidationFailed("auth.unexpected_agency", "only agency-admin tokens name an agency")
    if not _SUBJECT.fullmatch(subject):
        raise ValidationFailed("auth.bad_subject", "the subject must be 1 to 64 printable ASCII characters")
    if ttl <= timedelta(0):
        raise ValidationFailed("auth.bad_ttl", "a token must live for a positive time")
    issued = int(now.timestamp())
    claims: dict[str, Any] = {
        "iss": issuer,
        "aud": audience,
        "sub": subject,
        "iat": issued,
        "nbf": issued,
        "exp": issued + math.ceil(ttl.total_seconds()),
        "jti": token_id or uuid.uuid4().hex,
        "roles": sorted(wanted),
    }
    if agency is not None:
        claims["agency"] = str(agency)
    return jwt.encode(claims, key, algorithm=algorithm_of(key), headers={"kid": thumbprint(key.public_key())})
