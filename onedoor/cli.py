"""The ``onedoor`` command line."""

from __future__ import annotations

import typer

from connectors.agent.cli import app as connector_app
from connectors.agent.cli import status_check
from connectors.casework.cli import alert_app, network_app, transfer_app
from connectors.identity.cli import app as identity_app
from connectors.reference.cli import app as reference_app
from connectors.triage.cli import referral_app, triage_app
from hub.agencies.cli import app as agency_app
from hub.agreements.cli import app as agreement_app
from hub.audit.cli import app as audit_app
from hub.auth.cli import app as admin_app
from hub.cli import app as hub_app
from hub.consents.cli import app as consent_app
from hub.console.cli import app as console_app
from onedoor.demo import demo
from onedoor.kafka.cli import app as kafka_app

app = typer.Typer(
    name="onedoor",
    help="OneDoor: federated, end-to-end-encrypted information sharing for safeguarding young people.",
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(kafka_app, name="kafka")
app.add_typer(hub_app, name="hub")
app.add_typer(admin_app, name="admin")
app.add_typer(audit_app, name="audit")
app.add_typer(agency_app, name="agency")
app.add_typer(agreement_app, name="agreement")
app.add_typer(consent_app, name="consent")
app.add_typer(console_app, name="console")
app.add_typer(identity_app, name="identity")
app.add_typer(connector_app, name="connector")
app.add_typer(referral_app, name="referral")
app.add_typer(triage_app, name="triage")
app.add_typer(alert_app, name="alert")
app.add_typer(transfer_app, name="transfer")
app.add_typer(network_app, name="network")
app.add_typer(reference_app, name="reference")
app.command(name="demo")(demo)
app.command(name="status-check")(status_check)


def main() -> None:
    """Entry point of the console script."""
    app()
