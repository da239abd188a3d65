"""The admin console pages against the real hub app and a SQLite database, signed in through the real form.

Each action goes through the hub's own services (so their rules and audit rows apply); each
refusal (stale digest, wrong agency, wrong role, invalid form, missing CSRF token) answers with
a clear message and a stable code on the page, and changes nothing.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hub.agencies.models import Agency
from hub.agencies.request import make_request
from hub.auth.roles import Role
from onedoor.envelope.keys import AgencyKeyPair
from onedoor.ids import AgencyId
from tests.integration.console_admin_support import (
    CHARITY,
    HACKNEY,
    MET,
    REFERRAL,
    Browser,
    Hub,
    agreement_form,
    public_keys,
    running_hub,
)

pytestmark = pytest.mark.integration

ISA = "isa-met-hackney"
_DIGEST = re.compile(r'name="digest" value="([0-9a-f]{64})"')


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[Hub]:
    async with running_hub(f"sqlite:///{tmp_path / 'hub.sqlite3'}", tmp_path) as running:
        yield running


async def _propose(browser: Browser, **changes: str) -> None:
    await browser.get("/console/agreements/new")
    proposed = await browser.post("/console/agreements/new", agreement_form(**changes))
    assert proposed.status_code == 303, proposed.text
    assert proposed.headers["location"] == f"/console/agreements/{ISA}?done=proposed"


async def _approve(browser: Browser, version: int) -> None:
    page = await browser.get(f"/console/agreements/{ISA}")
    digest = _DIGEST.search(page.text)
    assert digest is not None, "no approve form"
    done = await browser.post(f"/console/agreements/{ISA}/versions/{version}/approve", {"digest": digest.group(1)})
    assert done.status_code == 303, done.text


async def test_two_agencies_propose_review_and_approve(hub: Hub) -> None:
    met = await hub.sign_in(Role.AGENCY_ADMIN, MET)
    await _propose(met)
    page = await met.get(f"/console/agreements/{ISA}")
    assert page.status_code == 200
    assert (
        "Metropolitan Police and Hackney Children&#39;s Services share information for safeguarding referral."
        in page.text
    )
    assert "Waiting for approval" in page.text
    assert "Recipients keep what they receive for 365 days (1 year)." in page.text
    assert "UK GDPR Art. 6(1)(e)" not in page.text or "public task" in page.text
    await _approve(met, 1)

    hackney = await hub.sign_in(Role.AGENCY_ADMIN, HACKNEY)
    review = await hackney.get(f"/console/agreements/{ISA}")
    assert f"approved by agency-admin@{MET}" in review.text
    assert f"Waiting for {HACKNEY}" in review.text
    await _approve(hackney, 1)

    done = await hackney.get(f"/console/agreements/{ISA}?done=approved")
    assert "Your agency&#39;s approval was recorded." in done.text
    assert "In force" in done.text
    approvals = re.findall(r'data-testid="approval">([^<]+)<', done.text)
    assert [a.split(":")[0] for a in approvals] == ["Metropolitan Police", "Hackney Children&#39;s Services"]
    assert f"approved by agency-admin@{HACKNEY} on " in approvals[1]
    assert 'data-testid="approve-button"' not in done.text
    kinds = [(e.kind, e.actor) for e in hub.audit("agreement.")]
    assert kinds == [
        ("agreement.propose", f"agency-admin@{MET}"),
        ("agreement.approve", f"agency-admin@{MET}"),
        ("agreement.approve", f"agency-admin@{HACKNEY}"),
        ("agreement.activate", f"agency-admin@{HACKNEY}"),
    ]
    # The history on the page is that audit trail.
    assert done.text.count("agency-admin@met-police") >= 2


async def test_a_stale_digest_is_refused_and_nothing_changes(hub: Hub) -> None:
    met = await hub.sign_in(Role.AGENCY_ADMIN, MET)
    await _propose(met)
    hackney = await hub.sign_in(Role.AGENCY_ADMIN, HACKNEY)
    opened = await hackney.get(f"/console/agreements/{ISA}")
    match = _DIGEST.search(opened.text)
    assert match is not None
    read_digest = match.group(1)

    # Meanwhile Met proposes version 2 (full access): version 1 is superseded.
    amend = await met.get(f"/console/agreements/{ISA}/amend")
    assert amend.status_code == 200
    assert 'value="limited" selected' in amend.text
    form = agreement_form(
        **{
            "provision-1-access": "full",
            "amends": "1",
            "article9": "UK GDPR Art. 9(2)(g)",
            "condition-SCH1_PARA18": "yes",
        }
    )
    changed = await met.post(f"/console/agreements/{ISA}/amend", form)
    assert changed.status_code == 303, changed.text

    before = hub.footprint()
    for version in (1, 2):
        stale = await hackney.post(f"/console/agreements/{ISA}/versions/{version}/approve", {"digest": read_digest})
        assert stale.status_code == 409, version
        assert "agreement.stale_version" in stale.text
        assert "changed after you opened it, so your approval was not recorded" in stale.text
        assert 'class="govuk-error-summary"' in stale.text
    assert hub.footprint() == before

    # The diff says what changed: the access level, and the fields that come with it.
    compared = await hackney.get(f"/console/agreements/{ISA}?from=1&to=2")
    rows = re.findall(r"<td class=\"govuk-table__cell\">(Provisions|Fields)</td>", compared.text)
    assert rows == ["Provisions", "Fields"]
    assert "full access: every kind of data" in compared.text


async def test_another_agency_and_other_roles_are_refused(hub: Hub) -> None:
    met = await hub.sign_in(Role.AGENCY_ADMIN, MET)
    await _propose(met)
    page = await met.get(f"/console/agreements/{ISA}")
    match = _DIGEST.search(page.text)
    assert match is not None
    before = hub.footprint()

    charity = await hub.sign_in(Role.AGENCY_ADMIN, CHARITY)
    listed = await charity.get("/console/agreements")
    assert listed.status_code == 200
    assert ISA not in listed.text
    await charity.get("/console/agreements/new")
    for path, form in (
        (f"/console/agreements/{ISA}", None),
        (f"/console/agreements/{ISA}/amend", None),
        (f"/console/agreements/{ISA}/versions/1/approve", {"digest": match.group(1)}),
        (f"/console/agreements/{ISA}/revoke", {"confirm": "yes"}),
        ("/console/agreements/new", agreement_form(**{f"party-{CHARITY}": "yes"})),  # an id that is not theirs
    ):
        answer = await (charity.get(path) if form is None else charity.post(path, form))
        assert answer.status_code == 403, path
        assert "console.forbidden" in answer.text, path
    assert (await charity.get("/console/agreements/isa-nothing-here")).status_code == 403, "same as not a party"

    viewer = await hub.sign_in(Role.OPS_VIEWER)
    for path in ("/console/agreements", f"/console/agreements/{ISA}", "/console/agreements/new"):
        assert (await viewer.get(path)).status_code == 403, path

    for role in (Role.HUB_OPERATOR, Role.AUDITOR):
        reader = await hub.sign_in(role)
        seen = await reader.get(f"/console/agreements/{ISA}")
        assert seen.status_code == 200
        assert "Waiting for approval" in seen.text
        assert 'data-testid="approve-button"' not in seen.text
        refused = await reader.post(f"/console/agreements/{ISA}/versions/1/approve", {"digest": match.group(1)})
        assert refused.status_code == 403
        assert (await reader.get("/console/agreements/new")).status_code == 403
    assert hub.footprint() == before
    denies = [e for e in hub.audit("console.authz") if e.outcome == "deny"]
    assert any(e.actor == f"agency-admin@{CHARITY}" and e.source == f"GET /console/agreements/{ISA}" for e in denies)


async def test_invalid_forms_say_what_to_fix_and_change_nothing(hub: Hub) -> None:
    met = await hub.sign_in(Role.AGENCY_ADMIN, MET)
    await met.get("/console/agreements/new")
    before = hub.footprint()

    empty = await met.post("/console/agreements/new", {})
    assert empty.status_code == 422
    assert 'class="govuk-error-summary"' in empty.text
    for message in (
        "Enter an agreement id",
        "Choose at least one other agency to share with",
        "Choose at least one contract the agreement covers",
        "Choose at least one purpose",
        "Choose the UK GDPR Article 6 basis",
        "Enter a real review date",
    ):
        assert message in empty.text, message
    assert 'href="#parties"' in empty.text
    assert 'id="parties-error"' in empty.text

    # The engine's own rule, shown next to the lawful basis: a legal obligation names its statute.
    no_statute = agreement_form(**{"article6": "UK GDPR Art. 6(1)(c)", "statute-CHILDREN_ACT_2004_S11": ""})
    refused = await met.post("/console/agreements/new", no_statute)
    assert refused.status_code == 422
    assert "lawful_basis.statute_required" in refused.text or "statute" in refused.text
    assert 'id="article6-error"' in refused.text
    assert 'value="isa-met-hackney"' in refused.text, "the answers are kept"

    bad_date = await met.post("/console/agreements/new", agreement_form(**{"review-date-month": "13"}))
    assert bad_date.status_code == 422
    assert "Enter a real review date" in bad_date.text

    no_csrf = await met.post("/console/agreements/new", agreement_form(), csrf="forged")
    assert no_csrf.status_code == 400
    assert "console.csrf_failed" in no_csrf.text
    assert hub.footprint() == before

    await _propose(met)
    again = await met.post("/console/agreements/new", agreement_form())
    assert again.status_code == 409
    assert "agreement.exists" in again.text
    assert 'id="agreement-id-error"' in again.text


async def test_revoke_needs_confirming(hub: Hub) -> None:
    met = await hub.sign_in(Role.AGENCY_ADMIN, MET)
    await _propose(met)
    await met.get(f"/console/agreements/{ISA}")
    before = hub.footprint()
    unconfirmed = await met.post(f"/console/agreements/{ISA}/revoke", {})
    assert unconfirmed.status_code == 422
    assert "Tick the box to confirm" in unconfirmed.text
    assert hub.footprint() == before
    revoked = await met.post(f"/console/agreements/{ISA}/revoke", {"confirm": "yes"})
    assert revoked.status_code == 303
    page = await met.get(f"/console/agreements/{ISA}?done=revoked")
    assert "Revoked" in page.text
    assert "Revoke agreement" not in page.text
    assert [e.kind for e in hub.audit("agreement.")][-1] == "agreement.revoke"
    twice = await met.post(f"/console/agreements/{ISA}/revoke", {"confirm": "yes"})
    assert twice.status_code == 409
    assert "agreement.invalid_transition" in twice.text


# -- agencies -----------------------------------------------------------------------------------------


def _register_form(agency: str, **changes: str) -> dict[str, str]:
    signing, encryption = public_keys()
    form = {
        "agency-id": agency,
        "display-name": "Synthetic Youth Project",
        "kind": "charity",
        "signing-key": signing,
        "encryption-key": encryption,
    }
    form.update(changes)
    return form


async def test_the_operator_registers_suspends_and_reinstates(hub: Hub) -> None:
    operator = await hub.sign_in(Role.HUB_OPERATOR)
    await operator.get("/console/agencies/register")
    registered = await operator.post("/console/agencies/register", _register_form("synthetic-youth"))
    assert registered.status_code == 303, registered.text
    assert registered.headers["location"] == "/console/agencies/synthetic-youth?done=registered"
    page = await operator.get(registered.headers["location"])
    assert "The agency was registered" in page.text
    assert "Suspend synthetic-youth" in page.text
    [row] = list(hub.audit("agency.register"))
    assert (row.outcome, row.actor, row.source) == ("registered", "hub-operator-person", "agency:synthetic-youth")

    suspended = await operator.post("/console/agencies/synthetic-youth/suspend")
    assert suspended.status_code == 303
    found = hub.agency("synthetic-youth")
    assert found is not None
    assert found.status.value == "suspended"
    await operator.get("/console/agencies/synthetic-youth")
    reinstated = await operator.post("/console/agencies/synthetic-youth/reinstate")
    assert reinstated.status_code == 303
    found = hub.agency("synthetic-youth")
    assert found is not None
    assert found.status.value == "active"
    assert [(e.kind, e.outcome) for e in hub.audit("agency.")][-2:] == [
        ("agency.suspend", "suspended"),
        ("agency.reactivate", "active"),
    ]
    # This hub provisions no broker identities: the suspension's withdrawal says so (hub.broker.service).
    [withdrawal] = hub.audit("broker.withdrawn")
    assert (withdrawal.outcome, withdrawal.reason_code) == ("skipped", "broker.provisioning_off")
    assert withdrawal.source == "console suspend agency_id=synthetic-youth"
    assert "enrol again" in (await operator.get(reinstated.headers["location"])).text
    listed = await operator.get("/console/agencies")
    assert all(a in listed.text for a in ("synthetic-youth", MET, HACKNEY, CHARITY))


async def test_invalid_registrations_change_nothing(hub: Hub) -> None:
    operator = await hub.sign_in(Role.HUB_OPERATOR)
    await operator.get("/console/agencies/register")
    before = (hub.count(Agency), hub.footprint())
    bad = await operator.post(
        "/console/agencies/register", _register_form("Not An Id", kind="", **{"signing-key": "short"})
    )
    assert bad.status_code == 422
    for text in ("Enter the agency id", "Choose what sort of organisation", "Ed25519 signing public key"):
        assert text in bad.text, text
    assert 'href="#signing-key"' in bad.text
    assert "agency.bad_public_key" in bad.text
    taken = await operator.post("/console/agencies/register", _register_form(MET))
    assert taken.status_code == 409
    assert "agency.exists" in taken.text
    assert 'id="agency-id-error"' in taken.text
    assert (hub.count(Agency), hub.footprint()) == before


async def test_approving_a_registration_request_needs_the_key_id_read_out(hub: Hub) -> None:
    keys = AgencyKeyPair.generate(AgencyId("synthetic-school"))
    document = make_request(keys, kind="education", display_name="Synthetic School")
    operator = await hub.sign_in(Role.HUB_OPERATOR)
    await operator.get("/console/agencies/approve")
    before = hub.count(Agency)
    wrong = await operator.post(
        "/console/agencies/approve", {"request-json": json.dumps(document), "signing-key-id": "k1_" + "0" * 32}
    )
    assert wrong.status_code == 422
    assert "registration.signing_key_unexpected" in wrong.text
    assert str(keys.signing_key_id) in wrong.text
    tampered = dict(document, display_name="Someone Else")
    refused = await operator.post(
        "/console/agencies/approve", {"request-json": json.dumps(tampered), "signing-key-id": str(keys.signing_key_id)}
    )
    assert refused.status_code == 422
    assert "registration.bad_signature" in refused.text
    not_json = await operator.post("/console/agencies/approve", {"request-json": "{", "signing-key-id": ""})
    assert not_json.status_code == 422
    assert "Enter the signing key id" in not_json.text
    assert hub.count(Agency) == before
    assert [e.reason_code for e in hub.audit("agency.register")] == [
        "registration.signing_key_unexpected",
        "registration.bad_signature",
    ]

    approved = await operator.post(
        "/console/agencies/approve", {"request-json": json.dumps(document), "signing-key-id": str(keys.signing_key_id)}
    )
    assert approved.status_code == 303, approved.text
    found = hub.agency("synthetic-school")
    assert found is not None
    assert {k.key_id for k in found.keys} == {keys.signing_key_id, keys.encryption_key_id}
    assert hub.audit("agency.register")[-1].outcome == "approved"


async def test_an_agency_admin_sees_and_revokes_only_its_own_keys(hub: Hub) -> None:
    admin = await hub.sign_in(Role.AGENCY_ADMIN, MET)
    listed = await admin.get("/console/agencies")
    assert MET in listed.text
    assert HACKNEY not in listed.text
    own = await admin.get(f"/console/agencies/{MET}")
    assert own.status_code == 200
    assert "onedoor connector rotate-keys" in own.text
    assert "Suspend" not in own.text
    found = hub.agency(MET)
    assert found is not None
    signing = next(k.key_id for k in found.keys if k.use.value == "signing")
    encryption = next(k.key_id for k in found.keys if k.use.value == "encryption")
    before = hub.footprint()
    for path in (
        f"/console/agencies/{HACKNEY}",
        "/console/agencies/register",
        "/console/agencies/approve",
    ):
        assert (await admin.get(path)).status_code == 403, path
    for path in (f"/console/agencies/{MET}/suspend", f"/console/agencies/{HACKNEY}/keys/{encryption}/revoke"):
        assert (await admin.post(path)).status_code == 403, path
    current = await admin.post(f"/console/agencies/{MET}/keys/{signing}/revoke")
    assert current.status_code == 403
    assert "agency.revoke_current_signing_key" in current.text
    assert hub.footprint() == before

    revoked = await admin.post(f"/console/agencies/{MET}/keys/{encryption}/revoke")
    assert revoked.status_code == 303
    found = hub.agency(MET)
    assert found is not None
    assert next(k for k in found.keys if k.key_id == encryption).status.value == "revoked"
    assert (hub.audit("agency.key_revoked")[-1].actor, hub.audit("agency.key_revoked")[-1].outcome) == (
        f"agency-admin@{MET}",
        "revoked",
    )

    for role in (Role.OPS_VIEWER, Role.AUDITOR):
        reader = await hub.sign_in(role)
        page = await reader.get("/console/agencies")
        assert page.status_code == 200
        assert HACKNEY in page.text
        assert "Approve a registration request" not in page.text
        assert (await reader.get(f"/console/agencies/{MET}")).status_code == 403


# -- contracts ------------------------------------------------------------------------------------------


def _thing(*fields: dict[str, object]) -> dict[str, str]:
    schema = {
        "type": "record",
        "name": "Thing",
        "namespace": "test.console",
        "fields": [{"name": "id", "type": "string", "doc": "Id.", "sensitivity": "operational"}, *fields],
    }
    return {"schema": json.dumps(schema)}


async def test_contracts_show_versions_compatibility_fields_and_who_uses_them(hub: Hub) -> None:
    operator = hub.bearer(Role.HUB_OPERATOR)
    for body in (
        _thing(),
        _thing({"name": "nickname", "type": ["null", "string"], "default": None, "sensitivity": "identity"}),
    ):
        registered = await hub.api.post("/contracts/test.console.Thing/versions", json=body, headers=operator)
        assert registered.status_code == 201, registered.text
    met = await hub.sign_in(Role.AGENCY_ADMIN, MET)
    await _propose(met)

    for role, agency in ((Role.OPS_VIEWER, None), (Role.AUDITOR, None), (Role.AGENCY_ADMIN, CHARITY)):
        reader = await hub.sign_in(role, agency)
        listed = await reader.get("/console/contracts")
        assert listed.status_code == 200
        assert "test.console.Thing" in listed.text
        assert REFERRAL in listed.text
        thing = await reader.get("/console/contracts/test.console.Thing")
        assert thing.status_code == 200
        assert "Compatible</strong> with version 1 under FULL_TRANSITIVE" in thing.text
        assert '<code class="console-code">nickname</code> (identity)' in thing.text
        assert "not shared under existing agreements until" in thing.text
        referral = await reader.get(f"/console/contracts/{REFERRAL}")
        named = f"{ISA} v1 (proposed)" in referral.text
        assert named is (role is Role.AUDITOR), role  # ops viewers get counts; Charity is not a party
    operator_view = await (await hub.sign_in(Role.HUB_OPERATOR)).get(f"/console/contracts/{REFERRAL}")
    fields = re.findall(
        r'<code class="console-code">([a-z_.]+)</code></td>\s*<td[^>]*>([a-z-]+)</td>\s*<td[^>]*>\s*([^<]*)',
        operator_view.text,
    )
    shared = {path for path, _, users in fields if ISA in users}
    assert shared, "a limited agreement shares some referral fields"
    assert all(klass in {"operational", "safeguarding", "contact"} for path, klass, users in fields if path in shared)
    assert (await met.get("/console/contracts/not.a.Contract")).status_code == 404
