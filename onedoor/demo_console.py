"""The ops and admin console part of `onedoor demo`: a sign-in token for each console role.

The console signs people in with a hub JWT, as a real deployment's identity provider would
issue one. The demo mints one per role with the development issuer, valid for eight hours,
and keeps each in a 0600 file under ``<home>/demo/console/`` (never printed: a token in a
terminal's scrollback is a token in the wrong place). Paste a file's contents into the
console's sign-in page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import typer

from hub.auth.issuer import DevIssuer
from hub.auth.roles import Role
from onedoor.files import write_atomically
from onedoor.ids import AgencyId

TOKEN_TTL = timedelta(hours=8)


@dataclass(frozen=True, slots=True)
class ConsoleAccess:
    """Where the console is and the token file of each role."""

    sign_in_url: str
    tokens: dict[str, Path]


def prepare(issuer: DevIssuer, home: Path, hub_url: str, *, agency: AgencyId) -> ConsoleAccess:
    """Mint a token for each role (the agency admin acts for ``agency``) into ``<home>/demo/console/``."""
    folder = home / "demo" / "console"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    people = {
        Role.OPS_VIEWER: ("demo-ops-viewer", None),
        Role.HUB_OPERATOR: ("demo-hub-operator", None),
        Role.AGENCY_ADMIN: (f"demo-admin@{agency}", agency),
        Role.AUDITOR: ("demo-auditor", None),
    }
    tokens = {}
    for role, (subject, scope) in people.items():
        token = issuer.mint(subject=subject, roles=[role], agency=scope, ttl=TOKEN_TTL)
        path = folder / f"{role.value}.token"
        write_atomically(path, token.encode() + b"\n")
        tokens[role.value] = path
    return ConsoleAccess(f"{hub_url}/console/sign-in", tokens)


def show(access: ConsoleAccess, *, agency: AgencyId) -> None:
    """Print where the console is and which file signs in as which role."""
    typer.echo("")
    typer.secho("The ops and admin console (the hub):", bold=True)
    typer.echo(f"  Sign in at {access.sign_in_url} by pasting the contents of one of these files (valid 8 hours):")
    what = {
        Role.OPS_VIEWER.value: "ops viewer: the live message flow, dead letters (metadata only)",
        Role.HUB_OPERATOR.value: "hub operator: agencies, dead-letter replay, everything read-only besides",
        Role.AGENCY_ADMIN.value: f"agency admin of {agency}: its keys and the agreements it is a party to",
        Role.AUDITOR.value: "auditor: the audit trail and its hash-chain status",
    }
    for role, path in access.tokens.items():
        typer.echo(f"    {path}  ({what[role]})")
