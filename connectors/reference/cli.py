"""``onedoor reference seed police|council --url URL | --url-env NAME``: make a synthetic agency database.

A database URL that holds a password belongs in an environment variable (``--url-env``): then it is
neither on the command line nor in the adapters file, which names the variable (``url_env:``).

Every record it writes is synthetic (made-up people, ``Fake-`` family names, ``ZZ99`` postcodes).
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Annotated

import typer

from connectors.reference.seed import SYSTEMS, adapters_file, default_url_env, is_sqlite, seed_database
from onedoor.errors import OneDoorError

app = typer.Typer(help="Synthetic reference agencies (police records, council children's social care).")


@app.command("seed")
def seed_command(
    system: Annotated[str, typer.Argument(help=f"Which system: {' or '.join(SYSTEMS)}.")],
    *,
    url: Annotated[
        str | None,
        typer.Option("--url", help="The database, e.g. sqlite:///police.sqlite3 (a URL with a password: --url-env)."),
    ] = None,
    url_env: Annotated[
        str | None,
        typer.Option(
            "--url-env",
            metavar="NAME",
            help="Take the database URL from this environment variable (postgresql+psycopg://user:password@...); "
            "the adapters file then names the variable, not the URL.",
        ),
    ] = None,
    count: Annotated[int, typer.Option("--count", min=1, max=1_000_000, help="How many young people.")] = 200,
    seed: Annotated[int, typer.Option("--seed", help="The same seed makes the same rows.")] = 1,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="The day the data is as of (YYYY-MM-DD; default today).")
    ] = None,
    replace: Annotated[bool, typer.Option("--replace", help="Drop this system's tables first.")] = False,
    mapping: Annotated[
        Path | None, typer.Option("--mapping", help="Also write the SQL adapter's adapters file into this folder.")
    ] = None,
) -> None:
    """Create the system's schema at URL and fill it with synthetic, obviously fake records."""
    try:
        day = None if as_of is None else dt.date.fromisoformat(as_of)
    except ValueError:
        typer.secho("reference.bad_date: --as-of must be YYYY-MM-DD", err=True, fg=typer.colors.RED)
        raise typer.Exit(1) from None
    if (url is None) == (url_env is None):
        typer.secho("reference.bad_url: give exactly one of --url and --url-env", err=True, fg=typer.colors.RED)
        raise typer.Exit(1)
    database = url if url is not None else os.environ.get(url_env or "", "")
    if not database:
        typer.secho(f"reference.bad_url: the environment variable {url_env} is not set", err=True, fg=typer.colors.RED)
        raise typer.Exit(1)
    try:
        written = seed_database(system, database, count=count, seed=seed, as_of=day, replace=replace)
    except OneDoorError as exc:
        typer.secho(f"{exc.code}: {exc.message}", err=True, fg=typer.colors.RED)
        raise typer.Exit(1) from None
    typer.echo(f"{system}: " + ", ".join(f"{n} {table}" for table, n in written.items()) + " (all synthetic)")
    if mapping is not None:
        mapping.mkdir(parents=True, exist_ok=True)
        env_name = url_env if url_env is not None or is_sqlite(database) else default_url_env(system)
        try:
            path = adapters_file(system, mapping, url=database, url_env=env_name)
        except OneDoorError as exc:
            typer.secho(f"{exc.code}: {exc.message}", err=True, fg=typer.colors.RED)
            raise typer.Exit(1) from None
        typer.echo(f"adapters file: {path} (mode 0600)")
        if env_name is not None:
            typer.echo(f"  it names the database by {env_name}: set that variable in the connector's environment")
