"""``/console/agreements``: the agreements a user may see, a readable summary, versions, diffs and actions.

Hub operators and auditors read every agreement; an agency admin reads and acts on the
agreements its agency is a party to (``guard.scoped_user`` with the API's party rule); ops
viewers get the 403 page. Actions call ``hub.agreements.service`` in one transaction, exactly
as ``hub.agreements.api`` does, so its rules and its ``agreement.*`` audit rows apply: a stale
digest, a wrong agency or an invalid form changes nothing and is shown on the page.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path as FilePath
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from consent.basis import Article6
from contracts.registry.models import Contract
from hub.agreements import service
from hub.agreements.lifecycle import VersionState
from hub.agreements.models import AgreementVersion
from hub.agreements.schemas import AgreementBody, AgreementPropose, signatories
from hub.auth.policy import list_scope
from hub.auth.roles import Role
from hub.console import shell
from hub.console.admin import data, forms, words
from hub.console.admin.diff import Change, diff
from hub.console.admin.forms import FieldError, FormProblems
from hub.console.admin.guard import scoped_user
from hub.console.admin.summary import Summary, summarize
from hub.console.shell import ConsoleUser
from onedoor.errors import Forbidden
from onedoor.ids import AgencyId, AgreementId

TEMPLATES: Final = FilePath(__file__).parent / "templates"
shell.add_templates(TEMPLATES)

router = APIRouter(prefix="/console/agreements", include_in_schema=False)

AgreementIdPath = Annotated[str, Path(pattern=f"^{AgreementId.pattern.pattern}$", max_length=64)]
VersionPath = Annotated[int, Path(ge=1, le=100_000)]

STATE_TAGS: Final = {
    VersionState.PROPOSED: ("Waiting for approval", "govuk-tag--yellow"),
    VersionState.ACTIVE: ("In force", "govuk-tag--green"),
    VersionState.SUSPENDED: ("Suspended", "govuk-tag--orange"),
    VersionState.SUPERSEDED: ("Superseded", "govuk-tag--grey"),
    VersionState.REVOKED: ("Revoked", "govuk-tag--red"),
    VersionState.EXPIRED: ("Expired", "govuk-tag--grey"),
}
DONE: Final = {
    "proposed": "The agreement was proposed. Every party agency's admin must now approve it.",
    "approved": "Your agency's approval was recorded.",
    "revoked": "The agreement was revoked. Nothing is shared under it any more.",
}


def _party(session: Session, request: Request, agency: AgencyId) -> AgencyId | None:
    return agency if agency in service.party_agencies(session, str(request.path_params["agreement_id"])) else None


def _signatory(session: Session, request: Request, agency: AgencyId) -> AgencyId | None:
    raw = request.path_params.get("version", "")
    version = int(raw) if str(raw).isdecimal() else 0
    parties = service.party_agencies(session, str(request.path_params["agreement_id"]), version)
    return agency if agency in parties else None


Reader = Annotated[
    ConsoleUser, Depends(scoped_user(Role.HUB_OPERATOR, Role.AUDITOR, Role.AGENCY_ADMIN, acting_for=_party))
]
Lister = Annotated[ConsoleUser, Depends(shell.console_user(Role.HUB_OPERATOR, Role.AUDITOR, Role.AGENCY_ADMIN))]
Proposer = Annotated[ConsoleUser, Depends(shell.console_user(Role.AGENCY_ADMIN))]
Amender = Annotated[ConsoleUser, Depends(scoped_user(Role.AGENCY_ADMIN, acting_for=_party))]
Approver = Annotated[ConsoleUser, Depends(scoped_user(Role.AGENCY_ADMIN, acting_for=_signatory))]


def _own(user: ConsoleUser) -> AgencyId:
    if user.agency is None:  # unreachable: agency-admin sessions name their agency
        raise Forbidden(shell.FORBIDDEN_PAGE, "your role does not give you access to this page")
    return user.agency


# -- list -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ListRow:
    """One agreement in the list."""

    id: str
    title: str
    parties: list[str]
    latest: int
    state: tuple[str, str]
    in_force: int | None


@router.get("", response_class=HTMLResponse)
async def list_page(request: Request, user: Lister) -> HTMLResponse:
    """Every agreement the user may see (an agency admin: its agency's)."""
    scoped = list_scope(user.roles, user.agency)

    def rows(session: Session) -> tuple[list[ListRow], dict[str, str]]:
        names = data.agency_names(session)
        out = []
        for group in service.list_ids(session, scoped):
            latest = group[-1]
            body = AgreementBody.model_validate(latest.body)
            out.append(
                ListRow(
                    id=latest.agreement_id,
                    title=body.title or latest.agreement_id,
                    parties=[names.get(p.removeprefix("agency:"), p) for p in body.parties],
                    latest=latest.version,
                    state=STATE_TAGS[latest.state],
                    in_force=next((r.version for r in group if r.state.in_force), None),
                )
            )
        return out, names

    found, _ = await shell.in_session(request, rows)
    return shell.render(
        request,
        user,
        "console/agreements/list.html",
        page_title="Agreements",
        rows=found,
        may_propose=Role.AGENCY_ADMIN in user.roles,
    )


# -- one agreement --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VersionView:
    """One version on the agreement's page."""

    version: int
    state: VersionState
    tag: tuple[str, str]
    digest: str
    proposed_by: str
    proposed_at: datetime
    signatories: list[str]
    approvals: list[dict[str, Any]]
    waiting_for: list[str]
    summary: Summary


@dataclass(frozen=True, slots=True)
class AgreementView:
    """Everything the agreement's page shows."""

    id: str
    versions: list[VersionView]
    current: VersionView
    """The version in force, else the latest."""
    history: list[dict[str, Any]]
    changes: list[Change]
    compare: tuple[int, int] | None


def _view(session: Session, agreement_id: str, compare: tuple[int | None, int | None]) -> AgreementView:
    rows = service.versions(session, agreement_id)
    bodies = [AgreementBody.model_validate(r.body) for r in rows]
    tags = data.contract_tags(session, {c for b in bodies for c in b.contracts})
    names = data.agency_names(session)
    today = datetime.now(UTC).date()
    versions = []
    for row, body in zip(rows, bodies, strict=True):
        parties = sorted(signatories(body))
        approved = {a.agency_id for a in row.approvals}
        versions.append(
            VersionView(
                version=row.version,
                state=row.state,
                tag=STATE_TAGS[row.state],
                digest=row.digest,
                proposed_by=row.proposed_by,
                proposed_at=row.proposed_at,
                signatories=parties,
                approvals=[
                    {
                        "agency": names.get(a.agency_id, a.agency_id),
                        "agency_id": a.agency_id,
                        "approver": a.approver,
                        "approved_at": a.approved_at,
                        "signed": a.key_id,
                    }
                    for a in row.approvals
                ],
                waiting_for=[p for p in parties if p not in approved] if row.state is VersionState.PROPOSED else [],
                summary=summarize(body, tags, names, today=today),
            )
        )
    current = next((v for v in versions if v.state.in_force), versions[-1])
    history = [
        {
            "at": e.at,
            "what": e.kind.removeprefix("agreement."),
            "state": e.outcome,
            "actor": e.actor,
            "source": e.source,
        }
        for e in data.agreement_history(session, agreement_id)
    ]
    numbers = [r.version for r in rows]
    old, new = compare
    pair: tuple[int, int] | None = None
    if len(rows) > 1:
        new = new if new in numbers else numbers[-1]
        old = old if old in numbers else numbers[-2]
        pair = (old, new)
    changes = diff(bodies[pair[0] - 1], bodies[pair[1] - 1], tags, names) if pair else []
    return AgreementView(agreement_id, versions, current, history, changes, pair)


def _detail(
    request: Request,
    user: ConsoleUser,
    view: AgreementView,
    *,
    status: int = 200,
    errors: Sequence[FieldError] = (),
    done: str | None = None,
) -> HTMLResponse:
    latest = view.versions[-1]
    own = user.agency if Role.AGENCY_ADMIN in user.roles else None
    may_approve = (
        own is not None
        and latest.state is VersionState.PROPOSED
        and own in latest.signatories
        and own in latest.waiting_for
    )
    live = any(v.state.in_force or v.state is VersionState.PROPOSED for v in view.versions)
    ended = any(v.state is VersionState.REVOKED for v in view.versions)
    return shell.render(
        request,
        user,
        "console/agreements/detail.html",
        status=status,
        page_title=view.current.summary.title,
        view=view,
        latest=latest,
        may_approve=may_approve,
        may_revoke=own is not None and live,
        may_amend=own is not None and not ended,
        done=DONE.get(done or ""),
        **forms.error_context(errors),
    )


def _int(text: str | None) -> int | None:
    return int(text) if text is not None and text.isdecimal() and len(text) < 7 else None


@router.post("/{agreement_id}/versions/{version}/approve", response_class=HTMLResponse)
async def approve(request: Request, user: Approver, agreement_id: AgreementIdPath, version: VersionPath) -> Response:
    """Approve ``version`` for the user's agency; the form carries the digest of the content the admin read."""
    form = await shell.form_with_csrf(request, user)
    agency = _own(user)
    digest = form.get("digest", "").strip().lower()
    failed = await shell.in_transaction(
        request,
        lambda s: service.approve(s, agreement_id, version, agency=agency, approver=user.subject, digest=digest),
    )
    if failed is not None:
        view = await shell.in_session(request, lambda s: _view(s, agreement_id, (None, None)))
        message = failed.message
        if failed.code == service.STALE_VERSION:
            message = (
                f"Version {version} changed after you opened it, so your approval was not recorded: {failed.message}. "
                "Read the latest version below and approve that one if you agree with it."
            )
        error = FieldError("approve", failed.code, message)
        return _detail(request, user, view, status=failed.http_status, errors=[error])
    return shell.redirect(f"/console/agreements/{agreement_id}?done=approved")


@router.post("/{agreement_id}/revoke", response_class=HTMLResponse)
async def revoke(request: Request, user: Amender, agreement_id: AgreementIdPath) -> Response:
    """End the agreement for good (the version in force and any pending one)."""
    form = await shell.form_with_csrf(request, user)
    if form.get("confirm") != "yes":
        view = await shell.in_session(request, lambda s: _view(s, agreement_id, (None, None)))
        error = FieldError(
            "confirm", "agreement_form.revoke_unconfirmed", "Tick the box to confirm you want to revoke this agreement"
        )
        return _detail(request, user, view, status=422, errors=[error])
    failed = await shell.in_transaction(request, lambda s: service.revoke(s, agreement_id, by=user.subject))
    if failed is not None:
        view = await shell.in_session(request, lambda s: _view(s, agreement_id, (None, None)))
        return _detail(
            request, user, view, status=failed.http_status, errors=[FieldError("confirm", failed.code, failed.message)]
        )
    return shell.redirect(f"/console/agreements/{agreement_id}?done=revoked")


# -- propose and amend ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FormOptions:
    """What the agreement form offers: registered agencies and contracts, and the fixed vocabularies."""

    agencies: list[tuple[str, str]]
    contracts: list[str]
    fixed: dict[str, Any]


def _options(session: Session) -> FormOptions:
    names = data.agency_names(session)
    contracts = list(session.scalars(select(Contract.name).order_by(Contract.name)))
    return FormOptions(sorted(names.items()), contracts, forms.choices())


def _form(
    request: Request,
    user: ConsoleUser,
    options: FormOptions,
    values: Mapping[str, str],
    *,
    amend: str | None = None,
    amends: int | None = None,
    errors: Sequence[FieldError] = (),
    status: int = 200,
) -> HTMLResponse:
    own = _own(user)
    return shell.render(
        request,
        user,
        "console/agreements/form.html",
        items=_items(values, options, own),
        status=status,
        page_title=f"Propose a new version of {amend}" if amend else "Propose an agreement",
        options=options,
        own=own,
        values=values,
        amend=amend,
        amends=amends,
        **forms.error_context(errors),
    )


def _items(values: Mapping[str, str], options: FormOptions, own: AgencyId) -> dict[str, Any]:
    """GOV.UK checkbox, radio and select items for the agreement form, checked as in ``values``."""

    def check(prefix: str, choices: Sequence[tuple[str, str]], hint: Mapping[str, str] | None = None) -> list[Any]:
        return [
            {
                "name": f"{prefix}{value}",
                "value": "yes",
                "text": text,
                "checked": bool(values.get(f"{prefix}{value}")),
                **({"hint": {"text": hint[value]}} if hint and value in hint else {}),
            }
            for value, text in choices
        ]

    fixed = options.fixed
    others = [(a, f"{name} ({a})") for a, name in options.agencies if a != own]
    actors = [("anyone", "Any party"), *((f"agency:{a}", f"{name} ({a})") for a, name in options.agencies)]

    def select(name: str, choices: Sequence[tuple[str, str]]) -> list[dict[str, Any]]:
        chosen = values.get(name, "")
        return [{"value": v, "text": t, "selected": v == chosen} for v, t in choices]

    levels = [
        ("", "Nothing (leave this row out)"),
        ("limited", "Limited: status, not the file"),
        ("full", "Full: every kind of data"),
    ]
    rows = [
        {
            "row": row,
            "from": select(f"provision-{row}-from", actors),
            "to": select(f"provision-{row}-to", actors),
            "access": select(f"provision-{row}-access", levels),
        }
        for row in fixed["rows"]
    ]
    return {
        "parties": check("party-", others),
        "contracts": check("contract-", [(c, c) for c in options.contracts]),
        "purposes": check(
            "purpose-", [(p, p.replace("-", " ").capitalize()) for p in fixed["purposes"]], fixed["purposes"]
        ),
        "article6": [
            {
                "value": a,
                "text": a,
                "hint": {"text": words.ARTICLE6_WORDS[Article6(a)]},
                "checked": values.get("article6") == a,
            }
            for a in fixed["article6"]
        ],
        "article9": select("article9", [("", "None: no health data is shared"), *((a, a) for a in fixed["article9"])]),
        "conditions": check("condition-", list(fixed["conditions"].items())),
        "statutes": check("statute-", list(fixed["statutes"].items())),
        "rows": rows,
    }


@router.get("/new", response_class=HTMLResponse, name="console_agreement_new")
async def new_form(request: Request, user: Proposer) -> HTMLResponse:
    """The form to propose a new agreement between the user's agency and others."""
    options = await shell.in_session(request, _options)
    return _form(request, user, options, {"retention-days": "365", "provision-1-access": "limited"})


def _propose(session: Session, proposal: AgreementPropose, own: AgencyId, by: str) -> None:
    # The API's rule (hub.agreements.api._proposer): an amendment, or a new proposal under an id
    # that exists, comes from a party of the version in force or pending, too.
    current = service.party_agencies(session, proposal.agreement.id)
    if current and own not in current:
        raise Forbidden(shell.FORBIDDEN_PAGE, "your agency is not a party to that agreement")
    service.propose(session, proposal, by=by)


async def _submit(request: Request, user: ConsoleUser, amend: str | None) -> Response:
    form = await shell.form_with_csrf(request, user)
    own = _own(user)
    if amend is not None:
        form["agreement-id"] = amend
    options = await shell.in_session(request, _options)
    amends = _int(form.get("amends"))
    try:
        proposal = forms.agreement_from_form(form, own)
    except FormProblems as problems:
        return _form(request, user, options, form, amend=amend, amends=amends, errors=problems.errors, status=422)
    failed = await shell.in_transaction(request, lambda s: _propose(s, proposal, own, user.subject))
    if isinstance(failed, Forbidden):
        raise failed
    if failed is not None:
        field = "agreement-id" if failed.code == service.STALE_VERSION else forms.agreement_field(failed.code)
        error = FieldError(field, failed.code, failed.message)
        return _form(
            request, user, options, form, amend=amend, amends=amends, errors=[error], status=failed.http_status
        )
    return shell.redirect(f"/console/agreements/{proposal.agreement.id}?done=proposed")


@router.post("/new", response_class=HTMLResponse)
async def propose(request: Request, user: Proposer) -> Response:
    """Propose a new agreement (the user's agency is always a party)."""
    return await _submit(request, user, None)


def _latest(session: Session, agreement_id: str) -> AgreementVersion:
    return service.versions(session, agreement_id)[-1]


@router.get("/{agreement_id}/amend", response_class=HTMLResponse)
async def amend_form(request: Request, user: Amender, agreement_id: AgreementIdPath) -> HTMLResponse:
    """The agreement form filled in with the latest version, to propose the next one."""

    def load(session: Session) -> tuple[FormOptions, AgreementVersion]:
        return _options(session), _latest(session, agreement_id)

    options, latest = await shell.in_session(request, load)
    values = forms.form_from_agreement(AgreementBody.model_validate(latest.body))
    return _form(request, user, options, values, amend=agreement_id, amends=latest.version)


@router.post("/{agreement_id}/amend", response_class=HTMLResponse)
async def amend(request: Request, user: Amender, agreement_id: AgreementIdPath) -> Response:
    """Propose the next version; it needs every party's approval again (the version in force stays)."""
    return await _submit(request, user, agreement_id)


# Declared last: "new" would otherwise be taken for an agreement id.
@router.get("/{agreement_id}", response_class=HTMLResponse)
async def agreement_page(
    request: Request, user: Reader, agreement_id: AgreementIdPath, done: str | None = None
) -> HTMLResponse:
    """The readable summary, every version with who approved it when, the diff and the actions."""
    compare = (_int(request.query_params.get("from")), _int(request.query_params.get("to")))
    view = await shell.in_session(request, lambda s: _view(s, agreement_id, compare))
    return _detail(request, user, view, done=done)
