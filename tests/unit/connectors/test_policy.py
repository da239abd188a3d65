"""The policy document: built from the hub's engine objects, rebuilt identically by a connector."""

from __future__ import annotations

import time

import httpx
import pytest

from connectors.sdk.policy import SharingPolicy, fetch_policy
from consent.agreement import AgreementState
from consent.catalog import Catalog
from consent.contract import TaggedContract
from consent.decide import DecisionRequest, decide
from consent.index import AgreementIndex
from consent.model import AccessLevel, Member
from contracts.catalog import bundled
from hub.agreements.schemas import AgreementBody
from hub.policy.document import document_from
from hub.policy.schemas import PolicyDocument
from onedoor.errors import Unavailable, ValidationFailed
from tests.unit.connectors.world import (
    CHARITY,
    COUNCIL,
    FULL_TO_COUNCIL,
    KINDS,
    LIMITED_TO_COUNCIL,
    LIMITED_TO_PARTNERS,
    POLICE,
    PURPOSE,
    REFERRAL,
    STRANGER,
    YOT,
    document,
)

CONTRACT = TaggedContract.from_schema(bundled()[REFERRAL], 1)
NOW = int(time.time() * 1000)
HUB = "http://hub.test"


def test_served_document_decides_like_the_engine_objects_it_came_from() -> None:
    """Hub side (engine objects → document → JSON) and connector side (JSON → engine objects) agree."""
    bodies = [AgreementBody.model_validate(a) for a in (FULL_TO_COUNCIL, LIMITED_TO_PARTNERS)]
    engine = [b.to_engine(1, AgreementState.ACTIVE) for b in bodies]
    catalog = Catalog.of(
        [Member(a, k) for a, k in KINDS.items()], [TaggedContract.from_tags(str(REFERRAL), 1, CONTRACT.tags)]
    )
    served = document_from(list(zip(bodies, engine, strict=True)), catalog)
    policy = SharingPolicy.from_document(served.model_dump(mode="json"))
    direct = AgreementIndex.build(engine, catalog)
    assert policy.version == served.version
    assert policy.index.rejected == ()
    assert policy.catalog.members == catalog.members
    assert policy.catalog.contracts[(str(REFERRAL), 1)].tags == CONTRACT.tags
    outcomes = []
    for recipient in (COUNCIL, CHARITY, YOT, STRANGER):
        ours = policy.decide(sender=POLICE, recipient=recipient, contract=CONTRACT, purpose=PURPOSE, at_ms=NOW)
        theirs = decide(DecisionRequest(POLICE, recipient, CONTRACT, PURPOSE, NOW), direct)
        assert (ours.effect, ours.allowed_fields, ours.agreement_id, ours.codes) == (
            theirs.effect,
            theirs.allowed_fields,
            theirs.agreement_id,
            theirs.codes,
        )
        outcomes.append((recipient, ours.permitted, ours.agreement_id))
    assert outcomes == [
        (COUNCIL, True, "isa-police-council"),
        (CHARITY, True, "isa-police-partners"),
        (YOT, True, "isa-police-partners"),
        (STRANGER, False, None),
    ]


def test_limited_allows_status_not_file() -> None:
    policy = SharingPolicy(document(LIMITED_TO_PARTNERS))
    decision = policy.decide(sender=POLICE, recipient=CHARITY, contract=CONTRACT, purpose=PURPOSE, at_ms=NOW)
    assert decision.allowed_fields == CONTRACT.fields_for(AccessLevel.LIMITED.classes)
    assert "concern_summary" in decision.allowed_fields
    assert not {"child", "child.given_name", "referrer.name"} & decision.allowed_fields


@pytest.mark.parametrize(
    ("changed", "case"),
    [
        (document(LIMITED_TO_COUNCIL), "an agreement's terms changed"),
        (document(FULL_TO_COUNCIL, state=AgreementState.SUSPENDED), "an agreement was suspended"),
        (document(FULL_TO_COUNCIL, LIMITED_TO_PARTNERS), "an agreement was added"),
    ],
)
def test_version_changes_with_the_content(changed: PolicyDocument, case: str) -> None:
    same = document(FULL_TO_COUNCIL)
    assert same.version == document(FULL_TO_COUNCIL).version
    assert changed.version != same.version, case


def test_update_swaps_only_a_different_version_and_takes_effect() -> None:
    policy = SharingPolicy(document(FULL_TO_COUNCIL))
    assert policy.decide(sender=POLICE, recipient=COUNCIL, contract=CONTRACT, purpose=PURPOSE, at_ms=NOW).permitted
    assert not policy.update(document(FULL_TO_COUNCIL).model_dump(mode="json"))
    assert policy.index.version == 0
    assert policy.update(document(FULL_TO_COUNCIL, state=AgreementState.REVOKED))
    assert policy.index.version == 1
    revoked = policy.decide(sender=POLICE, recipient=COUNCIL, contract=CONTRACT, purpose=PURPOSE, at_ms=NOW)
    assert not revoked.permitted
    assert revoked.codes == ("agreement.revoked",)


def test_a_document_that_does_not_validate_is_refused_and_the_policy_kept() -> None:
    policy = SharingPolicy(document(FULL_TO_COUNCIL))
    broken = document(FULL_TO_COUNCIL).model_dump(mode="json")
    del broken["agencies"]
    with pytest.raises(ValidationFailed) as caught:
        policy.update(broken)
    assert caught.value.code == "policy.invalid"
    assert policy.decide(sender=POLICE, recipient=COUNCIL, contract=CONTRACT, purpose=PURPOSE, at_ms=NOW).permitted


async def test_fetch_then_refresh_uses_the_etag() -> None:
    served = [document(FULL_TO_COUNCIL)]
    seen: list[str | None] = []

    def hub(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/policy"
        seen.append(request.headers.get("If-None-Match"))
        current = served[-1]
        if request.headers.get("If-None-Match") == f'"{current.version}"':
            return httpx.Response(304)
        return httpx.Response(200, json=current.model_dump(mode="json"), headers={"ETag": f'"{current.version}"'})

    async with httpx.AsyncClient(transport=httpx.MockTransport(hub), base_url=HUB) as client:
        policy = await fetch_policy(HUB, client=client)
        assert not await policy.refresh(HUB, client=client)
        served.append(document(LIMITED_TO_COUNCIL))
        assert await policy.refresh(HUB, client=client)
    first = served[0].version
    assert seen == [None, f'"{first}"', f'"{first}"']
    assert policy.version == served[-1].version
    decision = policy.decide(sender=POLICE, recipient=COUNCIL, contract=CONTRACT, purpose=PURPOSE, at_ms=NOW)
    assert decision.allowed_fields == CONTRACT.fields_for(AccessLevel.LIMITED.classes)


async def test_an_unreachable_hub_is_unavailable() -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(down), base_url=HUB) as client:
        with pytest.raises(Unavailable) as caught:
            await fetch_policy(HUB, client=client)
    assert caught.value.code == "hub.unreachable"
