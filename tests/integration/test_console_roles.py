"""Who may open what: every console page and ops/audit endpoint, for every role and for nobody.

HOW TO ADD YOUR ROUTE (every helper who adds a route under /console, /ops, /audit or /metrics):
  1. Add ONE line to ``MATRIX`` below:
         ("METHOD", "/path/{template}"): Row(viewer, operator, admin, auditor, nobody, own=...),
     with the outcome each identity must get, from the table in /work/notes/console-shell.md and docs/console.md:
       A  allowed: the route ran (2xx, a redirect elsewhere than sign-in, or 400/404/409/422/503 about the request)
       D  denied: 403
       S  not signed in: 303 to /console/sign-in (pages) or 401 (JSON)
     ``admin`` is an agency-admin of OWN asking about OTHER (the sample ``agency_id``) or about an agreement
     between OTHER and THIRD; ``own=`` (routes with ``{agency_id}`` only) is that admin asking about OWN.
  2. If your path has a parameter not in ``SAMPLES``, add a sample value there.
  The test reads ``create_app(...)``'s routes itself: a route missing from ``MATRIX`` FAILS, and so
  does a row whose route no longer exists.

How each identity asks: console pages (``/console...``) with the session cookie of a real sign-in
through the sign-in form; JSON routes with a bearer token of the same role. POSTs are sent with no
body and no CSRF token, so an allowed POST answers 400/422 and changes nothing. The hub runs with a
real SQLite database under uvicorn (an SSE stream is only opened, never read).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

import httpx
import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from hub.audit.models import AuditEvent
from hub.auth.roles import Role
from hub.console.shell import SESSION_COOKIE, served_routes
from onedoor.envelope.keys import AgencyKeyPair
from onedoor.ids import AgencyId
from tests.browser.conftest import ServedHub, hub_settings, serving_hub
from tests.browser.federation import agree, referral_agreement

pytestmark = pytest.mark.integration

Outcome = Literal["A", "D", "S", "-"]
A: Final = "A"
D: Final = "D"
S: Final = "S"

OWN = AgencyId("roles-own-csc")
OTHER = AgencyId("roles-other-police")
THIRD = AgencyId("roles-third-charity")
AGREEMENT = "isa-roles-other-third"
PREFIXES: Final = ("/console", "/ops", "/audit")
EXACT: Final = frozenset({"/metrics"})


@dataclass(frozen=True, slots=True)
class Row:
    """What each identity must get from one route."""

    viewer: Outcome
    operator: Outcome
    admin: Outcome
    auditor: Outcome
    nobody: Outcome
    own: Outcome = "-"
    """The agency-admin asking about its own agency (routes with ``{agency_id}``)."""

    def expected(self, who: str) -> Outcome:
        found: Outcome = getattr(self, who)
        return found


SAMPLES: Final[dict[str, str]] = {
    "agency_id": str(OTHER),
    "key_id": "k1_" + "0" * 32,
    "agreement_id": AGREEMENT,
    "version": "1",
    "name": "onedoor.referral.MasterReferral",
    "message_id": "00000000-0000-4000-8000-000000000000",
}

# fmt: off
MATRIX: Final[dict[tuple[str, str], Row]] = {
    # C: the shell and the dashboard
    ("GET", "/console/sign-in"):                                         Row(A, A, A, A, A),
    ("POST", "/console/sign-in"):                                        Row(A, A, A, A, A),
    ("POST", "/console/sign-out"):                                       Row(A, A, A, A, S),
    ("GET", "/console"):                                                 Row(A, A, D, A, S),
    # B: ops data
    ("GET", "/ops/dashboard"):                                           Row(A, A, D, A, S),
    ("GET", "/ops/stream"):                                              Row(A, A, D, A, S),
    ("GET", "/metrics"):                                                 Row(A, A, D, A, S),
    # E: dead letters
    ("GET", "/console/dead-letters"):                                    Row(A, A, D, A, S),
    ("POST", "/console/dead-letters/{message_id}/replay"):               Row(D, A, D, D, S),
    ("GET", "/ops/dead-letters"):                                        Row(A, A, D, A, S),
    ("POST", "/ops/dead-letters/{message_id}/replay"):                   Row(D, A, D, D, S),
    # F: connector health, time-to-triage, policy effect
    ("GET", "/ops/connectors"):                                          Row(A, A, D, A, S),
    ("GET", "/ops/triage"):                                              Row(A, A, D, A, S),
    ("GET", "/ops/policy-effect"):                                       Row(A, A, D, A, S),
    # D: agencies, agreements, contracts
    ("GET", "/console/agencies"):                                        Row(A, A, A, A, S),
    ("GET", "/console/agencies/register"):                               Row(D, A, D, D, S),
    ("POST", "/console/agencies/register"):                              Row(D, A, D, D, S),
    ("GET", "/console/agencies/approve"):                                Row(D, A, D, D, S),
    ("POST", "/console/agencies/approve"):                               Row(D, A, D, D, S),
    # viewer and auditor: the agency list only, no agency's page
    ("GET", "/console/agencies/{agency_id}"):                            Row(D, A, D, D, S, own=A),
    ("POST", "/console/agencies/{agency_id}/suspend"):                   Row(D, A, D, D, S, own=D),
    ("POST", "/console/agencies/{agency_id}/reinstate"):                 Row(D, A, D, D, S, own=D),
    ("POST", "/console/agencies/{agency_id}/keys/{key_id}/revoke"):      Row(D, A, D, D, S, own=A),
    ("GET", "/console/agreements"):                                      Row(D, A, A, A, S),
    ("GET", "/console/agreements/new"):                                  Row(D, D, A, D, S),
    ("POST", "/console/agreements/new"):                                 Row(D, D, A, D, S),
    ("GET", "/console/agreements/{agreement_id}"):                       Row(D, A, D, A, S),
    ("GET", "/console/agreements/{agreement_id}/amend"):                 Row(D, D, D, D, S),
    ("POST", "/console/agreements/{agreement_id}/amend"):                Row(D, D, D, D, S),
    ("POST", "/console/agreements/{agreement_id}/revoke"):               Row(D, D, D, D, S),
    ("POST", "/console/agreements/{agreement_id}/versions/{version}/approve"): Row(D, D, D, D, S),
    ("GET", "/console/contracts"):                                       Row(A, A, A, A, S),
    ("GET", "/console/contracts/{name}"):                                Row(A, A, A, A, S),
    # A: audit
    ("GET", "/console/audit"):                                           Row(D, A, D, A, S),
    ("GET", "/audit/events"):                                            Row(D, A, D, A, S),
    ("GET", "/audit/chain"):                                             Row(D, A, D, A, S),
}
# fmt: on

IDENTITIES: Final[dict[str, tuple[Role, AgencyId | None] | None]] = {
    "viewer": (Role.OPS_VIEWER, None),
    "operator": (Role.HUB_OPERATOR, None),
    "admin": (Role.AGENCY_ADMIN, OWN),
    "auditor": (Role.AUDITOR, None),
    "nobody": None,
}


def in_scope(path: str) -> bool:
    """Whether the matrix must cover ``path``."""
    return path in EXACT or any(path == p or path.startswith(p + "/") for p in PREFIXES)


def concrete(template: str, *, agency: str | None = None) -> str:
    """``template`` with every ``{param}`` replaced by its sample (``agency`` for ``agency_id``)."""

    def sample(match: re.Match[str]) -> str:
        name = match.group(1).split(":")[0]
        if name == "agency_id" and agency is not None:
            return agency
        assert name in SAMPLES, f"add a sample value for {{{name}}} to SAMPLES"
        return SAMPLES[name]

    return re.sub(r"\{([^}]+)\}", sample, template)


def classify(response: httpx.Response) -> Outcome | str:
    """A, D or S for a response, or a description of an answer no route should give."""
    status = response.status_code
    if status in (301, 302, 303, 307, 308):
        return S if response.headers.get("location", "").startswith("/console/sign-in") else A
    if status == 401:
        return S
    if status == 403:
        return D
    if status < 500 or status == 503:
        return A
    return f"HTTP {status}"


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedHub]:
    root: Path = tmp_path_factory.mktemp("console-roles")
    with serving_hub(hub_settings(root, None)) as served:
        for agency, kind in ((OWN, "children-services"), (OTHER, "police"), (THIRD, "charity")):
            served.register(AgencyKeyPair.generate(agency), kind)
        agree(served, referral_agreement(AGREEMENT, OTHER, THIRD, "safeguarding-referral"))
        yield served


def _signed_in(hub: ServedHub, role: Role, agency: AgencyId | None) -> httpx.Client:
    client = httpx.Client(base_url=hub.base_url, timeout=30, follow_redirects=False)
    form = client.get("/console/sign-in")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert csrf is not None, form.text[:500]
    token = hub.issuer.mint(subject=f"roles-{role.value}", roles=[role], agency=agency)
    signed = client.post("/console/sign-in", data={"csrf_token": csrf.group(1), "token": token})
    assert signed.status_code == 303, signed.text[:500]
    assert {c.path for c in client.cookies.jar if c.name == SESSION_COOKIE} == {"/console", "/ops"}
    return client


def _ask(hub: ServedHub, who: str, method: str, url: str, clients: dict[str, httpx.Client]) -> httpx.Response:
    identity = IDENTITIES[who]
    headers: dict[str, str] = {}
    if url.startswith("/console"):
        client = clients[who]
    else:
        client = clients["bare"]
        if identity is not None:
            role, agency = identity
            token = hub.issuer.mint(subject=f"roles-{role.value}", roles=[role], agency=agency)
            headers["Authorization"] = f"Bearer {token}"
    # Only the status and headers are read: a stream (SSE) is closed at once.
    with client.stream(method, url, headers=headers) as response:
        return response


def test_every_console_ops_and_audit_route_is_declared(hub: ServedHub) -> None:
    from hub.app import create_app  # noqa: PLC0415 - the app under test, built as the served one is

    served = {
        (method, path)
        for path, methods in served_routes(create_app(hub.settings))
        if in_scope(path)
        for method in methods
        if method != "HEAD"
    }
    undeclared = sorted(served - MATRIX.keys())
    gone = sorted(MATRIX.keys() - served)
    assert undeclared == [], f"routes missing from MATRIX in {__file__} (add a row each): {undeclared}"
    assert gone == [], f"MATRIX rows for routes that no longer exist (remove them): {gone}"


def test_each_identity_gets_what_the_matrix_says(hub: ServedHub) -> None:
    clients: dict[str, httpx.Client] = {"bare": httpx.Client(base_url=hub.base_url, timeout=30, follow_redirects=False)}
    clients["nobody"] = httpx.Client(base_url=hub.base_url, timeout=30, follow_redirects=False)
    for who, identity in IDENTITIES.items():
        if identity is not None:
            clients[who] = _signed_in(hub, *identity)
    wrong: list[str] = []
    try:
        for (method, template), expected_row in sorted(MATRIX.items(), key=lambda kv: (kv[0][1], kv[0][0])):
            asks = [(who, concrete(template)) for who in IDENTITIES]
            if expected_row.own != "-":
                asks.append(("own", concrete(template, agency=str(OWN))))
            for who, url in asks:
                expected = expected_row.expected(who)
                got = classify(_ask(hub, "admin" if who == "own" else who, method, url, clients))
                if got != expected:
                    wrong.append(f"{method} {url} as {who}: expected {expected}, got {got}")
    finally:
        for client in clients.values():
            client.close()
    assert wrong == [], "the role matrix does not hold:\n" + "\n".join(wrong)


def test_the_console_session_also_opens_the_dashboard_data(hub: ServedHub) -> None:
    """The dashboard page reads /ops/dashboard with its cookie: readers get it, an agency admin does not."""
    viewer = _signed_in(hub, Role.OPS_VIEWER, None)
    admin = _signed_in(hub, Role.AGENCY_ADMIN, OWN)
    try:
        assert classify(viewer.get("/ops/dashboard")) == A
        assert admin.get("/ops/dashboard").status_code == 403
    finally:
        viewer.close()
        admin.close()


def _authz_rows(hub: ServedHub) -> list[tuple[str | None, str, str | None]]:
    engine = create_engine(hub.settings.database_url)
    try:
        with Session(engine) as db:
            rows = db.scalars(select(AuditEvent).where(AuditEvent.kind == "console.authz").order_by(AuditEvent.id))
            return [(r.actor, r.outcome, r.source) for r in rows]
    finally:
        engine.dispose()


def test_every_console_page_decision_is_audited_with_who_and_what(hub: ServedHub) -> None:
    """Each console page request, permitted or refused, leaves a console.authz row naming the subject."""
    pages = sorted(t for (m, t) in MATRIX if m == "GET" and t.startswith("/console") and t != "/console/sign-in")
    viewer = _signed_in(hub, Role.OPS_VIEWER, None)
    try:
        for template in pages:
            url = concrete(template)
            before = len(_authz_rows(hub))
            outcome = classify(viewer.get(url))
            added = _authz_rows(hub)[before:]
            expected = "permit" if outcome == A else "deny"
            assert ("roles-ops-viewer", expected, f"GET {url}") in added, f"{url}: {added}"
    finally:
        viewer.close()
