"""Contract values to and from JSON, and adapter options checked without echoing a value."""

from __future__ import annotations

import datetime as dt

import pytest
from pydantic import BaseModel, ConfigDict

from connectors.adapters.values import check_body, from_json, parse_options, to_json
from contracts.catalog import bundled_contract
from onedoor.errors import ValidationFailed

ALERT = bundled_contract("onedoor.alert.Alert")


def test_to_json_writes_dates_times_bytes_and_sets_as_json() -> None:
    value = {
        "born": dt.date(2010, 3, 14),
        "seen": dt.datetime(2026, 11, 20, 21, 15),
        "raw": b"\x00\x01",
        "tags": frozenset({"b", "a"}),
        "nested": [{"at": dt.datetime(2026, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=1)))}],
    }
    assert to_json(value) == {
        "born": "2010-03-14",
        "seen": "2026-11-20T21:15:00+00:00",
        "raw": "AAE=",
        "tags": ["a", "b"],
        "nested": [{"at": "2025-12-31T23:00:00+00:00"}],
    }


def test_from_json_parses_times_where_the_schema_has_them_and_names_a_bad_one() -> None:
    body = {"occurred_at": "2026-11-20T21:15:00", "details": "2026-11-20"}
    record = from_json(body, ALERT, code="x.bad")
    assert record["occurred_at"] == dt.datetime(2026, 11, 20, 21, 15, tzinfo=dt.UTC), "naive times are UTC"
    assert record["details"] == "2026-11-20", "a string field stays a string"
    with pytest.raises(ValidationFailed) as bad:
        from_json({"occurred_at": "yesterday"}, ALERT, code="x.bad", prefix="body.")
    assert (bad.value.code, bad.value.message) == (
        "x.bad",
        "field 'body.occurred_at' must be a date and time in ISO 8601",
    )


def test_check_body_names_the_field_that_does_not_fit() -> None:
    with pytest.raises(ValidationFailed) as bad:
        check_body({"alert_id": "a", "kind": "OTHER", "subject_token": 7}, ALERT, code="x.bad", prefix="body.")
    assert bad.value.code == "x.bad"
    assert "body.subject_token" in bad.value.message


class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str
    timeout_s: float = 1.0


def test_parse_options_names_bad_and_unknown_options_but_never_their_values() -> None:
    with pytest.raises(ValidationFailed) as bad:
        parse_options(_Options, {"timeout_s": "secret-ish", "pasword": "hunter2"}, code="adapter.x.bad", adapter="a1")
    message = bad.value.message
    assert bad.value.code == "adapter.x.bad"
    assert "url (required)" in message
    assert "pasword (unknown option)" in message
    assert "timeout_s" in message
    assert "hunter2" not in message
    assert "secret-ish" not in message
