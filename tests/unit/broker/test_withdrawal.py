"""A suspended agency's broker identity is withdrawn: the order at the broker, the audit, and the reconciler's choices.

Fakes of the admin client and of our own withdraw/look functions; the real broker is in
tests/integration/test_broker_withdrawal.py.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from kafka.admin import ScramMechanism
from kafka.errors import ClusterAuthorizationFailedError, NoError
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hub import db
from hub.agencies.enums import AgencyKind, AgencyStatus, KeyAlgorithm, KeyStatus, KeyUse
from hub.agencies.models import Agency, AgencyKey
from hub.audit.models import AuditEvent
from hub.broker import service
from hub.broker.reconcile import Reconciler, due, suspended_agencies, to_withdraw
from onedoor.db import make_engine
from onedoor.envelope.keys import raw_public
from onedoor.errors import Forbidden, OneDoorError, Unavailable
from onedoor.ids import AgencyId, KeyId
from onedoor.kafka import acls
from onedoor.kafka.acls import Presence, Withdrawn
from onedoor.kafka.plan import AclBinding, Operation, Pattern, Resource
from onedoor.kafka.security import ClientCredentials, write_password_file
from onedoor.settings import DatabaseSettings, KafkaSettings, Settings
from onedoor.topics import TopicNames

ADMIN = ClientCredentials("admin", SecretStr("synthetic-admin-password-xxxxxxxx"))
A, B, C = AgencyId("lb-alpha-csc"), AgencyId("lb-beta-csc"), AgencyId("lb-gamma-csc")
ACL = AclBinding("User:agency-lb-alpha-csc", Resource.TOPIC, "t.in.lb-alpha-csc", Pattern.LITERAL, Operation.READ)


# --- the order at the broker -----------------------------------------------------------------------


class FakeAdmin:
    """Records the admin calls; ``mechanisms`` is what the broker stores for the user."""

    def __init__(self, mechanisms: Sequence[ScramMechanism] = (ScramMechanism.SCRAM_SHA_512,), error: Any = NoError):
        self.calls: list[str] = []
        self.mechanisms = list(mechanisms)
        self.error = error

    def delete_acls(self, filters: list[Any]) -> list[tuple[Any, list[Any], Any]]:
        self.calls.append(f"delete-acls:{filters[0].principal}")
        return [(f, ["acl"] * 3 if self.error is NoError else [], self.error) for f in filters]

    def describe_user_scram_credentials(self, users: list[str]) -> dict[str, Any]:
        self.calls.append("describe-scram")
        if not self.mechanisms:
            return {u: {"error": "Attempt to describe a user credential that does not exist", "credential_infos": []}
                    for u in users}  # fmt: skip
        return {u: {"error": None, "credential_infos": [{"mechanism": m} for m in self.mechanisms]} for u in users}

    def alter_user_scram_credentials(self, alterations: list[Any]) -> dict[str, Any]:
        self.calls.append(f"delete-scram:{len(alterations)}")
        return {alterations[0].user: None}


def _withdraw(monkeypatch: pytest.MonkeyPatch, client: FakeAdmin) -> Withdrawn:
    @contextmanager
    def fake_admin(*_args: Any) -> Iterator[FakeAdmin]:
        yield client

    monkeypatch.setattr(acls, "_admin", fake_admin)
    return acls._withdraw("127.0.0.1:1", ADMIN, "agency-lb-alpha-csc", 1.0)


def test_the_acls_go_first_then_the_scram_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    client = FakeAdmin()
    done = _withdraw(monkeypatch, client)
    assert client.calls == ["delete-acls:User:agency-lb-alpha-csc", "describe-scram", "delete-scram:1"]
    assert done == Withdrawn("agency-lb-alpha-csc", 3, ("SCRAM_SHA_512",))


def test_an_unknown_user_is_fine_and_nothing_is_deleted(monkeypatch: pytest.MonkeyPatch) -> None:
    client = FakeAdmin(mechanisms=())
    done = _withdraw(monkeypatch, client)
    assert "delete-scram:1" not in client.calls
    assert done.scram_deleted == ()


def test_a_refused_acl_deletion_keeps_the_error_and_touches_no_credential(monkeypatch: pytest.MonkeyPatch) -> None:
    client = FakeAdmin(error=ClusterAuthorizationFailedError)
    with pytest.raises(OneDoorError) as failed:
        _withdraw(monkeypatch, client)
    assert failed.value.code == "kafka.admin_failed"
    assert "ClusterAuthorizationFailedError" in failed.value.message
    assert client.calls == ["delete-acls:User:agency-lb-alpha-csc"]


class UnreadableScram(FakeAdmin):
    """The broker answers the SCRAM lookup with an error that is not "no such user"."""

    def describe_user_scram_credentials(self, users: list[str]) -> dict[str, Any]:
        self.calls.append("describe-scram")
        return {u: {"error": "Cluster authorization failed.", "credential_infos": []} for u in users}


def test_a_scram_lookup_that_fails_is_a_failure_not_an_empty_user(monkeypatch: pytest.MonkeyPatch) -> None:
    client = UnreadableScram()
    with pytest.raises(OneDoorError) as failed:
        _withdraw(monkeypatch, client)
    assert failed.value.code == "kafka.admin_failed"
    assert "delete-scram:1" not in client.calls  # and the withdrawal is not reported as done


# --- the reconciler's decisions (pure) -------------------------------------------------------------


def test_due_skips_agencies_confirmed_bare_until_the_recheck() -> None:
    confirmed = {A: 100.0, B: 10.0}
    assert due([A, B, C], confirmed, now=200.0, recheck_s=600.0) == [C]
    assert due([A, B, C], confirmed, now=611.0, recheck_s=600.0) == [B, C]
    assert due([], confirmed, now=611.0) == []


def test_only_users_that_still_hold_something_are_withdrawn() -> None:
    present = {
        "agency-lb-alpha-csc": Presence("agency-lb-alpha-csc", (ACL,), scram=False),
        "agency-lb-beta-csc": Presence("agency-lb-beta-csc", (), scram=True),
        "agency-lb-gamma-csc": Presence("agency-lb-gamma-csc", (), scram=False),
    }
    assert to_withdraw([A, B, C], present) == [A, B]
    assert to_withdraw([C], {}) == [C]  # not described: withdraw to be sure


class World:
    """Fakes for the reconciler: the suspended list, what the broker holds, and the withdrawals."""

    def __init__(self) -> None:
        self.suspended: list[AgencyId] = []
        self.held: dict[str, Presence] = {}
        self.looked: list[list[str]] = []
        self.withdrawn: list[AgencyId] = []
        self.fail: set[AgencyId] = set()
        self.now = 1000.0

    async def look(self, _bootstrap: str, _admin: ClientCredentials, names: Sequence[str]) -> Mapping[str, Presence]:
        self.looked.append(list(names))
        return {n: self.held.get(n, Presence(n, (), scram=False)) for n in names}

    async def withdraw(self, agency: AgencyId) -> service.Withdrawal:
        if agency in self.fail:
            return service.Withdrawal(agency, "failed", service.BROKER_UNAVAILABLE, "down")
        self.withdrawn.append(agency)
        self.held.pop(f"agency-{agency}", None)
        return service.Withdrawal(agency, "withdrawn", None, "gone")

    def reconciler(self) -> Reconciler:
        return Reconciler(
            lambda: list(self.suspended),
            lambda: ("127.0.0.1:1", ADMIN),
            self.look,
            self.withdraw,
            clock=lambda: self.now,
            recheck_s=600.0,
        )


async def test_the_reconciler_asks_the_broker_only_when_something_may_be_left() -> None:
    world = World()
    reconciler = world.reconciler()

    assert await reconciler.tick() == []
    assert world.looked == []  # nothing suspended: no broker call at all

    world.suspended = [A, B]
    world.held["agency-lb-alpha-csc"] = Presence("agency-lb-alpha-csc", (ACL,), scram=True)
    world.fail = {A}
    assert await reconciler.tick() == []
    assert world.looked == [["agency-lb-alpha-csc", "agency-lb-beta-csc"]]
    assert set(reconciler.confirmed) == {B}  # B held nothing; A's withdrawal failed

    world.fail = set()
    assert await reconciler.tick() == [A]
    assert world.looked[-1] == ["agency-lb-alpha-csc"]
    assert set(reconciler.confirmed) == {A, B}

    calls = reconciler.broker_calls
    assert await reconciler.tick() == []
    assert reconciler.broker_calls == calls  # both confirmed bare: the database only

    world.suspended = [B]  # A reactivated: its confirmation is forgotten
    await reconciler.tick()
    assert set(reconciler.confirmed) == {B}
    world.now += 600.0  # the recheck asks about B again
    await reconciler.tick()
    assert world.looked[-1] == ["agency-lb-beta-csc"]
    assert reconciler.broker_calls == calls + 1


async def test_a_broker_that_does_not_answer_leaves_everything_for_the_next_tick() -> None:
    world = World()
    world.suspended = [A]

    async def down(_bootstrap: str, _admin: ClientCredentials, _names: Sequence[str]) -> Mapping[str, Presence]:
        raise Unavailable("kafka.unreachable", "the broker does not answer")

    reconciler = Reconciler(lambda: [A], lambda: ("127.0.0.1:1", ADMIN), down, world.withdraw)
    with pytest.raises(Unavailable):
        await reconciler.tick()
    assert reconciler.confirmed == {}


# --- service.withdraw: outcomes and audit rows ------------------------------------------------------


@pytest.fixture
def factory(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    url = f"sqlite:///{tmp_path / 'hub.sqlite3'}"
    db.migrate(url)
    engine = make_engine(url)
    made = db.session_factory(engine)
    with made() as session, session.begin():
        for agency, status in ((A, AgencyStatus.SUSPENDED), (B, AgencyStatus.ACTIVE)):
            session.add(
                Agency(
                    id=agency,
                    display_name="Synthetic Borough CSC",
                    kind=AgencyKind.CHILDREN_SERVICES,
                    status=status,
                    created_at=datetime.now(UTC),
                )
            )
    try:
        yield made
    finally:
        engine.dispose()


def _settings(tmp_path: Path, *, admin: bool = True) -> Settings:
    kafka = KafkaSettings(topic_prefix="tw", bootstrap_servers="127.0.0.1:1")
    if admin:
        write_password_file(tmp_path / "admin.password", ADMIN.password)
        kafka = kafka.model_copy(update={"admin_username": "admin", "admin_password_file": tmp_path / "admin.password"})
    return Settings(env="test", home=tmp_path / "home", db=DatabaseSettings(url="sqlite://"), kafka=kafka)


def _rows(factory: sessionmaker[Session]) -> list[tuple[str, str | None, str | None]]:
    with factory() as session:
        rows = session.scalars(select(AuditEvent).where(AuditEvent.kind == "broker.withdrawn").order_by(AuditEvent.seq))
        return [(r.outcome, r.reason_code, r.source) for r in rows]


async def test_withdraw_outcomes_are_audited_and_never_raise(factory: sessionmaker[Session], tmp_path: Path) -> None:
    asked: list[str] = []

    async def ok(_bootstrap: str, _admin: ClientCredentials, username: str) -> Withdrawn:
        asked.append(username)
        return Withdrawn(username, 8, ("SCRAM_SHA_512",))

    async def down(_bootstrap: str, _admin: ClientCredentials, _username: str) -> Withdrawn:
        raise Unavailable("kafka.unreachable", "the broker does not answer")

    async def refused(_bootstrap: str, _admin: ClientCredentials, _username: str) -> Withdrawn:
        raise OneDoorError("kafka.admin_failed", "no")

    settings = _settings(tmp_path)
    done = await service.withdraw(factory, settings, A, source="test", withdraw_user=ok)
    assert (done.outcome, done.done, asked) == ("withdrawn", True, ["agency-lb-alpha-csc"])
    assert "8 ACLs deleted; SCRAM credentials deleted: SCRAM_SHA_512" in done.detail

    failed = await service.withdraw(factory, settings, A, source="test", withdraw_user=down)
    assert (failed.outcome, failed.reason_code) == ("failed", "broker.unavailable")
    broken = await service.withdraw(factory, settings, A, source="test", withdraw_user=refused)
    assert (broken.outcome, broken.reason_code) == ("failed", "broker.withdrawal_failed")
    quiet = await service.withdraw(factory, settings, A, source="reconciler", audit_failure=False, withdraw_user=down)
    assert quiet.outcome == "failed"  # logged, not audited (the reconciler would write one every tick)

    active = await service.withdraw(factory, settings, B, source="test", withdraw_user=ok)
    assert (active.outcome, active.reason_code) == ("skipped", "broker.agency_active")
    assert asked == ["agency-lb-alpha-csc"]  # a reactivated agency's (new) identity is left alone

    off = await service.withdraw(factory, _settings(tmp_path, admin=False), A, source="test", withdraw_user=ok)
    assert (off.outcome, off.reason_code) == ("skipped", "broker.provisioning_off")

    assert _rows(factory) == [
        ("withdrawn", None, "test"),
        ("failed", "broker.unavailable", "test"),
        ("failed", "broker.withdrawal_failed", "test"),
        ("skipped", "broker.agency_active", "test"),
        ("skipped", "broker.provisioning_off", "test"),
    ]
    with factory() as session:
        assert suspended_agencies(session) == [A]


async def test_an_agency_suspended_while_provisioning_gets_no_identity_and_it_is_withdrawn_again(
    factory: sessionmaker[Session], tmp_path: Path
) -> None:
    public = raw_public(X25519PrivateKey.generate().public_key())
    with factory() as session, session.begin():
        session.add(
            AgencyKey(
                key_id=str(KeyId.for_public_key(public)),
                agency_id=B,
                use=KeyUse.ENCRYPTION,
                algorithm=KeyAlgorithm.X25519,
                public_key=public,
                status=KeyStatus.CURRENT,
                created_at=datetime.now(UTC),
            )
        )
    events: list[str] = []

    async def provision_while_suspended(
        _bootstrap: str, _admin: ClientCredentials, agency: AgencyId, _topics: TopicNames, _triage: bool
    ) -> ClientCredentials:
        events.append("provisioned")
        with factory() as session, session.begin():  # the operator's suspension commits meanwhile
            row = session.get(Agency, str(agency))
            assert row is not None
            row.status = AgencyStatus.SUSPENDED
        return ClientCredentials(f"agency-{agency}", SecretStr("synthetic-agency-password-xxxxxxx"))

    async def withdrawn(_bootstrap: str, _admin: ClientCredentials, username: str) -> Withdrawn:
        events.append(f"withdrawn {username}")
        return Withdrawn(username, 8, ("SCRAM_SHA_512",))

    with pytest.raises(Forbidden) as refused:
        await service.issue(
            factory,
            _settings(tmp_path),
            B,
            source="test",
            provision=provision_while_suspended,
            withdraw_user=withdrawn,
        )
    assert refused.value.code == "broker.agency_suspended"
    assert events == ["provisioned", "withdrawn agency-lb-beta-csc"], "the identity made in the race is taken back"
    assert _rows(factory) == [("withdrawn", None, "test (suspended while provisioning)")]
    with factory() as session:
        denied = session.scalars(select(AuditEvent).where(AuditEvent.kind == "broker.credentials")).all()
        assert [(r.outcome, r.reason_code) for r in denied] == [("deny", "broker.agency_suspended")]
