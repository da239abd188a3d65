"""Audit rows in, one line per decision out: a table of cases, each with the sentence it stands for."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from hub.audit.service import AuditEntry
from hub.explain.explain import EVERYONE, Verdict, Viewer, explain_message, explain_request, request_id_of
from onedoor.ids import AgencyId

MSG = "0b7d5f7e-3c1a-4e8b-9a52-2f0c6d1e4a90"
OTHER_MSG = "1c8e6a8f-4d2b-4f9c-8b63-3a1d7e2f5ba1"
AT = datetime(2026, 11, 22, 10, 1, 2, 345000, tzinfo=UTC)
POLICE = AgencyId("police-demo")
COUNCIL = AgencyId("council-demo")
SCHOOL = AgencyId("school-demo")
STRANGER = AgencyId("stranger-demo")

REVOKED = "agreement.revoked — The agreement has been revoked: nothing more is shared under it."
PERMITS = "agreement.permits — The agreement permits this data to this recipient for this purpose."
WITHHELD = (
    "fields.withheld — Part of the message is withheld: the agreement does not permit that data to this recipient."
)
GIVEN = "consent.given — Consent to share was given."


def route(kind: str = "route.rejected", **changes: object) -> AuditEntry:
    """A routing row as the router writes it: police-demo to council-demo under isa-demo v2."""
    row = AuditEntry(
        kind=kind,
        outcome="delivered" if kind == "route.delivered" else "rejected",
        actor=POLICE,
        message_id=MSG,
        correlation_id="case-1",
        contract="onedoor.referral.MasterReferral",
        contract_version=1,
        recipients=COUNCIL,
        source="od.out.police-demo:0:7",
        agreement_id="isa-demo",
        agreement_version=2,
        purpose="safeguarding-referral",
        subject_token="st1_" + "A" * 22,
        at=AT,
    )
    return replace(row, **changes)  # type: ignore[arg-type]


CASES = [
    pytest.param(
        [route(reason_code="agreement.revoked", detail=f"{COUNCIL}: agreement.revoked")],
        [f"rejected 2026-11-22T10:01:02Z police-demo -> council-demo under isa-demo v2: {REVOKED}"],
        id="a revoked agreement stops the message, with the engine's sentence",
    ),
    pytest.param(
        [route("route.delivered", detail=f"{COUNCIL}: agreement.permits,fields.withheld,consent.given")],
        [
            "delivered 2026-11-22T10:01:02Z police-demo -> council-demo under isa-demo v2: "
            f"{PERMITS}; {WITHHELD}; {GIVEN}"
        ],
        id="a delivery lists what the permit rests on and what it withheld",
    ),
    pytest.param(
        [
            route(
                reason_code="agreement.revoked",
                recipients=f"{COUNCIL},{SCHOOL}",
                detail=f"{COUNCIL}: agreement.permits,consent.given; {SCHOOL}: agreement.revoked",
            )
        ],
        [
            "rejected 2026-11-22T10:01:02Z police-demo -> council-demo under isa-demo v2: "
            f"{REVOKED}; {PERMITS}; {GIVEN} (the message was stopped by the reasons for another recipient)",
            f"rejected 2026-11-22T10:01:02Z police-demo -> school-demo under isa-demo v2: {REVOKED}",
        ],
        id="one line per recipient; a recipient that was permitted says what stopped the message",
    ),
    pytest.param(
        [route(reason_code="envelope.expired", agreement_id=None, agreement_version=None, detail="expired 3 s ago")],
        [
            "rejected 2026-11-22T10:01:02Z police-demo -> council-demo: envelope.expired — The message expired "
            "before it could be delivered; the sender must send it again. (expired 3 s ago)"
        ],
        id="an envelope check has no agreement; the operator sentence follows",
    ),
    pytest.param(
        [
            route(
                reason_code="agreement.missing",
                agreement_id=None,
                agreement_version=None,
                detail="the header names no agreement",
            )
        ],
        [
            "rejected 2026-11-22T10:01:02Z police-demo -> council-demo: agreement.missing — The message did not "
            "name the sharing agreement it was sent under. (the header names no agreement)"
        ],
        id="a router-only code has its own sentence",
    ),
    pytest.param(
        [route(reason_code="agreement.teleported", agreement_version=None, detail=f"{COUNCIL}: agreement.teleported")],
        [
            "rejected 2026-11-22T10:01:02Z police-demo -> council-demo under isa-demo: agreement.teleported — The "
            "hub recorded the reason agreement.teleported, which this version of OneDoor does not describe."
        ],
        id="an unknown code gets the generic sentence; an unknown version is left out",
    ),
    pytest.param(
        [
            route("route.delivered", detail=f"{COUNCIL}: agreement.permits"),
            route(
                actor=COUNCIL,
                reason_code="signature.invalid",
                agreement_id=None,
                agreement_version=None,
                detail=f"refused by recipient {COUNCIL}",
                at=AT.replace(second=9),
            ),
        ],
        [
            f"delivered 2026-11-22T10:01:02Z police-demo -> council-demo under isa-demo v2: {PERMITS}",
            "refused 2026-11-22T10:01:09Z by council-demo (recipient): signature.invalid — The sending agency's "
            "signature did not verify, so the recipient refused the message.",
        ],
        id="a recipient's report (today's route.rejected form) follows the delivery",
    ),
    pytest.param(
        [
            route(
                "route.reported", actor=COUNCIL, outcome="rejected", reason_code="contract.malformed_body", detail=None
            )
        ],
        [
            "refused 2026-11-22T10:01:02Z by council-demo (recipient) under isa-demo v2: contract.malformed_body — "
            "The recipient could not read the message's content with the contract it names."
        ],
        id="a route.reported row is a recipient's refusal too",
    ),
    pytest.param(
        [route("route.delivered", detail=None, agreement_id=None, agreement_version=None)],
        ["delivered 2026-11-22T10:01:02Z police-demo -> council-demo"],
        id="a delivery recorded before agreements were enforced",
    ),
    pytest.param(
        [route(message_id=OTHER_MSG, reason_code="agreement.revoked"), route("agreement.revoke", outcome="revoked")],
        [],
        id="rows about another message, or not about routing, are not explained",
    ),
]


@pytest.mark.parametrize(("rows", "lines"), CASES)
def test_message_lines(rows: list[AuditEntry], lines: list[str]) -> None:
    explanation = explain_message(MSG, rows, EVERYONE)
    assert (explanation.lines() if explanation else []) == lines


def test_a_naive_time_from_sqlite_is_read_as_utc() -> None:
    row = route(at=datetime(2026, 11, 22, 10, 1, 2))  # naive, as SQLite returns it
    explanation = explain_message(MSG, [row], EVERYONE)
    assert explanation is not None
    assert explanation.decisions[0].at == datetime(2026, 11, 22, 10, 1, 2, tzinfo=UTC)


TWO_RECIPIENTS = route(
    reason_code="agreement.revoked",
    recipients=f"{COUNCIL},{SCHOOL}",
    detail=f"{COUNCIL}: agreement.permits,consent.given; {SCHOOL}: agreement.revoked",
)


def _recipients(viewer: Viewer, rows: list[AuditEntry]) -> list[tuple[str, ...]] | None:
    explanation = explain_message(MSG, rows, viewer)
    return None if explanation is None else [d.recipients for d in explanation.decisions]


def test_the_sender_sees_every_recipients_reasons() -> None:
    assert _recipients(Viewer(POLICE, "admin@police-demo"), [TWO_RECIPIENTS]) == [(COUNCIL,), (SCHOOL,)]


def test_a_recipient_sees_only_its_own_reasons() -> None:
    assert _recipients(Viewer(SCHOOL, "admin@school-demo"), [TWO_RECIPIENTS]) == [(SCHOOL,)]


def test_a_third_agency_sees_nothing() -> None:
    assert _recipients(Viewer(STRANGER, "admin@stranger-demo"), [TWO_RECIPIENTS]) is None


def test_a_recipient_without_its_own_reasons_still_learns_the_deciding_code() -> None:
    row = replace(TWO_RECIPIENTS, recipients=f"{COUNCIL},{SCHOOL},{STRANGER}")
    explanation = explain_message(MSG, [row], Viewer(STRANGER, "admin@stranger-demo"))
    assert explanation is not None
    assert [(d.recipients, [r.code for r in d.reasons]) for d in explanation.decisions] == [
        ((STRANGER,), ["agreement.revoked"])
    ]


def test_another_agencys_row_under_the_same_message_id_stays_hidden() -> None:
    # A stranger that reuses a delivered message's id gets its own replay rejection, and sees only that.
    replayed = route(actor=STRANGER, recipients=STRANGER, reason_code="envelope.replayed", agreement_id=None)
    rows = [route("route.delivered", detail=f"{COUNCIL}: agreement.permits"), replayed]
    explanation = explain_message(MSG, rows, Viewer(STRANGER, "admin@stranger-demo"))
    assert explanation is not None
    assert [d.reason_code for d in explanation.decisions] == ["envelope.replayed"]


def test_the_sender_sees_a_refusal_reported_by_a_recipient_it_sent_to() -> None:
    delivered = route("route.delivered", recipients=f"{COUNCIL},{SCHOOL}", detail=None)
    report = route(
        actor=COUNCIL, recipients=None, reason_code="signature.invalid", detail=f"refused by recipient {COUNCIL}"
    )
    explanation = explain_message(MSG, [delivered, report], Viewer(POLICE, "admin@police-demo"))
    assert explanation is not None
    assert [d.verdict for d in explanation.decisions] == [Verdict.DELIVERED, Verdict.REFUSED]
    # ...but another recipient does not learn that council-demo refused it.
    seen_by_school = explain_message(MSG, [delivered, report], Viewer(SCHOOL, "admin@school-demo"))
    assert seen_by_school is not None
    assert [d.verdict for d in seen_by_school.decisions] == [Verdict.DELIVERED]


def authz(request_id: str, **changes: object) -> AuditEntry:
    """An ``api.authz`` row as ``hub.auth.deps.require`` writes it: an agency admin refused."""
    row = AuditEntry(
        kind="api.authz",
        outcome="deny",
        actor="admin@police-demo",
        reason_code="auth.forbidden",
        source="POST /agreements/{agreement_id}/revoke agreement_id=isa-demo",
        detail=(
            f"request_id={request_id}; token_id=tok-1; roles=agency-admin; "
            "an agency-admin of police-demo acts only on its own agency"
        ),
        at=AT,
    )
    return replace(row, **changes)  # type: ignore[arg-type]


def test_request_lines_leave_out_the_request_and_token_ids() -> None:
    explanation = explain_request("req-1", [authz("req-1")], EVERYONE)
    assert explanation is not None
    assert explanation.lines() == [
        "denied 2026-11-22T10:01:02Z admin@police-demo POST /agreements/{agreement_id}/revoke agreement_id=isa-demo: "
        "auth.forbidden — The caller's roles do not permit this request (or it concerns another agency). "
        "(roles=agency-admin; an agency-admin of police-demo acts only on its own agency)"
    ]


def test_a_permit_and_a_refused_token() -> None:
    rows = [
        authz(
            "req-2", outcome="permit", reason_code=None, detail="request_id=req-2; roles=auditor; permitted as auditor"
        ),
        authz("req-2", actor=None, reason_code="auth.expired", detail="request_id=req-2; the token has expired"),
    ]
    explanation = explain_request("req-2", rows, EVERYONE)
    assert explanation is not None
    assert explanation.lines() == [
        "permitted 2026-11-22T10:01:02Z admin@police-demo POST /agreements/{agreement_id}/revoke "
        "agreement_id=isa-demo: roles=auditor; permitted as auditor",
        "denied 2026-11-22T10:01:02Z an unidentified caller POST /agreements/{agreement_id}/revoke "
        "agreement_id=isa-demo: auth.expired — The request's access token had expired; get a new one. "
        "(the token has expired)",
    ]


def test_a_request_id_matches_whole_not_by_prefix() -> None:
    assert explain_request("req-1", [authz("req-10"), authz("req_1")], EVERYONE) is None
    assert request_id_of("request_id=req-10; roles=x") == "req-10"
    assert request_id_of("roles=x; request_id=req-1") is None


def test_an_agency_admin_sees_only_its_own_requests() -> None:
    rows = [authz("req-3"), authz("req-3", actor="admin@council-demo")]
    mine = explain_request("req-3", rows, Viewer(POLICE, "admin@police-demo"))
    assert mine is not None
    assert [d.actor for d in mine.decisions] == ["admin@police-demo"]
    assert explain_request("req-3", rows[1:], Viewer(POLICE, "admin@police-demo")) is None
