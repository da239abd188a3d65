"""The diff between two agreement versions, area by area, in words."""

from __future__ import annotations

from hub.console.admin.diff import Change, ChangeKind, diff
from tests.unit.console_admin.cases import CONTRACTS, NAMES, REFERRAL, body


def _by_area(changes: list[Change]) -> dict[str, list[tuple[str, str]]]:
    out: dict[str, list[tuple[str, str]]] = {}
    for change in changes:
        out.setdefault(change.area, []).append((change.kind.value, change.text))
    return out


def test_the_same_content_has_no_changes() -> None:
    assert diff(body(), body(), CONTRACTS, NAMES) == []


def test_every_area_that_changed_is_named() -> None:
    after = body(
        title="County lines referrals and alerts",
        parties=["agency:met-police", "agency:lb-hackney-csc", "agency:fake-youth-charity"],
        purposes=["safeguarding-referral", "safeguarding-alert"],
        contract_versions={REFERRAL: 2},
        provisions=[{"effect": "permit", "access_level": "full"}],
        lawful_basis={"article6": "UK GDPR Art. 6(1)(e)", "statutes": ["Children Act 1989 s.47"]},
        retention_days=730,
        review_date="2028-01-31",
    )
    found = _by_area(diff(body(), after, CONTRACTS, NAMES))
    assert found["title"] == [("changed", "County lines referrals → County lines referrals and alerts")]
    assert found["parties"] == [("added", "fake-youth-charity")]
    assert found["purposes"] == [("added", "safeguarding alert")]
    assert found["contract versions"] == [("changed", f"{REFERRAL} version 1 → {REFERRAL} version 2")]
    [(kind, text)] = found["provisions"]
    assert kind == "changed"
    assert "limited access" in text.split("→")[0]
    assert "full access" in text.split("→")[1]
    [(kind, text)] = found["fields"]
    assert kind == "added"
    assert text == f"{REFERRAL}: child, child.name, child.phone, found_at, health_notes, status"
    assert found["lawful basis"] == [("added", "Children Act 1989 s.47"), ("removed", "Children Act 2004 s.11")]
    assert found["retention"] == [("changed", "365 days (1 year) → 730 days (2 years)")]
    assert found["review date"] == [("changed", "22 November 2027 → 31 January 2028")]


def test_provisions_added_and_removed_and_fields_taken_away() -> None:
    deny = {"effect": "deny", "senders": ["agency:lb-hackney-csc"], "classes": ["contact"]}
    before = body(provisions=[{"effect": "permit", "access_level": "limited"}, deny])
    after = body(provisions=[{"effect": "permit", "classes": ["operational"]}])
    changes = diff(before, after, CONTRACTS, NAMES)
    kinds = [(c.area, c.kind) for c in changes]
    assert ("provisions", ChangeKind.CHANGED) in kinds
    assert ("provisions", ChangeKind.REMOVED) in kinds
    [removed] = [c for c in changes if c.area == "fields"]
    assert removed.kind is ChangeKind.REMOVED
    assert removed.text == f"{REFERRAL}: concern, network, network.duty_phone"


def test_a_reordered_provision_list_is_not_a_change() -> None:
    one = {"effect": "permit", "senders": ["agency:met-police"], "access_level": "limited"}
    two = {"effect": "permit", "senders": ["agency:lb-hackney-csc"], "classes": ["operational"]}
    assert list(diff(body(provisions=[one, two]), body(provisions=[two, one]), CONTRACTS, NAMES)) == []
