"""Every log line of the hub and the connectors is JSON, correlated, and free of personal data and secrets.

The whole system runs for real: the hub (HTTP API with its lifespan and ops snapshot task,
router, SQLite), the real broker, and two connector runtimes (``running_connector``: a charity
whose folder adapter reads a CSV, a council whose webhook adapter POSTs to a real case-system
server), plus an SDK connector for a police force. The traffic carries distinctive fake names,
dates of birth, addresses, phone numbers and subject tokens: referrals delivered through both
paths, a CSV row refused for a bad date, envelopes dead-lettered for expiry, API calls with
good, bad and forbidden tokens, and an invalid API body holding a name. Every line logged,
hub and connectors, at DEBUG, is captured and checked:

- it parses as a JSON object with an ISO timestamp, a level and an event;
- request lines carry ``request_id``; routing and connector message lines carry ``message_id``;
- no line holds any of the personal values, a bearer token (or its signature), a private key
  (raw, base64, base64url or hex), the matching key or the webhook secret.

Each check has a positive control (the line kinds it relies on were logged at all), so an
empty or misdirected capture cannot pass.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import logging
from collections.abc import AsyncIterator, Iterable
from contextlib import AsyncExitStack
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from connectors.agent.runtime import running_connector
from connectors.casework.network import NetworkClient
from connectors.identity import MatchingKey
from connectors.sdk.hubauth import HubClient
from connectors.synthetic import referral
from hub.auth.roles import Role
from onedoor.envelope.keys import AgencyKeyPair
from onedoor.ids import AgencyId, ContractName, Purpose, SubjectToken
from onedoor.logging import configure_logging
from tests.e2e.hub import agreement_body, connector_config, eventually, hub_settings, running_hub
from tests.integration.webhook_server import serving, webhook_adapter
from tests.unit.adapters.folder_world import HEADER, csv_line, folder_adapter, row
from tests.unit.triage.world import FakeProgress

pytestmark = pytest.mark.e2e

REFERRAL = ContractName("onedoor.referral.MasterReferral")
PURPOSE = Purpose("safeguarding-referral")
CHARITY = AgencyId("e2e-logs-outreach-charity")
BOROUGH = AgencyId("lb-e2e-logs-borough-csc")
POLICE = AgencyId("e2e-logs-county-police")
KINDS = {CHARITY: "charity", BOROUGH: "children-services", POLICE: "police"}

# Distinctive, obviously fake personal values: none may appear in any log line.
GIVEN = "Zebedeefake"
FAMILY = "Quuxworth-Testperson"
KNOWN_AS = "Zebbyfakealias"
CSV_GIVEN = "Synthiaqfake"
CSV_FAMILY = "Examplovitch"
BAD_ROW_GIVEN = "Baddatefakename"
DOB = date(2009, 2, 27)
DOB_UK = "27/02/2009"
ADDRESS = "17 Nonexistent Fakeway"
TOWN = "Fictionalbury"
POSTCODE = "ZX9 9QQ"
PHONE = "07700 900123"
REFERRER = "Officer Plausiblyfake"
SUBJECTS = ("st1_LOGSfakeSubjectToken00001", "st1_LOGSfakeSubjectToken00002", "st1_LOGSfakeSubjectCsv000003")

PERSONAL = (
    GIVEN,
    FAMILY,
    KNOWN_AS,
    CSV_GIVEN,
    CSV_FAMILY,
    BAD_ROW_GIVEN,
    DOB.isoformat(),
    DOB_UK,
    "31/02/2010",
    ADDRESS,
    TOWN,
    POSTCODE,
    PHONE,
    REFERRER,
    *SUBJECTS,
)

# Line kinds that must carry a correlation id.
NEEDS_REQUEST_ID = frozenset({"http.request", "api.authz", "request.error", "request.failed"})
NEEDS_MESSAGE_ID = frozenset(
    {
        "connector.sent",
        "connector.fields_dropped",
        "route.rejected",
        "triage.referral_received",
        "adapter.delivered",
        "adapter.webhook.answered",
    }
)


def _body(seed: int) -> dict[str, Any]:
    body = referral(seed, concern_summary=f"Seen with {KNOWN_AS} near {ADDRESS}; call {PHONE}.")
    body["child"].update(
        given_name=GIVEN,
        family_name=FAMILY,
        known_as=[KNOWN_AS],
        date_of_birth=DOB,
        home_address={"line1": ADDRESS, "town": TOWN, "postcode": POSTCODE},
    )
    body["referrer"]["name"] = REFERRER
    return body


def _secrets(keys: Iterable[AgencyKeyPair], extra: Iterable[bytes]) -> list[str]:
    """Every text form a private key or secret could take in a log line."""
    found: list[str] = []
    raws = []
    for pair in keys:
        raws.append(pair.signing.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption()))
        raws.append(pair.encryption.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption()))
    raws.extend(extra)
    for raw in raws:
        found.append(raw.hex())
        found.append(base64.b64encode(raw).decode().rstrip("="))
        found.append(base64.urlsafe_b64encode(raw).decode().rstrip("="))
    return [s for s in found if len(s) >= 16]


@pytest.fixture
async def captured() -> AsyncIterator[io.StringIO]:
    buffer = io.StringIO()
    configure_logging("DEBUG", json=True, stream=buffer)
    yield buffer
    configure_logging("WARNING")
    logging.getLogger().setLevel(logging.WARNING)


async def test_every_log_line_is_json_correlated_and_free_of_personal_data(
    kafka_bootstrap: str, tmp_path: Path, captured: io.StringIO
) -> None:
    keys = {agency: AgencyKeyPair.generate(agency) for agency in KINDS}
    matching = MatchingKey.generate()
    drop = tmp_path / "drop"
    folder = folder_adapter(drop, str(BOROUGH))
    with serving(tmp_path / "case-system") as served:
        webhook = webhook_adapter(served)
        async with running_hub(hub_settings(tmp_path, kafka_bootstrap), refresh_interval_s=0.5) as hub:
            for agency, kind in KINDS.items():
                await hub.register(keys[agency], kind)
            await hub.agree(agreement_body("isa-e2e-logs-charity", CHARITY, BOROUGH, level="full"))
            await hub.agree(agreement_body("isa-e2e-logs-police", POLICE, BOROUGH, level="full"))
            await asyncio.sleep(0.5)
            async with AsyncExitStack() as stack:
                for agency, adapters in ((CHARITY, [folder]), (BOROUGH, [webhook])):
                    config = connector_config(
                        tmp_path / "connectors",
                        keys[agency],
                        hub,
                        {"adapters": adapters},
                        matching=matching,
                        token="w" * 40,
                    )
                    await stack.enter_async_context(
                        running_connector(config, bootstrap=kafka_bootstrap, client=hub.client, progress=FakeProgress())
                    )
                # 1. A CSV through the charity's folder adapter: two good rows, one with an impossible date.
                lines = [
                    ",".join(HEADER),
                    csv_line(
                        row(
                            First_name=CSV_GIVEN,
                            Last_name=CSV_FAMILY,
                            Date_of_birth=DOB_UK,
                            Referrer=REFERRER,
                            Subject_token=SUBJECTS[2],
                        )
                    ),
                    csv_line(row(First_name=BAD_ROW_GIVEN, Last_name=CSV_FAMILY, Date_of_birth="31/02/2010")),
                    csv_line(row(First_name=GIVEN, Last_name=FAMILY, Summary=f"Seen at {ADDRESS}, {TOWN}")),
                ]
                (drop / "incoming" / "week-48.csv").write_text("\n".join(lines) + "\n")

                # 2. The police force's SDK connector: two referrals, and one that expires in transit.
                police = await hub.connector(keys[POLICE], await hub.policy())
                async with police:
                    for seed, subject in enumerate(SUBJECTS[:2]):
                        await police.send(
                            contract=REFERRAL,
                            version=1,
                            recipients=[BOROUGH],
                            purpose=PURPOSE,
                            body=_body(seed),
                            subject_token=subject,
                        )
                    [expired] = police.seal(
                        contract=REFERRAL,
                        version=1,
                        recipients=[BOROUGH],
                        purpose=PURPOSE,
                        body=_body(9),
                        subject_token=SUBJECTS[0],
                        ttl=timedelta(milliseconds=1),
                    )
                    await asyncio.sleep(0.01)
                    await police.publish(expired.header, expired.value)

                # 3. API calls: a reader, an agency admin refused, a bad token, a body holding a name.
                viewer = hub.issuer.mint(subject=f"{GIVEN}.viewer@example.invalid", roles=[Role.OPS_VIEWER])
                hub.minted.append(viewer)
                assert (
                    await hub.client.get("/ops/dashboard", headers={"Authorization": f"Bearer {viewer}"})
                ).is_success
                admin = hub.admin(CHARITY)
                assert (await hub.client.get("/metrics", headers=admin)).status_code == 403
                forged = viewer[:-6] + ("AAAAAA" if not viewer.endswith("AAAAAA") else "BBBBBB")
                assert (
                    await hub.client.get("/ops/dashboard", headers={"Authorization": f"Bearer {forged}"})
                ).status_code == 401
                bad = await hub.client.post(
                    "/agencies",
                    headers=hub.operator(),
                    json={"id": f"{GIVEN} {FAMILY}", "display_name": f"{GIVEN} {FAMILY} born {DOB_UK}", "kind": "x"},
                )
                assert bad.status_code == 422
                # A mistyped path holding a token (no route matches it) and a malformed token in a real route.
                assert (await hub.client.get(f"/networks/{SUBJECTS[1]}", headers=admin)).status_code == 404
                odd = await hub.client.get(f"/consents/{SUBJECTS[1]}%20{GIVEN}", headers=hub.operator())
                assert odd.status_code in (403, 404, 422)

                # 4. The council's connector joins the child's network at the hub (the token is in the URL path).
                async with HubClient("http://hub", keys[BOROUGH], transport=hub.client._transport) as as_council:
                    network = NetworkClient(as_council)
                    await network.subscribe(SubjectToken(SUBJECTS[0]), lead=True)
                    assert [m.agency for m in (await network.network(SubjectToken(SUBJECTS[0]))).members] == [BOROUGH]

                # Four referrals reach the council's case system (two from the CSV, two from the police).
                await eventually(lambda: len(served.system.got) >= 4, "four webhook calls", timeout_s=60)
                await asyncio.sleep(1.5)  # the snapshot task and the adapters log their last lines
                got = json.dumps([body for _, body in served.system.got], default=str)
                assert GIVEN in got, "positive control: the personal values did travel to the agency"
                assert CSV_GIVEN in got
            tokens = list(hub.minted)
        secrets = _secrets(keys.values(), [matching.secret, served.system.secret])

    text = captured.getvalue()
    (tmp_path / "logs.jsonl").write_text(text)  # kept with the test's temporary files, for a failure's reader
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) > 100, "positive control: the system logged"

    # Every line is a JSON object with the basics.
    parsed: list[dict[str, Any]] = []
    for line in lines:
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            pytest.fail(f"a log line is not JSON: {line[:200]!r}")
        assert isinstance(entry, dict), line[:200]
        assert {"event", "level", "timestamp"} <= set(entry), line[:200]
        parsed.append(entry)

    # Correlation ids where they apply.
    events = {e["event"] for e in parsed}
    expected = (NEEDS_REQUEST_ID | NEEDS_MESSAGE_ID) - {"request.failed", "connector.fields_dropped"}
    assert expected <= events, f"positive control: {sorted(expected - events)} never logged"
    for entry in parsed:
        if entry["event"] in NEEDS_REQUEST_ID:
            assert entry.get("request_id"), entry
        if entry["event"] in NEEDS_MESSAGE_ID:
            assert entry.get("message_id"), entry
    assert any(e.get("logger", "").startswith("connectors.") for e in parsed), "positive control: connector lines"
    assert any(e.get("logger", "").startswith("hub.") for e in parsed), "positive control: hub lines"

    # Nothing personal, no token, no key, no secret.
    lowered = text.lower()
    for value in PERSONAL:
        assert value.lower() not in lowered, f"personal value {value!r} in the logs: {_context(lines, value)}"
    assert len(tokens) >= 6, "positive control: tokens were used"
    for token in tokens:
        header_payload, signature = token.rsplit(".", 1)
        assert signature not in text, f"a bearer token in the logs: {_context(lines, signature)}"
        assert header_payload.split(".", 1)[1] not in text, "a token's claims in the logs"
    for secret in secrets:
        assert secret not in text, f"key material in the logs: {_context(lines, secret)}"
    assert "w" * 40 not in text, "the connector's API token in the logs"


def _context(lines: list[str], value: str) -> str:
    return next((line[:400] for line in lines if value.lower() in line.lower()), "")
