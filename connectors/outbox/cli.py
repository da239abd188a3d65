"""``onedoor connector parked --connector CONFIG [--retry ID]``: list parked messages, or put one back.

Reads the connector's local database directly (the same one the running connector uses); a
message put back is delivered again by the running connector within a few seconds. Nothing
printed holds a body: ids, sender, contract, reason code, the refusal's message or the
exception type, attempts and when.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from connectors.agent.config import load_config_file
from connectors.agent.options import ConnectorFile
from connectors.outbox.store import OutboxStore, Parked
from onedoor.cli_http import fail
from onedoor.errors import OneDoorError


def parked_command(
    connector: ConnectorFile,
    retry: Annotated[
        int | None, typer.Option("--retry", help="Put this parked message (its ID) back for delivery.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10_000, help="How many, newest first.")] = 200,
) -> None:
    """List messages the agency's system could not take (parked with a reason), or put one back with --retry."""
    try:
        config = load_config_file(connector)
        store = OutboxStore(config.workbench_database_url()).create()
        try:
            if retry is not None:
                store.retry(retry)
                typer.echo(f"parked message {retry} put back: the running connector delivers it again shortly")
                return
            rows = store.parked(limit=limit)
        finally:
            store.close()
    except OneDoorError as exc:
        raise fail(f"{exc.message} ({exc.code})") from None
    if not rows:
        typer.echo("no parked messages")
        return
    typer.echo(
        "\t".join(("id", "parked_at", "status", "attempts", "reason", "message_id", "sender", "contract", "detail"))
    )
    for row in rows:
        typer.echo(_line(row))


def _line(row: Parked) -> str:
    at = datetime.fromtimestamp(row.parked_at_ms / 1000, tz=UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    detail = " ".join(row.detail.split())
    fields = (str(row.id), at, row.status, str(row.attempts), row.reason, row.message_id, row.sender, row.contract)
    return "\t".join((*fields, detail))
