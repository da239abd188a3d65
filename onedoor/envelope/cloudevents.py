"""CloudEvents attributes as Kafka record headers (binary content mode).

Ordinary Kafka tooling can then see what a record is without reading the envelope. The hub
writes them from the header it has authenticated, never copying what the sender claimed.
"""

from __future__ import annotations

import time
from functools import lru_cache

CONTENT_TYPE = b"application/vnd.onedoor.envelope+avro"
_SPEC = ("ce_specversion", b"1.0")
_CONTENT = ("content-type", CONTENT_TYPE)


@lru_cache(maxsize=4096)
def _source(sender: str) -> tuple[str, bytes]:
    return ("ce_source", f"/agencies/{sender}".encode())


@lru_cache(maxsize=4096)
def _type(contract: str, version: int) -> tuple[str, bytes]:
    return ("ce_type", f"{contract}.v{version}".encode())


@lru_cache(maxsize=256)
def _second(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))


def rfc3339_millis(millis: int) -> bytes:
    """``2026-11-22T10:15:00.123Z`` for a time in ms since the epoch."""
    seconds, ms = divmod(millis, 1000)
    return f"{_second(seconds)}.{ms:03d}Z".encode()


def ce_headers(
    *, message_id: str, sender: str, contract: str, contract_version: int, created_at_ms: int
) -> list[tuple[str, bytes]]:
    """The CloudEvents 1.0 Kafka-binding headers for one envelope."""
    return [
        _SPEC,
        ("ce_id", message_id.encode()),
        _source(sender),
        _type(contract, contract_version),
        ("ce_time", rfc3339_millis(created_at_ms)),
        _CONTENT,
    ]
