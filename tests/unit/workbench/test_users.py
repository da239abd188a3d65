"""Staff accounts: passwords hashed with scrypt and checked in constant time; roles; bad input refused."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.workbench.store import WorkbenchStore
from connectors.workbench.users import Role, Staff, hash_password, verify_password
from onedoor.errors import Conflict, ValidationFailed

PASSWORD = "correct horse battery fake"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[WorkbenchStore]:
    found = WorkbenchStore(f"sqlite:///{tmp_path / 'wb.sqlite3'}").create()
    yield found
    found.close()


def test_a_hash_verifies_only_its_own_password_and_is_salted() -> None:
    first, second = hash_password(PASSWORD), hash_password(PASSWORD)
    assert first != second, "each hash has its own salt"
    assert PASSWORD not in first
    assert first.startswith("scrypt$")
    assert verify_password(PASSWORD, first)
    assert verify_password(PASSWORD, second)
    assert not verify_password(PASSWORD + "!", first)
    assert not verify_password(PASSWORD, "scrypt$garbage")
    assert not verify_password(PASSWORD, "bcrypt$1$2$3$4$5")


def test_staff_sign_in_with_the_right_password_only(store: WorkbenchStore) -> None:
    staff = Staff(store)
    added = staff.add("Officer.One", "triage-officer", PASSWORD)
    assert (added.username, added.role) == ("officer.one", Role.TRIAGE_OFFICER)
    assert staff.authenticate("officer.one", PASSWORD) == added
    assert staff.authenticate("OFFICER.ONE ", PASSWORD) == added, "usernames are not case sensitive"
    assert staff.authenticate("officer.one", "wrong password!") is None
    assert staff.authenticate("nobody.here", PASSWORD) is None
    stored = store.user("officer.one")
    assert stored is not None
    assert PASSWORD not in stored.password_hash


@pytest.mark.parametrize(
    ("username", "role", "password", "code"),
    [
        ("ok.user", "admin", PASSWORD, "workbench.invalid_role"),
        ("x", "viewer", PASSWORD, "workbench.invalid_username"),
        ("has space", "viewer", PASSWORD, "workbench.invalid_username"),
        ("ok.user", "viewer", "short", "workbench.weak_password"),
    ],
)
def test_bad_accounts_are_refused(store: WorkbenchStore, username: str, role: str, password: str, code: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        Staff(store).add(username, role, password)
    assert refused.value.code == code
    assert password not in refused.value.message


def test_a_username_is_taken_once(store: WorkbenchStore) -> None:
    Staff(store).add("officer.one", "viewer", PASSWORD)
    with pytest.raises(Conflict) as refused:
        Staff(store).add("officer.one", "case-worker", PASSWORD)
    assert refused.value.code == "workbench.user_exists"


def test_viewers_and_auditors_cannot_decide_and_only_auditors_read_the_audit_trail() -> None:
    assert [r for r in Role if not r.can_decide] == [Role.VIEWER, Role.AUDITOR]
    assert [r for r in Role if r.can_audit] == [Role.AUDITOR]


def test_a_failed_check_says_why_for_the_audit_trail_only(store: WorkbenchStore) -> None:
    staff = Staff(store)
    staff.add("officer.one", "triage-officer", PASSWORD)
    good = staff.check("Officer.One", PASSWORD)
    assert good.member is not None
    assert (good.actor, good.reason_code) == ("officer.one", None)
    assert staff.check("officer.one", "not the password") == (
        type(good)(None, "officer.one", "workbench.wrong_password")
    )
    assert staff.check("nobody.here", PASSWORD) == type(good)(None, None, "workbench.unknown_user")
    assert (staff.known("officer.one"), staff.known(PASSWORD), staff.known("")) == ("officer.one", None, None)
