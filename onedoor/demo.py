"""`onedoor demo` (what `make run` runs): a referral from a police force to a council, then the One Front Door.

Brings up (or reuses) the broker, secured (``onedoor.demo_broker``: SCRAM users, enforced ACLs,
the hub as its own least-privilege user, each agency's connector enrolled through the hub's
``POST /broker/credentials`` as a real agency's would be), serves the hub API, registers two
synthetic agencies, has an admin of each agree a *limited* information-sharing agreement
(police to council: status, not file), runs the router, and has the police connector seal a
referral, cut down to what the agreement allows, that the council connector opens. Prints what
each party sees, so the hub's blindness to the body and the fields withheld are visible. The
police and the council each run on their own synthetic reference system
(``onedoor.demo_reference``: SQLite files under the demo's home, read and written through the
SQL adapter): their status indexes come from it, and
the referral the council receives lands in its ``contacts`` table.

Then, unless ``--no-serve``, it keeps running and serves the One Front Door to try in a browser
(``onedoor.demo_front_door``): the public form at the hub, a triage desk's and a charity's
workbenches, until Ctrl-C (or SIGTERM), when it stops everything in order.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Callable
from typing import Annotated, Any

import httpx
import typer

from connectors.adapters.base import OutboundRequest
from connectors.sdk import Connector, ReceivedMessage
from connectors.sdk.codec import ContractCodecs
from connectors.sdk.directory import PublicDirectory, fetch_directory
from connectors.sdk.policy import SharingPolicy, fetch_policy
from connectors.synthetic import referral
from hub import db
from hub.app import create_app
from hub.audit.service import by_message
from hub.auth.issuer import DevIssuer
from hub.auth.roles import Role
from hub.router import runtime
from onedoor import demo_broker, demo_console, demo_front_door, demo_reference
from onedoor.demo_front_door import FrontDoor
from onedoor.demo_hub import REFERRAL, DemoAgency, agree, agreement, free_port, keys, register, say, server, wait_ready
from onedoor.envelope.keys import AgencyKeyPair
from onedoor.errors import OneDoorError
from onedoor.ids import AgencyId, Purpose
from onedoor.kafka.security import ClientCredentials
from onedoor.logging import configure_logging
from onedoor.settings import Settings
from onedoor.topics import TopicNames

POLICE = DemoAgency(AgencyId("demo-county-police"), "Demo County Police (synthetic)", "police")
COUNCIL = DemoAgency(
    AgencyId("lb-demo-borough-csc"), "London Borough of Demo, Children's Services (synthetic)", "children-services"
)
PURPOSE = Purpose("safeguarding-referral")
AGREEMENT = "isa-demo-police-council"


async def run_demo(
    settings: Settings,
    *,
    serve: bool = False,
    stop: asyncio.Event | None = None,
    on_serving: Callable[[FrontDoor], None] | None = None,
) -> None:
    """Run the exchange; with ``serve``, then serve the One Front Door until ``stop`` is set.

    Args:
        settings: the hub's settings (the demo's home folder, the broker, the API port).
        serve: keep running after the exchange, serving the public form and two workbenches.
        stop: set it to stop serving (default: a new event nobody sets; the CLI sets it on Ctrl-C).
        on_serving: called with the URLs once the front door is being served.
    """
    broker = await demo_broker.start(settings)
    bootstrap, settings = broker.bootstrap, broker.settings

    port = free_port(settings.api.port)
    hub_server = server(create_app(settings, bootstrap=bootstrap), port)
    api_task = asyncio.create_task(hub_server.serve(), name="demo-hub-api")
    base = f"http://127.0.0.1:{port}"
    engine = db.engine_from_settings(settings)
    try:
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            await wait_ready(client)
            say("hub", f"API at {base}  (OpenAPI: {base}/docs)")
            police_keys, council_keys = keys(settings.home, POLICE), keys(settings.home, COUNCIL)
            issuer = DevIssuer.from_settings(settings)
            token = issuer.mint(subject="onedoor-demo", roles=[Role.HUB_OPERATOR])
            say("hub", "minted hub-operator and agency-admin tokens with the development issuer")
            await register(client, token, POLICE, police_keys)
            await register(client, token, COUNCIL, council_keys)
            limited = agreement(
                AGREEMENT,
                "Demo referrals, police to council (synthetic)",
                sender=POLICE,
                recipient=COUNCIL,
                purpose=PURPOSE,
                access_level="limited",  # status, not file
            )
            await agree(client, issuer, limited, (POLICE, COUNCIL))
            police_id, council_id = await broker.enrol(POLICE, base), await broker.enrol(COUNCIL, base)
            if police_id is not None:
                await demo_broker.show_refused(broker, police_id, COUNCIL)
            if serve:
                await demo_front_door.prepare(client, issuer, token, settings.home, COUNCIL)
                console = demo_console.prepare(issuer, settings.home, base, agency=COUNCIL.id)
            directory = await fetch_directory(base, client=client)
            policies = (await fetch_policy(base, client=client), await fetch_policy(base, client=client))
            say("hub", f"connectors fetched GET /directory and GET /policy (version {policies[0].version[:12]})")
        await runtime.ensure_hub_topics(bootstrap, settings)
        router = runtime.build_router(settings, bootstrap, db.session_factory(engine), refresh_interval_s=0.5)
        async with router:
            router_task = asyncio.create_task(router.run(), name="demo-router")
            try:
                await _exchange(
                    settings=settings,
                    bootstrap=bootstrap,
                    directory=directory,
                    police_keys=police_keys,
                    council_keys=council_keys,
                    policies=policies,
                    engine=engine,
                    credentials=(demo_broker.credentials(police_id), demo_broker.credentials(council_id)),
                )
                if serve:
                    demo_console.show(console, agency=COUNCIL.id)
                    await demo_front_door.serve(
                        settings,
                        bootstrap=bootstrap,
                        broker=broker,
                        hub_url=base,
                        stop=stop or asyncio.Event(),
                        on_serving=on_serving,
                    )
            finally:
                router.request_stop()
                await router_task
    finally:
        hub_server.should_exit = True
        await api_task
        engine.dispose()
    say("done", "the broker keeps running for the next run; stop it with `onedoor kafka down`")


async def _exchange(
    *,
    settings: Settings,
    bootstrap: str,
    directory: PublicDirectory,
    police_keys: AgencyKeyPair,
    council_keys: AgencyKeyPair,
    policies: tuple[SharingPolicy, SharingPolicy],
    engine: Any,
    credentials: tuple[ClientCredentials | None, ClientCredentials | None] = (None, None),
) -> None:
    topics = TopicNames(settings.kafka.topic_prefix)
    codecs = ContractCodecs.bundled()
    body = referral(7)

    def connector(agency_keys: AgencyKeyPair, policy: SharingPolicy, who: ClientCredentials | None) -> Connector:
        return Connector(
            keys=agency_keys,
            directory=directory,
            codec=codecs,
            bootstrap_servers=bootstrap,
            topics=topics,
            policy=policy,
            credentials=who,
        )

    # Each agency's own (synthetic) system, plugged in through the SQL adapter: its status index, its inbox.
    police_system = demo_reference.open_system(settings.home, POLICE, "police")
    council_system = demo_reference.open_system(settings.home, COUNCIL, "council")
    demo_reference.show_shared(police_system, council_system)
    async with (
        connector(police_keys, policies[0], credentials[0]) as police,
        connector(council_keys, policies[1], credentials[1]) as council,
        police_system.adapters.running(_nothing_sent),
        council_system.adapters.running(_nothing_sent),
    ):
        [sealed] = police.seal(contract=REFERRAL, version=1, recipients=[COUNCIL.id], purpose=PURPOSE, body=body)
        header, value = sealed.header, sealed.value
        child = body["child"]
        say(
            POLICE.id,
            f"referral about {child['given_name']} {child['family_name']} (synthetic), sealed to {COUNCIL.id}",
        )
        say(POLICE.id, f"under {header.agreement} ('limited'): only {len(sealed.fields)} fields go in the envelope")
        say(POLICE.id, f"envelope {header.message_id}: {len(value)} bytes; body AES-256-GCM, signed Ed25519")
        say("hub view", f"can it see the child's name in the bytes? {child['family_name'].encode() in value}")
        await police.publish(header, value)
        opened = await _received(council, header.message_id)
        if opened is None:
            refused = ", ".join(f"{code} x{n}" for code, n in council.stats.refused.items()) or "nothing refused"
            raise RuntimeError(f"the council did not receive the referral within 60 s ({refused})")
        events = await _audit_of(db.session_factory(engine), header.message_id)
        for event in events:
            say(
                "hub audit",
                f"{event.kind} {event.actor} -> {event.recipients} contract={event.contract} v{event.contract_version}"
                f" agreement={event.agreement_id}",
            )
        latency_ms = (time.time() * 1000) - header.created_at_ms
        say(COUNCIL.id, f"opened {opened.header.message_id} from {opened.header.sender}, signature verified")
        total = len(opened.fields | opened.withheld)
        say(
            COUNCIL.id,
            f"received {len(opened.fields)} of {total} fields, in: {', '.join(_top_level(opened.fields))}",
        )
        say(
            COUNCIL.id,
            f"withheld {len(opened.withheld)}: {', '.join(_roots(opened.withheld))} (and what they hold); "
            f"dropped on receipt: {opened.dropped_count}",
        )
        say(COUNCIL.id, f"concerns: {', '.join(opened.body['concern_categories'])}")
        say(COUNCIL.id, f"summary: {opened.body['concern_summary']}")
        await demo_reference.deliver(council_system, opened)
        say("done", f"sealed, routed and opened in {latency_ms:.0f} ms")


async def _nothing_sent(_request: OutboundRequest) -> None:
    """The demo's reference systems send nothing of their own (the SQL adapter reads no case events)."""


async def _received(council: Connector, message_id: str, timeout_s: float = 60) -> ReceivedMessage | None:
    """The message ``message_id`` from the council's inbox; older ones (intelligence from the desk) are passed over."""
    deadline = time.monotonic() + timeout_s
    while (left := deadline - time.monotonic()) > 0:
        for message in await council.receive(count=1, timeout_s=left):
            if message.header.message_id == message_id:
                return message
    return None


def _top_level(paths: frozenset[str]) -> list[str]:
    """The records and fields at the top of ``paths`` (``child``, not ``child.given_name``), sorted."""
    return sorted({p.partition(".")[0] for p in paths})


def _roots(paths: frozenset[str]) -> list[str]:
    """The paths whose record is not itself in ``paths`` (``child``, not each of its fields), sorted."""
    return sorted(p for p in paths if p.rpartition(".")[0] not in paths)


async def _audit_of(factory: Any, message_id: str) -> list[Any]:
    """The hub's audit rows for a message; the router writes them once the broker has the copies."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with factory() as session:
            events = by_message(session, message_id)
        if events:
            return events
        await asyncio.sleep(0.1)
    return []


NoServe = Annotated[
    bool,
    typer.Option(
        "--no-serve",
        "--once",
        help="Only the police-to-council exchange: print what each party sees and exit; no front door.",
    ),
]


def demo(no_serve: NoServe = False) -> None:
    """Start a broker, the hub and synthetic agencies; send a referral; then serve the front door and console."""
    settings = Settings()
    configure_logging("WARNING")
    # aiokafka logs the group coordinator's first election as an error; it is routine here.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    # kafka-python (the ACL admin) warns on every SCRAM login over SASL_PLAINTEXT: expected on loopback here.
    logging.getLogger("kafka").setLevel(logging.ERROR)
    try:
        asyncio.run(_main(settings, serve=not no_serve))
    except OneDoorError as exc:
        typer.secho(f"{exc.code}: {exc}", err=True, fg=typer.colors.RED)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        raise typer.Exit(130) from None


async def _main(settings: Settings, *, serve: bool) -> None:
    if not serve:
        await run_demo(settings)
        return
    # Ctrl-C (or SIGTERM) ends the serving, and everything then stops in order. Before it serves,
    # and a second time while it stops, Ctrl-C interrupts as usual.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM)

    def stopping() -> None:
        for sig in signals:
            loop.remove_signal_handler(sig)
        stop.set()

    def serving(_door: FrontDoor) -> None:
        for sig in signals:
            loop.add_signal_handler(sig, stopping)

    try:
        await run_demo(settings, serve=True, stop=stop, on_serving=serving)
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)
