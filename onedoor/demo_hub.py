"""What every part of `onedoor demo` does at the hub: keys, registrations and agreements, kept between runs.

Each step is idempotent, so a second run reuses the keys under the demo's home folder, the
agencies already registered and the agreements already in force. Also the small pieces the
demo's parts share: how it prints a step, picks a port and serves an app.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import httpx
import typer
import uvicorn

from hub.auth.issuer import DevIssuer
from hub.auth.roles import Role
from onedoor.envelope.keys import AgencyKeyPair
from onedoor.ids import AgencyId, ContractName, Purpose
from onedoor.topics import TopicNames

REFERRAL = ContractName("onedoor.referral.MasterReferral")


@dataclass(frozen=True)
class DemoAgency:
    """A synthetic agency of the demo."""

    id: AgencyId
    name: str
    kind: str


def say(step: str, text: str) -> None:
    """Print one step of the demo: ``[step] text``."""
    typer.secho(f"[{step}] ", fg=typer.colors.CYAN, bold=True, nl=False)
    typer.echo(text)


def free_port(preferred: int) -> int:
    """``preferred`` if it is free on 127.0.0.1, else any free port."""
    with socket.socket() as probe:
        # As uvicorn binds: a port only in TIME_WAIT from the last run is free to use again.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", preferred))
        except OSError:
            probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class QuietServer(uvicorn.Server):
    """A uvicorn server that leaves Ctrl-C to the demo, which stops every server itself and in order."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # uvicorn would take SIGINT for itself (and only the last server started would see it).
        yield


def server(app: Any, port: int, *, lifespan: Literal["on", "off"] = "on") -> QuietServer:
    """An app served on 127.0.0.1:``port``, without access logs."""
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False, lifespan=lifespan)
    return QuietServer(config)


async def started(served: uvicorn.Server, task: asyncio.Task[None], what: str, timeout_s: float = 60) -> None:
    """Wait until ``served`` listens.

    Raises:
        RuntimeError: when it stopped or did not start within ``timeout_s``.
    """
    deadline = time.monotonic() + timeout_s
    while not served.started:
        if task.done() or time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start on port {served.config.port}")
        await asyncio.sleep(0.05)


def agency_folder(home: Path, agency: DemoAgency) -> Path:
    """Where the demo keeps an agency's files (keys, and its connector's files)."""
    return home / "demo" / agency.id


def keys(home: Path, agency: DemoAgency) -> AgencyKeyPair:
    """The agency's keys, made once and kept (as its connector would keep them)."""
    folder = agency_folder(home, agency)
    if (folder / "signing.pem").exists():
        return AgencyKeyPair.load(agency.id, folder)
    made = AgencyKeyPair.generate(agency.id)
    made.save(folder)
    return made


async def register(client: httpx.AsyncClient, token: str, agency: DemoAgency, agency_keys: AgencyKeyPair) -> None:
    """Register ``agency`` with its public keys (kept from an earlier run if it is registered)."""
    from hub.agencies.schemas import b64url  # noqa: PLC0415 - the hub's own encoding of raw keys

    response = await client.post(
        "/agencies",
        headers={"Authorization": f"Bearer {token}"},
        json={
            "id": agency.id,
            "display_name": agency.name,
            "kind": agency.kind,
            "signing_public_key": b64url(agency_keys.signing_public),
            "encryption_public_key": b64url(agency_keys.encryption_public),
        },
    )
    if response.status_code == 409:
        say("hub", f"{agency.id} was already registered")
        return
    response.raise_for_status()
    say(
        "hub",
        f"registered {agency.id} ({agency.kind}); it gets topics {TopicNames().outbound(agency.id)!r} and an inbox",
    )


def agreement(
    ident: str,
    title: str,
    *,
    sender: DemoAgency,
    recipient: DemoAgency,
    purpose: Purpose,
    access_level: str,
) -> dict[str, Any]:
    """``sender`` may send ``recipient`` referrals for ``purpose`` at ``access_level`` (public task)."""
    basis: dict[str, Any] = {"article6": "UK GDPR Art. 6(1)(e)", "statutes": ["Children Act 2004 s.11"]}
    if access_level == "full":  # the whole file includes special category data
        basis |= {"article9": "UK GDPR Art. 9(2)(g)", "conditions": ["DPA 2018 Sch. 1 para 18"]}
    return {
        "id": ident,
        "title": title,
        "parties": [f"agency:{sender.id}", f"agency:{recipient.id}"],
        "contracts": [REFERRAL],
        "purposes": [purpose],
        "provisions": [
            {
                "effect": "permit",
                "senders": [f"agency:{sender.id}"],
                "recipients": [f"agency:{recipient.id}"],
                "access_level": access_level,
            }
        ],
        "lawful_basis": basis,
        "retention_days": 365,
        "review_date": (datetime.now(UTC) + timedelta(days=365)).date().isoformat(),
    }


async def agree(
    client: httpx.AsyncClient, issuer: DevIssuer, body: dict[str, Any], parties: tuple[DemoAgency, DemoAgency]
) -> None:
    """The first party's admin proposes ``body``, both admins approve it (kept from an earlier run if in force)."""

    def admin(agency: DemoAgency) -> dict[str, str]:
        token = issuer.mint(subject=f"admin@{agency.id}", roles=[Role.AGENCY_ADMIN], agency=agency.id)
        return {"Authorization": f"Bearer {token}"}

    ident = body["id"]
    proposer = parties[0]
    proposed = await client.post("/agreements", json={"agreement": body}, headers=admin(proposer))
    if proposed.status_code == 409:
        proposed = await client.get(f"/agreements/{ident}", headers=admin(proposer))
    proposed.raise_for_status()
    if proposed.json()["in_force"] is not None:
        say("hub", f"agreement {ident} is in force from an earlier run")
        return
    latest = proposed.json()["versions"][-1]
    level = body["provisions"][0]["access_level"]
    say("hub", f"{proposer.id} admin proposed {ident} v{latest['version']}: -> {parties[1].id}, access level {level!r}")
    for agency in parties:
        approved = await client.post(
            f"/agreements/{ident}/versions/{latest['version']}/approve",
            json={"digest": latest["digest"]},
            headers=admin(agency),
        )
        if approved.status_code != 409:  # 409: approved on an earlier run
            approved.raise_for_status()
    say("hub", f"the admins of {parties[0].id} and {parties[1].id} approved it: {ident} is active")


async def wait_ready(client: httpx.AsyncClient) -> None:
    """Wait until the hub API answers ``/readyz``.

    Raises:
        RuntimeError: when it is not ready within 60 s.
    """
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if (await client.get("/readyz")).status_code == 200:
                return
        await asyncio.sleep(0.2)
    raise RuntimeError("the hub API did not become ready within 60 s")
