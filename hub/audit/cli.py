"""``onedoor audit`` commands: verify the hash chain offline, sign a checkpoint, export the public key.

``verify`` reads the database directly (never the API), so it works on a copy, a backup or a
hub that is down. It exits 0 when the chain is intact, 1 naming the first broken record, and 2
when it cannot check (no database, no public key for the checkpoints it finds).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import Engine, make_url
from sqlalchemy.exc import SQLAlchemyError

from hub import db
from hub.audit import checkpoints, verify
from hub.audit.chain import ChainReport, Checkpoint
from onedoor.db import make_engine
from onedoor.errors import OneDoorError, ValidationFailed
from onedoor.logging import configure_logging
from onedoor.settings import Settings

app = typer.Typer(
    name="audit",
    help="The tamper-evident audit trail: verify the hash chain, sign checkpoints, export the public key.",
    no_args_is_help=True,
)

DatabaseUrl = Annotated[
    str | None,
    typer.Option("--database-url", help="SQLAlchemy URL of the hub database (default: the hub's, from the settings)."),
]


def _fail(message: str, code: int = 2) -> typer.Exit:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(code)


def _engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and not Path(parsed.database or "").exists():
        raise _fail(f"no database at {parsed.render_as_string()}")
    return make_engine(url, hide_parameters=True)


def _describe(report: ChainReport) -> list[str]:
    lines = []
    if report.rows:
        lines.append(f"{report.rows} records, seq {report.first_seq} to {report.last_seq}")
    else:
        lines.append("no records")
    anchored = f"{report.checkpoints} checkpoints checked"
    if report.last_checkpoint_seq is not None:
        anchored += f" (last at seq {report.last_checkpoint_seq})"
    if report.unanchored_checkpoints:
        anchored += f", {report.unanchored_checkpoints} before the first remaining record (signature only)"
    lines.append(anchored)
    lines.extend(report.notes)
    return lines


def _read_anchors(path: Path) -> list[Checkpoint]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        raise ValidationFailed("audit.anchor_invalid", f"cannot read {path}") from None
    return [verify.parse_anchor(line) for line in lines if line.strip()]


@app.command(name="verify")
def verify_command(
    database_url: DatabaseUrl = None,
    public_key: Annotated[
        Path | None,
        typer.Option(
            "--public-key",
            help="The audit public key (PEM, from `onedoor audit public-key`); default: the hub home's audit key.",
        ),
    ] = None,
    anchors: Annotated[
        Path | None,
        typer.Option(
            "--checkpoints",
            help="A file of checkpoints kept off the hub (the JSON lines `onedoor audit checkpoint` printed).",
        ),
    ] = None,
) -> None:
    """Recompute the hash chain and check every checkpoint; name the first broken record."""
    configure_logging("WARNING")
    settings = Settings()
    url = database_url or settings.database_url
    try:
        if public_key is not None:
            checker: checkpoints.SignatureChecker | None = checkpoints.SignatureChecker.of(
                checkpoints.load_public_key(public_key)
            )
        elif checkpoints.audit_key_path(settings).exists():
            checker = checkpoints.SignatureChecker.of(checkpoints.load_public_key(checkpoints.audit_key_path(settings)))
        else:
            checker = None
        kept = _read_anchors(anchors) if anchors is not None else []
    except ValidationFailed as exc:
        raise _fail(f"{exc.message} ({exc.code})") from None
    engine = _engine(url)
    try:
        with engine.connect() as connection:
            if checker is None and (kept or verify.read_checkpoints(connection, 2**62)):
                raise _fail("there are signed checkpoints to check: pass --public-key FILE")
            result = verify.verify_database(connection, checker, anchors=kept)
    except SQLAlchemyError as exc:
        raise _fail(f"cannot read the audit tables ({type(exc).__name__}); is this a migrated hub database?") from None
    finally:
        engine.dispose()
    report = result.report
    rate = report.rows / result.seconds if result.seconds > 0 else 0.0
    if report.problem is None:
        typer.echo(f"OK: audit chain intact; {'; '.join(_describe(report))} ({result.seconds:.2f} s, {rate:,.0f}/s)")
        return
    problem = report.problem
    where = f"seq {problem.seq}" if problem.seq is not None else "the chain"
    if problem.id is not None:
        where += f" (id {problem.id})"
    typer.secho(f"BROKEN: {problem.code} at {where}: {problem.message}", fg=typer.colors.RED)
    typer.echo(f"verified before it: {'; '.join(_describe(report))}")
    raise typer.Exit(1)


@app.command()
def checkpoint(
    database_url: DatabaseUrl = None,
    force: Annotated[bool, typer.Option(help="Sign even if the head has not moved since the last checkpoint.")] = False,
) -> None:
    """Sign a checkpoint of the chain head now; prints it as one JSON line, for copying off the hub."""
    configure_logging("WARNING")
    settings = Settings()
    url = database_url or settings.database_url
    try:
        key = checkpoints.load_or_create_key(checkpoints.audit_key_path(settings))
    except OneDoorError as exc:
        raise _fail(f"{exc.message} ({exc.code})") from None
    engine = _engine(url)
    try:
        signed = checkpoints.write_checkpoint(db.session_factory(engine), key, only_if_moved=not force)
    finally:
        engine.dispose()
    if signed is None:
        typer.echo("no checkpoint: the chain is empty or has not moved since the last one (--force to sign anyway)")
        return
    typer.echo(
        json.dumps(
            {
                "seq": signed.seq,
                "row_hash": signed.row_hash,
                "at": signed.at.isoformat(),
                "key_id": signed.key_id,
                "signature": signed.signature,
            }
        )
    )


@app.command(name="public-key")
def public_key_command(
    out: Annotated[Path | None, typer.Option("--out", help="Write the PEM here instead of printing it.")] = None,
) -> None:
    """Print (or write) the audit signing key's public half, for verifying off the hub."""
    configure_logging("WARNING")
    settings = Settings()
    try:
        key = checkpoints.load_or_create_key(checkpoints.audit_key_path(settings))
    except OneDoorError as exc:
        raise _fail(f"{exc.message} ({exc.code})") from None
    pem = checkpoints.public_pem(key)
    if out is None:
        typer.echo(pem.decode("ascii"), nl=False)
    else:
        out.write_bytes(pem)
        typer.echo(f"written {out} (key {checkpoints.key_id(key.public_key())})")
