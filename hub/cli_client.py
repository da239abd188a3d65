"""What every ``onedoor`` command that talks to the hub API shares: options, the HTTP call, errors.

A command module keeps its own ``client_factory`` (tests replace it) and calls
``call(client_factory, hub, token, method, path, body)``. Errors print the hub's code and
sentence and exit 1; the token is never printed.
"""

from __future__ import annotations

from typing import Annotated, Any

import httpx
import typer

from onedoor.cli_http import ClientFactory, fail, request
from onedoor.settings import ApiSettings

__all__ = ["DEFAULT_HUB", "ClientFactory", "Hub", "Token", "call", "default_client", "fail"]

DEFAULT_HUB = f"http://{ApiSettings().host}:{ApiSettings().port}"
Token = Annotated[str, typer.Option("--token", envvar="ONEDOOR_TOKEN", help="Bearer token for the hub API.")]
Hub = Annotated[str, typer.Option("--hub", envvar="ONEDOOR_HUB_URL", help="The hub API's base URL.")]


def default_client(hub: str, token: str) -> httpx.Client:
    """A client for ``hub`` that sends ``token`` as a bearer token."""
    return httpx.Client(base_url=hub, headers={"Authorization": f"Bearer {token}"}, timeout=10.0)


def call(factory: ClientFactory, hub: str, token: str, method: str, path: str, *, body: object | None = None) -> Any:
    """One request to the hub; its JSON answer, or exit 1 with the hub's code and sentence."""
    if not token:
        raise fail("no token: pass --token or set ONEDOOR_TOKEN (`onedoor admin token` mints one in dev)")
    return request(factory, hub, token, method, path, body=body, service="hub")
