"""Audit rows never overflow their columns, whatever a sender put in its (authenticated) header."""

from __future__ import annotations

from datetime import UTC, datetime

from hub.router.decide import Rejected
from hub.router.service import _audit_row
from onedoor.envelope.reasons import Reason


def test_overlong_header_values_are_clipped_not_fatal() -> None:
    decision = Rejected(
        Reason.CONTRACT_UNKNOWN,
        "x" * 5000,
        "test-county-police",
        message_id="not-a-uuid-" + "9" * 40,
        contract="onedoor." + "A" * 300,
        contract_version=1,
        correlation_id="c" * 400,
        recipients=("lb-testborough-csc",),
    )
    row = _audit_row(decision, "t.out.test-county-police:0:" + "1" * 400, datetime.now(UTC))
    assert row["message_id"] is None
    assert len(row["contract"]) == 128
    assert len(row["correlation_id"]) == 128
    assert len(row["source"]) == 255
    assert len(row["detail"]) == 2000
    assert row["reason_code"] == "contract.unknown"
