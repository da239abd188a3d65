"""``onedoor reference seed police|council --url DB_URL``: make a synthetic reference agency's database.

Every record it writes is synthetic (made-up people, ``Fake-`` family names, ``ZZ99`` postcodes).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer

from connectors.reference.seed import SYSTEMS, adapters_file, seed_database
from onedoor.errors import OneDoorError

app = typer.Typer(help="Synthetic reference agencies (police records, council children's social care).")


@app.command("seed")
def seed_command(
    system: Annotated[str, typer.Argument(help=f"Which system: {' or '.join(SYSTEMS)}.")],
    *,
    url: Annotated[
        str, typer.Option("--url", help="The database, e.g. sqlite:///police.sqlite3 or postgresql+psycopg://...")
    ],
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
    try:
        written = seed_database(system, url, count=count, seed=seed, as_of=day, replace=replace)
    except OneDoorError as exc:
        typer.secho(f"{exc.code}: {exc.message}", err=True, fg=typer.colors.RED)
        raise typer.Exit(1) from None
    typer.echo(f"{system}: " + ", ".join(f"{n} {table}" for table, n in written.items()) + " (all synthetic)")
    if mapping is not None:
        mapping.mkdir(parents=True, exist_ok=True)
        typer.echo(f"adapters file: {adapters_file(system, mapping, url=url)}")
