"""Register, look up and check contract versions. No HTTP here.

A version is identified by its fingerprint *and* its contract digest (see ``fingerprint``), so
registering the same schema twice returns the first registration, and a tag-only change is a
new version. New versions must pass the contract's compatibility mode against the versions
already registered; the default is FULL_TRANSITIVE because a sender and its recipients upgrade
independently, so any version may have to read data written by any other.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from contracts.catalog import UNKNOWN_CONTRACT, ContractSchema, bundled
from contracts.compatibility import (
    CompatibilityMode,
    CompatibilityResult,
    Incompatibility,
    check_compatibility,
)
from contracts.registry.models import Contract, ContractVersion
from contracts.registry.schemas import (
    CompatibilityOut,
    ContractOut,
    ContractVersionOut,
    IncompatibilityOut,
    RegistrationOut,
)
from contracts.sensitivity import Sensitivity
from onedoor.errors import Conflict, NotFound, ValidationFailed
from onedoor.ids import ContractName
from onedoor.logging import get_logger

log = get_logger(__name__)

DEFAULT_MODE = CompatibilityMode.FULL_TRANSITIVE
NOT_SHARED_YET = (
    "These sensitive fields are new in this version: they are not shared under existing agreements until "
    "each agreement is amended to this version and approved again by every party. New operational fields "
    "are shared at once."
)
UNKNOWN_VERSION = "contract.version_unknown"
_MAX_NAME = 255  # the width of the name columns


class IncompatibleSchema(Conflict):
    """A new version that breaks the contract's compatibility mode; ``result`` says how."""

    def __init__(self, name: str, result: CompatibilityResult) -> None:
        reasons = " ".join(result.messages)
        super().__init__("contract.incompatible", f"{name} is {result.mode} and the schema breaks it. {reasons}")
        self.result = result


class ConcurrentRegistration(Conflict):
    """Another registration of the same contract committed first; trying again will work."""

    retriable = True


def register_version(
    session: Session, name: str, schema_json: str, mode: CompatibilityMode | None = None
) -> RegistrationOut:
    """Register ``schema_json`` as the next version of ``name`` (or return its existing version).

    ``mode`` applies when this creates the contract; for an existing contract it must match
    the contract's mode (change that with ``set_mode``).

    Raises:
        ValidationFailed: the schema does not parse, is untagged, or names another contract.
        Conflict: ``contract.incompatible`` (``IncompatibleSchema``), ``contract.mode_mismatch``,
            or ``contract.concurrent_registration`` (retriable).
    """
    schema = _contract_schema(name, schema_json)
    contract = session.get(Contract, schema.name, with_for_update=True)
    if contract is not None and mode is not None and mode != contract.compatibility:
        raise Conflict(
            "contract.mode_mismatch",
            f"{schema.name} is {contract.compatibility}, not {mode}: change its mode first",
        )
    existing = _find(session, schema)
    if existing is not None:
        return _registration(existing, created=False, before=_previous(session, existing))
    if contract is None:
        contract = Contract(name=schema.name, compatibility=mode or DEFAULT_MODE, created_at=_now())
        session.add(contract)
        _flush(session, schema.name)
    earlier = _versions(session, schema.name)
    result = check_compatibility(
        schema.raw, [(v.version, v.schema_json) for v in earlier], CompatibilityMode(contract.compatibility)
    )
    if not result.compatible:
        raise IncompatibleSchema(schema.name, result)
    row = ContractVersion(
        name=schema.name,
        version=(earlier[-1].version + 1) if earlier else 1,
        schema_json=schema.raw,
        fingerprint=schema.fingerprint,
        digest=schema.digest,
        tags={path: tag.value for path, tag in schema.tags.items()},
        created_at=_now(),
    )
    session.add(row)
    _flush(session, schema.name)
    registered = _registration(row, created=True, before=earlier[-1] if earlier else None)
    log.info(
        "contract.registered",
        contract=row.name,
        version=row.version,
        fingerprint=row.fingerprint,
        sensitive_additions=len(registered.sensitive_additions),
    )
    return registered


def check_version(session: Session, name: str, schema_json: str) -> CompatibilityOut:
    """Dry run: would ``schema_json`` register as a version of ``name``? Changes nothing.

    A contract that does not exist yet accepts any valid schema, so that is compatible.
    """
    schema = _contract_schema(name, schema_json)
    contract = session.get(Contract, schema.name)
    mode = CompatibilityMode(contract.compatibility) if contract else DEFAULT_MODE
    existing = _find(session, schema)
    earlier = _versions(session, schema.name)
    result = check_compatibility(schema.raw, [(v.version, v.schema_json) for v in earlier], mode)
    return CompatibilityOut(
        compatible=result.compatible or existing is not None,
        compatibility=mode,
        checked_versions=list(result.checked_versions),
        already_registered_as=existing.version if existing else None,
        problems=[] if existing else [_problem_out(p) for p in result.problems],
    )


def set_mode(session: Session, name: str, mode: CompatibilityMode) -> ContractOut:
    """Change a contract's compatibility mode; it applies to versions registered from now on."""
    contract = _contract(session, name)
    contract.compatibility = mode
    log.info("contract.mode_changed", contract=contract.name, compatibility=str(mode))
    return _contract_out(session, contract)


def list_contracts(session: Session) -> list[ContractOut]:
    """Every contract, by name."""
    contracts = session.scalars(select(Contract).order_by(Contract.name))
    return [_contract_out(session, c) for c in contracts]


def get_contract(session: Session, name: str) -> ContractOut:
    """One contract and its version numbers."""
    return _contract_out(session, _contract(session, name))


def get_version(session: Session, name: str, version: int) -> ContractVersionOut:
    """One version of a contract."""
    _contract(session, name)
    row = session.scalars(
        select(ContractVersion).where(ContractVersion.name == name, ContractVersion.version == version)
    ).first()
    if row is None:
        raise NotFound(UNKNOWN_VERSION, f"{name} has no version {version}")
    return _version_out(row)


def latest_version(session: Session, name: str) -> ContractVersionOut:
    """The newest version of a contract."""
    _contract(session, name)
    versions = _versions(session, name)
    if not versions:
        raise NotFound(UNKNOWN_VERSION, f"{name} has no versions")
    return _version_out(versions[-1])


def find_version(session: Session, name: str, schema_json: str) -> ContractVersionOut | None:
    """The registered version that is exactly this schema (docs aside), if any."""
    row = _find(session, _contract_schema(name, schema_json))
    return _version_out(row) if row else None


def registered_versions(session: Session) -> frozenset[tuple[str, int]]:
    """Every ``(contract name, version)`` registered: the snapshot the hub router routes by."""
    rows = session.execute(select(ContractVersion.name, ContractVersion.version))
    return frozenset((name, version) for name, version in rows)


def seed_bundled(session: Session) -> list[RegistrationOut]:
    """Register every bundled contract (idempotent); the hub calls this at start.

    A bundled schema that breaks what is registered raises ``IncompatibleSchema``, so a hub
    with mismatched contracts refuses to start rather than route what it cannot check.
    """
    return [register_version(session, c.name, c.raw) for c in bundled().values()]


def _contract_schema(name: str, schema_json: str) -> ContractSchema:
    if len(name) > _MAX_NAME:
        raise ValidationFailed("contract_name.invalid", f"a contract name has at most {_MAX_NAME} characters")
    contract_name = ContractName.parse(name)
    schema = ContractSchema.from_json(schema_json)
    if schema.name != contract_name:
        raise ValidationFailed("contract.name_mismatch", f"the schema's record is {schema.name}, not {contract_name}")
    return schema


def _flush(session: Session, name: str) -> None:
    # Two first registrations of one contract (or two next versions, on a database without
    # row locks) race; the loser hits a unique constraint and may simply try again.
    try:
        session.flush()
    except IntegrityError:
        raise ConcurrentRegistration(
            "contract.concurrent_registration", f"{name} changed while registering: try again"
        ) from None


def _contract(session: Session, name: str) -> Contract:
    contract = session.get(Contract, name)
    if contract is None:
        raise NotFound(UNKNOWN_CONTRACT, f"no contract named {name!r:.140}")
    return contract


def _versions(session: Session, name: str) -> Sequence[ContractVersion]:
    stmt = select(ContractVersion).where(ContractVersion.name == name).order_by(ContractVersion.version)
    return session.scalars(stmt).all()


def _find(session: Session, schema: ContractSchema) -> ContractVersion | None:
    stmt = select(ContractVersion).where(
        ContractVersion.name == schema.name,
        ContractVersion.fingerprint == schema.fingerprint,
        ContractVersion.digest == schema.digest,
    )
    return session.scalars(stmt).first()


def _contract_out(session: Session, contract: Contract) -> ContractOut:
    versions = list(
        session.scalars(
            select(ContractVersion.version)
            .where(ContractVersion.name == contract.name)
            .order_by(ContractVersion.version)
        )
    )
    return ContractOut(
        name=contract.name,
        compatibility=CompatibilityMode(contract.compatibility),
        versions=versions,
        latest_version=versions[-1] if versions else None,
        created_at=_utc(contract.created_at),
    )


def _version_out(row: ContractVersion) -> ContractVersionOut:
    return ContractVersionOut.model_validate(_version_fields(row))


def _registration(row: ContractVersion, *, created: bool, before: ContractVersion | None) -> RegistrationOut:
    added = [] if before is None else sensitive_additions(before.tags, row.tags)
    return RegistrationOut.model_validate(
        {
            **_version_fields(row),
            "created": created,
            "sensitive_additions": [{"path": p, "tag": t} for p, t in added],
            "sharing_note": NOT_SHARED_YET if added else None,
        }
    )


def sensitive_additions(before: Mapping[str, str], after: Mapping[str, str]) -> list[tuple[str, str]]:
    """``(path, tag)`` of each field of ``after`` tagged other than operational that ``before`` lacks or tags otherwise.

    The consent engine's rule (``consent.contract.SENSITIVE``, ``TaggedContract.added_since``):
    agreements pinned to an earlier version do not share these until they are amended.
    """
    return [(p, t) for p, t in after.items() if t != Sensitivity.OPERATIONAL and before.get(p) != t]


def _previous(session: Session, row: ContractVersion) -> ContractVersion | None:
    stmt = select(ContractVersion).where(ContractVersion.name == row.name, ContractVersion.version == row.version - 1)
    return session.scalars(stmt).first()


def _version_fields(row: ContractVersion) -> dict[str, object]:
    return {
        "name": row.name,
        "version": row.version,
        "fingerprint": row.fingerprint,
        "digest": row.digest,
        "tags": row.tags,
        "schema": row.schema_json,
        "created_at": _utc(row.created_at),
    }


def _problem_out(p: Incompatibility) -> IncompatibilityOut:
    return IncompatibilityOut(version=p.version, direction=p.direction, path=p.path, kind=p.kind, message=p.message)


def _now() -> datetime:
    return datetime.now(UTC)


def _utc(at: datetime) -> datetime:
    # SQLite hands back naive datetimes; everything the registry stores is UTC.
    return at if at.tzinfo else at.replace(tzinfo=UTC)
