"""``onedoor consent`` commands: record, override, review and show a young person's consent over the hub API.

Each command is one HTTP call with a bearer token from ``--token`` or ``ONEDOOR_TOKEN``
(``onedoor admin token --role agency-admin --agency ID`` mints one in development). The young
person is named by subject token only. Output is for people; errors print the hub's code and
sentence and exit 1.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer

from hub.cli_client import DEFAULT_HUB, ClientFactory, Hub, Token, call, default_client, fail
from hub.consents.enums import NotSoughtGround, OverrideGround, RecordedStatus
from onedoor.ids import SubjectToken

app = typer.Typer(
    name="consent",
    help="A young person's consent, by subject token: record, emergency override, review, show.",
    no_args_is_help=True,
)

Subject = Annotated[str, typer.Argument(metavar="SUBJECT_TOKEN", help="The young person's subject token (st1_...).")]
Agency = Annotated[str, typer.Option("--agency", help="Your agency's id: the recording agency.")]
By = Annotated[str, typer.Option("--by", help="Your login or staff number (not a name).")]
Reference = Annotated[
    str | None, typer.Option(help="Optional reference to your own case record, where the reasoning is written.")
]


client_factory: ClientFactory = default_client
"""How commands reach the hub; tests replace it."""


def _subject(text: str) -> str:
    # Checked here so a name typed by mistake never leaves this machine (nor lands in a URL or a log).
    if not SubjectToken.pattern.fullmatch(text):
        raise fail("SUBJECT_TOKEN is not a subject token (st1_ followed by 16 to 86 letters, digits, - or _)")
    return text


def _call(hub: str, token: str, method: str, path: str, body: object | None = None) -> Any:
    return call(client_factory, hub, token, method, path, body=body)


def _state_line(state: dict[str, Any]) -> str:
    line = f"consent: {state['status']}"
    record = state["record"]
    if record is not None:
        line += f" (recorded {record['recorded_at']} by {record['recorded_by'] or '-'} for {record['agency_id']})"
    return line


def _override_line(override: dict[str, Any]) -> str:
    review = f"reviewed by {override['reviewed_by'] or '-'}" if override["reviewed"] else "awaiting review"
    return (
        f"override {override['id']}: {override['justification']}, {override['starts_at']} to "
        f"{override['expires_at']}, recorded by {override['recorded_by'] or '-'} for {override['agency_id']}; {review}"
    )


@app.command()
def record(
    subject: Subject,
    *,
    status: Annotated[RecordedStatus, typer.Option(help="The consent decision.")],
    agency: Agency,
    by: By,
    justification: Annotated[
        NotSoughtGround | None, typer.Option(help="Why consent was not sought (required with not-sought-risk).")
    ] = None,
    reference: Reference = None,
    token: Token = "",
    hub: Hub = DEFAULT_HUB,
) -> None:
    """Record a consent status; it applies to every new message at once."""
    body = {
        "status": status.value,
        "agency_id": agency,
        "recorded_by": by,
        "justification": justification.value if justification is not None else None,
        "reference": reference,
    }
    out = _call(hub, token, "POST", f"/consents/{_subject(subject)}", body)
    typer.echo(f"recorded {status.value}; {_state_line(out['state'])}")


@app.command()
def override(
    subject: Subject,
    *,
    agency: Agency,
    by: By,
    justification: Annotated[OverrideGround, typer.Option(help="Why sharing must go ahead despite the refusal.")],
    hours: Annotated[int, typer.Option(min=1, max=72, help="How long it lasts from now (at most 72).")] = 24,
    reference: Reference = None,
    token: Token = "",
    hub: Hub = DEFAULT_HUB,
) -> None:
    """Record an emergency override of a refusal or withdrawal, from now; a second person must review it."""
    expires = datetime.now(UTC) + timedelta(hours=hours)
    body = {
        "agency_id": agency,
        "recorded_by": by,
        "justification": justification.value,
        "reference": reference,
        "expires_at": expires.isoformat(),
    }
    out = _call(hub, token, "POST", f"/consents/{_subject(subject)}/overrides", body)
    typer.echo(_override_line(out))
    typer.echo(f"it applies once a second person reviews it: onedoor consent review SUBJECT_TOKEN {out['id']} --by ...")


@app.command()
def review(
    subject: Subject,
    override_id: Annotated[int, typer.Argument(metavar="OVERRIDE_ID", min=1)],
    *,
    by: By,
    token: Token = "",
    hub: Hub = DEFAULT_HUB,
) -> None:
    """Review an emergency override as the second person; it then applies until it expires."""
    path = f"/consents/{_subject(subject)}/overrides/{override_id}/review"
    out = _call(hub, token, "POST", path, {"reviewed_by": by})
    reviewed = next((o for o in out["overrides"] if o["id"] == override_id), None)
    if reviewed is not None:
        typer.echo(_override_line(reviewed))
    typer.echo(_state_line(out["state"]))
    in_force = out["state"]["override"]
    typer.echo(f"override given to the engine: {in_force['id'] if in_force else 'none'}")


@app.command()
def show(subject: Subject, token: Token = "", hub: Hub = DEFAULT_HUB) -> None:
    """The consent state the engine is given now, and the history you may see."""
    out = _call(hub, token, "GET", f"/consents/{_subject(subject)}")
    state = out["state"]
    typer.echo(_state_line(state))
    typer.echo(f"override given to the engine: {state['override']['id'] if state['override'] else 'none'}")
    if out["records"]:
        typer.echo("")
        typer.echo("records:")
    for row in out["records"]:
        ground = f" ({row['justification']})" if row["justification"] else ""
        typer.echo(
            f"  {row['recorded_at']}  {row['status']}{ground}  by {row['recorded_by'] or '-'} for {row['agency_id']}"
            + (f"  ref {row['reference']}" if row["reference"] else "")
        )
    if out["overrides"]:
        typer.echo("")
        typer.echo("overrides:")
    for row in out["overrides"]:
        typer.echo(f"  {_override_line(row)}")
