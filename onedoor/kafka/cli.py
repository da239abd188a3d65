"""``onedoor kafka``: fetch, start, inspect and stop the local Apache Kafka cluster."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from typing import Annotated

import typer

from onedoor.errors import OneDoorError
from onedoor.kafka import cluster, jars
from onedoor.logging import configure_logging
from onedoor.settings import Settings

app = typer.Typer(
    help=(
        "Run a real Apache Kafka broker for OneDoor on this machine.\n\n"
        "OneDoor uses, in order: KAFKA_BOOTSTRAP_SERVERS if set; the local cluster started by "
        "`onedoor kafka up` (recorded in $ONEDOOR_HOME/kafka/state.json); otherwise it starts one, "
        "in Docker if an engine is reachable, else as local JVMs from Maven Central jars."
    ),
    no_args_is_help=True,
)


class Runtime(StrEnum):
    """How ``up`` runs the broker."""

    AUTO = "auto"
    JVM = "jvm"
    DOCKER = "docker"


@app.callback()
def _main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress (to stderr).")] = False,
) -> None:
    configure_logging("INFO" if verbose else "WARNING")


@app.command()
def fetch(
    version: Annotated[
        str | None, typer.Option(help="Apache Kafka version (default: ONEDOOR_KAFKA__VERSION or 3.9.1).")
    ] = None,
) -> None:
    """Download the broker jars from Maven Central (needs `mvn`) and print the cache path."""
    settings = Settings()
    with _errors_exit():
        lib = jars.ensure_jars(version or settings.kafka.version)
    typer.echo(str(lib))


@app.command()
def up(
    nodes: Annotated[
        int | None,
        typer.Option(
            min=1, max=3, help="1 node, or 3 for replication (RF 3, min ISR 2). Default: ONEDOOR_KAFKA__NODES or 1."
        ),
    ] = None,
    runtime: Annotated[
        Runtime, typer.Option(help="auto: Docker when an engine answers (1 node), else local JVMs.")
    ] = Runtime.AUTO,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the brokers to be ready.")] = 120.0,
    secure: Annotated[
        bool,
        typer.Option(
            "--secure",
            help="SASL/SCRAM users and enforced ACLs over TLS (SASL_SSL, the cluster's own CA; JVMs; `make run` "
            "uses this). The admin's password is kept in $ONEDOOR_HOME/kafka/security.json (mode 0600).",
        ),
    ] = False,
) -> None:
    """Start a detached local Kafka (or reuse the running one) and print its bootstrap servers."""
    settings = Settings()
    if nodes not in (None, 1, 3):
        raise typer.BadParameter("must be 1 or 3", param_hint="--nodes")
    with _errors_exit():
        # Without --nodes, any running cluster will do; a new one gets ONEDOOR_KAFKA__NODES nodes.
        state = cluster.start_detached(settings, nodes=nodes, runtime=runtime.value, timeout=timeout, secure=secure)
    _note_external(settings)
    if state.secured:
        typer.echo(_secured_note(settings, state), err=True)
    typer.echo(state.bootstrap_servers)


@app.command()
def status() -> None:
    """Show the local Kafka: nodes, pids, ports, version; exit 0 if every node is alive, else 1."""
    settings = Settings()
    _note_external(settings)
    with _errors_exit():
        current = cluster.status(settings)
    if current is None:
        typer.echo(f"no local Kafka recorded in {cluster.state_path(settings)}")
        raise typer.Exit(1)
    state = current.state
    alive = sum(current.alive)
    verdict = "running" if current.running else ("degraded" if alive else "dead")
    typer.echo(f"local Kafka: {verdict} ({alive}/{len(current.alive)} alive)")
    typer.echo(f"  bootstrap: {state.bootstrap_servers}")
    typer.echo(f"  version:   {state.version} ({state.runtime})")
    typer.echo(f"  started:   {state.started_at.isoformat(timespec='seconds')}")
    typer.echo(f"  security:  {_secured_note(settings, state) if state.secured else 'PLAINTEXT, no ACLs'}")
    if state.runtime == "docker":
        typer.echo(f"  container: {(state.container_id or '')[:12]} {state.image or ''}")
    else:
        typer.echo(f"  data:      {state.data_dir}")
        for node, ok in zip(state.nodes, current.alive, strict=True):
            typer.echo(
                f"  node {node.node_id}: pid {node.pid}, port {node.broker_port}, "
                f"{'alive' if ok else 'DEAD'}, log {node.server_log}"
            )
    raise typer.Exit(0 if current.running else 1)


@app.command()
def down(
    purge: Annotated[bool, typer.Option(help="Also delete the broker data (topics and messages).")] = False,
) -> None:
    """Stop the local Kafka gracefully and forget it; data stays unless --purge."""
    settings = Settings()
    with _errors_exit():
        stopped = cluster.stop_detached(settings, purge=purge)
    if stopped is None:
        typer.echo("no local Kafka was recorded" + ("; data removed" if purge else ""))
        return
    typer.echo(f"stopped local Kafka at {stopped.bootstrap_servers}" + ("; data removed" if purge else ""))


def _secured_note(settings: Settings, state: cluster.ClusterState) -> str:
    """One line on a secured cluster: what it enforces and where the admin's secret is (never the secret)."""
    tls = (
        f"TLS (SASL_SSL): clients trust the CA {state.ca_file} (ONEDOOR_KAFKA__CA_FILE); "
        if state.ca_file is not None
        else "no TLS (SASL_PLAINTEXT); "
    )
    return (
        "SASL/SCRAM-SHA-512 users and ACLs enforced (StandardAuthorizer, no allow-all); "
        + tls
        + f"admin, broker and controller passwords in {cluster.security_path(settings)} (mode 0600)"
    )


def _note_external(settings: Settings) -> None:
    """Say so when OneDoor commands will use another cluster than the local one."""
    external = settings.kafka.bootstrap_servers
    if external:
        typer.echo(
            f"note: KAFKA_BOOTSTRAP_SERVERS (or ONEDOOR_KAFKA__BOOTSTRAP_SERVERS) points at {external}; "
            "OneDoor commands use that cluster, not the local one",
            err=True,
        )


@contextmanager
def _errors_exit() -> Iterator[None]:
    """Print a OneDoor error as ``error: [code] message`` and exit 1, instead of a traceback."""
    try:
        yield
    except OneDoorError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
