"""Who may act on what: the authorization decision as a table of cases with a sentence each."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from hub.auth.policy import authorize
from hub.auth.roles import Role
from hub.auth.tokens import Principal
from onedoor.ids import AgencyId

MET = AgencyId("met-police")
HACKNEY = AgencyId("lb-hackney-csc")
OPERATOR_ONLY = frozenset({Role.HUB_OPERATOR})
KEY_MANAGERS = frozenset({Role.HUB_OPERATOR, Role.AGENCY_ADMIN})
ANYONE = frozenset[Role]()


def principal(*roles: Role, agency: AgencyId | None = None) -> Principal:
    return Principal("someone", frozenset(roles), agency, None, datetime(2030, 1, 1, tzinfo=UTC))


CASES = [
    # (sentence, principal, allowed, target agency, permitted)
    ("A hub operator may register an agency.", principal(Role.HUB_OPERATOR), OPERATOR_ONLY, MET, True),
    ("A hub operator may manage any agency's keys.", principal(Role.HUB_OPERATOR), KEY_MANAGERS, HACKNEY, True),
    ("A hub operator may register a contract (no agency).", principal(Role.HUB_OPERATOR), OPERATOR_ONLY, None, True),
    (
        "An agency admin may manage its own agency's keys.",
        principal(Role.AGENCY_ADMIN, agency=MET),
        KEY_MANAGERS,
        MET,
        True,
    ),
    (
        "An agency admin may not manage another agency's keys.",
        principal(Role.AGENCY_ADMIN, agency=MET),
        KEY_MANAGERS,
        HACKNEY,
        False,
    ),
    (
        "An agency admin may not act where the request names no agency.",
        principal(Role.AGENCY_ADMIN, agency=MET),
        KEY_MANAGERS,
        None,
        False,
    ),
    (
        "An agency admin may not suspend even its own agency.",
        principal(Role.AGENCY_ADMIN, agency=MET),
        OPERATOR_ONLY,
        MET,
        False,
    ),
    ("An auditor changes nothing.", principal(Role.AUDITOR), KEY_MANAGERS, MET, False),
    ("An ops viewer changes nothing.", principal(Role.OPS_VIEWER), OPERATOR_ONLY, None, False),
    ("Any valid token passes where no role is named.", principal(Role.OPS_VIEWER), ANYONE, None, True),
    (
        "An operator who is also an agency admin acts as operator anywhere.",
        principal(Role.AGENCY_ADMIN, Role.HUB_OPERATOR, agency=MET),
        KEY_MANAGERS,
        HACKNEY,
        True,
    ),
    (
        "An auditor who is also an agency admin still only manages its own agency.",
        principal(Role.AUDITOR, Role.AGENCY_ADMIN, agency=MET),
        KEY_MANAGERS,
        HACKNEY,
        False,
    ),
]


@pytest.mark.parametrize(
    ("who", "allowed", "target", "permitted"), [pytest.param(p, a, t, ok, id=s) for s, p, a, t, ok in CASES]
)
def test_authorization(who: Principal, allowed: frozenset[Role], target: AgencyId | None, permitted: bool) -> None:
    decision = authorize(who, allowed, target)
    assert decision.permitted is permitted
    assert decision.reason_code == (None if permitted else "auth.forbidden")
    assert decision.explanation


def test_the_explanation_names_the_role_relied_on_or_missing() -> None:
    assert authorize(principal(Role.AGENCY_ADMIN, agency=MET), KEY_MANAGERS, MET).explanation == (
        "permitted as agency-admin of met-police"
    )
    assert authorize(principal(Role.AUDITOR), OPERATOR_ONLY, None).explanation == "needs hub-operator"
    denied = authorize(principal(Role.AGENCY_ADMIN, agency=MET), KEY_MANAGERS, HACKNEY)
    assert HACKNEY not in denied.explanation, "the target is in the audit row's source, not the explanation"
