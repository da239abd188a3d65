"""The frame inside an envelope: which fields the sender included, then the Avro body."""

from __future__ import annotations

import pytest

from connectors.sdk.frame import FRAME_VERSION, FrameInvalid, FrameProblem, frame, unframe
from consent.contract import TaggedContract
from contracts.catalog import bundled
from onedoor.envelope.reasons import Reason
from tests.unit.connectors.world import REFERRAL

PATHS = tuple(TaggedContract.from_schema(bundled()[REFERRAL], 1).tags)
LIMITED = frozenset({"referral_id", "urgency", "concern_summary", "exploitation", "exploitation.nrm_status"})


def test_round_trip_keeps_the_included_paths_and_the_body() -> None:
    framed = frame(PATHS, LIMITED, b"\x01avro-bytes")
    assert framed[0] == FRAME_VERSION
    assert len(framed) == 1 + (len(PATHS) + 7) // 8 + len(b"\x01avro-bytes")
    assert unframe(PATHS, framed) == (LIMITED, b"\x01avro-bytes")


@pytest.mark.parametrize(
    ("included", "case"),
    [
        (frozenset(), "nothing included (an empty body still says so)"),
        (frozenset(PATHS), "every field"),
        (frozenset({PATHS[-1]}), "only the last field: the bit in the last bitmap byte"),
    ],
)
def test_round_trip_edges(included: frozenset[str], case: str) -> None:
    assert unframe(PATHS, frame(PATHS, included, b"")) == (included, b""), case


def test_framing_a_path_outside_the_contract_is_a_bug() -> None:
    with pytest.raises(ValueError, match="not fields of the contract"):
        frame(PATHS, frozenset({"child.shoe_size"}), b"")


def test_a_bit_beyond_the_contract_fields_is_rejected() -> None:
    framed = bytearray(frame(PATHS, LIMITED, b"body"))
    size = (len(PATHS) + 7) // 8
    assert len(PATHS) % 8, "the referral's field count leaves spare bits in the last bitmap byte"
    framed[size] |= 0x80  # the last bitmap byte's top bit: no field there
    with pytest.raises(FrameInvalid) as caught:
        unframe(PATHS, bytes(framed))
    assert caught.value.problem is FrameProblem.UNKNOWN_FIELD
    assert caught.value.reason is Reason.BODY_MALFORMED


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"", FrameProblem.TRUNCATED),
        (bytes((FRAME_VERSION,)), FrameProblem.TRUNCATED),
        (bytes((FRAME_VERSION, 0xFF)), FrameProblem.TRUNCATED),
        (b"\xff\xff\xff\xff\x0f", FrameProblem.UNSUPPORTED_VERSION),
        (b"\x02" + bytes(20), FrameProblem.UNSUPPORTED_VERSION),
    ],
)
def test_truncated_or_unknown_frames_are_rejected_with_a_reason(data: bytes, problem: FrameProblem) -> None:
    with pytest.raises(FrameInvalid) as caught:
        unframe(PATHS, data)
    assert caught.value.problem is problem
    assert caught.value.code == "contract.malformed_body"
    assert str(problem) in caught.value.message


def test_a_field_without_its_record_is_rejected() -> None:
    framed = frame(PATHS, frozenset({"referral_id", "child.given_name"}), b"")
    with pytest.raises(FrameInvalid) as caught:
        unframe(PATHS, framed)
    assert caught.value.problem is FrameProblem.ORPHAN_FIELD
