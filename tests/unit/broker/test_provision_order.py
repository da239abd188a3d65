"""Provisioning a broker identity is ordered so a failed step never half-rotates it.

The plan is granted first, extra ACLs are deleted (and the broker's answer checked) next, and
the SCRAM password is set last: if an ACL step fails the broker still holds the old password
(the one the connector has) and the user never has a moment with no ACLs. Uses a fake of the
admin client (the real broker is in tests/integration/test_broker_acls.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from kafka.errors import ClusterAuthorizationFailedError, NoError
from pydantic import SecretStr

from onedoor.errors import OneDoorError
from onedoor.ids import AgencyId
from onedoor.kafka import acls
from onedoor.kafka.plan import AclBinding, agency_acl_plan
from onedoor.kafka.security import ClientCredentials
from onedoor.topics import TopicNames

AGENCY = AgencyId("lb-orderly-csc")
USER = f"agency-{AGENCY}"
PLAN = agency_acl_plan(AGENCY, TopicNames("tord"))
STALE = AclBinding(f"User:{USER}", "topic", "tord.out.someone-else", "literal", "write")


class FakeAdmin:
    """Records the order of admin calls; ``delete_error`` is what the broker answers to deletion."""

    def __init__(self, delete_error: Any = NoError) -> None:
        self.calls: list[str] = []
        self.delete_error = delete_error

    def create_acls(self, acl_list: list[Any]) -> dict[str, list[Any]]:
        self.calls.append("grant")
        return {"succeeded": acl_list, "failed": []}

    def describe_acls(self, _filter: Any) -> tuple[list[Any], Any]:
        self.calls.append("describe")
        return [acls._to_acl(b) for b in [*PLAN, STALE]], NoError

    def delete_acls(self, filters: list[Any]) -> list[tuple[Any, list[Any], Any]]:
        self.calls.append("delete")
        return [(f, [], self.delete_error) for f in filters]

    def alter_user_scram_credentials(self, upserts: list[Any]) -> dict[str, Any]:
        self.calls.append(f"password:{len(upserts)}")
        return {}


def _run(monkeypatch: pytest.MonkeyPatch, client: FakeAdmin) -> None:
    @contextmanager
    def fake_admin(*_args: Any) -> Iterator[FakeAdmin]:
        yield client

    monkeypatch.setattr(acls, "_admin", fake_admin)
    acls._provision(
        "127.0.0.1:1",
        ClientCredentials("admin", SecretStr("synthetic-admin-password-xxxxxxxx")),
        username=USER,
        password=SecretStr("synthetic-agency-password-xxxxxxxx"),
        plan=PLAN,
        within=1.0,
    )


def test_the_plan_is_granted_first_and_the_password_set_last(monkeypatch: pytest.MonkeyPatch) -> None:
    client = FakeAdmin()
    _run(monkeypatch, client)
    assert client.calls == ["grant", "describe", "delete", "password:1"]


def test_a_refused_deletion_sets_no_password(monkeypatch: pytest.MonkeyPatch) -> None:
    client = FakeAdmin(delete_error=ClusterAuthorizationFailedError)
    with pytest.raises(OneDoorError) as failed:
        _run(monkeypatch, client)
    assert failed.value.code == "kafka.admin_failed"
    assert "ClusterAuthorizationFailedError" in failed.value.message
    assert "password:1" not in client.calls, "the broker must keep the password the connector has"
