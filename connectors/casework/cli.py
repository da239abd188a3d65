"""``onedoor network join|leave|show``, ``onedoor alert send`` and ``onedoor transfer offer|accept|status``.

Casework from a shell, as the connector. Every command takes ``--connector CONFIG``, the env file
``onedoor connector serve`` runs with (``connectors.agent.config.load_config_file``). The command
loads the agency's keys as the agent does (``connectors.agent.runtime.load_keys``) and calls the
hub as the agency (``HubClient``). ``alert`` and ``transfer offer|accept`` also fetch the directory
and sharing policy and send through a send-only ``Connector`` (it never joins the inbox's consumer
group, so a running agent keeps reading the inbox). Errors print their code and sentence and exit
1; no key, token or message body is ever printed.

``network join`` is what an agency runs when it opens a case on a child (``--lead`` if it leads
the case); until then ``alert send`` and ``transfer offer`` are refused (``network.not_a_member``).
``network leave`` is for when it closes the case.

A handover pack given to ``transfer offer`` waits, mode 0600, in ``transfers/`` in the connector's
data directory (``handover_directory``), the one place the running connector's ``HandoverDesk``
reads, to be sent once a candidate accepts. ``transfer status`` shows where a transfer stands at
the hub and what the desk did (handed over, or refused and why).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Annotated, Any, Final, TypeVar

import typer
from aiokafka import AIOKafkaProducer

from connectors.agent.config import ConnectorConfig, load_config_file
from connectors.agent.options import ConnectorFile
from connectors.agent.runtime import NO_BROKER, load_keys
from connectors.casework.alerts import alert_body, send_alert
from connectors.casework.fanout import Skipped
from connectors.casework.network import NetworkClient, NetworkView, TransferRecord
from connectors.casework.transfers import DirectoryCaseFiles, accept_transfer, handover_directory, offer_transfer
from connectors.sdk.codec import ContractCodecs
from connectors.sdk.connector import Connector
from connectors.sdk.directory import fetch_directory
from connectors.sdk.hubauth import HubCaller, HubClient
from connectors.sdk.policy import fetch_policy
from onedoor.cli_http import fail
from onedoor.errors import OneDoorError, ValidationFailed
from onedoor.ids import AgencyId, SubjectToken, TransferId
from onedoor.kafka.security import aiokafka_options
from onedoor.topics import TopicNames

INVALID_FILE: Final = "casework.invalid_file"
MAX_FILE_BYTES: Final = 1024 * 1024
NOT_A_MEMBER: Final = "network.not_a_member"

alert_app = typer.Typer(name="alert", help="Alert a child's professional network.", no_args_is_help=True)
network_app = typer.Typer(
    name="network", help="Join or leave a child's professional network, or see it.", no_args_is_help=True
)
transfer_app = typer.Typer(
    name="transfer", help="Offer a child's case to another area, or accept one.", no_args_is_help=True
)

Subject = Annotated[str, typer.Option("--subject", help="The child's subject token (st1_...).")]
AsJson = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]

T = TypeVar("T")
Casework = Callable[[ConnectorConfig], AbstractAsyncContextManager[tuple[Connector, HubCaller]]]


class _SendOnlyConnector(Connector):
    """The agency's connector with its producer only: the running agent keeps the inbox to itself."""

    async def start(self) -> None:
        """Start the producer (the agent's settings); no consumer."""
        producer = AIOKafkaProducer(
            bootstrap_servers=self._bootstrap,
            acks="all",
            enable_idempotence=True,
            linger_ms=2,
            max_request_size=8 * 1024 * 1024,
            client_id=f"onedoor-cli-{self.agency}",
            **aiokafka_options(self.credentials),
        )
        await producer.start()
        self._producer = producer


@asynccontextmanager
async def connected(config: ConnectorConfig) -> AsyncIterator[tuple[Connector, HubCaller]]:
    """The agency's send-only connector and hub client, from its config, as ``running_connector`` builds them.

    Raises:
        ValidationFailed: ``connector.no_broker``, unreadable keys.
        Unavailable: ``hub.unreachable``.
    """
    servers = config.kafka.bootstrap_servers
    if not servers:
        raise ValidationFailed(NO_BROKER, "no broker: set ONEDOOR_CONNECTOR_KAFKA__BOOTSTRAP_SERVERS")
    keys, _ = load_keys(config)
    directory = await fetch_directory(config.hub_url)
    policy = await fetch_policy(config.hub_url)
    connector = _SendOnlyConnector(
        keys=keys,
        directory=directory,
        codec=ContractCodecs.bundled(),
        bootstrap_servers=servers,
        topics=TopicNames(config.kafka.topic_prefix),
        policy=policy,
        credentials=config.kafka.credentials(),
    )
    async with HubClient(config.hub_url, keys) as hub, connector:
        yield connector, hub


casework: Casework = connected
"""How a command reaches the connector and the hub; tests replace it."""


@asynccontextmanager
async def hub_only(config: ConnectorConfig) -> AsyncIterator[HubCaller]:
    """The agency's hub client alone (no broker needed), from its config."""
    keys, _ = load_keys(config)
    async with HubClient(config.hub_url, keys) as hub:
        yield hub


reach_hub: Callable[[ConnectorConfig], AbstractAsyncContextManager[HubCaller]] = hub_only
"""How ``transfer status`` reaches the hub; tests replace it."""


def _failed(exc: OneDoorError) -> typer.Exit:
    hint = ""
    if exc.code == NOT_A_MEMBER:
        hint = "\n  this agency must join the child's network first: onedoor network join --subject st1_... [--lead]"
    return fail(f"{exc.message} ({exc.code}){hint}")


def _run(path: Path, action: Callable[[ConnectorConfig, Connector, HubCaller], Awaitable[T]]) -> T:
    async def go(config: ConnectorConfig) -> T:
        async with casework(config) as (connector, hub):
            return await action(config, connector, hub)

    try:
        return asyncio.run(go(load_config_file(path)))
    except OneDoorError as exc:
        raise _failed(exc) from None


def _on_hub(path: Path, action: Callable[[NetworkClient], Awaitable[T]]) -> T:
    async def go(config: ConnectorConfig) -> T:
        async with reach_hub(config) as hub:
            return await action(NetworkClient(hub))

    try:
        return asyncio.run(go(load_config_file(path)))
    except OneDoorError as exc:
        raise _failed(exc) from None


def _read(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise fail(f"{path} is larger than {MAX_FILE_BYTES // 1024} KiB ({INVALID_FILE})")
        found = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise fail(f"cannot read {path}: {exc.strerror} ({INVALID_FILE})") from None
    except (ValueError, UnicodeDecodeError):
        raise fail(f"{path} is not a JSON document ({INVALID_FILE})") from None
    if not isinstance(found, dict):
        raise fail(f"{path} must hold a JSON object ({INVALID_FILE})")
    return found


def _parsed(kind: type[SubjectToken | AgencyId | TransferId], raw: str) -> Any:
    try:
        return kind(raw)
    except OneDoorError as exc:
        # Not echoed: a name typed where a token belongs must not reach the terminal's scrollback or logs.
        raise fail(f"not a valid {kind.kind}: {kind.pattern.pattern} ({exc.code})") from None


def _skipped(skipped: dict[AgencyId, Skipped]) -> list[str]:
    return [f"  skipped {agency}: {s.why} ({', '.join(s.codes)})" for agency, s in sorted(skipped.items())]


@network_app.command("join")
def join(
    *,
    connector: ConnectorFile,
    subject: Subject,
    lead: Annotated[bool, typer.Option("--lead", help="This agency leads the case (the network's lead).")] = False,
    as_json: AsJson = False,
) -> None:
    """This agency opened a case on the child: join its network (safe to run again)."""
    token = _parsed(SubjectToken, subject)
    member = _on_hub(connector, lambda network: network.subscribe(token, lead=lead))
    if as_json:
        typer.echo(json.dumps({"subject_token": str(token), "agency_id": str(member.agency), "role": member.role}))
        return
    typer.echo(f"{member.agency} joined the network of {token} as {member.role}")


@network_app.command("leave")
def leave(*, connector: ConnectorFile, subject: Subject) -> None:
    """This agency closed its case on the child: leave its network (if it led, the network has no lead)."""
    token = _parsed(SubjectToken, subject)
    _on_hub(connector, lambda network: network.unsubscribe(token))
    typer.echo(f"left the network of {token}")


def _lead_first(view: NetworkView) -> list[tuple[str, str, str | None]]:
    ordered = sorted(view.members, key=lambda m: m.role != "lead")
    return [(str(m.agency), m.role, None if m.since is None else m.since.isoformat()) for m in ordered]


@network_app.command("show")
def show(*, connector: ConnectorFile, subject: Subject, as_json: AsJson = False) -> None:
    """The child's network as the hub shows this agency: itself and the agencies it has an agreement with."""
    token = _parsed(SubjectToken, subject)
    view = _on_hub(connector, lambda network: network.network(token))
    members = _lead_first(view)
    if as_json:
        shown = [{"agency_id": a, "role": r, "since": since} for a, r, since in members]
        typer.echo(json.dumps({"subject_token": str(token), "members": shown, "withheld": view.withheld}, indent=2))
        return
    lines = [f"network of {token}: {len(members)} agencies shown"]
    if view.lead is None:
        lines.append("  no lead agency shown")
    lines += [f"  {role:<6} {agency}" + (f" (since {since})" if since else "") for agency, role, since in members]
    if view.withheld:
        lines.append(
            f"  {view.withheld} more {'agency is' if view.withheld == 1 else 'agencies are'} in this network but not"
            " shown: you have no agreement in force with them (the hub gives a count only)"
        )
    typer.echo("\n".join(lines))


@alert_app.command("send")
def send(
    *,
    connector: ConnectorFile,
    subject: Subject,
    kind: Annotated[str, typer.Option("--kind", help="MISSING_EPISODE, FOUND_OUT_OF_AREA, ARREST, ...")],
    file: Annotated[Path | None, typer.Option("--file", help="A JSON object of the alert's other fields.")] = None,
    as_json: AsJson = False,
) -> None:
    """Alert every other agency in the child's network that an agreement lets receive it."""
    token = _parsed(SubjectToken, subject)
    fields = _read(file)
    clash = sorted({"alert_id", "kind", "subject_token", "reported_at"} & set(fields))
    if clash:
        raise fail(f"set by the command, not the file: {', '.join(clash)} ({INVALID_FILE})")
    try:
        body = alert_body(subject_token=token, kind=kind, **fields)
    except OneDoorError as exc:
        raise fail(f"{exc.message} ({exc.code})") from None
    report = _run(connector, lambda _c, conn, hub: send_alert(conn, hub, subject_token=token, body=body))
    if as_json:
        sent = {str(a): sorted(f) for a, f in report.sent.items()}
        skipped = {str(a): list(s.codes) for a, s in report.skipped.items()}
        typer.echo(json.dumps({"alert_id": report.alert_id, "sent": sent, "skipped": skipped}, indent=2))
        return
    lines = [f"alert {report.alert_id} sent to {len(report.sent)} of {len(report.network.members) - 1} agencies"]
    if report.network.withheld:
        lines.append(f"  {report.network.withheld} more in the network share no agreement with you (not shown)")
    lines += [f"  sent {agency}: {len(fields)} fields" for agency, fields in sorted(report.sent.items())]
    typer.echo("\n".join(lines + _skipped(dict(report.skipped))))


@transfer_app.command("offer")
def offer(
    *,
    connector: ConnectorFile,
    subject: Subject,
    to: Annotated[list[str], typer.Option("--to", help="A candidate agency in the new area (repeat for several).")],
    file: Annotated[
        Path, typer.Option("--file", help='JSON: {"offer": {area, lead_professional_role, ...}, "handover": {...}}.')
    ],
    as_json: AsJson = False,
) -> None:
    """Offer the child's case to candidate agencies (minimal information); the first to accept gets the pack.

    The pack waits in transfers/ in the connector's data directory, where the running connector hands it over.
    """
    token = _parsed(SubjectToken, subject)
    candidates = [_parsed(AgencyId, c) for c in to]
    document = _read(file)
    minimal = document.get("offer", document)
    handover = document.get("handover")
    if not isinstance(minimal, dict) or (handover is not None and not isinstance(handover, dict)):
        raise fail(f"offer and handover must be JSON objects ({INVALID_FILE})")

    async def act(config: ConnectorConfig, conn: Connector, hub: HubCaller) -> Any:
        files = DirectoryCaseFiles(handover_directory(config.data_directory))
        return await offer_transfer(
            conn,
            hub,
            subject_token=token,
            candidates=candidates,
            offer=minimal,
            handover=handover,
            case_files=files if handover is not None else None,
        )

    report = _run(connector, act)
    transfer_id = str(report.transfer.transfer_id)
    if as_json:
        told = sorted(str(a) for a in report.sent)
        typer.echo(json.dumps({"transfer_id": transfer_id, "told": told, "skipped": sorted(map(str, report.skipped))}))
        return
    lines = [f"transfer {transfer_id} offered to {', '.join(map(str, report.transfer.candidates))}"]
    lines += [f"  told {agency}" for agency in sorted(report.sent)]
    typer.echo("\n".join(lines + _skipped(dict(report.skipped))))


@transfer_app.command("accept")
def accept(
    connector: ConnectorFile,
    transfer_id: Annotated[str, typer.Argument(help="The transfer id from the offer.")],
    team: Annotated[str | None, typer.Option("--team", help="The team taking the case on.")] = None,
    as_json: AsJson = False,
) -> None:
    """Accept a transfer: this agency leads the child's network and asks the previous lead for the pack."""
    ident = _parsed(TransferId, transfer_id)
    report = _run(connector, lambda _c, conn, hub: accept_transfer(conn, hub, ident, accepting_team=team))
    acceptance = report.acceptance
    network = [str(m.agency) for m in acceptance.network]
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "transfer_id": str(ident),
                    "subject_token": str(acceptance.transfer.subject_token),
                    "previous_lead": str(acceptance.previous_lead),
                    "network": network,
                    "told_previous_lead": report.told_previous_lead,
                }
            )
        )
        return
    lines = [
        f"transfer {ident} accepted: you now lead the network of {acceptance.transfer.subject_token}",
        f"  previous lead: {acceptance.previous_lead}"
        + ("" if report.told_previous_lead else " (NOT told: no agreement covers it; call them)"),
        f"  network: {', '.join(network)}",
    ]
    typer.echo("\n".join(lines + _skipped(dict(report.skipped))))


@transfer_app.command("status")
def status(
    connector: ConnectorFile,
    transfer_id: Annotated[str, typer.Argument(help="The transfer id from the offer.")],
    as_json: AsJson = False,
) -> None:
    """Where a transfer stands at the hub, and what this connector's handover desk did about it.

    Reads transfers/ in the connector's data directory, the directory the running connector's desk uses.
    """
    ident = _parsed(TransferId, transfer_id)
    config = load_config_file(connector)
    files = DirectoryCaseFiles(handover_directory(config.data_directory))
    noted = files.noted(ident)
    waiting = files.load(ident) is not None

    async def ask() -> TransferRecord:
        async with reach_hub(config) as hub:
            return await NetworkClient(hub).transfer(ident)

    record: TransferRecord | None = None
    problem: str | None = None
    try:
        record = asyncio.run(ask())
    except OneDoorError as exc:
        problem = f"{exc.message} ({exc.code})"
    if record is None and noted is None and not waiting:
        raise fail(problem or f"nothing known of transfer {ident}")
    if as_json:
        hub = None if record is None else {"status": record.status, "accepted_by": record.accepted_by}
        document = {"transfer_id": str(ident), "hub": hub, "hub_error": problem, "pack_waiting": waiting, "desk": noted}
        typer.echo(json.dumps(document, indent=2))
        return
    lines = [f"transfer {ident}"]
    if record is not None:
        lines.append(f"  at the hub: {record.status}" + (f" by {record.accepted_by}" if record.accepted_by else ""))
    else:
        lines.append(f"  at the hub: unknown: {problem}")
    lines.append(f"  handover pack: {'waiting here' if waiting else 'not here'}")
    if noted is not None and noted.get("state") == "handed_over":
        lines.append(f"  handed over to {noted.get('acceptor')}; told {len(noted.get('told') or [])} agencies")
    elif noted is not None:
        lines.append(f"  REFUSED by the handover desk: {noted.get('message')} ({noted.get('code')})")
    typer.echo("\n".join(lines))
