"""``onedoor connector user add``: create a workbench account for a member of the agency's staff.
``onedoor connector audit``: print the workbench's audit trail.

The password is read from a prompt (typed twice, not echoed) or, with ``--password-stdin``,
from the first line of standard input; it is never an argument (shell history, ``ps``).
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from connectors.agent.config import load_config_file
from connectors.agent.options import ConnectorFile
from connectors.workbench.store import MAX_AUDIT_ROWS, AuditRecord, WorkbenchStore
from connectors.workbench.users import Role, Staff
from onedoor.cli_http import fail
from onedoor.errors import OneDoorError

app = typer.Typer(name="user", help="Workbench accounts for your agency's staff.", no_args_is_help=True)


@app.command()
def add(
    connector: ConnectorFile,
    username: Annotated[str, typer.Option("--username", help="Lower-case letters, digits, '.', '_', '@', '-'.")],
    role: Annotated[Role, typer.Option("--role", help="What the account may do.")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
) -> None:
    """Create a workbench account (triage-officer, case-worker, viewer or auditor)."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        config = load_config_file(connector)
        config.data_directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        store = WorkbenchStore(config.workbench_database_url()).create()
        try:
            member = Staff(store).add(username, role.value, password)
        finally:
            store.close()
    except OneDoorError as exc:
        raise fail(f"{exc.message} ({exc.code})") from None
    typer.echo(f"created {member.role.value} {member.username} for {config.agency}")


def audit(
    connector: ConnectorFile,
    limit: Annotated[
        int, typer.Option("--limit", min=1, max=MAX_AUDIT_ROWS, help="How many lines, newest first.")
    ] = 200,
    item: Annotated[str | None, typer.Option("--item", help="Only the lines about this inbox item (its id).")] = None,
) -> None:
    """Print the workbench's audit trail, newest first: sign-ins, openings, decision attempts."""
    try:
        config = load_config_file(connector)
        store = WorkbenchStore(config.workbench_database_url()).create()
        try:
            lines = store.audit_trail(limit=limit, item_id=item)
        finally:
            store.close()
    except OneDoorError as exc:
        raise fail(f"{exc.message} ({exc.code})") from None
    typer.echo("\t".join(("at", "actor", "action", "outcome", "item_id", "subject_token", "reason_code", "request_id")))
    for line in lines:
        typer.echo(_line(line))


def _line(line: AuditRecord) -> str:
    at = line.at.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    fields = (at, line.actor, line.action, line.outcome, line.item_id, line.subject_token, line.reason_code)
    return "\t".join("-" if value is None else value for value in (*fields, line.request_id))
