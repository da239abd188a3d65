"""`onedoor admin token`: prints a token the hub of the same home accepts; refuses in prod."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import structlog
import typer
from typer.testing import CliRunner

from hub.auth import cli
from hub.auth.issuer import token_policy
from hub.auth.roles import Role
from hub.auth.tokens import Principal, verify
from onedoor.cli import app
from onedoor.settings import Settings


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    for name in ("ONEDOOR_AUTH__PUBLIC_KEY_PATH", "ONEDOOR_AUTH__ISSUER", "ONEDOOR_DB__URL"):
        monkeypatch.delenv(name, raising=False)
    # The command configures logging onto the runner's stderr; put back what the session had.
    root = logging.getLogger()
    handlers, level, config = list(root.handlers), root.level, structlog.get_config()
    yield tmp_path / "home"
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.configure(**config)


def _run(home: Path, *args: str, env: str = "dev") -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["admin", "token", *args], env={"ONEDOOR_HOME": str(home), "ONEDOOR_ENV": env})
    return result.exit_code, result.stdout, result.stderr


def _principal(home: Path, token: str) -> Principal:
    return verify(token, token_policy(Settings(env="dev", home=home)), datetime.now(UTC))


def test_it_prints_a_hub_operator_token_the_hub_accepts(home: Path) -> None:
    code, out, _ = _run(home, "--role", "hub-operator")
    assert code == 0
    [token] = out.splitlines()
    principal = _principal(home, token)
    assert principal.roles == {Role.HUB_OPERATOR}
    assert principal.subject.startswith("dev:")
    assert timedelta(minutes=59) < principal.expires_at - datetime.now(UTC) <= timedelta(hours=1)


def test_an_agency_admin_token_names_its_agency_subject_and_lifetime(home: Path) -> None:
    code, out, _ = _run(home, "--role", "agency-admin", "--agency", "met-police", "--subject", "amy", "--ttl", "15m")
    assert code == 0
    principal = _principal(home, out.strip())
    assert (principal.subject, principal.roles, principal.agency) == (
        "amy",
        frozenset({Role.AGENCY_ADMIN}),
        "met-police",
    )
    assert principal.expires_at - datetime.now(UTC) <= timedelta(minutes=15)


def test_several_roles_may_be_given(home: Path) -> None:
    code, out, _ = _run(home, "--role", "auditor", "--role", "ops-viewer")
    assert code == 0
    assert _principal(home, out.strip()).roles == {Role.AUDITOR, Role.OPS_VIEWER}


REFUSED = [
    pytest.param(["--role", "agency-admin"], "auth.missing_claim", id="agency-admin without --agency"),
    pytest.param(
        ["--role", "hub-operator", "--agency", "met-police"], "auth.unexpected_agency", id="agency on operator"
    ),
    pytest.param(["--role", "agency-admin", "--agency", "Not A Slug"], "agency_id.invalid", id="a malformed agency"),
    pytest.param(["--role", "auditor", "--subject", "two words"], "auth.bad_subject", id="a subject with a space"),
]


@pytest.mark.parametrize(("args", "error"), REFUSED)
def test_tokens_the_hub_would_refuse_are_not_minted(home: Path, args: list[str], error: str) -> None:
    code, out, err = _run(home, *args)
    assert code == 2
    assert out == ""
    assert error in err


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["--role", "superuser"], id="an unknown role"),
        pytest.param([], id="no role at all"),
        pytest.param(["--role", "auditor", "--ttl", "forever"], id="a lifetime that is not a duration"),
        pytest.param(["--role", "auditor", "--ttl", "25h"], id="a lifetime over 24 h"),
        pytest.param(["--role", "auditor", "--ttl", "0s"], id="a zero lifetime"),
    ],
)
def test_bad_options_are_usage_errors(home: Path, args: list[str]) -> None:
    code, out, _ = _run(home, *args)
    assert code == 2
    assert out == ""


def test_prod_refuses_and_writes_no_key(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONEDOOR_DB__URL", "postgresql+psycopg://u@db.invalid/hub")
    code, out, err = _run(home, "--role", "hub-operator", env="prod")
    assert code == 2
    assert out == ""
    assert "auth.dev_issuer_refused" in err
    assert not (home / "hub" / "issuer-key.pem").exists()


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("90", 90), ("15m", 900), ("1h", 3600), ("1d", 86400), (" 2h ", 7200)],
)
def test_lifetimes(text: str, seconds: int) -> None:
    assert cli.parse_ttl(text) == timedelta(seconds=seconds)


def test_a_lifetime_over_a_day_is_refused() -> None:
    with pytest.raises(typer.BadParameter):
        cli.parse_ttl("2d")
