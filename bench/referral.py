"""How long a public referral takes from the form's submit at the hub to the triage desk's inbox.

A real hub API (SQLite, the intake publisher) served by uvicorn on a free port, the bench's
broker, and the triage agency's real connector process (``running_connector`` with its intake
key), all in this process. Each submission is what the browser sends: an HTTP form POST to
``/refer`` holding only the sealed blob (sealed beforehand, as the page seals before it
posts), with the page's form token. Latency runs from the POST to the moment the referral is
in the triage connector's workbench store (polled every 2 ms), decrypted and validated.
Submissions are sequential, a tenth of a second apart: referrals arrive one at a time.

    python -m bench.referral   (measure alone; merge into bench/results/latest.json)
"""

from __future__ import annotations

import asyncio
import re
import shutil
import socket
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from connectors.agent.config import ConnectorConfig
from connectors.agent.runtime import running_connector
from connectors.identity import MatchingKey
from hub.agencies.schemas import b64url
from hub.app import create_app
from hub.auth.issuer import DevIssuer
from hub.auth.roles import Role
from hub.intake.pages import SEALED_FIELD
from hub.intake.spam import HONEYPOT_FIELD, TIMER_FIELD
from onedoor.envelope.intake import IntakeKeyPair, seal_form
from onedoor.envelope.keys import AgencyKeyPair
from onedoor.ids import AgencyId
from onedoor.kafka.admin import ensure_topics
from onedoor.logging import configure_logging
from onedoor.settings import Settings
from onedoor.topics import TopicNames

DESK = AgencyId("bench-triage-desk")
TARGET_MS = 1000.0
_TOKEN = re.compile(rf'name="{TIMER_FIELD}" value="([^"]+)"')
_REFERENCE = re.compile(r'id="reference">(OD-[2-9A-Z]{8})<')
FORM = (
    b'{"v":1,"referrer":{"relationship":"neighbour"},"child":{"given_name":"Benchy","family_name":"McFakeface",'
    b'"estimated_age":14,"area":"Testborough"},"concern_categories":["COUNTY_LINES"],'
    b'"concern_summary":"Synthetic benchmark referral.","urgency":"ROUTINE","parent_carer_knows":"not-sure"}'
)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


async def _serve(app: Any) -> tuple[uvicorn.Server, asyncio.Task[None], str]:
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    return server, task, f"http://127.0.0.1:{port}"


async def measure(bootstrap: str, *, count: int = 50) -> dict[str, Any]:
    """``referral.submit_to_inbox_p99_ms`` (and p50) over ``count`` sequential public referrals."""
    work = Path(tempfile.mkdtemp(prefix="onedoor-bench-referral-"))
    settings = Settings.model_validate(
        {
            "env": "test",
            "home": str(work / "home"),
            "kafka": {"bootstrap_servers": bootstrap, "topic_prefix": f"ref{uuid.uuid4().hex[:8]}", "partitions": 1},
            "db": {"url": f"sqlite:///{work / 'hub.sqlite3'}"},
            "intake": {"min_fill_seconds": 0, "rate_per_minute": 10_000},
        }
    )
    keys = AgencyKeyPair.generate(DESK)
    keys.save(work / "desk" / "keys")
    MatchingKey.generate().save(work / "desk" / "matching.key")
    intake = IntakeKeyPair.generate()
    intake.save(work / "desk" / "intake.pem")
    server, serving, hub_url = await _serve(create_app(settings, bootstrap=bootstrap))
    latencies: list[float] = []
    try:
        bearer = DevIssuer.from_settings(settings).mint(subject="bench", roles=[Role.HUB_OPERATOR])
        operator = {"Authorization": f"Bearer {bearer}"}
        async with httpx.AsyncClient(base_url=hub_url, timeout=30) as http:
            registered = await http.post(
                "/agencies",
                headers=operator,
                json={
                    "id": str(DESK),
                    "display_name": "Bench triage desk",
                    "kind": "triage",
                    "signing_public_key": b64url(keys.signing_public),
                    "encryption_public_key": b64url(keys.encryption_public),
                },
            )
            assert registered.status_code == 201, registered.text
            config = ConnectorConfig(
                agency=str(DESK),
                keys_dir=work / "desk" / "keys",
                matching_key_path=work / "desk" / "matching.key",
                disclosure_log_path=work / "desk" / "disclosures.sqlite3",
                hub_url=hub_url,
                intake_key_path=work / "desk" / "intake.pem",
                kafka={"bootstrap_servers": bootstrap, "topic_prefix": settings.kafka.topic_prefix},  # type: ignore[arg-type]
                api={"token": "bench-token-" + "z" * 32},  # type: ignore[arg-type]
            )
            # What the router makes for a registered agency; this bench runs no router.
            topics = TopicNames(settings.kafka.topic_prefix)
            await ensure_topics(bootstrap, [topics.inbox(DESK), topics.outbound(DESK)], partitions=1)
            # The desk's connector registers its own intake key at start-up (its agency assertion).
            async with running_connector(config) as process:
                shown = (await http.get("/intake/key")).json()
                assert shown.get("key_id") == intake.key_id, "the desk's connector did not register its intake key"
                store = process.desk.store
                for i in range(count + 3):  # the first three warm up connections and the consumer
                    page = await http.get("/refer")
                    token = _TOKEN.search(page.text)
                    assert token is not None, "the form page has no form token"
                    sealed = seal_form(intake.public_raw, FORM)
                    fields = {TIMER_FIELD: token.group(1), SEALED_FIELD: sealed, HONEYPOT_FIELD: ""}
                    started = time.perf_counter()
                    posted = await http.post("/refer", data=fields)
                    found = _REFERENCE.search(posted.text)
                    assert posted.status_code == 200, posted.status_code
                    assert found is not None, "no reference on the confirmation page"
                    reference = found.group(1)
                    while store.by_reference(reference) is None:
                        if time.perf_counter() - started > 30:
                            raise RuntimeError(f"referral {reference} never reached the triage inbox")
                        await asyncio.sleep(0.002)
                    if i >= 3:
                        latencies.append((time.perf_counter() - started) * 1000)
                    await asyncio.sleep(0.1)
    finally:
        server.should_exit = True
        await serving
        shutil.rmtree(work, ignore_errors=True)
    cond = (
        f"{count} public referrals one at a time: HTTP POST of the sealed form to /refer -> intake topic -> "
        "triage connector decrypts, validates and stores it; hub on SQLite, 1 broker"
    )
    p99 = _percentile(latencies, 0.99)
    print(f"referral submit -> inbox: p50 {_percentile(latencies, 0.5):.1f} ms, p99 {p99:.1f} ms", flush=True)
    return {
        "referral.submit_to_inbox_p50_ms": {
            "value": round(_percentile(latencies, 0.5), 3),
            "unit": "ms",
            "conditions": cond,
        },
        "referral.submit_to_inbox_p99_ms": {
            "value": round(p99, 3),
            "unit": "ms",
            "conditions": cond + f"; target <= {TARGET_MS:.0f} ms",
        },
    }


def main() -> None:
    """``python -m bench.referral``: measure on KAFKA_BOOTSTRAP_SERVERS or a fresh local broker; merge the figures."""
    from bench.__main__ import broker, merge_results  # noqa: PLC0415 - the runner imports this module

    configure_logging("WARNING")
    with broker() as bootstrap:
        figures = asyncio.run(measure(bootstrap))
    merge_results(figures, "referral_measured_at")


if __name__ == "__main__":
    main()
