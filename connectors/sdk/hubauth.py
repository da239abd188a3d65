"""Calling the hub API as an agency: each request carries a fresh assertion signed with the agency's key.

The hub (``hub.auth.agency``) admits an assertion once, for at most ``ASSERTION_TTL_S``; so
``HubClient`` signs a new one for every request. No shared secret exists to leak, and a
revoked signing key stops working at the hub at once.
"""

from __future__ import annotations

import time
import uuid
from typing import Any, Final, Protocol

import httpx
import jwt

from onedoor.envelope.keys import AgencyKeyPair
from onedoor.errors import Conflict, Forbidden, NotFound, OneDoorError, Unauthenticated, Unavailable, ValidationFailed

ASSERTION_AUDIENCE: Final = "onedoor-hub"
"""Must match ``hub.auth.agency.ASSERTION_AUDIENCE``."""
ASSERTION_TTL_S: Final = 60

_BY_STATUS: Final[dict[int, type[OneDoorError]]] = {
    401: Unauthenticated,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    413: ValidationFailed,
    422: ValidationFailed,
}


def agency_assertion(keys: AgencyKeyPair, *, now: float | None = None, ttl_s: int = ASSERTION_TTL_S) -> str:
    """A one-use JWT proving the caller holds ``keys``' signing key."""
    issued = int(time.time() if now is None else now)
    claims = {
        "iss": str(keys.agency),
        "sub": str(keys.agency),
        "aud": ASSERTION_AUDIENCE,
        "iat": issued,
        "exp": issued + ttl_s,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, keys.signing, algorithm="EdDSA", headers={"kid": str(keys.signing_key_id)})


def error_from(response: httpx.Response) -> OneDoorError:
    """The OneDoor error a hub error response stands for, with the hub's code and sentence."""
    try:
        body = response.json()
    except ValueError:
        body = {}
    code = body.get("code") if isinstance(body, dict) else None
    message = body.get("message") if isinstance(body, dict) else None
    kind = _BY_STATUS.get(response.status_code, Unavailable)
    return kind(str(code or f"hub.http_{response.status_code}"), str(message or response.reason_phrase))


class HubCaller(Protocol):
    """Authenticated calls to the hub as this agency (``HubClient``, or a fake in tests)."""

    async def call(self, method: str, path: str, json: Any = None) -> Any:
        """One call; the hub's JSON answer (``None`` for 204)."""
        ...


class HubClient:
    """An agency's authenticated HTTP client for the hub API. Use ``async with`` or call ``aclose``."""

    def __init__(
        self,
        base_url: str,
        keys: AgencyKeyPair,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout_s: float = 10.0,
    ) -> None:
        self.base_url = base_url
        self._keys = keys
        self._http = httpx.AsyncClient(base_url=base_url, transport=transport, timeout=timeout_s)

    async def __aenter__(self) -> HubClient:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def call(self, method: str, path: str, json: Any = None) -> Any:
        """One request as this agency; the JSON answer (``None`` for 204).

        Raises:
            Unavailable: ``hub.unreachable`` when the hub does not answer.
            OneDoorError: the hub's refusal, with its ``code`` and sentence (401, 403, 404, 409, 422...).
        """
        headers = {"Authorization": f"Bearer {agency_assertion(self._keys)}"}
        try:
            response = await self._http.request(method, path, json=json, headers=headers)
        except httpx.HTTPError as exc:
            why = f"cannot reach the hub at {self.base_url}: {type(exc).__name__}"
            raise Unavailable("hub.unreachable", why) from None
        if response.is_success:
            return None if response.status_code == 204 or not response.content else response.json()
        raise error_from(response)
