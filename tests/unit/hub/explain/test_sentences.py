"""Every reason code an audit row can carry has a sentence for agency admins, so none can be added without one."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import hub.auth.tokens
from consent.reasons import ReasonCode
from hub.auth.policy import FORBIDDEN
from hub.explain.sentences import AUTH_SENTENCES, SENTENCES, sentence
from hub.router.policy import PolicyReason
from hub.router.status import StatusReason
from onedoor.envelope.reasons import Reason

_GENERIC = sentence("no.such_code")


@pytest.mark.parametrize("code", [*Reason, *ReasonCode, *PolicyReason, *StatusReason], ids=str)
def test_every_router_and_engine_code_has_its_own_sentence(code: str) -> None:
    assert code in SENTENCES
    assert sentence(code) != _GENERIC
    assert sentence(code).endswith(".")


def test_every_code_the_token_check_refuses_with_has_a_sentence() -> None:
    # The auth codes are string literals, not an enum: read them from the source that raises them.
    source = Path(hub.auth.tokens.__file__).read_text(encoding="utf-8")
    raised = set(re.findall(r'TokenRefused\(\s*"(auth\.[a-z_]+)"', source))
    assert len(raised) >= 9  # the parse found them
    assert raised | {FORBIDDEN} <= set(AUTH_SENTENCES)


def test_engine_codes_keep_the_engines_sentence() -> None:
    assert sentence("agreement.revoked") == ReasonCode.REVOKED.sentence


def test_an_unknown_code_gets_a_generic_sentence_naming_it() -> None:
    assert "future.code" in sentence("future.code")
    assert sentence("future.code") != sentence("other.code")
