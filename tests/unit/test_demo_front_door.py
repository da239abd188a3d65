"""The front door part of `onedoor demo`, without a broker: its connectors' settings and workbench accounts."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.workbench.store import WorkbenchStore
from connectors.workbench.users import Staff
from onedoor.demo_front_door import ACCOUNT_CHANGED, DESKS, account, connector_config
from onedoor.errors import ValidationFailed
from onedoor.settings import Settings

DESK, CHARITY = DESKS


def _settings(tmp_path: Path) -> Settings:
    return Settings(env="test", home=tmp_path / "home")


def test_the_triage_desk_reads_public_referrals_over_plain_http_and_the_charity_does_not(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    desk = connector_config(settings, DESK, bootstrap="127.0.0.1:9092", hub_url="http://127.0.0.1:8470")
    charity = connector_config(settings, CHARITY, bootstrap="127.0.0.1:9092", hub_url="http://127.0.0.1:8470")

    assert desk.intake_key_path == settings.home / "demo" / DESK.agency.id / "intake.pem"
    assert desk.intake_key_path.stat().st_mode & 0o777 == 0o600
    assert charity.intake_key_path is None
    assert (desk.workbench.secure_cookies, charity.workbench.secure_cookies) == (False, False)
    assert desk.kafka.bootstrap_servers == "127.0.0.1:9092"
    assert desk.api.port != charity.api.port


def test_an_account_is_made_once_with_a_private_password_file_and_reused(tmp_path: Path) -> None:
    config = connector_config(_settings(tmp_path), DESK, bootstrap="127.0.0.1:9092", hub_url="http://hub")

    first = account(config, DESK)
    again = account(config, DESK)

    assert first == again
    password_file = config.data_directory / "workbench-password"
    assert password_file.stat().st_mode & 0o777 == 0o600
    store = WorkbenchStore(config.workbench_database_url()).create()
    try:
        signed_in = Staff(store).authenticate("triage.officer", first)
    finally:
        store.close()
    assert signed_in is not None
    assert signed_in.role.value == "triage-officer"


def test_an_account_whose_password_file_is_gone_is_a_clear_error(tmp_path: Path) -> None:
    config = connector_config(_settings(tmp_path), CHARITY, bootstrap="127.0.0.1:9092", hub_url="http://hub")
    account(config, CHARITY)
    (config.data_directory / "workbench-password").unlink()

    with pytest.raises(ValidationFailed) as raised:
        account(config, CHARITY)

    assert raised.value.code == ACCOUNT_CHANGED
    assert "charity.worker" in str(raised.value)
