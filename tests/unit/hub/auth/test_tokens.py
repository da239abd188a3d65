"""Token verification as a table of cases, each with the sentence it stands for; then minting."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from hub.auth.keys import VerificationKey, thumbprint
from hub.auth.roles import Role
from hub.auth.tokens import MAX_TOKEN_CHARS, Principal, TokenPolicy, TokenRefused, mint, verify
from onedoor.errors import Unauthenticated, ValidationFailed
from onedoor.ids import AgencyId
from tests.unit.hub.auth.conftest import (
    AUDIENCE,
    DROP,
    ISSUER,
    KEY,
    NOW,
    P256,
    POLICY,
    STRANGER,
    SUBJECT,
    at,
    b64,
    claims,
    compact,
    hs256,
    signed,
)

PUBLIC_PEM = KEY.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
PUBLIC_RAW = KEY.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
RSA = rsa.generate_private_key(public_exponent=65537, key_size=2048)
GOOD = signed(claims())
TAMPERED_BODY = b64(json.dumps(claims(sub="mallory", roles=["hub-operator"])).encode())

REFUSED = [
    # (sentence, token, code)
    ("No token at all is a missing token.", "", "auth.missing_token"),
    ("A string that is not a JWT is malformed.", "not-a-jwt", "auth.malformed_token"),
    ("Three dots-separated segments of junk are malformed.", "a.b.c", "auth.malformed_token"),
    ("A token longer than the limit is refused before parsing.", "a" * (MAX_TOKEN_CHARS + 1), "auth.malformed_token"),
    (
        "An unsigned token (alg=none) is refused, whatever it claims.",
        compact({"alg": "none", "typ": "JWT"}, claims()),
        "auth.algorithm_not_allowed",
    ),
    (
        "alg=None spelt with a capital is refused too.",
        compact({"alg": "None", "typ": "JWT"}, claims()),
        "auth.algorithm_not_allowed",
    ),
    (
        "A token with no alg at all is refused.",
        compact({"typ": "JWT"}, claims()),
        "auth.algorithm_not_allowed",
    ),
    (
        "HS256 keyed with the issuer's PEM public key (key confusion) is refused.",
        hs256(PUBLIC_PEM, claims()),
        "auth.algorithm_not_allowed",
    ),
    (
        "HS256 keyed with the issuer's raw public key bytes is refused.",
        hs256(PUBLIC_RAW, claims()),
        "auth.algorithm_not_allowed",
    ),
    (
        "RS256 is not on the allow-list, even with a valid signature.",
        signed(claims(), RSA, algorithm="RS256"),
        "auth.algorithm_not_allowed",
    ),
    (
        "A token signed by a key the hub does not trust has a bad signature.",
        signed(claims(), STRANGER),
        "auth.bad_signature",
    ),
    (
        "An EdDSA header over an ES256 signature does not verify.",
        f"{signed(claims(), KEY).rsplit('.', 1)[0]}.{signed(claims(), P256).rsplit('.', 1)[1]}",
        "auth.bad_signature",
    ),
    (
        "A payload changed after signing does not verify.",
        f"{GOOD.split('.')[0]}.{TAMPERED_BODY}.{GOOD.split('.')[2]}",
        "auth.bad_signature",
    ),
    (
        "A token that expired 31 s ago (beyond the 30 s leeway) has expired.",
        signed(claims(exp=at(-31))),
        "auth.expired",
    ),
    ("A token issued 31 s in the future is not valid yet.", signed(claims(iat=at(31))), "auth.not_yet_valid"),
    ("A token whose nbf is two minutes away is not valid yet.", signed(claims(nbf=at(120))), "auth.not_yet_valid"),
    ("A token for another audience is refused.", signed(claims(aud="some-other-api")), "auth.wrong_audience"),
    (
        "A list of audiences that does not include the hub is refused.",
        signed(claims(aud=["a", "b"])),
        "auth.wrong_audience",
    ),
    ("A token from another issuer is refused.", signed(claims(iss="https://evil.test")), "auth.wrong_issuer"),
    (
        "An issuer differing only by a trailing slash is another issuer.",
        signed(claims(iss=ISSUER + "/")),
        "auth.wrong_issuer",
    ),
    ("A token without exp is refused: tokens never live for ever.", signed(claims(exp=DROP)), "auth.missing_claim"),
    ("A token without iat is refused.", signed(claims(iat=DROP)), "auth.missing_claim"),
    ("A token without aud is refused.", signed(claims(aud=DROP)), "auth.missing_claim"),
    ("A token without iss is refused.", signed(claims(iss=DROP)), "auth.missing_claim"),
    ("A token without sub is refused: every decision names its actor.", signed(claims(sub=DROP)), "auth.missing_claim"),
    ("A token without roles is refused.", signed(claims(roles=DROP)), "auth.missing_claim"),
    ("A token with an empty roles list is refused.", signed(claims(roles=[])), "auth.missing_claim"),
    (
        "An agency-admin token that names no agency is refused.",
        signed(claims(roles=["agency-admin"])),
        "auth.missing_claim",
    ),
    ("A role the hub does not know is refused.", signed(claims(roles=["superuser"])), "auth.unknown_role"),
    (
        "One unknown role spoils the whole token.",
        signed(claims(roles=["hub-operator", "superuser"])),
        "auth.unknown_role",
    ),
    (
        "Roles as a string rather than a list are malformed.",
        signed(claims(roles="hub-operator")),
        "auth.malformed_token",
    ),
    (
        "An agency-admin token naming something that is not an agency id is malformed.",
        signed(claims(roles=["agency-admin"], agency="Not An Agency")),
        "auth.malformed_token",
    ),
    ("An exp that is not a number is malformed.", signed(claims(exp="tomorrow")), "auth.malformed_token"),
    ("An exp of NaN is malformed.", signed(claims(exp=float("nan"))), "auth.malformed_token"),
    ("true is not a NumericDate.", signed(claims(exp=True)), "auth.malformed_token"),
    ("A numeric sub is malformed.", signed(claims(sub=42)), "auth.malformed_token"),
    ("A sub longer than 64 characters is malformed.", signed(claims(sub="x" * 65)), "auth.malformed_token"),
    ("A sub with a newline (a forged log line) is malformed.", signed(claims(sub="a\nb")), "auth.malformed_token"),
    ("A jti with a space is malformed.", signed(claims(jti="a b")), "auth.malformed_token"),
    ("An aud that is a number is malformed.", signed(claims(aud=7)), "auth.malformed_token"),
    (
        "A critical header extension is refused.",
        signed(claims(), headers={"crit": ["exp"], "exp": 1}),
        "auth.malformed_token",
    ),
    (
        "A kid that is not a string is malformed.",
        compact({"alg": "EdDSA", "kid": 7}, claims(), b"\x00" * 64),
        "auth.malformed_token",
    ),
]


@pytest.mark.parametrize(("token", "code"), [pytest.param(t, c, id=s) for s, t, c in REFUSED])
def test_refused_tokens_get_a_stable_code(token: str, code: str) -> None:
    with pytest.raises(TokenRefused) as caught:
        verify(token, POLICY, NOW)
    assert caught.value.code == code
    assert isinstance(caught.value, Unauthenticated)
    assert caught.value.http_status == 401
    assert "superuser" not in caught.value.message, "messages never quote claim values"
    assert "mallory" not in caught.value.message


ACCEPTED = [
    # (sentence, token, roles, agency)
    ("A hub operator's token.", GOOD, {Role.HUB_OPERATOR}, None),
    (
        "An agency admin's token names its agency.",
        signed(claims(roles=["agency-admin"], agency="met-police")),
        {Role.AGENCY_ADMIN},
        "met-police",
    ),
    ("An auditor's token.", signed(claims(roles=["auditor"])), {Role.AUDITOR}, None),
    ("An ops viewer's token.", signed(claims(roles=["ops-viewer"])), {Role.OPS_VIEWER}, None),
    (
        "A token may carry several roles.",
        signed(claims(roles=["auditor", "ops-viewer"])),
        {Role.AUDITOR, Role.OPS_VIEWER},
        None,
    ),
    (
        "An agency claim on a token that is not agency-admin is ignored.",
        signed(claims(agency="met-police")),
        {Role.HUB_OPERATOR},
        None,
    ),
    ("An ES256 token verifies with the P-256 key.", signed(claims(), P256), {Role.HUB_OPERATOR}, None),
    ("A token that expired 29 s ago is inside the leeway.", signed(claims(exp=at(-29))), {Role.HUB_OPERATOR}, None),
    ("A token issued 29 s ahead is inside the leeway.", signed(claims(iat=at(29))), {Role.HUB_OPERATOR}, None),
    (
        "An audience list that includes the hub is accepted.",
        signed(claims(aud=["other", AUDIENCE])),
        {Role.HUB_OPERATOR},
        None,
    ),
    ("A token without jti is accepted (it is optional).", signed(claims(jti=DROP)), {Role.HUB_OPERATOR}, None),
    (
        "A kid the configured keys do not pin is accepted when the signature verifies.",
        signed(claims(), headers={"kid": "rotated-2026"}),
        {Role.HUB_OPERATOR},
        None,
    ),
]


@pytest.mark.parametrize(("token", "roles", "agency"), [pytest.param(t, r, a, id=s) for s, t, r, a in ACCEPTED])
def test_good_tokens_say_whom_they_speak_for(token: str, roles: set[Role], agency: str | None) -> None:
    principal = verify(token, POLICY, NOW)
    assert principal.subject == SUBJECT
    assert principal.roles == roles
    assert principal.agency == agency
    assert principal.expires_at > NOW - timedelta(seconds=30)


def test_the_principal_carries_token_id_and_expiry() -> None:
    principal = verify(GOOD, POLICY, NOW)
    assert principal == Principal(
        subject=SUBJECT,
        roles=frozenset({Role.HUB_OPERATOR}),
        agency=None,
        token_id="tok-0001",
        expires_at=datetime.fromtimestamp(at(3600), UTC),
    )
    assert principal.has(Role.HUB_OPERATOR)
    assert not principal.has(Role.AUDITOR)


def test_a_refusal_names_the_subject_only_once_the_signature_verified() -> None:
    with pytest.raises(TokenRefused) as expired:
        verify(signed(claims(exp=at(-3600))), POLICY, NOW)
    assert expired.value.subject == SUBJECT, "an expired but genuine token is attributed"
    with pytest.raises(TokenRefused) as forged:
        verify(signed(claims(), STRANGER), POLICY, NOW)
    assert forged.value.subject is None, "a forged token's sub is never believed"


def test_an_es256_only_hub_refuses_eddsa_tokens() -> None:
    es_only = TokenPolicy(keys=(VerificationKey.of(P256.public_key()),), issuer=ISSUER, audience=AUDIENCE)
    with pytest.raises(TokenRefused) as caught:
        verify(GOOD, es_only, NOW)
    assert caught.value.code == "auth.bad_signature"


def test_keys_with_ids_are_chosen_by_the_token_kid() -> None:
    pinned = TokenPolicy(
        keys=(VerificationKey.of(KEY.public_key(), kid="k-2026"), VerificationKey.of(STRANGER.public_key(), kid="k-x")),
        issuer=ISSUER,
        audience=AUDIENCE,
    )
    assert verify(signed(claims(), headers={"kid": "k-2026"}), pinned, NOW).subject == SUBJECT
    assert verify(GOOD, pinned, NOW).subject == SUBJECT, "no kid: every key of the algorithm is tried"
    for kid in ("k-x", "k-unknown"):
        with pytest.raises(TokenRefused) as caught:
            verify(signed(claims(), headers={"kid": kid}), pinned, NOW)
        assert caught.value.code == "auth.bad_signature", kid


def test_an_ec_key_on_another_curve_cannot_be_configured() -> None:
    with pytest.raises(ValidationFailed) as caught:
        VerificationKey.of(ec.generate_private_key(ec.SECP384R1()).public_key())
    assert caught.value.code == "auth.key_unsupported"


def test_minted_tokens_verify_and_name_their_key() -> None:
    token = mint(
        KEY,
        issuer=ISSUER,
        audience=AUDIENCE,
        subject="bob.admin",
        roles=[Role.AGENCY_ADMIN],
        agency=AgencyId("lb-hackney-csc"),
        now=NOW,
        ttl=timedelta(minutes=15),
        token_id="t-42",
    )
    header = jwt.get_unverified_header(token)
    assert (header["alg"], header["kid"]) == ("EdDSA", thumbprint(KEY.public_key()))
    principal = verify(token, POLICY, NOW)
    assert (principal.subject, principal.roles, principal.agency) == (
        "bob.admin",
        frozenset({Role.AGENCY_ADMIN}),
        "lb-hackney-csc",
    )
    assert principal.token_id == "t-42"
    assert principal.expires_at == NOW + timedelta(minutes=15)
    with pytest.raises(TokenRefused) as caught:
        verify(token, POLICY, NOW + timedelta(minutes=16))
    assert caught.value.code == "auth.expired"


def test_a_p256_key_mints_es256() -> None:
    token = mint(
        P256, issuer=ISSUER, audience=AUDIENCE, subject=SUBJECT, roles=[Role.AUDITOR], now=NOW, ttl=timedelta(1)
    )
    assert jwt.get_unverified_header(token)["alg"] == "ES256"
    assert verify(token, POLICY, NOW).roles == {Role.AUDITOR}


BAD_MINTS = [
    pytest.param({"roles": []}, "auth.missing_claim", id="a token needs a role"),
    pytest.param({"roles": [Role.AGENCY_ADMIN]}, "auth.missing_claim", id="agency-admin needs an agency"),
    pytest.param({"agency": AgencyId("met-police")}, "auth.unexpected_agency", id="only agency-admin names an agency"),
    pytest.param({"subject": ""}, "auth.bad_subject", id="an empty subject"),
    pytest.param({"subject": "two words"}, "auth.bad_subject", id="a subject with a space"),
    pytest.param({"ttl": timedelta(0)}, "auth.bad_ttl", id="a token that is born expired"),
]


@pytest.mark.parametrize(("changes", "code"), BAD_MINTS)
def test_minting_refuses_tokens_the_hub_would_refuse(changes: dict[str, object], code: str) -> None:
    arguments: dict[str, object] = {
        "issuer": ISSUER,
        "audience": AUDIENCE,
        "subject": SUBJECT,
        "roles": [Role.HUB_OPERATOR],
        "now": NOW,
        "ttl": timedelta(hours=1),
        **changes,
    }
    with pytest.raises(ValidationFailed) as caught:
        mint(KEY, **arguments)  # type: ignore[arg-type]
    assert caught.value.code == code
