"""The webhook adapter: POST each received message, signed, to the agency's own system.

Options (``kind: webhook``)::

    url: https://case-system.example.gov.uk/onedoor/inbox   # required; http only to localhost unless allowed
    secret_file: secrets/webhook.secret                      # required; mode 0600, >= 32 bytes
    contracts: [onedoor.referral.MasterReferral, onedoor.alert.Alert]   # required: what to deliver
    timeout_s: 10                                            # optional, per request
    allow_insecure_http: false                               # optional

For every received message of a listed contract the adapter POSTs JSON (``payload``) signed as
``connectors.adapters.signing`` describes, with ``OneDoor-Message-Id`` (covered by the signature)
for deduplication. A 2xx
answer means delivered; 5xx, 408, 429, a timeout or a refused connection raise ``DeliveryRetry``
(``adapter.webhook.unavailable``: the inbox tries the same message again later); any other
answer raises ``DeliveryRefused`` (``adapter.webhook.refused``, with the status) and the
message is parked. The body and the secret are never logged.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field

from connectors.adapters.base import AdapterContext, DeliveryRefused, DeliveryRetry, Outbound
from connectors.adapters.signing import MESSAGE_ID_HEADER, SIGNATURE_HEADER, load_secret, sign
from connectors.adapters.values import parse_options, to_json
from connectors.sdk.connector import ReceivedMessage
from connectors.status.index import StatusRecord
from onedoor.errors import ValidationFailed
from onedoor.ids import ContractName
from onedoor.logging import get_logger

log = get_logger(__name__)

BAD_OPTIONS: Final = "adapter.webhook.bad_options"
BAD_URL: Final = "adapter.webhook.bad_url"
INSECURE_URL: Final = "adapter.webhook.insecure_url"
UNAVAILABLE: Final = "adapter.webhook.unavailable"
REFUSED: Final = "adapter.webhook.refused"
_RETRY_STATUSES: Final = frozenset({408, 425, 429})
_LOCAL_HOSTS: Final = frozenset({"localhost", "127.0.0.1", "::1"})
USER_AGENT: Final = "OneDoor-Connector-Webhook/1"


class WebhookOptions(BaseModel):
    """What a webhook adapter's ``options`` may hold."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = Field(min_length=1, max_length=2000)
    secret_file: Path
    contracts: list[str] = Field(min_length=1)
    timeout_s: float = Field(default=10.0, gt=0, le=300)
    allow_insecure_http: bool = False


def payload(message: ReceivedMessage) -> dict[str, Any]:
    """What the agency's webhook receives for ``message`` (dates and times as ISO 8601 text)."""
    header = message.header
    return {
        "message_id": str(header.message_id),
        "contract": str(header.contract),
        "version": header.contract_version,
        "sender": str(header.sender),
        "purpose": str(header.purpose),
        "agreement": None if header.agreement is None else str(header.agreement),
        "correlation_id": str(header.correlation_id),
        "subject_token": None if header.subject_token is None else str(header.subject_token),
        "created_at_ms": header.created_at_ms,
        "fields": sorted(message.fields),
        "withheld": sorted(message.withheld),
        "body": to_json(message.body),
    }


class WebhookAdapter:
    """Delivers received messages of the listed contracts to one agency webhook."""

    def __init__(
        self,
        name: str,
        *,
        url: str,
        secret: bytes,
        contracts: Iterable[str],
        timeout_s: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.name = name
        self.url = url
        self.contracts = frozenset(contracts)
        self._secret = secret
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout_s),
            follow_redirects=False,
            transport=transport,
            headers={"User-Agent": USER_AGENT},
        )

    def status_records(self) -> Iterable[StatusRecord]:
        """None: a webhook only receives."""
        return ()

    async def deliver(self, message: ReceivedMessage) -> bool:
        """POST ``message`` to the webhook; ``False`` if its contract is not listed.

        Raises:
            DeliveryRetry: ``adapter.webhook.unavailable`` (5xx, 408/425/429, timeout, no connection).
            DeliveryRefused: ``adapter.webhook.refused`` (any other non-2xx answer).
        """
        header = message.header
        if str(header.contract) not in self.contracts:
            return False
        body = json.dumps(payload(message), separators=(",", ":"), ensure_ascii=False).encode()
        message_id = str(header.message_id)
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(self._secret, body, message_id),
            MESSAGE_ID_HEADER: message_id,
        }
        try:
            response = await self._client.post(self.url, content=body, headers=headers)
        except httpx.TransportError as exc:
            # The exception's text may quote the URL's query; its type is enough.
            log.warning(
                "adapter.webhook.unavailable", adapter=self.name, message_id=header.message_id, error=type(exc).__name__
            )
            raise DeliveryRetry(
                UNAVAILABLE, f"webhook {self.name}: no answer ({type(exc).__name__}); will try again"
            ) from None
        status = response.status_code
        log.info("adapter.webhook.answered", adapter=self.name, message_id=header.message_id, status=status)
        if 200 <= status < 300:
            return True
        if status >= 500 or status in _RETRY_STATUSES:
            raise DeliveryRetry(UNAVAILABLE, f"webhook {self.name} answered HTTP {status}; will try again")
        raise DeliveryRefused(REFUSED, f"webhook {self.name} refused message {header.message_id} with HTTP {status}")

    async def run(self, outbound: Outbound) -> None:  # noqa: ARG002 - the REST API sends, not this adapter
        """Nothing to send: the agency's system sends through the connector's ``POST /outbound``."""
        return

    async def close(self) -> None:
        """Close the HTTP client."""
        await self._client.aclose()


def factory(name: str, options: Mapping[str, Any], context: AdapterContext) -> WebhookAdapter:
    """Build a webhook adapter from its options (``AdapterFactory``).

    Raises:
        ValidationFailed: ``adapter.webhook.bad_options``, ``adapter.webhook.bad_url``,
            ``adapter.webhook.insecure_url``, ``adapter.webhook.secret_file``.
    """
    settings = parse_options(WebhookOptions, options, code=BAD_OPTIONS, adapter=name)
    parts = urlsplit(settings.url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationFailed(BAD_URL, f"adapter {name}: url must be an http(s) URL with a host")
    if parts.scheme == "http" and parts.hostname not in _LOCAL_HOSTS and not settings.allow_insecure_http:
        raise ValidationFailed(
            INSECURE_URL,
            f"adapter {name}: url must use https (plain http only to localhost, or with allow_insecure_http: true)",
        )
    for contract in settings.contracts:
        if ContractName.pattern.fullmatch(contract) is None:
            raise ValidationFailed(BAD_OPTIONS, f"adapter {name}: contracts holds a name that is not a contract name")
    path = settings.secret_file if settings.secret_file.is_absolute() else context.base_dir / settings.secret_file
    return WebhookAdapter(
        name,
        url=settings.url,
        secret=load_secret(path, adapter=name),
        contracts=settings.contracts,
        timeout_s=settings.timeout_s,
    )
