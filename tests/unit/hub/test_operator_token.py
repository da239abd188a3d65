"""Where the operator token comes from, and how it is kept on disk in dev."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Literal

import pytest
from pydantic import SecretStr

from hub.deps import OPERATOR_TOKEN_FILE, _same_secret, operator_token
from onedoor.errors import ValidationFailed
from onedoor.settings import ApiSettings, DatabaseSettings, Settings


def _settings(home: Path, env: Literal["dev", "test", "prod"] = "dev", token: str | None = None) -> Settings:
    return Settings(
        env=env,
        home=home,
        db=DatabaseSettings(url="postgresql+psycopg://u@h/d" if env == "prod" else None),
        api=ApiSettings(operator_token=SecretStr(token) if token else None),
    )


def test_a_configured_token_is_used_as_is_and_nothing_is_written(tmp_path: Path) -> None:
    configured = "configured-token-of-sufficient-length"
    assert operator_token(_settings(tmp_path, token=configured)).get_secret_value() == configured
    assert not (tmp_path / OPERATOR_TOKEN_FILE).exists()


def test_dev_generates_a_token_once_and_keeps_it_private(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    first = operator_token(_settings(home))
    path = home / OPERATOR_TOKEN_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first.get_secret_value()) >= 40
    assert operator_token(_settings(home)).get_secret_value() == first.get_secret_value(), "reused on restart"
    logged = capsys.readouterr()
    assert first.get_secret_value() not in caplog.text + logged.out + logged.err, "only its path is logged"
    assert first.get_secret_value() not in repr(first)


def test_a_token_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    operator_token(_settings(tmp_path))
    (tmp_path / OPERATOR_TOKEN_FILE).chmod(0o644)
    with pytest.raises(ValidationFailed) as caught:
        operator_token(_settings(tmp_path))
    assert caught.value.code == "settings.operator_token_unsafe"


def test_a_short_token_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationFailed) as caught:
        operator_token(_settings(tmp_path, token="short"))
    assert caught.value.code == "settings.operator_token_weak"


def test_prod_without_a_token_fails_closed(tmp_path: Path) -> None:
    with pytest.raises(ValidationFailed) as caught:
        operator_token(_settings(tmp_path, env="prod"))
    assert caught.value.code == "settings.operator_token_missing"
    assert not (tmp_path / OPERATOR_TOKEN_FILE).exists()


@pytest.mark.parametrize(
    ("given", "expected", "same"),
    [
        pytest.param("abc", "abc", True, id="equal"),
        pytest.param("abc", "abd", False, id="same length, different"),
        pytest.param("abc", "abcd", False, id="a prefix is not a match"),
        pytest.param("", "abc", False, id="empty"),
        pytest.param("é", "é", True, id="non-ASCII is compared as UTF-8"),
    ],
)
def test_secret_comparison(given: str, expected: str, same: bool) -> None:
    assert _same_secret(given, expected) is same
