"""The registry says when a new version adds sensitive fields: agreements do not share them until amended."""

from __future__ import annotations

import json

from sqlalchemy.orm import Session

from consent.contract import SENSITIVE
from contracts.registry import service
from contracts.sensitivity import Sensitivity
from tests.unit.contracts.conftest import field, record

NAME = "test.contracts.Thing"
V1 = record(field("id", "string"), field("name", "string", "identity"))
CLINIC = record(field("ward", ["null", "string"], "health", default=None), name="Clinic")


def test_a_version_adding_sensitive_fields_lists_them_with_the_sharing_note(session: Session) -> None:
    first = service.register_version(session, NAME, json.dumps(V1))
    v2 = record(
        *V1["fields"],
        field("diagnosis", ["null", "string"], "health", default=None),
        field("priority", ["null", "int"], default=None),
        field("clinic", ["null", CLINIC], "health", default=None),
    )

    second = service.register_version(session, NAME, json.dumps(v2))

    assert (first.sensitive_additions, first.sharing_note) == ([], None), "a first version adds to nothing"
    assert second.version == 2
    assert [(f.path, f.tag) for f in second.sensitive_additions] == [
        ("diagnosis", Sensitivity.HEALTH),
        ("clinic", Sensitivity.HEALTH),
        ("clinic.ward", Sensitivity.HEALTH),
    ], "operational priority is not listed: it is shared at once"
    assert second.sharing_note is not None
    assert "not shared under existing agreements" in second.sharing_note
    again = service.register_version(session, NAME, json.dumps(v2))
    assert (again.created, again.sensitive_additions) == (False, second.sensitive_additions), "idempotent"


def test_an_operational_addition_says_nothing(session: Session) -> None:
    service.register_version(session, NAME, json.dumps(V1))
    v2 = record(*V1["fields"], field("priority", ["null", "int"], default=None))

    second = service.register_version(session, NAME, json.dumps(v2))

    assert (second.version, second.sensitive_additions, second.sharing_note) == (2, [], None)


def test_re_tagging_a_field_as_sensitive_is_an_addition(session: Session) -> None:
    service.register_version(session, NAME, json.dumps(V1))
    retagged = record(field("id", "string", "safeguarding"), field("name", "string", "identity"))

    second = service.register_version(session, NAME, json.dumps(retagged))

    assert [(f.path, f.tag) for f in second.sensitive_additions] == [("id", Sensitivity.SAFEGUARDING)]


def test_the_registry_and_the_engine_agree_on_what_is_sensitive() -> None:
    every = {s.value: s.value for s in Sensitivity}
    assert {Sensitivity(t) for _, t in service.sensitive_additions({}, every)} == SENSITIVE
