"""Form fields to the hub's own request models, and errors back to the field they belong to.

Pure: no database, no HTTP. The console's forms post flat ``name=value`` pairs (a checkbox per
choice, named ``party-<agency>``, ``purpose-<code>`` ...). ``agreement_from_form`` builds the same
``AgreementPropose`` the JSON API takes, so every rule after that is the service's; what it
checks itself is only what a form can get wrong that JSON cannot (an empty box, a date in three
parts), each with a sentence that says how to fix it and a stable ``agreement_form.*`` code.
Errors the service raises later are put next to their field by ``agreement_field``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Final

from pydantic import ValidationError

from consent.basis import Article6, Article9, DpaCondition, Statute
from consent.purposes import PURPOSES
from hub.agencies.schemas import AgencyCreate
from hub.agreements.schemas import AgreementBody, AgreementPropose
from onedoor.ids import AgencyId, AgreementId

PROVISION_ROWS: Final = 3
"""How many "who shares with whom" rows the agreement form offers."""
ACCESS_LEVELS: Final = ("full", "limited")


@dataclass(frozen=True, slots=True)
class FieldError:
    """One problem with one form field: the GOV.UK error summary links to ``#field``."""

    field: str
    code: str
    message: str


def error_context(errors: Sequence[FieldError]) -> dict[str, Any]:
    """What a page's template needs to show ``errors``: the GOV.UK error summary and each field's message."""
    return {
        "errors": list(errors),
        "error_count": len(errors),
        "error_list": [{"text": e.message, "href": f"#{e.field}"} for e in errors],
        "error_for": {e.field: e.message for e in reversed(errors)},
    }


class FormProblems(Exception):
    """The form cannot be submitted as it is: every problem found, by field."""

    def __init__(self, errors: Sequence[FieldError]) -> None:
        super().__init__("; ".join(e.code for e in errors))
        self.errors = list(errors)


def _checked(form: Mapping[str, str], prefix: str) -> list[str]:
    return [name.removeprefix(prefix) for name, value in form.items() if name.startswith(prefix) and value]


def _date(form: Mapping[str, str], prefix: str) -> date | None:
    try:
        return date(
            int(form.get(f"{prefix}-year", "")),
            int(form.get(f"{prefix}-month", "")),
            int(form.get(f"{prefix}-day", "")),
        )
    except ValueError:
        return None


def _provisions(form: Mapping[str, str]) -> list[dict[str, Any]]:
    provisions: list[dict[str, Any]] = []
    for row in range(1, PROVISION_ROWS + 1):
        level = form.get(f"provision-{row}-access", "")
        if not level:
            continue
        provision: dict[str, Any] = {"effect": "permit", "access_level": level}
        for side, key in (("from", "senders"), ("to", "recipients")):
            actor = form.get(f"provision-{row}-{side}", "anyone")
            if actor != "anyone":
                provision[key] = [actor]
        provisions.append(provision)
    return provisions


def _id_problem(agreement_id: str) -> FieldError | None:
    if not agreement_id:
        return FieldError(
            "agreement-id", "agreement_form.id_missing", "Enter an agreement id, like isa-met-hackney-county-lines"
        )
    if not AgreementId.pattern.fullmatch(agreement_id):
        return FieldError(
            "agreement-id",
            "agreement_form.id_invalid",
            "The agreement id must be 3 to 64 lower-case letters, digits or hyphens, starting with a letter",
        )
    return None


def _retention(text: str) -> int | None:
    return int(text) if text.isdecimal() and 1 <= int(text) <= 36_500 else None


_MISSING: Final = (
    ("parties", "agreement_form.parties_missing", "Choose at least one other agency to share with"),
    ("contracts", "agreement_form.contracts_missing", "Choose at least one contract the agreement covers"),
    ("purposes", "agreement_form.purposes_missing", "Choose at least one purpose"),
    (
        "provision-1-access",
        "agreement_form.provisions_missing",
        "Say what may be shared: choose an access level in at least one row",
    ),
    ("article6", "agreement_form.basis_missing", "Choose the UK GDPR Article 6 basis the sharing relies on"),
    (
        "retention-days",
        "agreement_form.retention_invalid",
        "Enter how many days recipients keep what they receive, a whole number from 1 to 36500",
    ),
    ("review-date", "agreement_form.review_date_invalid", "Enter a real review date, for example 22 11 2027"),
)


def agreement_from_form(form: Mapping[str, str], own: AgencyId) -> AgreementPropose:
    """The ``AgreementPropose`` a filled-in agreement form stands for; ``own`` is always a party.

    Raises:
        FormProblems: every field that is missing or malformed.
    """
    agreement_id = form.get("agreement-id", "").strip()
    others = [a for a in _checked(form, "party-") if a != own]
    contracts = _checked(form, "contract-")
    purposes = _checked(form, "purpose-")
    provisions = _provisions(form)
    article6 = form.get("article6", "")
    retention = _retention(form.get("retention-days", "").strip())
    review = _date(form, "review-date")
    given = (others, contracts, purposes, provisions, article6, retention, review)
    errors = [FieldError(*missing) for missing, value in zip(_MISSING, given, strict=True) if not value]
    id_problem = _id_problem(agreement_id)
    if id_problem is not None or errors:
        raise FormProblems([*([id_problem] if id_problem else []), *errors])
    amends = form.get("amends", "").strip()
    body = {
        "id": agreement_id,
        "title": form.get("title", "").strip(),
        "parties": [f"agency:{own}", *(f"agency:{a}" for a in others)],
        "contracts": contracts,
        "purposes": purposes,
        "provisions": provisions,
        "lawful_basis": {
            "article6": article6,
            **({"article9": form["article9"]} if form.get("article9") else {}),
            "conditions": [
                DpaCondition[c].value for c in _checked(form, "condition-") if c in DpaCondition.__members__
            ],
            "statutes": [Statute[s].value for s in _checked(form, "statute-") if s in Statute.__members__],
        },
        "retention_days": retention,
        "review_date": review.isoformat() if review else "",
    }
    try:
        return AgreementPropose.model_validate(
            {"agreement": body, "amends": int(amends) if amends.isdecimal() else None}
        )
    except ValidationError as exc:
        raise FormProblems([_pydantic_problem(e) for e in exc.errors(include_input=False)]) from None


_AGREEMENT_FIELDS: Final = {
    "id": "agreement-id",
    "title": "title",
    "parties": "parties",
    "contracts": "contracts",
    "purposes": "purposes",
    "provisions": "provision-1-access",
    "lawful_basis": "article6",
    "retention_days": "retention-days",
    "review_date": "review-date",
}


def _pydantic_problem(error: Any) -> FieldError:
    loc = [str(p) for p in error["loc"] if p != "agreement"]
    field = _AGREEMENT_FIELDS.get(loc[0], "agreement-id") if loc else "agreement-id"
    if loc[:1] == ["provisions"] and len(loc) > 1 and loc[1].isdecimal():
        field = f"provision-{int(loc[1]) + 1}-access"
    return FieldError(
        field, f"agreement_form.{loc[0] if loc else 'invalid'}", f"{' '.join(loc).replace('_', ' ')}: {error['msg']}"
    )


_CODE_FIELDS: Final = (
    ("agreement.exists", "agreement-id"),
    ("agreement.no_signatory", "parties"),
    ("agreement.invalid_parties", "parties"),
    ("actor.", "parties"),
    ("purpose.", "purposes"),
    ("agreement.nothing_agreed", "purposes"),
    ("contract", "contracts"),
    ("agreement.contract", "contracts"),
    ("agreement.pinned", "contracts"),
    ("lawful_basis.", "article6"),
    ("agreement.basis", "article6"),
    ("agreement.invalid_retention", "retention-days"),
)


def agreement_field(code: str) -> str:
    """The form field an error code of the agreement service belongs to (provisions by default)."""
    return next((field for prefix, field in _CODE_FIELDS if code.startswith(prefix)), "provision-1-access")


def form_from_agreement(body: AgreementBody) -> dict[str, str]:
    """The agreement form filled in with ``body`` (to amend it): the inverse of ``agreement_from_form``."""
    values: dict[str, str] = {"agreement-id": body.id, "title": body.title}
    values |= {f"party-{p.removeprefix('agency:')}": "yes" for p in body.parties}
    values |= {f"contract-{c}": "yes" for c in body.contracts}
    values |= {f"purpose-{p}": "yes" for p in body.purposes}
    for row, provision in enumerate(body.provisions[:PROVISION_ROWS], start=1):
        if provision.access_level is not None and provision.effect.value == "permit":
            values[f"provision-{row}-access"] = provision.access_level.value
            values[f"provision-{row}-from"] = (provision.senders or ["anyone"])[0]
            values[f"provision-{row}-to"] = (provision.recipients or ["anyone"])[0]
    basis = body.lawful_basis
    values["article6"] = basis.article6.value
    values["article9"] = basis.article9.value if basis.article9 else ""
    values |= {f"condition-{c.name}": "yes" for c in basis.conditions}
    values |= {f"statute-{s.name}": "yes" for s in basis.statutes}
    values["retention-days"] = str(body.retention_days)
    day = body.review_date
    values |= {"review-date-day": str(day.day), "review-date-month": str(day.month), "review-date-year": str(day.year)}
    return values


def choices() -> dict[str, Any]:
    """What the agreement form offers besides agencies and contracts (which come from the registry)."""
    return {
        "purposes": dict(PURPOSES),
        "article6": [a.value for a in Article6],
        "article9": [a.value for a in Article9],
        "conditions": {c.name: c.value for c in DpaCondition},
        "statutes": {s.name: s.value for s in Statute},
        "rows": list(range(1, PROVISION_ROWS + 1)),
        "levels": ACCESS_LEVELS,
    }


_AGENCY_FIELDS: Final = {
    "id": "agency-id",
    "display_name": "display-name",
    "kind": "kind",
    "signing_public_key": "signing-key",
    "encryption_public_key": "encryption-key",
}
_AGENCY_MESSAGES: Final = {
    "agency-id": "Enter the agency id: 3 to 64 lower-case letters, digits or hyphens, like lb-hackney-csc",
    "display-name": "Enter the agency's name as people know it (up to 200 characters)",
    "kind": "Choose what sort of organisation the agency is",
    "signing-key": "Enter the agency's Ed25519 signing public key: 43 characters of base64url",
    "encryption-key": "Enter the agency's X25519 encryption public key: 43 characters of base64url",
}
_SPACE = re.compile(r"\s+")


def agency_from_form(form: Mapping[str, str]) -> AgencyCreate:
    """The ``AgencyCreate`` the register-an-agency form stands for.

    Raises:
        FormProblems: one problem per invalid field, with the registry's code where it has one.
    """
    data = {
        "id": form.get("agency-id", "").strip(),
        "display_name": form.get("display-name", "").strip(),
        "kind": form.get("kind", ""),
        "signing_public_key": _SPACE.sub("", form.get("signing-key", "")),
        "encryption_public_key": _SPACE.sub("", form.get("encryption-key", "")),
    }
    try:
        return AgencyCreate.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_input=False):
            field = _AGENCY_FIELDS.get(str(error["loc"][0]) if error["loc"] else "", "agency-id")
            code = error["type"] if "." in error["type"] else f"agency_form.{field.replace('-', '_')}_invalid"
            problems.append(FieldError(field, code, _AGENCY_MESSAGES[field]))
        raise FormProblems(problems) from None


def agency_field(code: str) -> str:
    """The register form's field an agency service error belongs to."""
    return "agency-id" if code == "agency.exists" else "signing-key"
