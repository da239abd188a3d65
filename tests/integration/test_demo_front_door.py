"""`onedoor demo` serving the One Front Door, against the real broker, until it is told to stop.

1. After the police-to-council exchange the demo serves: the public form at the hub answers
   with the GOV.UK page, the hub seals public referrals to the triage desk's own intake key
   (the desk registered it at start-up), and both workbenches show their sign-in page and
   accept the printed accounts.
2. Setting the stop event ends it: the demo returns, and the ports are closed.
3. A second run reuses everything: agencies, agreements, keys and the same passwords.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import httpx
import pytest

from onedoor.demo import run_demo
from onedoor.demo_front_door import DESK, FrontDoor, Workbench
from onedoor.envelope.intake import IntakeKeyPair
from onedoor.settings import DatabaseSettings, KafkaSettings, Settings

pytestmark = pytest.mark.integration


def _settings(tmp_path: Path, bootstrap: str) -> Settings:
    return Settings(
        env="test",
        home=tmp_path / "home",
        kafka=KafkaSettings(bootstrap_servers=bootstrap, topic_prefix=f"d{uuid.uuid4().hex[:8]}", partitions=1),
        db=DatabaseSettings(url=f"sqlite:///{tmp_path / 'hub.sqlite3'}"),
    )


async def _signs_in(client: httpx.AsyncClient, bench: Workbench) -> bool:
    """Sign in through the form as a browser would (the sign-in cookie and CSRF token from the page)."""
    page = await client.get(f"{bench.url}/workbench/sign-in")
    assert page.status_code == 200
    assert "govuk" in page.text
    csrf = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    signed = await client.post(
        f"{bench.url}/workbench/sign-in",
        data={"username": bench.username, "password": bench.password, "csrf_token": csrf},
    )
    return signed.status_code == 303 and signed.headers["location"].endswith("/workbench/inbox")


async def _serve_once(settings: Settings) -> FrontDoor:
    """Run the demo until it serves, check what a newcomer would open, stop it; where it served."""
    stop = asyncio.Event()
    served: asyncio.Future[FrontDoor] = asyncio.get_running_loop().create_future()
    demo = asyncio.create_task(run_demo(settings, serve=True, stop=stop, on_serving=served.set_result))
    try:
        door = await asyncio.wait_for(asyncio.shield(served), timeout=90)
        async with httpx.AsyncClient(timeout=10) as client:
            form = await client.get(door.form_url)
            assert form.status_code == 200
            assert "govuk" in form.text
            hub_url = door.form_url.removesuffix("/refer")
            shown = (await client.get(f"{hub_url}/intake/key")).json()
            own = IntakeKeyPair.load(settings.home / "demo" / DESK.id / "intake.pem")
            assert (shown["agency"], shown["key_id"]) == (DESK.id, own.key_id)
            # The console's tokens: 0600 files, one per role; the ops viewer's reads the dashboard.
            tokens = settings.home / "demo" / "console"
            assert sorted(p.name for p in tokens.iterdir()) == [
                "agency-admin.token",
                "auditor.token",
                "hub-operator.token",
                "ops-viewer.token",
            ]
            assert all(p.stat().st_mode & 0o777 == 0o600 for p in tokens.iterdir())
            viewer = (tokens / "ops-viewer.token").read_text(encoding="utf-8").strip()
            dashboard = await client.get(f"{hub_url}/ops/dashboard", headers={"Authorization": f"Bearer {viewer}"})
            assert dashboard.status_code == 200, dashboard.text
            assert (await client.get(f"{hub_url}/console/sign-in")).status_code == 200
        for bench in (door.desk, door.charity):
            async with httpx.AsyncClient(timeout=10) as client:  # a fresh cookie jar per person
                assert await _signs_in(client, bench), f"{bench.username} could not sign in"
    finally:
        stop.set()
        await asyncio.wait_for(demo, timeout=30)
    async with httpx.AsyncClient(timeout=2) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(f"{door.desk.url}/workbench/sign-in")
    return door


async def test_the_demo_serves_the_front_door_until_stopped_and_reuses_everything_next_time(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    settings = _settings(tmp_path, kafka_bootstrap)
    first = await _serve_once(settings)
    password_file = settings.home / "demo" / DESK.id / "workbench-password"
    assert password_file.stat().st_mode & 0o777 == 0o600
    assert password_file.read_text(encoding="utf-8").strip() == first.desk.password

    second = await _serve_once(settings)
    assert (second.desk.password, second.charity.password) == (first.desk.password, first.charity.password)
