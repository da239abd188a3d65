"""``onedoor connector serve|records-demo|token|user`` and ``onedoor status-check``.

``serve`` runs one agency's connector with its local REST API (settings from
``ONEDOOR_CONNECTOR_*``, see ``connectors.agent.config``). ``status-check`` is the officer's
command: it asks a running connector's REST API and prints the readable answer. Errors print
their code and sentence and exit 1; a token is never printed.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Final

import httpx
import typer
import uvicorn

from connectors.agent.api import create_app
from connectors.agent.check import ACL_NOTE, all_ok, run_checks
from connectors.agent.config import ENV_PREFIX, ConnectorConfig, load_config, load_config_file, read_token_file
from connectors.agent.enrol import describe as describe_enrolment
from connectors.agent.enrol import enrol
from connectors.agent.init import init_command
from connectors.agent.options import ConnectorFile, OptionalConnectorFile
from connectors.agent.rotate import revoke_key_command, rotate_keys_command
from connectors.agent.runtime import running_connector
from connectors.outbox.cli import parked_command
from connectors.status.index import write_records
from connectors.status.synthetic import known_victim, synthetic_records
from connectors.workbench.cli import app as user_app
from connectors.workbench.cli import audit as workbench_audit
from onedoor.cli_http import fail, request
from onedoor.envelope.keys import create_private_file
from onedoor.errors import OneDoorError
from onedoor.logging import configure_logging, get_logger

log = get_logger(__name__)

DEFAULT_CONNECTOR: Final = "http://127.0.0.1:8480"
TIMEOUT_S: Final = 30.0
"""Longer than any sensible hard deadline: the connector answers by the soft deadline."""

app = typer.Typer(
    name="connector",
    help=(
        "Run an agency's connector with its local REST API and workbench; workbench accounts and "
        "audit trail; synthetic status records and API tokens."
    ),
    no_args_is_help=True,
)

app.add_typer(user_app, name="user")
app.command(name="audit")(workbench_audit)
app.command(name="init")(init_command)
app.command(name="rotate-keys")(rotate_keys_command)
app.command(name="revoke-key")(revoke_key_command)
app.command(name="parked")(parked_command)

ClientFactory = Callable[[str, str], httpx.Client]
"""``(connector URL, bearer token) -> client``."""


def default_client(base_url: str, token: str) -> httpx.Client:
    """A client for the connector's REST API that sends ``token`` as a bearer token."""
    return httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=TIMEOUT_S)


client_factory: ClientFactory = default_client
"""How ``status-check`` reaches the connector; tests replace it."""


@app.command()
def serve(
    config_file: OptionalConnectorFile = None,
) -> None:
    """Run the connector (inbox, status checks, triage desk, workbench) and its REST API until interrupted."""
    configure_logging("INFO")
    try:
        config = load_config() if config_file is None else load_config_file(config_file)
        asyncio.run(_serve(config))
    except OneDoorError as exc:
        raise fail(f"{exc.message} ({exc.code})") from None


async def _serve(config: ConnectorConfig) -> None:
    async with running_connector(config) as process:
        api = create_app(config, process)
        server = uvicorn.Server(
            uvicorn.Config(
                api, host=config.api.host, port=config.api.port, log_config=None, access_log=False, lifespan="off"
            )
        )
        log.info("connector.api_listening", host=config.api.host, port=config.api.port)
        await server.serve()


@app.command(name="check")
def check(
    config_file: ConnectorFile,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list of {check, ok, code, message}.")] = False,
) -> None:
    """Check the connector's set-up (config, keys, hub, identity, clock, directory, broker); exit 1 on any failure."""
    results = asyncio.run(run_checks(config_file))
    if as_json:
        typer.echo(json.dumps([result.as_dict() for result in results], indent=2))
    else:
        for result in results:
            typer.echo(result.line())
        if not any(result.check == "acls" for result in results):
            typer.echo(ACL_NOTE)
    if not all_ok(results):
        raise typer.Exit(1)


@app.command(name="enrol")
def enrol_command(
    config_file: ConnectorFile,
    print_only: Annotated[
        bool, typer.Option("--print-only", help="Do not edit the config file; print the two lines to add.")
    ] = False,
    ca_file: Annotated[
        Path | None,
        typer.Option("--ca-file", help="The broker's CA certificate (PEM), if the hub does not hand it out."),
    ] = None,
) -> None:
    """Fetch (or rotate) this agency's broker identity from the hub; keep its password 0600; set the config."""
    try:
        result = asyncio.run(enrol(config_file, update_config=not print_only, ca_file=ca_file))
    except OneDoorError as exc:
        raise fail(f"{exc.message} ({exc.code})") from None
    for line in describe_enrolment(result):
        typer.echo(line)


@app.command(name="records-demo")
def records_demo(
    out: Annotated[Path, typer.Argument(metavar="OUT.json", help="Where to write the records (overwritten).")],
    n: Annotated[int, typer.Option("--n", min=0, help="How many synthetic records.")] = 1000,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed writes the same records.")] = 0,
    victim: Annotated[
        bool, typer.Option("--known-victim", help="Add the fixed synthetic known victim (Jonathan Testwood-Fakeley).")
    ] = False,
) -> None:
    """Write obviously fake status records for ONEDOOR_CONNECTOR_RECORDS_PATH."""
    records = synthetic_records(n, seed=seed)
    if victim:
        records.append(known_victim())
    write_records(out, records)
    typer.echo(f"wrote {len(records)} synthetic records to {out}")


@app.command()
def token(
    out: Annotated[
        Path, typer.Argument(metavar="FILE", help="Where to write the token (mode 0600; never overwritten).")
    ],
) -> None:
    """Write a fresh random API token for ONEDOOR_CONNECTOR_API__TOKEN_FILE."""
    try:
        create_private_file(out, secrets.token_urlsafe(32).encode() + b"\n")
    except FileExistsError:
        raise fail(f"{out} exists; a token file is never overwritten") from None
    typer.echo(f"wrote a new API token to {out} (mode 0600)")


Given = Annotated[str, typer.Option("--given", help="Given name(s).")]
Family = Annotated[str, typer.Option("--family", help="Family name.")]
Dob = Annotated[str, typer.Option("--dob", help="Date of birth: YYYY-MM-DD or DD/MM/YYYY.")]


def status_check(
    *,
    given: Given,
    family: Family,
    dob: Dob,
    postcode: Annotated[str | None, typer.Option("--postcode", help="UK postcode or district (optional).")] = None,
    connector: Annotated[
        str, typer.Option("--connector", envvar="ONEDOOR_CONNECTOR_URL", help="The connector's REST API.")
    ] = DEFAULT_CONNECTOR,
    token_value: Annotated[
        str | None,
        typer.Option(
            "--token", envvar=f"{ENV_PREFIX}API__TOKEN", help="The connector's API token.", show_default=False
        ),
    ] = None,
    token_file: Annotated[
        Path | None,
        typer.Option("--token-file", envvar=f"{ENV_PREFIX}API__TOKEN_FILE", help="A file (0600) holding the token."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the connector's JSON answer.")] = False,
) -> None:
    """Is this young person known to any agency that may tell you, and how? Asks your force's connector."""
    bearer = _token(token_value, token_file)
    body = {"given_name": given, "family_name": family, "date_of_birth": dob, "postcode": postcode}
    answer = _post(connector, bearer, "/status-checks", body)
    if as_json:
        typer.echo(json.dumps(answer, indent=2))
        return
    typer.echo(answer.get("text", ""))


def _token(value: str | None, path: Path | None) -> str:
    if value:
        return value.strip()
    if path is not None:
        try:
            return read_token_file(path)
        except OneDoorError as exc:
            raise fail(f"{exc.message} ({exc.code})") from None
    raise fail(f"no token: pass --token-file or --token, or set {ENV_PREFIX}API__TOKEN_FILE")


def _post(base_url: str, bearer: str, path: str, body: object) -> Any:
    """POST to the connector; its JSON answer, or exit 1 with its code and sentence."""
    found = request(client_factory, base_url, bearer, "POST", path, body=body, service="connector")
    if not isinstance(found, dict):
        raise fail("the connector's answer is not JSON")
    return found
