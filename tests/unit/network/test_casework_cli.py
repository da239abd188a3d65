"""``onedoor network|alert|transfer`` commands with Typer's CliRunner; connector and hub faked.

The commands read the real connector config file; what they would reach (a send-only connector
and the hub) is replaced through ``connectors.casework.cli.casework`` by a recording connector
and an in-memory hub. Bad input exits non-zero with a code and a sentence, never a traceback.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from connectors.agent.config import ConnectorConfig
from connectors.casework import cli
from connectors.casework.transfers import DirectoryCaseFiles, handover_directory
from connectors.sdk.connector import Connector
from connectors.sdk.hubauth import HubCaller
from onedoor.cli import app
from onedoor.errors import Conflict, Forbidden, NotFound, Unavailable
from onedoor.ids import TransferId
from tests.unit.connectors.world import CHARITY, COUNCIL, POLICE, YOT, Agencies
from tests.unit.network.test_casework import CHILD, FakeHub, RecordingConnector, _connector, _network

runner = CliRunner()
TRANSFER_ID = "11111111-2222-4333-8444-555555555555"


@pytest.fixture
def config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("KAFKA_BOOTSTRAP_SERVERS", "ONEDOOR_CONNECTOR_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "connector.env"
    path.write_text(
        "\n".join(
            [
                f"ONEDOOR_CONNECTOR_AGENCY={POLICE}",
                f"ONEDOOR_CONNECTOR_KEYS_DIR={tmp_path / 'keys'}",
                f"ONEDOOR_CONNECTOR_MATCHING_KEY_PATH={tmp_path / 'matching.key'}",
                f"ONEDOOR_CONNECTOR_DISCLOSURE_LOG_PATH={tmp_path / 'data' / 'disclosures.sqlite'}",
                "ONEDOOR_CONNECTOR_API__TOKEN=" + "t" * 40,
                "ONEDOOR_CONNECTOR_KAFKA__BOOTSTRAP_SERVERS=unused:9092",
            ]
        )
    )
    return path


def _fake(monkeypatch: pytest.MonkeyPatch, connector: RecordingConnector, hub: FakeHub) -> None:
    @asynccontextmanager
    async def fake(_config: ConnectorConfig) -> AsyncIterator[tuple[Connector, HubCaller]]:
        yield connector, hub

    monkeypatch.setattr(cli, "casework", fake)


def test_alert_send_fans_out_and_reports(config_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    connector = _connector(Agencies(), POLICE)
    _fake(monkeypatch, connector, FakeHub({("GET", f"/network/{CHILD}"): _network(COUNCIL, POLICE, CHARITY, YOT)}))
    fields = tmp_path / "alert.json"
    fields.write_text(json.dumps({"details": "Synthetic: missing since 18:00.", "risk_level": "HIGH"}))
    result = runner.invoke(
        app,
        [
            "alert",
            "send",
            "--connector",
            str(config_file),
            "--subject",
            CHILD,
            "--kind",
            "MISSING_EPISODE",
            "--file",
            str(fields),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    assert set(shown["sent"]) == {COUNCIL, CHARITY}
    assert shown["skipped"] == {YOT: ["agreement.none"]}
    assert len(connector.published) == 2


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--subject", "Testy McFakeface", "--kind", "ARREST"], "subject_token.invalid"),
        (["--subject", CHILD, "--kind", "ABDUCTED"], "alert.invalid"),
        (["--subject", CHILD, "--kind", "ARREST", "--file", "/nonexistent/alert.json"], "casework.invalid_file"),
    ],
    ids=["name instead of token", "unknown kind", "missing file"],
)
def test_alert_send_refuses_bad_input_with_a_code(
    config_file: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], expected: str
) -> None:
    hub = FakeHub({})
    _fake(monkeypatch, _connector(Agencies(), POLICE), hub)
    result = runner.invoke(app, ["alert", "send", "--connector", str(config_file), *args])
    assert result.exit_code == 1
    assert expected in result.output
    assert "Traceback" not in result.output
    assert "Testy" not in result.output
    assert hub.calls == []


def test_alert_send_by_a_non_member_exits_1_and_sends_nothing(
    config_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    connector = _connector(Agencies(), POLICE)
    refused = Forbidden("network.not_a_member", "this agency has no open case on this subject token")
    _fake(monkeypatch, connector, FakeHub({("GET", f"/network/{CHILD}"): refused}))
    result = runner.invoke(
        app, ["alert", "send", "--connector", str(config_file), "--subject", CHILD, "--kind", "ARREST"]
    )
    assert result.exit_code == 1
    assert "network.not_a_member" in result.output
    assert "onedoor network join" in result.output, "the way out is named"
    assert getattr(connector, "published", []) == []


def test_a_missing_config_file_is_a_clear_error(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["alert", "send", "--connector", str(tmp_path / "nope.env"), "--subject", CHILD, "--kind", "ARREST"]
    )
    assert result.exit_code == 1
    assert "connector.invalid_config" in result.output


def test_transfer_offer_refuses_a_name_in_the_offer(
    config_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub = FakeHub({})
    _fake(monkeypatch, _connector(Agencies(), POLICE), hub)
    offer = tmp_path / "offer.json"
    offer.write_text(
        json.dumps({"offer": {"area": "Fakeshire", "lead_professional_role": "SW", "given_name": "Testy"}})
    )
    result = runner.invoke(
        app,
        ["transfer", "offer", "--connector", str(config_file), "--subject", CHILD, "--to", YOT, "--file", str(offer)],
    )
    assert result.exit_code == 1
    assert "transfer.offer_field_not_allowed" in result.output
    assert "Testy" not in result.output
    assert hub.calls == []


def test_transfer_accept_twice_is_a_clear_409(config_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    taken = Conflict("transfer.already_accepted", "this transfer has already been accepted by another agency")
    _fake(monkeypatch, _connector(Agencies(), POLICE), FakeHub({("POST", f"/transfers/{TRANSFER_ID}/accept"): taken}))
    result = runner.invoke(app, ["transfer", "accept", "--connector", str(config_file), TRANSFER_ID])
    assert result.exit_code == 1
    assert "already been accepted" in result.output
    assert "transfer.already_accepted" in result.output
    bad = runner.invoke(app, ["transfer", "accept", "--connector", str(config_file), "not-a-transfer"])
    assert bad.exit_code == 1
    assert "transfer_id.invalid" in bad.output


def _fake_hub_only(monkeypatch: pytest.MonkeyPatch, hub: FakeHub) -> None:
    @asynccontextmanager
    async def fake(_config: ConnectorConfig) -> AsyncIterator[HubCaller]:
        yield hub

    monkeypatch.setattr(cli, "reach_hub", fake)


def test_transfer_status_shows_the_hub_and_a_refusal_the_desk_noted(
    config_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = DirectoryCaseFiles(handover_directory(tmp_path / "data"))  # the config's data directory
    files.store(TransferId(TRANSFER_ID), CHILD, {"child": {"given_name": "Testy"}, "plan": {}})
    files.note(
        TransferId(TRANSFER_ID),
        {"state": "refused", "code": "sharing.denied", "message": f"no agreement lets this agency send {YOT} the pack"},
    )
    record = {
        "transfer_id": TRANSFER_ID,
        "subject_token": str(CHILD),
        "offered_by": str(POLICE),
        "candidates": [str(YOT)],
        "status": "accepted",
        "accepted_by": str(YOT),
    }
    _fake_hub_only(monkeypatch, FakeHub({("GET", f"/transfers/{TRANSFER_ID}"): record}))
    args = ["transfer", "status", "--connector", str(config_file)]
    result = runner.invoke(app, [*args, TRANSFER_ID])
    assert result.exit_code == 0, result.output
    assert f"at the hub: accepted by {YOT}" in result.output
    assert "handover pack: waiting here" in result.output
    assert "REFUSED by the handover desk" in result.output
    assert "(sharing.denied)" in result.output
    assert "Testy" not in result.output, "the pack itself is never printed"
    _fake_hub_only(monkeypatch, FakeHub({("GET", f"/transfers/{TRANSFER_ID}"): Unavailable("hub.unreachable", "x")}))
    offline = runner.invoke(app, [*args, TRANSFER_ID, "--json"])
    assert offline.exit_code == 0, offline.output
    shown = json.loads(offline.output)
    assert shown["hub_error"] == "x (hub.unreachable)"
    assert shown["desk"]["code"] == "sharing.denied"
    other = "22222222-2222-4333-8444-555555555555"
    _fake_hub_only(monkeypatch, FakeHub({("GET", f"/transfers/{other}"): NotFound("transfer.not_found", "no such")}))
    unknown = runner.invoke(app, [*args, other])
    assert unknown.exit_code == 1
    assert "transfer.not_found" in unknown.output
    assert unknown.exception is None or isinstance(unknown.exception, SystemExit)


def test_case_files_is_no_longer_an_option(config_file: Path) -> None:
    """The running connector's desk reads one directory only; the commands may not point anywhere else."""
    for command in (["transfer", "status", TRANSFER_ID], ["transfer", "offer", "--subject", CHILD]):
        result = runner.invoke(app, [*command, "--connector", str(config_file), "--case-files", "/tmp/elsewhere"])
        assert result.exit_code == 2
        assert "No such option" in result.output


def test_handover_directory_is_transfers_in_the_data_directory(tmp_path: Path) -> None:
    assert handover_directory(tmp_path) == tmp_path / "transfers"


class _RecordingHub(FakeHub):
    """``FakeHub`` that also keeps each call's body."""

    def __init__(self, answers: dict[tuple[str, str], Any]) -> None:
        super().__init__(answers)
        self.bodies: list[Any] = []

    async def call(self, method: str, path: str, json: Any = None) -> Any:
        self.bodies.append(json)
        return await super().call(method, path, json)


@pytest.mark.parametrize(("flags", "role"), [([], "member"), (["--lead"], "lead")], ids=["member", "lead"])
def test_network_join_subscribes_as_member_or_lead(
    config_file: Path, monkeypatch: pytest.MonkeyPatch, flags: list[str], role: str
) -> None:
    joined = {"agency_id": str(POLICE), "role": role, "since": "2026-11-22T06:00:00+00:00"}
    hub = _RecordingHub({("PUT", f"/network/{CHILD}/members/me"): joined})
    _fake_hub_only(monkeypatch, hub)
    result = runner.invoke(app, ["network", "join", "--connector", str(config_file), "--subject", CHILD, *flags])
    assert result.exit_code == 0, result.output
    assert f"{POLICE} joined the network of {CHILD} as {role}" in result.output
    assert hub.calls == [("PUT", f"/network/{CHILD}/members/me")]
    assert hub.bodies == [{"role": role}]
    as_json = runner.invoke(app, ["network", "join", "--connector", str(config_file), "--subject", CHILD, "--json"])
    assert json.loads(as_json.output) == {"subject_token": CHILD, "agency_id": str(POLICE), "role": role}


def test_network_join_refused_shows_the_hub_code_and_exits_1(
    config_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    taken = Conflict("network.lead_taken", "this network already has a lead")
    _fake_hub_only(monkeypatch, FakeHub({("PUT", f"/network/{CHILD}/members/me"): taken}))
    result = runner.invoke(app, ["network", "join", "--connector", str(config_file), "--subject", CHILD, "--lead"])
    assert result.exit_code == 1
    assert "this network already has a lead (network.lead_taken)" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("command", ["join", "leave", "show"])
def test_network_commands_never_echo_a_malformed_token(
    config_file: Path, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    hub = FakeHub({})
    _fake_hub_only(monkeypatch, hub)
    result = runner.invoke(app, ["network", command, "--connector", str(config_file), "--subject", "Synthia Example"])
    assert result.exit_code == 1
    assert "subject_token.invalid" in result.output
    assert "Synthia" not in result.output
    assert hub.calls == []


def test_network_commands_need_a_readable_config(tmp_path: Path) -> None:
    result = runner.invoke(app, ["network", "show", "--connector", str(tmp_path / "nope.env"), "--subject", CHILD])
    assert result.exit_code == 1
    assert "connector.invalid_config" in result.output


def test_network_leave_unsubscribes(config_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    hub = FakeHub({("DELETE", f"/network/{CHILD}/members/me"): None})
    _fake_hub_only(monkeypatch, hub)
    result = runner.invoke(app, ["network", "leave", "--connector", str(config_file), "--subject", CHILD])
    assert result.exit_code == 0, result.output
    assert f"left the network of {CHILD}" in result.output
    assert hub.calls == [("DELETE", f"/network/{CHILD}/members/me")]


def test_network_show_lists_the_lead_first_and_explains_withheld(
    config_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = _network(COUNCIL, POLICE) | {"withheld": 2}
    seen["members"] = list(reversed(seen["members"]))  # the command puts the lead first whatever the order
    _fake_hub_only(monkeypatch, FakeHub({("GET", f"/network/{CHILD}"): seen}))
    result = runner.invoke(app, ["network", "show", "--connector", str(config_file), "--subject", CHILD])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == f"network of {CHILD}: 2 agencies shown"
    assert lines[1].split() == ["lead", str(COUNCIL)]
    assert lines[2].split() == ["member", str(POLICE)]
    assert "2 more agencies are in this network but not shown: you have no agreement in force with them" in lines[3]
    as_json = json.loads(
        runner.invoke(app, ["network", "show", "--connector", str(config_file), "--subject", CHILD, "--json"]).output
    )
    assert [m["agency_id"] for m in as_json["members"]] == [str(COUNCIL), str(POLICE)]
    assert as_json["withheld"] == 2


def test_network_show_by_a_non_member_says_to_join(config_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    refused = Forbidden("network.not_a_member", "this agency has no open case on this subject token")
    _fake_hub_only(monkeypatch, FakeHub({("GET", f"/network/{CHILD}"): refused}))
    result = runner.invoke(app, ["network", "show", "--connector", str(config_file), "--subject", CHILD])
    assert result.exit_code == 1
    assert "(network.not_a_member)" in result.output
    assert "onedoor network join" in result.output
