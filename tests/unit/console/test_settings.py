"""The console's cookie is Secure outside dev and test, and prod refuses to turn that off."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from hub.console.shell import secure_cookie
from onedoor.settings import ConsoleSettings, DatabaseSettings, Settings

PG = DatabaseSettings(url="postgresql+psycopg://hub@db.invalid/hub")


@pytest.mark.parametrize(
    ("env", "configured", "secure"),
    [("dev", None, False), ("test", None, False), ("prod", None, True), ("dev", True, True), ("prod", True, True)],
)
def test_secure_unless_dev_or_test(env: str, configured: bool | None, secure: bool) -> None:
    settings = Settings(env=env, db=PG, console=ConsoleSettings(secure_cookie=configured))  # type: ignore[arg-type]
    assert secure_cookie(settings) is secure


def test_prod_refuses_an_insecure_cookie() -> None:
    with pytest.raises(ValidationError, match="Secure console cookies"):
        Settings(env="prod", db=PG, console=ConsoleSettings(secure_cookie=False))


def test_lifetimes_are_bounded() -> None:
    with pytest.raises(ValidationError):
        ConsoleSettings(absolute_hours=48)
    assert ConsoleSettings().idle_minutes == 30
