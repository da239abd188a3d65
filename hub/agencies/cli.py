"""``onedoor agency`` commands for the hub operator: approve a registration request, revoke a key, suspend.

Each command is one call to the hub API with a hub-operator bearer token from ``--token`` or
``ONEDOOR_TOKEN``. The request file is what ``onedoor connector init`` wrote; it is sent as it
is, and the hub checks its signature and age. Errors print the hub's code and sentence and exit 1.

The request's self-signature does not prove who made it (a whole new self-signed request could be
swapped in on the way), so ``approve`` shows the key ids the request carries and requires
``--expect-signing-key k1_...``: the signing key id ``onedoor connector init`` printed, read to the
operator over a known phone number. A request with another key is refused here
(``registration.signing_key_unexpected``) and never sent.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from hub.agencies.request import SIGNING_KEY_UNEXPECTED, request_key_ids
from hub.cli_client import DEFAULT_HUB, ClientFactory, Hub, Token, call, default_client, fail

app = typer.Typer(
    name="agency",
    help="The agency registry, for the hub operator: approve a registration request, revoke a key, suspend.",
    no_args_is_help=True,
)

client_factory: ClientFactory = default_client
"""How commands reach the hub; tests replace it."""


def _read_request(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise fail(f"cannot read {path}: {exc.strerror}") from None
    except ValueError:
        raise fail(f"{path} is not JSON: is it the registration-request.json `onedoor connector init` wrote?") from None


@app.command()
def approve(
    request: Annotated[Path, typer.Argument(metavar="REQUEST.json", help="The agency's registration request.")],
    expect_signing_key: Annotated[
        str,
        typer.Option(
            "--expect-signing-key",
            metavar="KEY_ID",
            help="The signing key id `onedoor connector init` printed (k1_...), confirmed with the agency by phone.",
        ),
    ],
    token: Token = "",
    hub: Hub = DEFAULT_HUB,
) -> None:
    """Approve an agency's signed registration request: the hub registers it with the keys it holds.

    The request must carry the signing key ``--expect-signing-key`` names (the agency reads it to you
    by phone from what ``onedoor connector init`` printed); otherwise nothing is sent.
    """
    document = _read_request(request)
    carried = request_key_ids(document)
    if carried is not None:
        # Computed from the public keys themselves, not from fields a forger could write anything into.
        named = document.get("agency_id") if isinstance(document, dict) else None
        typer.echo(f"request for {named}: signing key {carried[0]}, encryption key {carried[1]}")
        if carried[0] != expect_signing_key.strip():
            raise fail(
                f"the request's signing key is {carried[0]}, not {expect_signing_key.strip()}: it is not the request "
                "the agency made (or the key id was misheard). Nothing was sent; confirm the key id with the agency "
                f"by phone ({SIGNING_KEY_UNEXPECTED})"
            )
    agency = call(client_factory, hub, token, "POST", "/agencies/registrations", body=document)
    typer.echo(f"registered {agency['id']} ({agency['kind']}): {agency['display_name']}")
    typer.echo(f"  signing key     {agency['current_signing_key_id']}")
    typer.echo(f"  encryption key  {agency['current_encryption_key_id']}")


@app.command(name="revoke-key")
def revoke_key(
    agency: Annotated[str, typer.Argument(metavar="AGENCY_ID", help="The agency whose key it is.")],
    key_id: Annotated[str, typer.Argument(metavar="KEY_ID", help="The key to revoke (k1_...).")],
    token: Token = "",
    hub: Hub = DEFAULT_HUB,
) -> None:
    """Revoke an agency's key at once: the hub and every connector refuse it from now on."""
    key = call(client_factory, hub, token, "POST", f"/agencies/{agency}/keys/{key_id}/revoke")
    typer.echo(f"revoked {key['key_id']} ({key['use']}) of {agency}")


@app.command()
def suspend(
    agency: Annotated[str, typer.Argument(metavar="AGENCY_ID", help="The agency to suspend.")],
    token: Token = "",
    hub: Hub = DEFAULT_HUB,
) -> None:
    """Suspend an agency: the hub stops routing for it and withdraws its broker login and ACLs."""
    found = call(client_factory, hub, token, "POST", f"/agencies/{agency}/suspend")
    typer.echo(f"{found['id']} is {found['status']}: no routing; its broker identity is being withdrawn")
    typer.echo("  (see the audit's broker.withdrawn row; the hub retries if the broker does not answer)")


@app.command()
def reactivate(
    agency: Annotated[str, typer.Argument(metavar="AGENCY_ID", help="The suspended agency to reactivate.")],
    token: Token = "",
    hub: Hub = DEFAULT_HUB,
) -> None:
    """Reactivate a suspended agency; its connector must then enrol again for a broker identity."""
    found = call(client_factory, hub, token, "POST", f"/agencies/{agency}/reactivate")
    typer.echo(f"{found['id']} is {found['status']}: the hub routes for it again")
    typer.echo("  its broker login is not restored: its connector must run `onedoor connector enrol` again")
