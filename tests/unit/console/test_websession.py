"""The session primitives the workbench and the console share (onedoor.websession)."""

from __future__ import annotations

from onedoor.websession import PresessionTokens, new_session_id, same_text, same_token, session_id_hash


def test_a_session_id_is_random_and_stored_only_as_its_hash() -> None:
    (sid_a, hash_a), (sid_b, _) = new_session_id(), new_session_id()
    assert sid_a != sid_b
    assert len(sid_a) >= 43
    assert hash_a == session_id_hash(sid_a) != sid_a
    assert len(hash_a) == 64


def test_comparisons_take_any_text_and_refuse_what_is_missing() -> None:
    assert same_text("abc", "abc")
    assert not same_text("caf\u00e9", "cafe")
    assert not same_token(None, "abc")
    assert not same_token("", "abc")
    assert same_token("abc", "abc")


def test_a_sign_in_form_token_matches_only_its_own_cookie_and_secret() -> None:
    tokens = PresessionTokens(b"k" * 32, "console-signin")
    cookie, token = tokens.issue()
    assert tokens.check(cookie, token)
    other_cookie, _ = tokens.issue()
    assert not tokens.check(other_cookie, token)
    assert not tokens.check(None, token)
    assert not tokens.check(cookie, None)
    assert not PresessionTokens(b"x" * 32, "console-signin").check(cookie, token)
    assert not PresessionTokens(b"k" * 32, "workbench").check(cookie, token)
