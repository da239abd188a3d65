"""`onedoor referral submit`, `onedoor triage list|show|decide` and `onedoor connector user add`, against the
connector's real REST API (a desk over a real SQLite store, a sender that keeps what it would send)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from structlog.testing import capture_logs
from typer.testing import CliRunner

from connectors.agent import cli
from connectors.agent.api import create_app
from connectors.agent.notices import NoticeBoard
from connectors.status import DisclosureLog
from connectors.triage.desk import TriageDesk
from connectors.workbench.store import AuditEntry, WorkbenchStore
from connectors.workbench.users import Staff
from onedoor.cli import app
from onedoor.envelope.intake_form import PublicReferralForm
from tests.unit.agent.fakes import TOKEN, FakeChecker, config
from tests.unit.triage.world import CHARITY, NO_AGREEMENT, POLICE, FakeSender, desk, referral_json


@dataclass
class Backend:
    desk: TriageDesk
    checker: FakeChecker = field(default_factory=FakeChecker)
    disclosures: DisclosureLog = field(default_factory=DisclosureLog)
    notices: NoticeBoard = field(default_factory=NoticeBoard)
    healthy: bool = True


@dataclass
class World:
    env_file: Path
    store: WorkbenchStore
    desk: TriageDesk

    @property
    def sent(self) -> list[dict[str, object]]:
        assert isinstance(self.desk._sender, FakeSender)
        return self.desk._sender.sent


def _env_file(tmp_path: Path, agency: str) -> Path:
    path = tmp_path / "connector.env"
    path.write_text(
        "\n".join(
            [
                f"ONEDOOR_CONNECTOR_AGENCY={agency}",
                f"ONEDOOR_CONNECTOR_KEYS_DIR={tmp_path / 'keys'}",
                f"ONEDOOR_CONNECTOR_MATCHING_KEY_PATH={tmp_path / 'matching.key'}",
                f"ONEDOOR_CONNECTOR_DISCLOSURE_LOG_PATH={tmp_path / 'disclosures.sqlite3'}",
                f"ONEDOOR_CONNECTOR_API__TOKEN={TOKEN}",
                "ONEDOOR_CONNECTOR_API__PORT=18480",
            ]
        )
        + "\n"
    )
    return path


def _world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, agency: str) -> World:
    settings = config(tmp_path, agency=agency)
    store = WorkbenchStore(settings.workbench_database_url()).create()
    triage = desk(store, me=settings.agency_id)
    api = create_app(settings, Backend(triage))

    def client(base_url: str, token: str) -> httpx.Client:
        assert base_url == "http://127.0.0.1:18480", "the CLI reads the API's address from the config file"

        def handle(request: httpx.Request) -> httpx.Response:
            async def forward() -> httpx.Response:
                async with httpx.AsyncClient(transport=httpx.ASGITransport(app=api), base_url=base_url) as http:
                    answer = await http.send(request)
                    await answer.aread()
                    return answer

            with capture_logs():
                answer = asyncio.run(forward())
            return httpx.Response(answer.status_code, headers=answer.headers, content=answer.content)

        return httpx.Client(
            base_url=base_url, headers={"Authorization": f"Bearer {token}"}, transport=httpx.MockTransport(handle)
        )

    monkeypatch.setattr(cli, "client_factory", client)
    return World(_env_file(tmp_path, agency), store, triage)


def _run(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), input=stdin)
    return result.exit_code, result.stdout, result.stderr


def test_referral_submit_checks_the_contract_then_sends_to_the_triage_desk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = _world(tmp_path, monkeypatch, str(POLICE))
    nameless = tmp_path / "nameless.json"
    nameless.write_text(json.dumps(referral_json(given_name="", family_name="")))
    code, _, err = _run("referral", "submit", "--connector", str(world.env_file), "--file", str(nameless))
    assert code == 1
    assert "referral.no_identifier" in err
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({**referral_json(), "urgency": "SOON"}))
    code, _, err = _run("referral", "submit", "--connector", str(world.env_file), "--file", str(wrong))
    assert code == 1
    assert "urgency" in err
    assert "referral.invalid" in err
    assert world.sent == []

    good = tmp_path / "referral.json"
    good.write_text(json.dumps(referral_json()))
    code, out, err = _run("referral", "submit", "--connector", str(world.env_file), "--file", str(good))
    assert code == 0, err
    [sent] = world.sent
    assert "test-triage-desk" in out
    assert sent["body"]["referral_id"] in out  # type: ignore[index]
    assert "message id" in out


def test_triage_list_show_and_decide(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    world = _world(tmp_path, monkeypatch, "test-triage-desk")
    form = PublicReferralForm.model_validate(
        {
            "referrer": {"relationship": "friend"},
            "child": {"given_name": "Synthia", "family_name": "Example", "estimated_age": 15},
            "concern_categories": ["MISSING"],
            "concern_summary": "Missing since Friday.",
            "urgency": "IMMEDIATE_RISK",
            "parent_carer_knows": "yes",
        }
    )
    item = world.desk.receive_public(form, reference="OD-TESTCLI1", received_at=dt.datetime.now(dt.UTC))
    env = str(world.env_file)

    code, out, _ = _run("triage", "list", "--connector", env)
    assert code == 0
    assert item.item_id in out
    assert "Synthia Example" in out
    assert "IMMEDIATE_RISK" in out

    code, out, _ = _run("triage", "show", "--connector", env, item.item_id)
    assert code == 0
    assert json.loads(out)["body"]["concern_summary"] == "Missing since Friday."

    code, _, err = _run("triage", "decide", "--connector", env, item.item_id, "--decision", "no-further-action")
    assert code == 1
    assert "triage.reason_required" in err
    code, _, err = _run(
        "triage", "decide", "--connector", env, item.item_id, "--decision", "intervention", "--service", NO_AGREEMENT
    )
    assert code == 1
    assert "triage.no_agreement" in err
    assert world.sent == []
    code, out, err = _run(
        "triage", "decide", "--connector", env, item.item_id, "--decision", "intervention", "--service", CHARITY
    )
    assert code == 0, err
    assert f"recorded intervention to {CHARITY}" in out
    assert world.store.item(item.item_id).decided_by == "cli"


def test_connector_user_add_from_stdin_and_from_a_prompt(tmp_path: Path) -> None:
    env = str(_env_file(tmp_path, "test-triage-desk"))
    password = "a long fake password"
    code, out, err = _run(
        "connector",
        "user",
        "add",
        "--connector",
        env,
        "--username",
        "officer.one",
        "--role",
        "triage-officer",
        "--password-stdin",
        stdin=password + "\n",
    )
    assert code == 0, err
    assert "created triage-officer officer.one" in out
    assert password not in out
    code, _, _ = _run(
        "connector",
        "user",
        "add",
        "--connector",
        env,
        "--username",
        "viewer.one",
        "--role",
        "viewer",
        stdin=f"{password}\n{password}\n",
    )
    assert code == 0
    code, _, err = _run(
        "connector",
        "user",
        "add",
        "--connector",
        env,
        "--username",
        "officer.one",
        "--role",
        "viewer",
        "--password-stdin",
        stdin=password + "\n",
    )
    assert code == 1
    assert "workbench.user_exists" in err
    code, _, err = _run(
        "connector",
        "user",
        "add",
        "--connector",
        env,
        "--username",
        "weak.one",
        "--role",
        "viewer",
        "--password-stdin",
        stdin="short\n",
    )
    assert code == 1
    assert "workbench.weak_password" in err
    store = WorkbenchStore(f"sqlite:///{tmp_path / 'workbench.sqlite3'}")
    staff = Staff(store)
    assert staff.authenticate("officer.one", password) is not None
    assert staff.authenticate("viewer.one", password) is not None
    store.close()
    code, _, err = _run(
        "connector",
        "user",
        "add",
        "--connector",
        str(tmp_path / "absent.env"),
        "--username",
        "x.y.z",
        "--role",
        "viewer",
        "--password-stdin",
        stdin=password + "\n",
    )
    assert code == 1
    assert "connector.invalid_config" in err


def test_connector_audit_prints_the_trail_newest_first(tmp_path: Path) -> None:
    env = str(_env_file(tmp_path, "test-triage-desk"))
    item = "0b8e6c1e-6a4f-4d3b-9a53-2f7d1c0e9a11"
    store = WorkbenchStore(f"sqlite:///{tmp_path / 'workbench.sqlite3'}").create()
    store.append_audit(AuditEntry("workbench.sign_in", "permit", actor="officer.one"), at_ms=1_700_000_000_000)
    store.append_audit(AuditEntry("workbench.item_viewed", "permit", actor="officer.one", item_id=item))
    store.append_audit(
        AuditEntry(
            "triage.decide", "deny", actor="viewer.one", item_id=item, reason_code="workbench.role_cannot_decide"
        )
    )
    store.close()

    code, out, err = _run("connector", "audit", "--connector", env)
    assert code == 0, err
    header, *lines = out.splitlines()
    assert header.split("\t")[:4] == ["at", "actor", "action", "outcome"]
    assert [line.split("\t")[2] for line in lines] == ["triage.decide", "workbench.item_viewed", "workbench.sign_in"]
    assert lines[0].split("\t")[6] == "workbench.role_cannot_decide"
    assert lines[2].startswith("2023-11-14T22:13:20.000Z\tofficer.one\t")

    code, out, _ = _run("connector", "audit", "--connector", env, "--item", item, "--limit", "1")
    assert code == 0
    [_, only] = out.splitlines()
    assert only.split("\t")[1:4] == ["viewer.one", "triage.decide", "deny"]
    code, _, err = _run("connector", "audit", "--connector", str(tmp_path / "absent.env"))
    assert code == 1
    assert "connector.invalid_config" in err
