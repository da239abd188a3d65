"""``/console/contracts``: every contract, its versions, compatibility, fields and which agreements use them.

Open to every console role. Compatibility is re-checked on the page with the registry's own
function (``contracts.compatibility.check_compatibility``) under the contract's current mode;
sensitive additions are the registry's (``sensitive_additions``). Which agreements use which
fields (``usage``) names agreements only to users who may read them: operators and auditors
see all, an agency admin its own agency's, an ops viewer only how many.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path as FilePath
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from contracts.compatibility import CompatibilityMode, check_compatibility
from contracts.registry import service as registry
from contracts.registry.models import ContractVersion
from hub.agreements import service as agreements
from hub.agreements.lifecycle import VersionState
from hub.agreements.schemas import AgreementBody
from hub.auth.policy import list_scope
from hub.auth.roles import Role
from hub.console import shell
from hub.console.admin import data
from hub.console.admin.usage import AgreementRef, VersionUsage, usage
from hub.console.shell import ConsoleUser
from onedoor.ids import AgencyId, ContractName

TEMPLATES: Final = FilePath(__file__).parent / "templates"
shell.add_templates(TEMPLATES)

router = APIRouter(prefix="/console/contracts", include_in_schema=False)

Anyone = Annotated[ConsoleUser, Depends(shell.console_user(*Role))]
ContractPath = Annotated[str, Path(pattern=f"^{ContractName.pattern.pattern}$", max_length=255)]


@router.get("", response_class=HTMLResponse)
async def list_page(request: Request, user: Anyone) -> HTMLResponse:
    """Every contract with its compatibility mode and versions."""
    contracts = await shell.in_session(request, registry.list_contracts)
    return shell.render(request, user, "console/contracts/list.html", page_title="Contracts", contracts=contracts)


@dataclass(frozen=True, slots=True)
class VersionView:
    """One version of a contract on its page."""

    version: int
    created_at: Any
    fingerprint: str
    digest: str
    compatible: bool
    checked: tuple[int, ...]
    problems: tuple[str, ...]
    sensitive_additions: list[tuple[str, str]]
    usage: VersionUsage


def _refs(session: Session, agency: AgencyId | None) -> list[AgreementRef]:
    refs = []
    for group in agreements.list_ids(session, agency):
        shown = [r for r in group if r.state.in_force]
        if group[-1].state is VersionState.PROPOSED:
            shown.append(group[-1])
        refs += [AgreementRef(r.agreement_id, r.version, r.state, AgreementBody.model_validate(r.body)) for r in shown]
    return refs


def _contract(session: Session, name: str, user: ConsoleUser) -> dict[str, Any]:
    contract = registry.get_contract(session, name)
    rows = list(
        session.scalars(select(ContractVersion).where(ContractVersion.name == name).order_by(ContractVersion.version))
    )
    may_name = user.has(Role.HUB_OPERATOR, Role.AUDITOR, Role.AGENCY_ADMIN)
    scoped = list_scope(user.roles, user.agency)
    refs = _refs(session, scoped)
    by_version = {u.version: u for u in usage(data.contract_tags(session, [name]), refs)}
    mode = CompatibilityMode(contract.compatibility)
    versions = []
    for i, row in enumerate(rows):
        earlier = [(r.version, r.schema_json) for r in rows[:i]]
        result = check_compatibility(row.schema_json, earlier, mode)
        versions.append(
            VersionView(
                version=row.version,
                created_at=row.created_at,
                fingerprint=row.fingerprint,
                digest=row.digest,
                compatible=result.compatible,
                checked=result.checked_versions,
                problems=result.messages,
                sensitive_additions=registry.sensitive_additions(rows[i - 1].tags, row.tags) if i else [],
                usage=by_version[row.version],
            )
        )
    return {"contract": contract, "versions": list(reversed(versions)), "may_name": may_name}


@router.get("/{name}", response_class=HTMLResponse)
async def contract_page(request: Request, user: Anyone, name: ContractPath) -> HTMLResponse:
    """One contract: each version's compatibility, sensitive additions, fields and the agreements using them."""
    found = await shell.in_session(request, lambda s: _contract(s, name, user))
    return shell.render(
        request,
        user,
        "console/contracts/detail.html",
        page_title=name,
        not_shared_yet=registry.NOT_SHARED_YET,
        **found,
    )
