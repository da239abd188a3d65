"""Helpers for console page tests: sign in through the real form, save screenshots.

sign_in(page, hub, role, agency=None, subject=None): mint a token with the hub's development
    issuer and sign in through /console/sign-in as a person would (paste, press Sign in).
    Returns the subject signed in as.
sign_out(page): press the layout's "Sign out" button.
screenshot(page, name): a full-page PNG at tests/artifacts/console-<name>.png; its path.
"""

from __future__ import annotations

from pathlib import Path

import httpx
from playwright.sync_api import Page

from connectors.sdk import Connector
from connectors.sdk.codec import ContractCodecs
from connectors.sdk.directory import PublicDirectory, fetch_directory
from connectors.sdk.policy import SharingPolicy, fetch_policy
from connectors.synthetic import referral
from hub.auth.roles import Role
from onedoor.envelope.keys import AgencyKeyPair
from onedoor.ids import AgencyId, ContractName, Purpose, SubjectToken
from onedoor.topics import TopicNames
from tests.browser.conftest import ARTIFACTS, ServedHub

REFERRAL = ContractName("onedoor.referral.MasterReferral")
PURPOSE = Purpose("safeguarding-referral")


def sign_in(
    page: Page,
    hub: ServedHub,
    role: Role,
    agency: AgencyId | None = None,
    *,
    subject: str | None = None,
    next_path: str | None = None,
) -> str:
    """Sign in to the console of ``hub`` as ``role`` (of ``agency`` for an agency-admin); the subject."""
    who = subject or (f"{role.value}@{agency}" if agency else f"{role.value}-browser")
    token = hub.issuer.mint(subject=who, roles=[role], agency=agency)
    url = f"{hub.base_url}/console/sign-in" + (f"?next={next_path}" if next_path else "")
    page.goto(url)
    page.get_by_label("Your hub access token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state("load")
    assert "/console/sign-in" not in page.url, f"sign-in as {role.value} failed: {page.url}"
    return who


def sign_out(page: Page) -> None:
    """Press "Sign out" in the console's layout."""
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_load_state("load")


def screenshot(page: Page, name: str) -> Path:
    """Save the whole page as ``tests/artifacts/console-<name>.png``; its path."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"console-{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def expected_status_errors(page_errors: list[str], *statuses: int) -> None:
    """Forget the browser's "Failed to load resource" lines for responses the test expects with ``statuses``."""
    expected = {f"Failed to load resource: the server responded with a status of {s} " for s in statuses}
    page_errors[:] = [e for e in page_errors if not any(e.startswith(x) for x in expected)]


async def hub_views(hub: ServedHub) -> tuple[PublicDirectory, SharingPolicy]:
    """The hub's public directory and sharing policy as a connector fetches them."""
    async with httpx.AsyncClient(base_url=hub.base_url, timeout=30) as client:
        return await fetch_directory(hub.base_url, client=client), await fetch_policy(hub.base_url, client=client)


async def send_referrals(
    hub: ServedHub,
    keys: AgencyKeyPair,
    recipient: AgencyId,
    bootstrap: str,
    count: int,
    *,
    views: tuple[PublicDirectory, SharingPolicy] | None = None,
    subject: str = "st1_FAKEdashboardSubject",
) -> list[str]:
    """Seal and send ``count`` synthetic referrals from ``keys.agency`` to ``recipient``; their message ids.

    The subject tokens are fake: ``subject`` then the referral's number (0000, 0001 ...).
    """
    directory, policy = views or await hub_views(hub)
    connector = Connector(
        keys=keys,
        directory=directory,
        codec=ContractCodecs.bundled(),
        bootstrap_servers=bootstrap,
        topics=TopicNames(hub.settings.kafka.topic_prefix),
        policy=policy,
    )
    sent: list[str] = []
    async with connector:
        for n in range(count):
            [one] = await connector.send(
                contract=REFERRAL,
                version=1,
                recipients=[recipient],
                purpose=PURPOSE,
                body=referral(40 + n),
                subject_token=SubjectToken(f"{subject}{n:04d}"),
            )
            sent.append(str(one.message_id))
    return sent
