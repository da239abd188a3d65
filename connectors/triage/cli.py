"""``onedoor referral submit`` and ``onedoor triage list|show|decide``: the connector's REST API from a shell.

Every command takes ``--connector CONFIG``: the connector's env file (``ONEDOOR_CONNECTOR_*``
lines), which says where its REST API listens and where its bearer token is. Errors print
their code and sentence and exit 1; the token is never printed.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from connectors.agent import cli as agent_cli
from connectors.agent.config import ConnectorConfig, load_config_file
from connectors.agent.options import ConnectorFile
from connectors.triage.referral import parse_referral
from onedoor.cli_http import fail, request
from onedoor.errors import OneDoorError

referral_app = typer.Typer(
    name="referral", help="Send referrals through your agency's connector.", no_args_is_help=True
)
triage_app = typer.Typer(
    name="triage", help="The triage desk's inbox and decisions, through its connector.", no_args_is_help=True
)


def _config(path: Path) -> tuple[ConnectorConfig, str]:
    try:
        config = load_config_file(path)
        return config, config.api_token()
    except OneDoorError as exc:
        raise fail(f"{exc.message} ({exc.code})") from None


def _call(path: Path, method: str, route: str, body: object | None = None) -> Any:
    config, token = _config(path)
    return request(agent_cli.client_factory, config.api_url, token, method, route, body=body, service="connector")


@referral_app.command()
def submit(
    connector: ConnectorFile,
    file: Annotated[Path, typer.Option("--file", help="The referral as MasterReferral JSON.")],
) -> None:
    """Check a referral against the MasterReferral contract and send it to the triage desk."""
    try:
        document = json.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise fail(f"cannot read {file}: {exc.strerror}") from None
    except ValueError:
        raise fail(f"{file} is not JSON (referral.invalid)") from None
    try:
        parsed = parse_referral(document)
    except OneDoorError as exc:
        raise fail(f"{exc.message} ({exc.code})") from None
    # The same id on the connector's side as checked here.
    document = {**document, "referral_id": parsed["referral_id"]}
    sent = _call(connector, "POST", "/referrals", document)
    typer.echo(f"sent referral {sent['referral_id']} to {sent['recipient']}: message id {sent['message_id']}")


def _when(ms: int | None) -> str:
    return "" if ms is None else datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


@triage_app.command(name="list")
def list_referrals(
    connector: ConnectorFile,
    as_json: Annotated[bool, typer.Option("--json", help="Print the connector's JSON answer.")] = False,
) -> None:
    """Referrals in the inbox, newest first, with their status and time to triage."""
    found = _call(connector, "GET", "/triage/referrals")
    if as_json:
        typer.echo(json.dumps(found, indent=2))
        return
    items = found.get("items", [])
    if not items:
        typer.echo("no referrals")
        return
    for item in items:
        took = item.get("time_to_triage_ms")
        waited = "" if took is None else f"  triaged in {took / 1000:.0f} s"
        typer.echo(
            f"{item['item_id']}  {_when(item['received_at_ms'])}  {item['status']:<8}  "
            f"{item.get('urgency') or '':<22}  {item['title']}{waited}"
        )


@triage_app.command()
def show(connector: ConnectorFile, item_id: Annotated[str, typer.Argument(help="The referral's item id.")]) -> None:
    """One referral, decrypted in the connector, as JSON."""
    typer.echo(json.dumps(_call(connector, "GET", f"/triage/referrals/{item_id}"), indent=2, ensure_ascii=False))


@triage_app.command()
def decide(  # noqa: PLR0917 - one parameter per command-line option
    connector: ConnectorFile,
    item_id: Annotated[str, typer.Argument(help="The referral's item id.")],
    decision: Annotated[str, typer.Option("--decision", help="intervention, intelligence or no-further-action.")],
    service: Annotated[str | None, typer.Option("--service", help="The agency to send it to.")] = None,
    reason: Annotated[str | None, typer.Option("--reason", help="Why (required for no-further-action).")] = None,
    by: Annotated[str, typer.Option("--by", help="Who decided, for the record.")] = "cli",
) -> None:
    """Record a triage decision; the onward message goes out under the agreements."""
    body = {"decision": decision, "service": service, "reason": reason, "by": by}
    done = _call(connector, "POST", f"/triage/referrals/{item_id}/decision", body)
    target = f" to {done['decision_target']}" if done.get("decision_target") else ""
    took = done.get("time_to_triage_ms") or 0
    typer.echo(f"recorded {done['decision']}{target} (time to triage {took / 1000:.0f} s)")
