"""The HTTP call every ``onedoor`` command that talks to a OneDoor service makes, and its errors.

Errors print the service's code and sentence and exit 1; a bearer token is never printed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import typer

ClientFactory = Callable[[str, str], httpx.Client]
"""``(base URL, bearer token) -> client``."""


def fail(message: str) -> typer.Exit:
    """Print ``message`` as an error; raise the result to exit 1."""
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(1)


def request(
    factory: ClientFactory,
    base_url: str,
    token: str,
    method: str,
    path: str,
    *,
    body: object | None = None,
    service: str,
) -> Any:
    """One request to ``service`` (``hub``, ``connector``); its JSON answer, or exit 1 with its code and sentence."""
    try:
        with factory(base_url, token) as client:
            response = client.request(method, path, json=body)
    except httpx.HTTPError as exc:
        raise fail(f"cannot reach the {service} at {base_url}: {type(exc).__name__}") from None
    try:
        found = response.json()
    except ValueError:
        found = None
    if response.is_error:
        if isinstance(found, dict) and "code" in found:
            raise fail(f"{found.get('message', '')} ({found['code']}, HTTP {response.status_code})")
        raise fail(f"HTTP {response.status_code} from the {service}")
    return found
