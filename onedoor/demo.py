"""`onedoor demo` (what `make run` runs): a referral from a police force to a council, end to end.

Brings up (or reuses) the broker, serves the hub API, registers two synthetic agencies, has an
admin of each agree a *limited* information-sharing agreement (police to council: status, not
file), runs the router, and has the police connector seal a referral, cut down to what the
agreement allows, that the council connector opens. Prints what each party sees, so the hub's
blindness to the body and the fields withheld are visible.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import typer
import uvicorn

from connectors.sdk import Connector
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
from onedoor.envelope.keys import AgencyKeyPair
from onedoor.ids import AgencyId, ContractName, Purpose
from onedoor.kafka.cluster import ensure_running
from onedoor.logging import configure_logging
from onedoor.settings import Settings
from onedoor.topics import TopicNames


@dataclass(frozen=True)
class DemoAgency:
    """A synthetic agency of the demo."""

    id: AgencyId
    name: str
    kind: str


POLICE = DemoAgency(AgencyId("demo-county-police"), "Demo County Police (synthetic)", "police")
COUNCIL = DemoAgency(
    AgencyId("lb-demo-borough-csc"), "London Borough of Demo, Children's Services (synthetic)", "children-services"
)
REFERRAL = ContractName("onedoor.referral.MasterReferral")
PURPOSE = Purpose("safeguarding-referral")
AGREEMENT = "isa-demo-police-council"


def _say(step: str, text: str) -> None:
    typer.secho(f"[{step}] ", fg=typer.colors.CYAN, bold=True, nl=False)
    typer.echo(text)


def _free_port(preferred: int) -> int:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", preferred))
        except OSError:
            probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _keys(home: Path, agency: DemoAgency) -> AgencyKeyPair:
    """The agency's keys, made once and kept (as its connector would keep them)."""
    folder = home / "demo" / agency.id
    if (folder / "signing.pem").exists():
        return AgencyKeyPair.load(agency.id, folder)
    keys = AgencyKeyPair.generate(agency.id)
    keys.save(folder)
    return keys


async def _register(client: httpx.AsyncClient, token: str, agency: DemoAgency, keys: AgencyKeyPair) -> None:
    from hub.agencies.schemas import b64url  # noqa: PLC0415 - the hub's own encoding of raw keys

    response = await client.post(
        "/agencies",
        headers={"Authorization": f"Bearer {token}"},
        json={
            "id": agency.id,
            "display_name": agency.name,
            "kind": agency.kind,
            "signing_public_key": b64url(keys.signing_public),
            "encryption_public_key": b64url(keys.encryption_public),
        },
    )
    if response.status_code == 409:
        _say("hub", f"{agency.id} was already registered")
        return
    response.raise_for_status()
    _say(
        "hub",
        f"registered {agency.id} ({agency.kind}); it gets topics {TopicNames().outbound(agency.id)!r} and an inbox",
    )


def _agreement_body() -> dict[str, Any]:
    """Police may send the council referrals at the ``limited`` level: status, not file."""
    return {
        "id": AGREEMENT,
        "title": "Demo referrals, police to council (synthetic)",
        "parties": [f"agency:{POLICE.id}", f"agency:{COUNCIL.id}"],
        "contracts": [REFERRAL],
        "purposes": [PURPOSE],
        "provisions": [
            {
                "effect": "permit",
                "senders": [f"agency:{POLICE.id}"],
                "recipients": [f"agency:{COUNCIL.id}"],
                "access_level": "limited",
            }
        ],
        "lawful_basis": {"article6": "UK GDPR Art. 6(1)(e)", "statutes": ["Children Act 2004 s.11"]},
        "retention_days": 365,
        "review_date": (datetime.now(UTC) + timedelta(days=365)).date().isoformat(),
    }


async def _agree(client: httpx.AsyncClient, issuer: DevIssuer) -> None:
    """An admin of each agency proposes / approves the agreement (kept from an earlier run if in force)."""

    def admin(agency: DemoAgency) -> dict[str, str]:
        token = issuer.mint(subject=f"admin@{agency.id}", roles=[Role.AGENCY_ADMIN], agency=agency.id)
        return {"Authorization": f"Bearer {token}"}

    proposed = await client.post("/agreements", json={"agreement": _agreement_body()}, headers=admin(POLICE))
    if proposed.status_code == 409:
        proposed = await client.get(f"/agreements/{AGREEMENT}", headers=admin(POLICE))
    proposed.raise_for_status()
    if proposed.json()["in_force"] is not None:
        _say("hub", f"agreement {AGREEMENT} is in force from an earlier run")
        return
    latest = proposed.json()["versions"][-1]
    _say("hub", f"police admin proposed {AGREEMENT} v{latest['version']}: police -> council, access level 'limited'")
    for agency in (POLICE, COUNCIL):
        approved = await client.post(
            f"/agreements/{AGREEMENT}/versions/{latest['version']}/approve",
            json={"digest": latest["digest"]},
            headers=admin(agency),
        )
        if approved.status_code != 409:  # 409: approved on an earlier run
            approved.raise_for_status()
    _say("hub", f"police and council admins approved it: {AGREEMENT} is active")


async def _wait_ready(client: httpx.AsyncClient) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if (await client.get("/readyz")).status_code == 200:
                return
        await asyncio.sleep(0.2)
    raise RuntimeError("the hub API did not become ready within 60 s")


async def run_demo(settings: Settings) -> None:
    """Run the demo once and return."""
    _say("kafka", "making sure a broker is running (first run resolves the jars from Maven Central)...")
    bootstrap = ensure_running(settings)
    _say("kafka", f"broker at {bootstrap}")

    app = create_app(settings, bootstrap=bootstrap)
    port = _free_port(settings.api.port)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on"))
    api_task = asyncio.create_task(server.serve())
    base = f"http://127.0.0.1:{port}"
    engine = db.engine_from_settings(settings)
    try:
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            await _wait_ready(client)
            _say("hub", f"API at {base}  (OpenAPI: {base}/docs)")
            police_keys, council_keys = _keys(settings.home, POLICE), _keys(settings.home, COUNCIL)
            issuer = DevIssuer.from_settings(settings)
            token = issuer.mint(subject="onedoor-demo", roles=[Role.HUB_OPERATOR])
            _say("hub", "minted hub-operator and agency-admin tokens with the development issuer")
            await _register(client, token, POLICE, police_keys)
            await _register(client, token, COUNCIL, council_keys)
            await _agree(client, issuer)
            directory = await fetch_directory(base, client=client)
            policies = (await fetch_policy(base, client=client), await fetch_policy(base, client=client))
            _say("hub", f"connectors fetched GET /directory and GET /policy (version {policies[0].version[:12]})")
        await runtime.ensure_hub_topics(bootstrap, settings)
        router = runtime.build_router(settings, bootstrap, db.session_factory(engine), refresh_interval_s=0.5)
        async with router:
            router_task = asyncio.create_task(router.run())
            try:
                await _exchange(
                    settings=settings,
                    bootstrap=bootstrap,
                    directory=directory,
                    police_keys=police_keys,
                    council_keys=council_keys,
                    policies=policies,
                    engine=engine,
                )
            finally:
                router.request_stop()
                await router_task
    finally:
        server.should_exit = True
        await api_task
        engine.dispose()
    _say("done", "the broker keeps running for the next run; stop it with `onedoor kafka down`")


async def _exchange(
    *,
    settings: Settings,
    bootstrap: str,
    directory: PublicDirectory,
    police_keys: AgencyKeyPair,
    council_keys: AgencyKeyPair,
    policies: tuple[SharingPolicy, SharingPolicy],
    engine: Any,
) -> None:
    topics = TopicNames(settings.kafka.topic_prefix)
    codecs = ContractCodecs.bundled()
    body = referral(7)

    def connector(keys: AgencyKeyPair, policy: SharingPolicy) -> Connector:
        return Connector(
            keys=keys, directory=directory, codec=codecs, bootstrap_servers=bootstrap, topics=topics, policy=policy
        )

    async with connector(police_keys, policies[0]) as police, connector(council_keys, policies[1]) as council:
        [sealed] = police.seal(contract=REFERRAL, version=1, recipients=[COUNCIL.id], purpose=PURPOSE, body=body)
        header, value = sealed.header, sealed.value
        child = body["child"]
        _say(
            POLICE.id,
            f"referral about {child['given_name']} {child['family_name']} (synthetic), sealed to {COUNCIL.id}",
        )
        _say(POLICE.id, f"under {header.agreement} ('limited'): only {len(sealed.fields)} fields go in the envelope")
        _say(POLICE.id, f"envelope {header.message_id}: {len(value)} bytes; body AES-256-GCM, signed Ed25519")
        _say("hub view", f"can it see the child's name in the bytes? {child['family_name'].encode() in value}")
        await police.publish(header, value)
        received = await council.receive(count=1, timeout_s=60)
        if not received:
            refused = ", ".join(f"{code} x{n}" for code, n in council.stats.refused.items()) or "nothing refused"
            raise RuntimeError(f"the council did not receive the referral within 60 s ({refused})")
        opened = received[0]
        events = await _audit_of(db.session_factory(engine), header.message_id)
        for event in events:
            _say(
                "hub audit",
                f"{event.kind} {event.actor} -> {event.recipients} contract={event.contract} v{event.contract_version}"
                f" agreement={event.agreement_id}",
            )
        latency_ms = (time.time() * 1000) - header.created_at_ms
        _say(COUNCIL.id, f"opened {opened.header.message_id} from {opened.header.sender}, signature verified")
        total = len(opened.fields | opened.withheld)
        _say(
            COUNCIL.id,
            f"received {len(opened.fields)} of {total} fields, in: {', '.join(_top_level(opened.fields))}",
        )
        _say(
            COUNCIL.id,
            f"withheld {len(opened.withheld)}: {', '.join(_roots(opened.withheld))} (and what they hold); "
            f"dropped on receipt: {opened.dropped_count}",
        )
        _say(COUNCIL.id, f"concerns: {', '.join(opened.body['concern_categories'])}")
        _say(COUNCIL.id, f"summary: {opened.body['concern_summary']}")
        _say("done", f"sealed, routed and opened in {latency_ms:.0f} ms")


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


def demo() -> None:
    """Start a broker, the hub and two synthetic agencies; send a referral from one to the other."""
    settings = Settings()
    configure_logging("WARNING")
    # aiokafka logs the group coordinator's first election as an error; it is routine here.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    asyncio.run(run_demo(settings))
