"""Put the console on the hub's app: ``install(app, settings)`` (one line in ``hub.app.create_app``)."""

from __future__ import annotations

from fastapi import FastAPI

from hub.console import dashboard, shell, signin
from onedoor.settings import Settings


def install(app: FastAPI, settings: Settings) -> None:
    """The console's state, error pages, sign-in, dashboard and static files (needs ``app.state.hub_key``)."""
    secret = app.state.hub_key.private.private_bytes_raw()
    shell.install(app, settings, secret, routers=(signin.router, dashboard.router))
