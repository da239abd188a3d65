"""The registry's HTTP API: a thin router over ``service``.

Errors are ``OneDoorError`` subclasses, rendered by ``onedoor.web.install_error_handlers``.
Mount it behind hub-operator authorization: registering a contract changes what the hub routes.
"""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from contracts.registry import service
from contracts.registry.schemas import (
    CompatibilityOut,
    ContractOut,
    ContractVersionOut,
    ModeIn,
    RegistrationOut,
    SchemaIn,
)
from onedoor.web import DbSession, ErrorBody

_ERRORS: dict[int | str, dict[str, object]] = {
    404: {"model": ErrorBody, "description": "`contract.unknown` or `contract.version_unknown`"},
    422: {"model": ErrorBody, "description": "Schema does not parse, is untagged, or names another contract"},
}

router = APIRouter(prefix="/contracts", tags=["contracts"], responses=_ERRORS)


@router.post(
    "/{name}/versions",
    response_model=RegistrationOut,
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {"model": RegistrationOut, "description": "Already registered: the existing version"},
        409: {"model": ErrorBody, "description": "`contract.incompatible` or `contract.mode_mismatch`"},
    },
)
def register_version(name: str, body: SchemaIn, session: DbSession, response: Response) -> RegistrationOut:
    """Register a new version of a contract (idempotent for an already registered schema).

    ``sensitive_additions`` lists the non-operational fields it adds or re-tags relative to the
    previous version: existing agreements do not share them until amended and re-approved.
    """
    registered = service.register_version(session, name, body.avro_schema, body.compatibility)
    if not registered.created:
        response.status_code = status.HTTP_200_OK
    return registered


@router.get("", response_model=list[ContractOut])
def list_contracts(session: DbSession) -> list[ContractOut]:
    """List every contract with its mode and version numbers."""
    return service.list_contracts(session)


@router.get("/{name}", response_model=ContractOut)
def get_contract(name: str, session: DbSession) -> ContractOut:
    """Show one contract."""
    return service.get_contract(session, name)


@router.get("/{name}/versions/latest", response_model=ContractVersionOut)
def latest_version(name: str, session: DbSession) -> ContractVersionOut:
    """Show the newest version of a contract."""
    return service.latest_version(session, name)


@router.get("/{name}/versions/{version}", response_model=ContractVersionOut)
def get_version(name: str, version: int, session: DbSession) -> ContractVersionOut:
    """Show one version of a contract."""
    return service.get_version(session, name, version)


@router.put("/{name}/mode", response_model=ContractOut)
def set_mode(name: str, body: ModeIn, session: DbSession) -> ContractOut:
    """Change a contract's compatibility mode for versions registered from now on."""
    return service.set_mode(session, name, body.compatibility)


@router.post("/{name}/compatibility", response_model=CompatibilityOut)
def check_compatibility(name: str, body: SchemaIn, session: DbSession) -> CompatibilityOut:
    """Dry run: would this schema register? Lists every problem; changes nothing."""
    return service.check_version(session, name, body.avro_schema)
