"""``onedoor agreement`` commands: propose, approve, suspend, revoke, show, list and explain over the hub API.

Each command is one or two HTTP calls with a bearer token from ``--token`` or ``ONEDOOR_TOKEN``
(``onedoor admin token`` mints one in development). Output is for people; errors print the
hub's code and sentence and exit 1.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import typer
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.agencies.schemas import b64url
from hub.agreements.signing import sign_approval
from hub.cli_client import DEFAULT_HUB, ClientFactory, Hub, Token, call, default_client, fail

app = typer.Typer(
    name="agreement",
    help="Information-sharing agreements: propose, approve, revoke, show, list, explain.",
    no_args_is_help=True,
)


client_factory: ClientFactory = default_client
"""How commands reach the hub; tests replace it."""


def _call(hub: str, token: str, method: str, path: str, body: object | None = None) -> Any:
    return call(client_factory, hub, token, method, path, body=body)


def _waiting(version: dict[str, Any]) -> list[str]:
    approved = {a["agency"] for a in version["approvals"]}
    return [s for s in version["signatories"] if s not in approved]


def _line(version: dict[str, Any]) -> str:
    return f"version {version['version']}: {version['state']} (digest {version['digest'][:12]})"


def _load_signing_key(path: Path, passphrase: str | None) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), passphrase.encode() if passphrase else None)
    except (OSError, ValueError, TypeError) as exc:
        raise fail(f"cannot load the signing key {path}: {type(exc).__name__}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise fail(f"{path} is not an Ed25519 private key")
    return key


@app.command()
def propose(
    file: Annotated[
        Path, typer.Argument(help="The agreement as JSON (an AgreementBody).", exists=True, dir_okay=False)
    ],
    token: Token = "",
    hub: Hub = DEFAULT_HUB,
    amends: Annotated[
        int | None, typer.Option(help="The latest version this amends; unset for a new agreement.")
    ] = None,
) -> None:
    """Propose a new agreement, or an amendment of its latest version (--amends N)."""
    try:
        body = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise fail(f"cannot read {file}: {exc}") from None
    out = _call(hub, token, "POST", "/agreements", {"agreement": body, "amends": amends})
    latest = out["versions"][-1]
    typer.echo(f"proposed {out['id']} {_line(latest)}")
    typer.echo(f"waiting for approval by: {', '.join(_waiting(latest))}")


@app.command()
def approve(
    agreement_id: Annotated[str, typer.Argument(metavar="ID")],
    *,
    version: Annotated[int, typer.Option("--version", help="The version you have read and approve.")],
    token: Token = "",
    hub: Hub = DEFAULT_HUB,
    signing_key: Annotated[
        Path | None,
        typer.Option(
            help="Your agency's Ed25519 signing key (PKCS#8 PEM) to sign the approval; without it the approval "
            "is recorded, not signed.",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    key_passphrase: Annotated[
        str | None,
        typer.Option(envvar="ONEDOOR_KEY_PASSPHRASE", help="Passphrase of --signing-key, if it is encrypted."),
    ] = None,
) -> None:
    """Approve a version for your agency; the hub refuses it if the version changed since."""
    key = _load_signing_key(signing_key, key_passphrase) if signing_key is not None else None
    found = _call(hub, token, "GET", f"/agreements/{agreement_id}")
    target = next((v for v in found["versions"] if v["version"] == version), None)
    if target is None:
        raise fail(f"{agreement_id} has no version {version}")
    body = {"digest": target["digest"]}
    if key is not None:
        body["signature"] = b64url(sign_approval(key, agreement_id, version, target["digest"]))
    out = _call(hub, token, "POST", f"/agreements/{agreement_id}/versions/{version}/approve", body)
    after = next(v for v in out["versions"] if v["version"] == version)
    signed = " (signed)" if key is not None else ""
    typer.echo(f"approved {agreement_id} {_line(after)}{signed}")
    if after["state"] == "proposed":
        typer.echo(f"still waiting for: {', '.join(_waiting(after))}")


@app.command()
def suspend(
    agreement_id: Annotated[str, typer.Argument(metavar="ID")], token: Token = "", hub: Hub = DEFAULT_HUB
) -> None:
    """Suspend the version in force: nothing is shared under it until an approved amendment replaces it."""
    out = _call(hub, token, "POST", f"/agreements/{agreement_id}/suspend")
    typer.echo(f"suspended {agreement_id} version {out['in_force']}")


@app.command()
def revoke(
    agreement_id: Annotated[str, typer.Argument(metavar="ID")], token: Token = "", hub: Hub = DEFAULT_HUB
) -> None:
    """Revoke the agreement for good: its version in force and any pending version."""
    out = _call(hub, token, "POST", f"/agreements/{agreement_id}/revoke")
    revoked = [str(v["version"]) for v in out["versions"] if v["state"] == "revoked"]
    typer.echo(f"revoked {agreement_id} (version {', '.join(revoked)})")


@app.command()
def show(agreement_id: Annotated[str, typer.Argument(metavar="ID")], token: Token = "", hub: Hub = DEFAULT_HUB) -> None:
    """Every version of one agreement, with its approvals."""
    out = _call(hub, token, "GET", f"/agreements/{agreement_id}")
    in_force = out["in_force"]
    typer.echo(f"{out['id']}  (in force: {'version ' + str(in_force) if in_force else 'none'})")
    for version in out["versions"]:
        body = version["body"]
        typer.echo("")
        typer.echo(f"  {_line(version)}")
        typer.echo(f"    title:      {body['title'] or '-'}")
        typer.echo(f"    parties:    {', '.join(body['parties'])}")
        typer.echo(f"    contracts:  {', '.join(body['contracts'])}")
        typer.echo(f"    purposes:   {', '.join(body['purposes'])}")
        basis = body["lawful_basis"]
        cited = [basis["article6"], *([basis["article9"]] if basis["article9"] else []), *basis["conditions"]]
        typer.echo(f"    basis:      {'; '.join([*cited, *basis['statutes']])}")
        typer.echo(f"    retention:  {body['retention_days']} days; review by {body['review_date']}")
        typer.echo(f"    proposed:   {version['proposed_at']} by {version['proposed_by']}")
        for approval in version["approvals"]:
            typer.echo(f"    approved:   {approval['approved_at']} by {approval['approver']} for {approval['agency']}")
        if version["state"] == "proposed":
            typer.echo(f"    waiting for: {', '.join(_waiting(version))}")


@app.command(name="list")
def list_agreements(token: Token = "", hub: Hub = DEFAULT_HUB) -> None:
    """The agreements you may see, one per line."""
    items = _call(hub, token, "GET", "/agreements")["items"]
    if not items:
        typer.echo("no agreements")
        return
    width = max(len(i["id"]) for i in items)
    typer.echo(f"{'ID':<{width}}  LATEST  STATE       IN FORCE  PARTIES")
    for item in items:
        in_force = str(item["in_force"] or "-")
        typer.echo(
            f"{item['id']:<{width}}  {item['latest']:<6}  {item['latest_state']:<10}  {in_force:<8}  "
            f"{', '.join(item['parties'])}"
        )


@app.command()
def explain(
    message_id: Annotated[str | None, typer.Argument(metavar="MESSAGE_ID", help="The message's id.")] = None,
    request: Annotated[
        str | None, typer.Option("--request", metavar="REQUEST_ID", help="An API request's X-Request-ID instead.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the hub's whole answer as JSON.")] = False,
    token: Token = "",
    hub: Hub = DEFAULT_HUB,
) -> None:
    """Why a message was delivered or refused, or (--request) why an API request was permitted or denied."""
    if (message_id is None) == (request is None):
        raise fail("name a MESSAGE_ID or --request REQUEST_ID (one of them)")
    # Both ids reach the URL path: quote them, the hub checks their form.
    path = (
        f"/explain/requests/{quote(request, safe='')}"
        if request is not None
        else f"/explain/messages/{quote(message_id or '', safe='')}"
    )
    out = _call(hub, token, "GET", path)
    if as_json:
        typer.echo(json.dumps(out, indent=2, ensure_ascii=False))
        return
    for decision in out["decisions"]:
        typer.echo(decision["line"])
