"""The registry service on an in-memory database: versions, idempotence, compatibility, modes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from contracts.catalog import bundled
from contracts.compatibility import CompatibilityMode
from contracts.registry import service
from contracts.registry.models import ContractVersion
from onedoor.errors import Conflict, NotFound, ValidationFailed
from tests.unit.contracts.conftest import REFERRAL, bundled_json, field, field_named, record

NAME = "test.contracts.Thing"
V1 = record(field("id", "string"))
V2 = record(field("id", "string"), field("note", ["null", "string"], default=None))


def text(schema: dict[str, Any], **dumps: Any) -> str:
    return json.dumps(schema, **dumps)


def test_the_first_registration_is_version_one_with_the_default_mode(session: Session) -> None:
    registered = service.register_version(session, NAME, text(V1))

    assert (registered.version, registered.created) == (1, True)
    assert registered.tags == {"id": "operational"}
    assert len(registered.fingerprint) == 64
    assert service.get_contract(session, NAME).compatibility is CompatibilityMode.FULL_TRANSITIVE


def test_registering_the_same_schema_again_returns_the_same_version(session: Session) -> None:
    first = service.register_version(session, NAME, text(V1))

    again = service.register_version(session, NAME, text(V1, indent=4))

    assert (again.version, again.created) == (1, False)
    assert again.created_at == first.created_at
    assert again.avro_schema == text(V1), "the first text registered is kept"


def test_a_doc_only_change_is_the_same_version(session: Session) -> None:
    service.register_version(session, NAME, text(V1))
    reworded = record({**field("id", "string"), "doc": "Reworded."})

    assert service.register_version(session, NAME, text(reworded)).version == 1


def test_a_tag_only_change_is_a_new_version(session: Session) -> None:
    service.register_version(session, NAME, text(V1))

    retagged = service.register_version(session, NAME, text(record(field("id", "string", "identity"))))

    assert (retagged.version, retagged.created) == (2, True)
    assert retagged.tags == {"id": "identity"}
    assert retagged.fingerprint == service.get_version(session, NAME, 1).fingerprint


def test_a_compatible_change_is_the_next_version(session: Session) -> None:
    service.register_version(session, NAME, text(V1))

    assert service.register_version(session, NAME, text(V2)).version == 2
    assert service.latest_version(session, NAME).version == 2
    assert service.get_contract(session, NAME).versions == [1, 2]


def test_an_incompatible_change_is_refused_with_its_reasons(session: Session) -> None:
    service.register_version(session, NAME, text(V1))
    breaking = record(field("id", "string"), field("priority", "int"))

    with pytest.raises(Conflict) as caught:
        service.register_version(session, NAME, text(breaking))

    assert caught.value.code == "contract.incompatible"
    assert caught.value.http_status == 409
    assert "field 'priority'" in caught.value.message
    assert "version 1" in caught.value.message
    assert isinstance(caught.value, service.IncompatibleSchema)
    assert not caught.value.result.compatible
    assert service.get_contract(session, NAME).versions == [1]


def test_an_evolved_bundled_referral_breaking_full_transitive_is_refused(session: Session) -> None:
    service.seed_bundled(session)
    schema = bundled_json(REFERRAL)
    field_named(schema, "urgency")["type"]["symbols"].remove("ROUTINE")

    with pytest.raises(Conflict) as caught:
        service.register_version(session, REFERRAL, text(schema))

    assert caught.value.code == "contract.incompatible"
    assert "field 'urgency'" in caught.value.message
    assert "ROUTINE" in caught.value.message


def test_mode_none_lets_anything_through(session: Session) -> None:
    service.register_version(session, NAME, text(V1), CompatibilityMode.NONE)

    registered = service.register_version(session, NAME, text(record(field("id", "int"))))

    assert registered.version == 2


def test_set_mode_applies_to_later_registrations(session: Session) -> None:
    service.register_version(session, NAME, text(V1))
    breaking = text(record(field("id", "string"), field("priority", "int")))

    updated = service.set_mode(session, NAME, CompatibilityMode.FORWARD)

    assert updated.compatibility is CompatibilityMode.FORWARD
    assert service.register_version(session, NAME, breaking).version == 2


def test_registering_with_another_mode_than_the_contracts_is_refused(session: Session) -> None:
    service.register_version(session, NAME, text(V1))

    with pytest.raises(Conflict) as caught:
        service.register_version(session, NAME, text(V2), CompatibilityMode.NONE)

    assert caught.value.code == "contract.mode_mismatch"


def test_contract_names_are_validated_before_the_database_sees_them(session: Session) -> None:
    for name in ("NoDots", "a." + "B" * 300):
        with pytest.raises(ValidationFailed) as caught:
            service.register_version(session, name, text(V1))
        assert caught.value.code == "contract_name.invalid"


def test_the_schema_must_be_the_contract_named(session: Session) -> None:
    with pytest.raises(ValidationFailed) as caught:
        service.register_version(session, "test.contracts.Other", text(V1))

    assert caught.value.code == "contract.name_mismatch"


@pytest.mark.parametrize(
    ("schema", "code"),
    [
        ("{", "contract.invalid_schema"),
        (text(record({"name": "id", "type": "string"})), "contract.untagged_field"),
        (text(record(field("id", "string", "secret"))), "contract.unknown_tag"),
    ],
)
def test_invalid_schemas_are_refused_before_anything_is_written(session: Session, schema: str, code: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        service.register_version(session, NAME, schema)

    assert caught.value.code == code
    assert service.list_contracts(session) == []


def test_unknown_contracts_and_versions_are_not_found(session: Session) -> None:
    service.register_version(session, NAME, text(V1))

    with pytest.raises(NotFound) as unknown:
        service.get_contract(session, "test.contracts.Nothing")
    with pytest.raises(NotFound) as no_version:
        service.get_version(session, NAME, 7)

    assert unknown.value.code == "contract.unknown"
    assert no_version.value.code == "contract.version_unknown"


def test_a_dry_run_reports_without_writing(session: Session) -> None:
    service.register_version(session, NAME, text(V1))
    breaking = text(record(field("id", "string"), field("priority", "int")))

    report = service.check_version(session, NAME, breaking)

    assert not report.compatible
    assert report.checked_versions == [1]
    assert [p.path for p in report.problems] == ["priority"]
    assert report.problems[0].direction == "backward"
    assert service.get_contract(session, NAME).versions == [1]


def test_a_dry_run_says_when_the_schema_is_already_registered(session: Session) -> None:
    service.register_version(session, NAME, text(V1))

    report = service.check_version(session, NAME, text(V1))

    assert report.compatible
    assert report.already_registered_as == 1


def test_a_dry_run_for_a_new_contract_is_compatible(session: Session) -> None:
    report = service.check_version(session, NAME, text(V1))

    assert (report.compatible, report.checked_versions, report.already_registered_as) == (True, [], None)


def test_find_version_matches_fingerprint_and_digest(session: Session) -> None:
    service.register_version(session, NAME, text(V1))

    assert service.find_version(session, NAME, text(V1, indent=1)) is not None
    assert service.find_version(session, NAME, text(V2)) is None


def test_seeding_the_bundled_contracts_is_idempotent(session: Session) -> None:
    first = service.seed_bundled(session)
    second = service.seed_bundled(session)

    assert [(r.name, r.version, r.created) for r in first] == [(str(n), 1, True) for n in bundled()]
    assert all(not r.created for r in second)
    assert session.scalar(select(func.count()).select_from(ContractVersion)) == len(bundled())


def test_registered_versions_is_the_routing_snapshot(session: Session) -> None:
    service.seed_bundled(session)
    service.register_version(session, NAME, text(V1))
    service.register_version(session, NAME, text(V2))

    snapshot = service.registered_versions(session)

    assert isinstance(snapshot, frozenset)
    assert snapshot == {(str(n), 1) for n in bundled()} | {(NAME, 1), (NAME, 2)}


def test_contracts_are_listed_by_name(session: Session) -> None:
    service.seed_bundled(session)

    listed = service.list_contracts(session)

    assert [c.name for c in listed] == sorted(str(n) for n in bundled())
    assert all(c.latest_version == 1 and c.created_at.tzinfo is not None for c in listed)


def test_losing_a_registration_race_is_a_retriable_conflict(session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    service.register_version(session, NAME, text(V1))
    # Another writer took version 2 between our read of the versions and our insert.
    session.add(
        ContractVersion(
            name=NAME,
            version=2,
            schema_json="{}",
            fingerprint="0" * 64,
            digest="0" * 64,
            tags={},
            created_at=service.get_version(session, NAME, 1).created_at,
        )
    )
    session.flush()
    real_versions = service._versions

    def stale_versions(s: Session, name: str) -> Any:
        return [v for v in real_versions(s, name) if v.version == 1]

    monkeypatch.setattr(service, "_versions", stale_versions)

    with pytest.raises(Conflict) as caught:
        service.register_version(session, NAME, text(V2))

    assert caught.value.code == "contract.concurrent_registration"
    assert caught.value.retriable is True
