"""Command-line options every connector-side command shares."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

CONNECTOR_OPTION = typer.Option(
    "--connector",
    envvar="ONEDOOR_CONNECTOR_CONFIG",
    help="The connector's config (env file of ONEDOOR_CONNECTOR_*).",
)

ConnectorFile = Annotated[Path, CONNECTOR_OPTION]
"""``--connector CONFIG`` (or ``ONEDOOR_CONNECTOR_CONFIG``): the env file ``onedoor connector serve`` runs with."""

OptionalConnectorFile = Annotated[Path | None, CONNECTOR_OPTION]
"""The same, for a command that falls back to ``ONEDOOR_CONNECTOR_*`` variables without a file."""
