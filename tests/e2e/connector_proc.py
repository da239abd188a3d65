"""A connector process for the fault tests, to be killed with SIGKILL and started again.

    python -m tests.e2e.connector_proc sender   WORKDIR AGENCY BOOTSTRAP PREFIX COUNT RECIPIENT
    python -m tests.e2e.connector_proc receiver WORKDIR AGENCY BOOTSTRAP PREFIX

WORKDIR holds ``<agency>/keys``, ``directory.json`` and ``policy.json`` (the hub's documents)
and each agency's local database ``<agency>/connector.sqlite3``.

The sender puts referrals in its outbox until ``COUNT`` are in it (counting what a previous,
killed run had enqueued), then runs its relay until the outbox is drained. The
receiver is the agency's application: for each message it writes a row to ``app_received``
and the message id to ``received_messages`` in one transaction, so a row there means the
application had it, and two rows with one id mean it had it twice.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from sqlalchemy import Integer, String, func, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from connectors.outbox import Durability, DurableInbox, OutboxStore, record_received
from connectors.outbox.models import OutboxRow
from connectors.sdk import Connector
from connectors.sdk.codec import ContractCodecs
from connectors.sdk.connector import ReceivedMessage
from connectors.sdk.directory import PublicDirectory
from connectors.sdk.policy import SharingPolicy
from connectors.synthetic import referral
from onedoor.envelope.keys import AgencyKeyPair
from onedoor.ids import AgencyId, ContractName, Purpose
from onedoor.logging import configure_logging
from onedoor.topics import TopicNames

REFERRAL = ContractName("onedoor.referral.MasterReferral")
PURPOSE = Purpose("safeguarding-referral")


class AppBase(DeclarativeBase):
    pass


class AppReceived(AppBase):
    """What the receiving application got (deliberately not unique: duplicates must be countable)."""

    __tablename__ = "app_received"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    message_id: Mapped[str] = mapped_column(String(36), index=True)


def database(workdir: Path, agency: str) -> str:
    """The agency's local database URL."""
    return f"sqlite:///{workdir / agency / 'connector.sqlite3'}"


def app_counts(workdir: Path, agency: str) -> tuple[int, int]:
    """(rows, distinct ids) in the receiving application's table."""
    store = OutboxStore(database(workdir, agency))
    try:
        AppBase.metadata.create_all(store.engine)
        with store.transaction() as session:
            rows = session.scalar(select(func.count()).select_from(AppReceived)) or 0
            distinct = session.scalar(select(func.count(func.distinct(AppReceived.message_id)))) or 0
            return int(rows), int(distinct)
    finally:
        store.close()


def _connector(workdir: Path, agency: AgencyId, bootstrap: str, prefix: str, **durable: object) -> Connector:
    return Connector(
        keys=AgencyKeyPair.load(agency, workdir / agency / "keys"),
        directory=PublicDirectory.from_document(json.loads((workdir / "directory.json").read_text())),
        codec=ContractCodecs.bundled(),
        bootstrap_servers=bootstrap,
        topics=TopicNames(prefix),
        policy=SharingPolicy.from_document(json.loads((workdir / "policy.json").read_text())),
        **durable,  # type: ignore[arg-type]
    )


async def sender(workdir: Path, agency: AgencyId, bootstrap: str, prefix: str, *, count: int, to: AgencyId) -> None:
    durability = Durability.open(
        database(workdir, agency),
        bootstrap_servers=bootstrap,
        topic=TopicNames(prefix).outbound(agency),
        client_id=f"fault-sender-{agency}",
    )
    connector = _connector(workdir, agency, bootstrap, prefix, outbox=durability.outbox)
    with durability.store.transaction() as session:
        already = int(session.scalar(select(func.count()).select_from(OutboxRow)) or 0)
    print(json.dumps({"ready": True, "already": already}), flush=True)
    async with connector:
        # A backlog first (the relay is not running yet): one at a time through `send`, then what an
        # agency's system does with a batch, a hundred messages per transaction.
        for i in range(already, min(count, 500)):
            await connector.send(contract=REFERRAL, version=1, recipients=[to], purpose=PURPOSE, body=referral(i))
        for start in range(max(already, 500), count, 100):
            sealed = [
                item
                for i in range(start, min(start + 100, count))
                for item in connector.seal(
                    contract=REFERRAL, version=1, recipients=[to], purpose=PURPOSE, body=referral(i)
                )
            ]
            with durability.store.transaction() as session:
                durability.outbox.enqueue(session, sealed)
        print(json.dumps({"enqueued": count}), flush=True)
        async with durability.running(connector):
            while await asyncio.to_thread(durability.store.pending_count):  # noqa: ASYNC110 - another thread's table
                await asyncio.sleep(0.05)
            print(json.dumps({"drained": True}), flush=True)
            await asyncio.Event().wait()  # until killed or terminated


async def receiver(workdir: Path, agency: AgencyId, bootstrap: str, prefix: str) -> None:
    store = OutboxStore(database(workdir, agency)).create()
    AppBase.metadata.create_all(store.engine)
    inbox = DurableInbox(store)

    async def application(message: ReceivedMessage) -> None:
        def write() -> None:
            with store.transaction() as session:  # the application's change and the received id commit together
                session.add(AppReceived(message_id=str(message.header.message_id)))
                record_received(session, message.header)

        await asyncio.to_thread(write)

    connector = _connector(workdir, agency, bootstrap, prefix, inbox=inbox)
    async with connector:
        print(json.dumps({"ready": True}), flush=True)
        while True:
            try:
                await connector.run(application)
            except Exception as exc:  # noqa: BLE001 - the batch is read again, as the running connector's pump does
                print(json.dumps({"inbox_failed": type(exc).__name__}), flush=True)
                await asyncio.sleep(0.5)


def main() -> None:
    configure_logging("WARNING")
    mode, workdir, agency, bootstrap, prefix, *rest = sys.argv[1:]
    root = Path(workdir)
    if mode == "sender":
        asyncio.run(sender(root, AgencyId(agency), bootstrap, prefix, count=int(rest[0]), to=AgencyId(rest[1])))
    else:
        asyncio.run(receiver(root, AgencyId(agency), bootstrap, prefix))


if __name__ == "__main__":
    main()
