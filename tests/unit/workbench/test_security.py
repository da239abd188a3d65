"""Sessions (signed cookie, idle and absolute expiry), the sign-in form's CSRF pair, sign-in limits."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.workbench import security
from connectors.workbench.security import Sessions, load_or_create_secret, same_token, sign_in_limiter
from connectors.workbench.store import WorkbenchStore


@pytest.fixture
def store(tmp_path: Path) -> Iterator[WorkbenchStore]:
    found = WorkbenchStore(f"sqlite:///{tmp_path / 'wb.sqlite3'}").create()
    yield found
    found.close()


def test_a_session_cookie_is_signed_and_names_a_live_session(store: WorkbenchStore) -> None:
    sessions = Sessions(store, b"k" * 32, idle_s=1800, absolute_s=8 * 3600)
    cookie, started = sessions.start("officer.one")
    found = sessions.resolve(cookie)
    assert found is not None
    assert (found.username, found.csrf) == ("officer.one", started.csrf)
    sid, _, signature = cookie.rpartition(".")
    assert sessions.resolve(f"{sid}.{'0' * len(signature)}") is None, "a forged signature"
    assert Sessions(store, b"other" * 8, idle_s=1800, absolute_s=3600).resolve(cookie) is None, "another secret"
    assert sessions.resolve(None) is None
    assert sessions.resolve("no-dot") is None
    sessions.end(found)
    assert sessions.resolve(cookie) is None, "signed out"


def test_sessions_expire_when_idle_and_after_the_absolute_limit(
    store: WorkbenchStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = [1_000_000]
    monkeypatch.setattr(security, "now_ms", lambda: clock[0])
    sessions = Sessions(store, b"k" * 32, idle_s=60, absolute_s=300)
    cookie, _ = sessions.start("officer.one")
    for _ in range(5):  # used every 50 s: never idle, but...
        clock[0] += 50_000
        assert sessions.resolve(cookie) is not None
    clock[0] += 55_000  # ...305 s after sign-in
    assert sessions.resolve(cookie) is None
    idle, _ = sessions.start("officer.two")
    clock[0] += 61_000
    assert sessions.resolve(idle) is None


def test_the_sign_in_form_token_is_bound_to_its_cookie(store: WorkbenchStore) -> None:
    sessions = Sessions(store, b"k" * 32, idle_s=60, absolute_s=300)
    nonce, token = sessions.presession_token()
    assert sessions.presession_ok(nonce, token)
    other_nonce, _ = sessions.presession_token()
    assert not sessions.presession_ok(other_nonce, token)
    assert not sessions.presession_ok(None, token)
    assert not sessions.presession_ok(nonce, None)
    assert same_token("abc", "abc")
    assert not same_token(None, "abc")
    assert not same_token("", "")


def test_failed_sign_ins_are_limited_per_key_within_a_window() -> None:
    clock = [0.0]
    limiter = sign_in_limiter(attempts=3, window_s=60, clock=lambda: clock[0])
    for _ in range(3):
        assert limiter.allowed("user:a", "address:1")
        limiter.record("user:a", "address:1")
    assert not limiter.allowed("user:a", "address:2"), "the username is locked whatever the address"
    assert not limiter.allowed("user:b", "address:1"), "the address is locked whatever the username"
    assert limiter.allowed("user:b", "address:2")
    clock[0] = 61.0
    assert limiter.allowed("user:a", "address:1"), "the window passed"
    limiter.record("user:c", "address:9")
    limiter.reset("user:c")
    assert limiter.count("user:c") == 0, "a good sign-in forgets the username's failures"


@pytest.mark.parametrize(
    "value",
    ["é", "1.é", "é.é", "caf\u00e9." + "0" * 64, "\u2603", "a.\U0001f600"],
)
def test_non_ascii_cookies_and_tokens_are_refused_not_crashed_on(store: WorkbenchStore, value: str) -> None:
    # hmac.compare_digest raises TypeError on non-ASCII str: these must be a plain "no".
    sessions = Sessions(store, b"k" * 32, idle_s=60, absolute_s=300)
    nonce, token = sessions.presession_token()
    assert sessions.resolve(value) is None
    assert not sessions.presession_ok(value, token)
    assert not sessions.presession_ok(nonce, value)
    assert not sessions.presession_ok(value, value)
    assert not same_token(value, token)
    assert not same_token(token, value)


def test_the_secret_is_made_once_and_private(tmp_path: Path) -> None:
    path = tmp_path / "data" / "workbench.secret"
    first = load_or_create_secret(path)
    assert len(first) == 32
    assert load_or_create_secret(path) == first
    assert path.stat().st_mode & 0o777 == 0o600
