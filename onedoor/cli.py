"""The ``onedoor`` command line."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="onedoor",
    help="OneDoor: federated, end-to-end-encrypted information sharing for safeguarding young people.",
    no_args_is_help=True,
    add_completion=False,
)


def _register() -> None:
    # Sub-apps are imported here so `onedoor --help` lists exactly what is built.
    from onedoor.kafka.cli import app as kafka_app

    app.add_typer(kafka_app, name="kafka")


def main() -> None:
    """Entry point of the console script."""
    _register()
    app()
