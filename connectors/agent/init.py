"""``onedoor connector init``: everything an agency needs to ask to join the hub, in one directory.

``initialise`` makes, in ``directory`` (0700)::

    keys/signing.pem, keys/encryption.pem   new private keys, encrypted with the passphrase (0600)
    api-token                               the local REST API's bearer token (0600)
    connector.env                           ONEDOOR_CONNECTOR_* settings: paths only, no secret (0600)
    registration-request.json               for the hub operator: ids, public keys, signed (0644)
    data/                                   the connector's own files (0700)

The federation's matching key is not made here (every connector shares one): the config points
at ``matching.key`` in the same directory, to be copied in from the hub operator. Nothing is
overwritten: the directory must be new or empty (existing keys refuse with ``connector.keys_exist``,
anything else with ``connector.directory_not_empty``), and everything is built in a temporary
directory beside it, then renamed into place, so an interrupted init leaves nothing to clean up.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import sys
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Final

import typer

from connectors.agent.keyfiles import (
    KEYS_EXIST,
    MIN_PASSPHRASE_CHARS,
    PASSPHRASE_ENV,
    check_passphrase,
    save_new_pair,
)
from hub.agencies.enums import AgencyKind
from hub.agencies.request import make_request
from onedoor.envelope.keys import AgencyKeyPair, create_private_file
from onedoor.errors import OneDoorError, ValidationFailed
from onedoor.ids import AgencyId

CONFIG_FILE: Final = "connector.env"
REQUEST_FILE: Final = "registration-request.json"
TOKEN_FILE: Final = "api-token"  # noqa: S105 - a file name
MATCHING_KEY_FILE: Final = "matching.key"
DIRECTORY_NOT_EMPTY: Final = "connector.directory_not_empty"
UNENCRYPTED_KEYS_WARNING: Final = (
    "WARNING: --no-passphrase: the agency's private keys are stored UNENCRYPTED. Anyone who can read "
    "this directory can sign and read messages as the agency. Use this only for a throw-away demo."
)


@dataclass(frozen=True, slots=True)
class Initialised:
    """What ``initialise`` wrote."""

    directory: Path
    keys: AgencyKeyPair
    config: Path
    request: Path
    token: Path


def _config_text(directory: Path, agency: AgencyId, *, hub_url: str, bootstrap: str | None, prefix: str) -> str:
    lines = [
        f"# OneDoor connector of {agency}, made by `onedoor connector init` on {datetime.now(UTC):%Y-%m-%d}.",
        "# No secret in this file. Give the keys passphrase in the service's environment:",
        f"#   {PASSPHRASE_ENV}=...",
        f"ONEDOOR_CONNECTOR_AGENCY={agency}",
        f"ONEDOOR_CONNECTOR_KEYS_DIR={directory / 'keys'}",
        f"ONEDOOR_CONNECTOR_HUB_URL={hub_url}",
        "# The federation's matching key: copy it here from the hub operator (mode 0600).",
        f"ONEDOOR_CONNECTOR_MATCHING_KEY_PATH={directory / MATCHING_KEY_FILE}",
        f"ONEDOOR_CONNECTOR_DATA_DIR={directory / 'data'}",
        f"ONEDOOR_CONNECTOR_DISCLOSURE_LOG_PATH={directory / 'data' / 'disclosures.sqlite3'}",
        f"ONEDOOR_CONNECTOR_API__TOKEN_FILE={directory / TOKEN_FILE}",
        f"ONEDOOR_CONNECTOR_KAFKA__TOPIC_PREFIX={prefix}",
    ]
    if bootstrap:
        lines.append(f"ONEDOOR_CONNECTOR_KAFKA__BOOTSTRAP_SERVERS={bootstrap}")
    return "\n".join(lines) + "\n"


def initialise(
    directory: Path,
    *,
    agency: AgencyId,
    kind: AgencyKind,
    display_name: str,
    passphrase: bytes | None,
    hub_url: str = "http://127.0.0.1:8470",
    bootstrap: str | None = None,
    topic_prefix: str = "onedoor",
) -> Initialised:
    """Make the agency's keys, API token, config and signed registration request in ``directory``.

    ``directory`` must not exist or be empty: everything is built in a private temporary directory
    beside it and renamed into place at the end, so a failure half-way leaves nothing behind and a
    rerun works; an existing directory's mode is never changed (``init ~`` is refused).

    Raises:
        ValidationFailed: ``connector.keys_exist`` when any of the files exists,
            ``connector.directory_not_empty`` when the directory holds anything else (nothing is written).
    """
    directory = directory.resolve()
    outputs = [directory / "keys" / "signing.pem", directory / "keys" / "encryption.pem", directory / TOKEN_FILE]
    outputs += [directory / CONFIG_FILE, directory / REQUEST_FILE]
    existing = [str(path) for path in outputs if path.exists()]
    if existing:
        raise ValidationFailed(KEYS_EXIST, "refusing to overwrite: " + ", ".join(existing))
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise ValidationFailed(
            DIRECTORY_NOT_EMPTY,
            f"{directory} exists and is not an empty directory: give a new (or empty) directory for the connector",
        )
    directory.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=f".{directory.name}.init-", dir=directory.parent))  # mode 0700
    try:
        made = _build(
            building,
            directory,
            agency=agency,
            kind=kind,
            display_name=display_name,
            passphrase=passphrase,
            hub_url=hub_url,
            bootstrap=bootstrap,
            topic_prefix=topic_prefix,
        )
        # rename(2) replaces an empty directory; a non-empty one (made meanwhile) makes it fail: nothing lost.
        os.rename(building, directory)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    return made


def _build(
    building: Path,
    directory: Path,
    *,
    agency: AgencyId,
    kind: AgencyKind,
    display_name: str,
    passphrase: bytes | None,
    hub_url: str,
    bootstrap: str | None,
    topic_prefix: str,
) -> Initialised:
    """Write everything into ``building``; the paths inside name ``directory``, where it will be renamed to."""
    os.chmod(building, 0o700)
    keys_dir = building / "keys"
    keys_dir.mkdir(mode=0o700)
    (building / "data").mkdir(mode=0o700)
    keys = AgencyKeyPair.generate(agency)
    save_new_pair(keys, keys_dir, passphrase)
    create_private_file(building / TOKEN_FILE, secrets.token_urlsafe(32).encode() + b"\n")
    config_text = _config_text(directory, agency, hub_url=hub_url, bootstrap=bootstrap, prefix=topic_prefix)
    create_private_file(building / CONFIG_FILE, config_text.encode())
    request = make_request(keys, kind=kind.value, display_name=display_name)
    fd = os.open(building / REQUEST_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(json.dumps(request, indent=2) + "\n")
    return Initialised(directory, keys, directory / CONFIG_FILE, directory / REQUEST_FILE, directory / TOKEN_FILE)


def passphrase_from_env_or_tty(*, no_passphrase: bool, what: str = "the new keys") -> bytes | None:
    """``ONEDOOR_CONNECTOR_KEYS_PASSPHRASE``, else asked twice on a terminal; ``None`` with ``--no-passphrase``.

    Raises:
        ValidationFailed: ``connector.weak_passphrase``; ``connector.keys_passphrase`` when there is
            no terminal to ask on and the variable is unset.
    """
    if no_passphrase:
        typer.secho(UNENCRYPTED_KEYS_WARNING, fg=typer.colors.RED, bold=True, err=True)
        return None
    given = os.environ.get(PASSPHRASE_ENV)
    if given is None:
        if not sys.stdin.isatty():
            raise ValidationFailed(
                "connector.keys_passphrase",
                f"no passphrase: set {PASSPHRASE_ENV} or run this on a terminal to be asked for one",
            )
        given = typer.prompt(
            f"Passphrase for {what} (at least {MIN_PASSPHRASE_CHARS} characters)",
            hide_input=True,
            confirmation_prompt=True,
        )
    return check_passphrase(given)


def init_command(
    directory: Annotated[Path, typer.Argument(metavar="DIR", help="Where to make the connector's files.")],
    *,
    agency: Annotated[str, typer.Option("--agency", help="The agency's id, e.g. lb-camden-csc.")],
    kind: Annotated[AgencyKind, typer.Option("--kind", help="What sort of agency it is.")],
    name: Annotated[str, typer.Option("--name", help="The agency's display name.")],
    hub: Annotated[str, typer.Option("--hub", help="The hub API the connector will use.")] = "http://127.0.0.1:8470",
    bootstrap: Annotated[
        str | None, typer.Option("--kafka-bootstrap", help="The hub's broker (host:port), if known.")
    ] = None,
    topic_prefix: Annotated[str, typer.Option("--topic-prefix", help="The hub's topic prefix.")] = "onedoor",
    no_passphrase: Annotated[
        bool, typer.Option("--no-passphrase", help="Store the private keys unencrypted (demo only).")
    ] = False,
) -> None:
    """Make the agency's keys (encrypted), API token, config and signed registration request."""
    try:
        passphrase = passphrase_from_env_or_tty(no_passphrase=no_passphrase)
        made = initialise(
            directory,
            agency=AgencyId(agency),
            kind=kind,
            display_name=name,
            passphrase=passphrase,
            hub_url=hub,
            bootstrap=bootstrap,
            topic_prefix=topic_prefix,
        )
    except OneDoorError as exc:
        typer.echo(f"error: {exc.message} ({exc.code})", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"made the connector of {agency} in {made.directory}")
    typer.echo(f"  signing key     {made.keys.signing_key_id}")
    typer.echo(f"  encryption key  {made.keys.encryption_key_id}")
    typer.echo(f"  config          {made.config}")
    typer.echo(f"next: send {made.request} to the hub operator and read them the signing key id above by phone")
    approve = f"onedoor agency approve {REQUEST_FILE} --expect-signing-key {made.keys.signing_key_id}"
    typer.echo(f"      (they run `{approve}`),")
    typer.echo(f"      copy the federation's matching key to {made.directory / MATCHING_KEY_FILE},")
    typer.echo(f"      then `onedoor connector check --connector {made.config}` and `... serve --connector ...`.")
