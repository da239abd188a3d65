"""What every ``onedoor`` command that talks to the hub API shares: options, the HTTP call, errors.

A command module keeps its own ``client_factory`` (tests replace it) and calls
``call(client_factory, hub, token, method, path, body)``. Errors print the hub's code and
sentence and exit 1; the token is never printed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import httpx
import typer

from onedoor.settings import ApiSettings

DEFAULT_HUB = f"http://{ApiSettings().host}:{ApiSettings().port}"
Token = Annotated[str, typer.Option("--token", envvar="ONEDOOR_TOKEN", help="Bearer token for the hub API.")]
Hub = Annotated[str, typer.Option("--hub", envvar="ONEDOOR_HUB_URL", help="The hub API's base URL.")]

ClientFactory = Callable[[str, str], httpx.Client]
"""``(hub URL, bearer token) -> client``."""


def default_client(hub: str, token: str) -> httpx.Client:
    """A client for ``hub`` that sends ``token`` as a bearer token."""
    return httpx.Client(base_url=hub, headers={"Authorization": f"Bearer {token}"}, timeout=10.0)


def fail(message: str) -> typer.Exit:
    """Print ``message`` as an error; raise the result to exit 1."""
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(1)


def call(factory: ClientFactory, hub: str, token: str, method: str, path: str, *, body: object | None = None) -> Any:
    """One request to the hub; its JSON answer, or exit 1 with the hub's code and sentence."""
    if not token:
        raise fail("no token: pass --token or set ONEDOOR_TOKEN (`onedoor admin token` mints one in dev)")
    try:
        with factory(hub, token) as client:
            response = client.request(method, path, json=body)
    except httpx.HTTPError as exc:
        raise fail(f"cannot reach the hub at {hub}: {type(exc).__name__}") from None
    try:
        found = response.json()
    except ValueError:
        found = None
    if response.is_error:
        if isinstance(found, dict) and "code" in found:
            raise fail(f"{found.get('message', '')} ({found['code']}, HTTP {response.status_code})")
        raise fail(f"HTTP {response.status_code} from the hub")
    return found
