"""``onedoor connector parked``: lists parked messages without bodies; ``--retry`` puts one back."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from connectors.agent.cli import app
from connectors.outbox import OutboxStore
from tests.factories import World
from tests.unit.agent.fakes import TOKEN

WORLD = World.make()


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "connector.env"
    path.write_text(
        "\n".join(
            (
                "ONEDOOR_CONNECTOR_AGENCY=lb-testborough-csc",
                f"ONEDOOR_CONNECTOR_KEYS_DIR={tmp_path / 'keys'}",
                f"ONEDOOR_CONNECTOR_MATCHING_KEY_PATH={tmp_path / 'matching.key'}",
                f"ONEDOOR_CONNECTOR_DISCLOSURE_LOG_PATH={tmp_path / 'disclosures.sqlite3'}",
                f"ONEDOOR_CONNECTOR_API__TOKEN={TOKEN}",
            )
        )
        + "\n"
    )
    return path


def test_parked_messages_are_listed_and_one_can_be_put_back(tmp_path: Path) -> None:
    config = _config(tmp_path)
    runner = CliRunner()
    empty = runner.invoke(app, ["parked", "--connector", str(config)])
    assert empty.exit_code == 0, empty.output
    assert "no parked messages" in empty.output

    store = OutboxStore(f"sqlite:///{tmp_path / 'workbench.sqlite3'}").create()  # the connector's local database
    header = WORLD.header(WORLD.police, [WORLD.council])
    store.park(header, b"sealed-envelope", reason="adapter.unmapped", detail="no column for urgency", attempts=1)
    [parked] = store.parked()
    listed = runner.invoke(app, ["parked", "--connector", str(config)])
    assert listed.exit_code == 0, listed.output
    assert str(header.message_id) in listed.output
    assert "adapter.unmapped" in listed.output
    assert "no column for urgency" in listed.output

    retried = runner.invoke(app, ["parked", "--connector", str(config), "--retry", str(parked.id)])
    assert retried.exit_code == 0, retried.output
    assert [r.id for r in store.to_retry()] == [parked.id]

    unknown = runner.invoke(app, ["parked", "--connector", str(config), "--retry", "9999"])
    assert unknown.exit_code == 1
    assert "connector.parked_not_found" in unknown.output
    store.close()
