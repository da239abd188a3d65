"""`onedoor agreement explain`: which hub route it asks, and what it prints, against a fake hub."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from hub.agreements import cli
from onedoor.cli import app

MSG = "0b7d5f7e-3c1a-4e8b-9a52-2f0c6d1e4a90"
LINE = (
    "rejected 2026-11-22T10:01:02Z police-demo -> council-demo under isa-demo v2: agreement.revoked — "
    "The agreement has been revoked: nothing more is shared under it."
)
ANSWER = {
    "about": "message",
    "id": MSG,
    "decisions": [
        {"outcome": "rejected", "reason_code": "agreement.revoked", "line": LINE},
        {"outcome": "rejected", "reason_code": "agreement.revoked", "line": LINE.replace("council", "school")},
    ],
}


@dataclass
class FakeHub:
    """Answers every GET with ``status`` and ``body``; records every request."""

    status: int = 200
    body: Any = field(default_factory=dict)
    seen: list[httpx.Request] = field(default_factory=list)

    def client(self, base: str, token: str) -> httpx.Client:
        def handle(request: httpx.Request) -> httpx.Response:
            self.seen.append(request)
            return httpx.Response(self.status, json=self.body)

        headers = {"Authorization": f"Bearer {token}"}
        return httpx.Client(base_url=base, headers=headers, transport=httpx.MockTransport(handle))


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> FakeHub:
    fake = FakeHub()
    monkeypatch.setattr(cli, "client_factory", fake.client)
    return fake


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["agreement", "explain", *args], env={"ONEDOOR_TOKEN": "fake-token"})
    return result.exit_code, result.stdout, result.stderr


def test_a_message_prints_one_line_per_decision(hub: FakeHub) -> None:
    hub.body = ANSWER
    code, out, _ = _run(MSG)
    assert code == 0
    assert hub.seen[0].method == "GET"
    assert hub.seen[0].url.path == f"/explain/messages/{MSG}"
    assert hub.seen[0].headers["Authorization"] == "Bearer fake-token"
    assert out.splitlines() == [LINE, LINE.replace("council", "school")]


def test_a_request_asks_the_request_route(hub: FakeHub) -> None:
    hub.body = {"about": "request", "id": "req-1", "decisions": [{"line": "denied ..."}]}
    code, out, _ = _run("--request", "req-1")
    assert code == 0
    assert hub.seen[0].url.path == "/explain/requests/req-1"
    assert out == "denied ...\n"


def test_json_prints_the_hubs_whole_answer(hub: FakeHub) -> None:
    hub.body = ANSWER
    code, out, _ = _run(MSG, "--json")
    assert code == 0
    assert json.loads(out) == ANSWER


def test_an_id_cannot_leave_its_path_segment(hub: FakeHub) -> None:
    hub.body = ANSWER
    _run("--request", "../agreements?x=1")
    assert hub.seen[0].url.raw_path == b"/explain/requests/..%2Fagreements%3Fx%3D1"


@pytest.mark.parametrize("args", [(), (MSG, "--request", "req-1")], ids=["neither", "both"])
def test_exactly_one_id_is_needed(hub: FakeHub, args: tuple[str, ...]) -> None:
    code, _, err = _run(*args)
    assert code == 1
    assert "name a MESSAGE_ID or --request REQUEST_ID" in err
    assert hub.seen == []


def test_not_found_prints_the_hubs_code_and_exits_1(hub: FakeHub) -> None:
    hub.status = 404
    hub.body = {"code": "explain.not_found", "message": "no decision is recorded", "error_id": "e1"}
    code, out, err = _run(MSG)
    assert code == 1
    assert out == ""
    assert "no decision is recorded (explain.not_found, HTTP 404)" in err
