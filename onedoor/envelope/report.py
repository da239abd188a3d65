"""Rejection reports: how a recipient tells the hub it refused an envelope the hub delivered.

A report travels on the recipient's own outbound topic (the only topic an agency writes):
the refused envelope's bytes as the value, and Kafka headers naming the reason. The headers
carry a hub MAC too, keyed like the envelope's, so nobody but the recipient can dead-letter
envelopes or write audit rows in its name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from onedoor.envelope import hubmac

KIND = b"rejection-report"
_DOMAIN = b"onedoor/v1/rejection-report\x00"


def _maced(reason: bytes, value: bytes) -> bytes:
    return _DOMAIN + reason + b"\x00" + value


def report_headers(*, reason: str, value: bytes, key_id: str, mac_key: bytes) -> list[tuple[str, bytes]]:
    """Kafka headers of a report that ``value`` was refused for ``reason``."""
    mac = hubmac.compute(mac_key, _maced(reason.encode(), value))
    return [("od_kind", KIND), ("od_reason", reason.encode()), ("od_key", key_id.encode()), ("od_mac", mac)]


def is_report(headers: Iterable[tuple[str, bytes]] | None) -> bool:
    """Whether a record with these headers is a rejection report."""
    return any(k == "od_kind" and v == KIND for k, v in headers or ())


def verified_reason(
    headers: Iterable[tuple[str, bytes]], value: bytes, mac_key_for: Callable[[str], bytes | None]
) -> str | None:
    """The reported reason if the report's MAC checks out under the reporter's key, else None."""
    fields = dict(headers)
    reason, key_id, mac = fields.get("od_reason"), fields.get("od_key"), fields.get("od_mac")
    if reason is None or key_id is None or mac is None:
        return None
    key = mac_key_for(key_id.decode(errors="replace"))
    if key is None or not hubmac.verify(key, _maced(reason, value), mac):
        return None
    return reason.decode(errors="replace")
