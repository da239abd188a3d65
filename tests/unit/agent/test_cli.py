"""`onedoor status-check` against the real REST API (fake checker), and `onedoor connector records-demo|token`."""

from __future__ import annotations

import asyncio
import json
import stat
from pathlib import Path

import httpx
import pytest
from structlog.testing import capture_logs
from typer.testing import CliRunner

from connectors.agent import cli
from connectors.agent.api import create_app
from connectors.identity import MatchingKey
from connectors.status import StatusIndex
from connectors.status.synthetic import known_victim
from onedoor.cli import app
from tests.unit.agent.fakes import NOT_FOUND, TOKEN, FakeBackend, config

ASK = ["status-check", "--given", "Jon", "--family", "Testwood-Fakeley", "--dob", "14/03/2010"]


@pytest.fixture
def backend(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeBackend:
    """The connector's app with a fake checker, reached through the CLI's replaced client factory."""
    fake = FakeBackend()
    api = create_app(config(tmp_path), fake)

    def client(base_url: str, token: str) -> httpx.Client:
        def handle(request: httpx.Request) -> httpx.Response:
            async def forward() -> httpx.Response:
                transport = httpx.ASGITransport(app=api)
                async with httpx.AsyncClient(transport=transport, base_url=base_url) as http:
                    answer = await http.send(request)
                    await answer.aread()
                    return answer

            with capture_logs():  # the app's log lines are not the command's output
                answer = asyncio.run(forward())
            return httpx.Response(answer.status_code, headers=answer.headers, content=answer.content)

        headers = {"Authorization": f"Bearer {token}"}
        return httpx.Client(base_url=base_url, headers=headers, transport=httpx.MockTransport(handle))

    monkeypatch.setattr(cli, "client_factory", client)
    return fake


def _run(*args: str, token: str | None = TOKEN) -> tuple[int, str, str]:
    env = {"ONEDOOR_CONNECTOR_API__TOKEN": token} if token else {}
    result = CliRunner().invoke(app, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def test_status_check_prints_the_readable_answer(backend: FakeBackend) -> None:
    code, out, _ = _run(*ASK, "--postcode", "ZZ99 3ZZ")
    assert code == 0
    assert out.splitlines() == [
        "Known to lb-testborough-csc: suspected exploitation victim; NRM reasonable grounds; missing 3 times in the "
        "last 90 days; open case; lead professional allocated social worker, Testborough adolescent safeguarding "
        "team, 01632 960123; record fake-rec-victim-0001; confidence 0.97 (given name, family name, date of birth).",
        "No record at the other agency that answered.",
        "Not answered in time: lb-silentborough-csc.",
    ]
    [(identifiers, _, _)] = backend.checker.asked
    assert identifiers.postcode == "ZZ99"


def test_status_check_json_prints_the_connectors_answer(backend: FakeBackend) -> None:
    backend.checker.answer = NOT_FOUND
    code, out, _ = _run(*ASK, "--json")
    assert code == 0
    answer = json.loads(out)
    assert (answer["found"], answer["text"]) == (False, "No record found at the 2 agencies asked.")


def test_a_bad_date_prints_the_code_and_exits_1(backend: FakeBackend) -> None:
    code, out, err = _run("status-check", "--given", "Jon", "--family", "Testwood", "--dob", "2010-14-03")
    assert code == 1
    assert out == ""
    assert "identity.invalid_date_of_birth, HTTP 422" in err
    assert "2010-14-03" not in err
    assert backend.checker.asked == []


def test_a_wrong_token_prints_the_code_and_never_the_token(backend: FakeBackend) -> None:
    code, _, err = _run(*ASK, token="fake-wrong-token")
    assert code == 1
    assert "connector.unauthenticated, HTTP 401" in err
    assert "fake-wrong-token" not in err


def test_the_token_can_come_from_a_file(backend: FakeBackend, tmp_path: Path) -> None:
    token_file = tmp_path / "api.token"
    token_file.write_text(TOKEN + "\n")
    token_file.chmod(0o600)
    assert _run(*ASK, "--token-file", str(token_file), token=None)[0] == 0
    token_file.chmod(0o644)
    code, _, err = _run(*ASK, "--token-file", str(token_file), token=None)
    assert code == 1
    assert "must be mode 0600" in err


def test_without_a_token_nothing_is_sent(backend: FakeBackend) -> None:
    code, _, err = _run(*ASK, token=None)
    assert code == 1
    assert "no token" in err
    assert backend.checker.asked == []


def test_an_unreachable_connector_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    monkeypatch.setattr(
        cli, "client_factory", lambda base, _token: httpx.Client(base_url=base, transport=httpx.MockTransport(refuse))
    )
    code, _, err = _run(*ASK, "--connector", "http://127.0.0.1:9")
    assert code == 1
    assert "cannot reach the connector at http://127.0.0.1:9: ConnectError" in err


def test_records_demo_writes_synthetic_records_the_index_loads(tmp_path: Path) -> None:
    out = tmp_path / "records.json"
    code, said, _ = _run("connector", "records-demo", str(out), "--n", "25", "--seed", "3", "--known-victim")
    assert code == 0
    assert said.strip() == f"wrote 26 synthetic records to {out}"
    index = StatusIndex.load(out, MatchingKey.generate())
    assert len(index) == 26
    assert index.records[-1].record_reference == known_victim().record_reference
    again = tmp_path / "again.json"
    _run("connector", "records-demo", str(again), "--n", "25", "--seed", "3", "--known-victim")
    assert again.read_text() == out.read_text()


def test_token_writes_a_private_file_once(tmp_path: Path) -> None:
    out = tmp_path / "secrets" / "api.token"
    code, said, _ = _run("connector", "token", str(out))
    assert code == 0
    written = out.read_text().strip()
    assert len(written) >= 32
    assert written not in said
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    code, _, err = _run("connector", "token", str(out))
    assert code == 1
    assert "never overwritten" in err
    assert out.read_text().strip() == written
