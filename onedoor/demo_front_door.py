"""The One Front Door part of `onedoor demo`: the public form, a triage desk and a charity, to try in a browser.

``prepare`` registers a triage desk and an outreach charity (kept between runs) with two
agreements in force, full access: the desk may send the charity intervention referrals
(``safeguarding-referral``) and the council intelligence (``intelligence-sharing``).
``serve`` then runs both agencies' connector processes, as ``onedoor connector serve`` would,
each with its workbench on its own port, and waits until it is told to stop.

A neighbour's referral is sealed in their browser to the desk's intake key (the desk registers
it at the hub when it starts), read from the hub's intake topic by the desk's connector only,
triaged there by the triage officer, and sent on to the charity through the hub, still sealed.

The demo is plain HTTP on 127.0.0.1, so the workbench cookies are not marked ``Secure``. Each
workbench account gets a random password on the first run, kept (mode 0600) next to the
agency's keys under ``<home>/demo/<agency>/``.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import httpx
import typer
import uvicorn

from connectors.agent.api import create_app
from connectors.agent.config import ConnectorConfig, load_config
from connectors.agent.enrol import Enrolled
from connectors.agent.runtime import running_connector
from connectors.identity import MatchingKey
from connectors.triage.referral import INTELLIGENCE_SHARING, SAFEGUARDING_REFERRAL
from connectors.workbench.store import WorkbenchStore
from connectors.workbench.users import Role, Staff
from hub.auth.issuer import DevIssuer
from onedoor.demo_broker import DemoBroker
from onedoor.demo_hub import (
    DemoAgency,
    agency_folder,
    agree,
    agreement,
    free_port,
    keys,
    register,
    say,
    server,
    started,
)
from onedoor.envelope.intake import IntakeKeyPair
from onedoor.envelope.keys import create_private_file
from onedoor.errors import ValidationFailed
from onedoor.ids import AgencyId
from onedoor.settings import Settings

DESK = DemoAgency(AgencyId("demo-front-door-triage"), "Demo Front Door triage desk (synthetic)", "triage")
CHARITY = DemoAgency(AgencyId("demo-outreach-charity"), "Demo Outreach, a youth charity (synthetic)", "charity")
DESK_TO_CHARITY: Final = "isa-demo-front-door-charity"
DESK_TO_COUNCIL: Final = "isa-demo-front-door-council"
PASSWORD_FILE: Final = "workbench-password"  # noqa: S105 - a file name
ACCOUNT_CHANGED: Final = "demo.workbench_account"


@dataclass(frozen=True)
class Desk:
    """One agency of the front door: its workbench account and preferred port."""

    agency: DemoAgency
    username: str
    role: Role
    port: int


DESKS: Final = (
    Desk(DESK, "triage.officer", Role.TRIAGE_OFFICER, 8481),
    Desk(CHARITY, "charity.worker", Role.CASE_WORKER, 8482),
)


@dataclass(frozen=True)
class Workbench:
    """A running workbench and its account."""

    agency: DemoAgency
    url: str
    """The connector's base URL; the workbench is at ``url + '/workbench'``."""
    username: str
    password: str


@dataclass(frozen=True)
class FrontDoor:
    """Where to try the front door."""

    form_url: str
    desk: Workbench
    charity: Workbench


async def prepare(client: httpx.AsyncClient, issuer: DevIssuer, token: str, home: Path, council: DemoAgency) -> None:
    """Register the desk and the charity, and agree what the desk may send each (kept between runs)."""
    for desk in DESKS:
        await register(client, token, desk.agency, keys(home, desk.agency))
    to_charity = agreement(
        DESK_TO_CHARITY,
        "Demo front door: intervention referrals, triage desk to charity (synthetic)",
        sender=DESK,
        recipient=CHARITY,
        purpose=SAFEGUARDING_REFERRAL,
        access_level="full",
    )
    to_council = agreement(
        DESK_TO_COUNCIL,
        "Demo front door: intelligence, triage desk to council (synthetic)",
        sender=DESK,
        recipient=council,
        purpose=INTELLIGENCE_SHARING,
        access_level="full",
    )
    await agree(client, issuer, to_charity, (DESK, CHARITY))
    await agree(client, issuer, to_council, (DESK, council))


async def serve(
    settings: Settings,
    *,
    bootstrap: str,
    hub_url: str,
    stop: asyncio.Event,
    on_serving: Callable[[FrontDoor], None] | None = None,
    broker: DemoBroker | None = None,
) -> None:
    """Run the desk's and the charity's connectors with their workbenches until ``stop`` is set.

    On a secured ``broker`` each connector is enrolled first (``DemoBroker.enrol``) and uses its own identity.
    """
    async with AsyncExitStack() as stack:
        benches = []
        for desk in DESKS:
            enrolled = None if broker is None else await broker.enrol(desk.agency, hub_url)
            config = connector_config(settings, desk, bootstrap=bootstrap, hub_url=hub_url, enrolled=enrolled)
            password = account(config, desk)
            process = await stack.enter_async_context(running_connector(config))
            served = server(create_app(config, process), config.api.port, lifespan="off")
            task = asyncio.create_task(served.serve(), name=f"demo-workbench-{desk.agency.id}")
            stack.push_async_callback(_stopped, served, task)
            await started(served, task, f"the workbench of {desk.agency.id}")
            benches.append(Workbench(desk.agency, config.api_url, desk.username, password))
            say(desk.agency.id, f"connector running; workbench at {config.api_url}/workbench")
        door = FrontDoor(f"{hub_url}/refer", benches[0], benches[1])
        show(door)
        if on_serving is not None:
            on_serving(door)
        await stop.wait()
        say("stop", "stopping the workbenches, connectors, router and hub...")


async def _stopped(served: uvicorn.Server, task: asyncio.Task[None]) -> None:
    served.should_exit = True
    await task


def connector_config(
    settings: Settings, desk: Desk, *, bootstrap: str, hub_url: str, enrolled: Enrolled | None = None
) -> ConnectorConfig:
    """The agency's connector, its files next to its demo keys; the triage desk reads public referrals.

    With ``enrolled``, it connects to the broker as that identity (SCRAM); without, PLAINTEXT.

    Raises:
        ValidationFailed: ``connector.invalid_config``.
    """
    folder = agency_folder(settings.home, desk.agency)
    if not (folder / "matching.key").exists():
        MatchingKey.generate().save(folder / "matching.key")
    intake: dict[str, Path] = {}
    if desk.agency.kind == "triage":
        intake_key = folder / "intake.pem"
        if not intake_key.exists():
            IntakeKeyPair.generate().save(intake_key)
        intake = {"intake_key_path": intake_key}
    return load_config(
        agency=desk.agency.id,
        keys_dir=folder,
        hub_url=hub_url,
        matching_key_path=folder / "matching.key",
        disclosure_log_path=folder / "disclosures.sqlite3",
        policy_refresh_seconds=10.0,
        kafka={
            "bootstrap_servers": bootstrap,
            "topic_prefix": settings.kafka.topic_prefix,
            "intake_replication_factor": settings.kafka.replication_factor,
            **({} if enrolled is None else {"username": enrolled.username, "password_file": enrolled.password_file}),
            **({} if enrolled is None or enrolled.ca_file is None else {"ca_file": enrolled.ca_file}),
        },
        # The REST API is not part of the demo: a fresh token each run, never shown.
        api={"host": "127.0.0.1", "port": free_port(desk.port), "token": secrets.token_urlsafe(32)},
        workbench={"secure_cookies": False},  # plain HTTP on 127.0.0.1
        **intake,
    )


def account(config: ConnectorConfig, desk: Desk) -> str:
    """The workbench account's password: made with the account on the first run, read back after.

    Raises:
        ValidationFailed: ``demo.workbench_account`` when the account exists but its password file is gone.
    """
    path = config.data_directory / PASSWORD_FILE
    store = WorkbenchStore(config.workbench_database_url()).create()
    try:
        staff = Staff(store)
        if path.exists():
            password = path.read_text(encoding="utf-8").strip()
            if staff.get(desk.username) is None:
                staff.add(desk.username, desk.role.value, password)
            return password
        if staff.get(desk.username) is not None:
            raise ValidationFailed(
                ACCOUNT_CHANGED,
                f"{desk.username} exists at {desk.agency.id} but {path} is gone; "
                f"remove {config.data_directory} to start that agency afresh",
            )
        password = secrets.token_urlsafe(12)
        staff.add(desk.username, desk.role.value, password)
        create_private_file(path, password.encode() + b"\n")
        return password
    finally:
        store.close()


def show(door: FrontDoor) -> None:
    """Print where to go and what to try."""
    typer.echo("")
    typer.secho("The One Front Door is open. Try it in a browser (synthetic people only, please):", bold=True)
    typer.echo(f"  Public referral form (the hub):   {door.form_url}")
    for bench, what in ((door.desk, "Triage desk workbench:"), (door.charity, "Charity workbench:")):
        typer.echo(f"  {what:<33} {bench.url}/workbench")
        typer.echo(f"  {'':<33} sign in as {bench.username}, password {bench.password}")
    typer.echo("")
    typer.secho("Try it:", bold=True)
    typer.echo(
        f"  1. Open {door.form_url} and refer a child as a neighbour would (make one up: 'Testy McFakeface').\n"
        "     The form is sealed in your browser: the hub only ever holds ciphertext."
    )
    typer.echo(
        f"  2. Sign in to {door.desk.url}/workbench as {door.desk.username}: the referral is in the inbox,\n"
        "     opened in the triage desk's own connector (refresh after a few seconds if it is not there yet)."
    )
    typer.echo(
        f"  3. Open it, choose 'Intervention referral to a service', pick {CHARITY.name}\n     and record the decision."
    )
    typer.echo(
        f"  4. Sign in to {door.charity.url}/workbench as {door.charity.username}: the referral is in its inbox."
    )
    typer.echo("")
    typer.secho("Press Ctrl-C to stop.", bold=True)
