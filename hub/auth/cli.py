"""``onedoor admin`` commands: tokens for the hub API from the development issuer."""

from __future__ import annotations

import getpass
import re
from datetime import timedelta
from typing import Annotated, Final

import typer

from hub.auth.issuer import DevIssuer
from hub.auth.roles import Role
from onedoor.errors import ValidationFailed
from onedoor.ids import AgencyId
from onedoor.logging import configure_logging
from onedoor.settings import Settings

app = typer.Typer(name="admin", help="Administer the hub: API tokens (development issuer).", no_args_is_help=True)

MAX_TTL: Final = timedelta(hours=24)
_UNITS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"(\d{1,7})([smhd]?)")


def parse_ttl(text: str) -> timedelta:
    """``90s``, ``15m``, ``1h``, ``1d`` or plain seconds, at most 24 hours.

    Raises:
        typer.BadParameter: for anything else.
    """
    match = _DURATION.fullmatch(text.strip())
    if match is None:
        raise typer.BadParameter("use a number and a unit: 90s, 15m, 1h, 1d")
    ttl = timedelta(seconds=int(match[1]) * _UNITS[match[2] or "s"])
    if not timedelta(0) < ttl <= MAX_TTL:
        raise typer.BadParameter("a development token lives more than 0 s and at most 24 h")
    return ttl


def _default_subject() -> str:
    try:
        return f"dev:{getpass.getuser()}"
    except (KeyError, OSError):  # no login name (e.g. an arbitrary container uid)
        return "dev:unknown"


@app.command()
def token(
    role: Annotated[list[Role], typer.Option("--role", help="A role the token carries; repeat for several.")],
    agency: Annotated[
        str | None, typer.Option(help="The agency an agency-admin administers (required for agency-admin only).")
    ] = None,
    subject: Annotated[str | None, typer.Option(help="Who the token is for (`sub`); default dev:<login>.")] = None,
    ttl: Annotated[
        str | None, typer.Option(help="How long it lives: 90s, 15m, 1h, 1d (default ONEDOOR_AUTH__TOKEN_TTL_SECONDS).")
    ] = None,
) -> None:
    """Print a bearer token for the hub API, minted by the development issuer (refused in prod).

    Send it as `Authorization: Bearer <token>` to a hub running with the same ONEDOOR_HOME.
    """
    settings = Settings()
    configure_logging("WARNING")
    lifetime = parse_ttl(ttl) if ttl is not None else None
    try:
        agency_id = AgencyId(agency) if agency is not None else None
        issuer = DevIssuer.from_settings(settings)
        minted = issuer.mint(subject=subject or _default_subject(), roles=role, agency=agency_id, ttl=lifetime)
    except ValidationFailed as exc:
        typer.secho(f"error: {exc.message} ({exc.code})", err=True, fg=typer.colors.RED)
        raise typer.Exit(2) from None
    if settings.auth.public_key_path is not None:
        typer.secho(
            "warning: ONEDOOR_AUTH__PUBLIC_KEY_PATH is set, so the hub verifies with that key, not this issuer's",
            err=True,
            fg=typer.colors.YELLOW,
        )
    typer.echo(minted)
