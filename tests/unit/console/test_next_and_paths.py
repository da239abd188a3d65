"""Where sign-in may send a browser next, and which paths are console pages: a table of cases with a reason each."""

from __future__ import annotations

import pytest

from hub.auth.roles import Role
from hub.console.shell import NAV, active_nav_for, is_console_page
from hub.console.signin import safe_next

NEXT_CASES = [
    ("/console", "/console", "the dashboard"),
    ("/console/agencies/lb-fake-csc", "/console/agencies/lb-fake-csc", "a page inside the console"),
    ("/console/audit?message_id=abc", "/console/audit?message_id=abc", "a query string is kept"),
    ("https://evil.example/console", None, "another site"),
    ("//evil.example/console", None, "a scheme-relative URL is another site"),
    ("/\\evil.example", None, "a backslash some browsers read as a slash"),
    ("/console/../ops/dashboard", None, "a dot segment leaving the console"),
    ("/console/%2e%2e/metrics", None, "an encoded dot segment"),
    ("/consoleX", None, "a different path that only starts the same"),
    ("/ops/dashboard", None, "JSON, not a page"),
    ("/console/sign-in", None, "back to sign-in would loop"),
    ("/console/\nSet-Cookie:x", None, "a control character"),
    ("", None, "nothing"),
    (None, None, "nothing"),
    ("/console/" + "a" * 600, None, "too long"),
]


@pytest.mark.parametrize(("raw", "expected", "why"), NEXT_CASES)
def test_next_leads_only_inside_the_console(raw: str | None, expected: str | None, why: str) -> None:
    assert safe_next(raw) == expected, why


@pytest.mark.parametrize(
    ("path", "page"),
    [
        ("/console", True),
        ("/console/agencies", True),
        ("/console/static/shell/dashboard.js", False),
        ("/consoles", False),
        ("/ops/dashboard", False),
    ],
)
def test_console_pages_are_under_console_but_not_its_static_files(path: str, page: bool) -> None:
    assert is_console_page(path) is page


def test_the_menu_follows_the_role_table() -> None:
    who_sees = {item.key: item.roles for item in NAV}
    assert Role.AGENCY_ADMIN not in who_sees["dashboard"]
    assert Role.OPS_VIEWER not in who_sees["agreements"]
    assert who_sees["audit"] == frozenset({Role.HUB_OPERATOR, Role.AUDITOR})
    assert who_sees["contracts"] == frozenset(Role)


@pytest.mark.parametrize(
    ("path", "active"),
    [("/console", "dashboard"), ("/console/agencies/x", "agencies"), ("/console/sign-in", None)],
)
def test_theactive_nav_for_menu_entry_is_the_longest_match(path: str, active: str | None) -> None:
    assert active_nav_for(path) == active
