"""The plaintext inside an envelope: which fields the sender included, then the Avro body.

::

    byte 0        frame version (1)
    bytes 1..n    bitmap over the contract version's field paths in schema order
                  (``TaggedContract.tags``): bit i is byte 1 + i // 8, mask 1 << (i % 8)
    the rest      the body, Avro-encoded with ``consent.projection_schema(contract, included)``

The recipient reads the included set from the bitmap and decodes with the projection schema
of that set as writer and reader, so it never re-derives the sender's decision to read a
message. Everything here is inside the encryption: the hub never sees the bitmap.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import Final

from onedoor.envelope.reasons import EnvelopeRejected, Reason

FRAME_VERSION: Final = 1


class FrameProblem(StrEnum):
    """Why a frame was refused; the envelope's reason is ``contract.malformed_body``."""

    TRUNCATED = "frame.truncated"
    UNSUPPORTED_VERSION = "frame.unsupported_version"
    UNKNOWN_FIELD = "frame.unknown_field"
    """A bit beyond the contract version's fields is set."""
    ORPHAN_FIELD = "frame.orphan_field"
    """A field is included without the record it sits in."""


class FrameInvalid(EnvelopeRejected):
    """The plaintext is not a frame this connector can read; ``problem`` says what is wrong."""

    def __init__(self, problem: FrameProblem, message: str) -> None:
        super().__init__(Reason.BODY_MALFORMED, f"{problem.value}: {message}")
        self.problem = problem


def frame(paths: Sequence[str], included: frozenset[str], body: bytes) -> bytes:
    """Prefix ``body`` with the frame version and the bitmap of ``included`` over ``paths``.

    Args:
        paths: the contract version's field paths in schema order.
        included: the paths the body holds (closed under parents).
        body: the Avro bytes, written with the projection schema of ``included``.

    Raises:
        ValueError: ``included`` names a path that is not in ``paths`` (a bug in the caller).
    """
    unknown = included.difference(paths)
    if unknown:
        raise ValueError(f"{len(unknown)} included path(s) are not fields of the contract version")
    bitmap = bytearray((len(paths) + 7) // 8)
    for i, path in enumerate(paths):
        if path in included:
            bitmap[i // 8] |= 1 << (i % 8)
    return bytes((FRAME_VERSION,)) + bytes(bitmap) + body


def unframe(paths: Sequence[str], data: bytes) -> tuple[frozenset[str], bytes]:
    """The included paths and the Avro body of a frame.

    Raises:
        FrameInvalid: ``frame.truncated``, ``frame.unsupported_version``, ``frame.unknown_field``
            or ``frame.orphan_field`` (all with reason ``contract.malformed_body``).
    """
    if not data:
        raise FrameInvalid(FrameProblem.TRUNCATED, "empty body")
    if data[0] != FRAME_VERSION:
        raise FrameInvalid(FrameProblem.UNSUPPORTED_VERSION, f"frame version {data[0]} is not {FRAME_VERSION}")
    size = (len(paths) + 7) // 8
    if len(data) < 1 + size:
        raise FrameInvalid(FrameProblem.TRUNCATED, f"{len(data) - 1} of {size} bitmap bytes")
    bitmap = data[1 : 1 + size]
    included = frozenset(p for i, p in enumerate(paths) if bitmap[i // 8] >> (i % 8) & 1)
    if size and bitmap[-1] >> (len(paths) - 8 * (size - 1)):
        raise FrameInvalid(FrameProblem.UNKNOWN_FIELD, "a bit beyond the contract version's fields is set")
    orphans = [p for p in included if (parent := p.rpartition(".")[0]) and parent not in included]
    if orphans:
        raise FrameInvalid(FrameProblem.ORPHAN_FIELD, f"{len(orphans)} field(s) included without their record")
    return included, data[1 + size :]
