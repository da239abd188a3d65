"""Sharing agreements and consent decisions: the pure decision engine.

Build an ``AgreementIndex`` from agreements and a ``Catalog``; ``decide`` a ``DecisionRequest``
to get a ``Decision`` (permit or deny, allowed fields, agreement and lawful basis relied on,
reasons); ``project`` a decoded body to the allowed fields and encode it with
``projection_schema``. Nothing here does I/O. See README.md.
"""

from consent.agreement import Agreement, AgreementState
from consent.basis import Article6, Article9, DpaCondition, LawfulBasis, Statute
from consent.catalog import Catalog
from consent.contract import TaggedContract
from consent.decide import Decision, DecisionRequest, decide
from consent.errors import Invalid
from consent.ids import AgreementId, GroupName
from consent.index import AgreementIndex
from consent.model import (
    ALL_CLASSES,
    ALWAYS,
    ANYONE,
    AccessLevel,
    Action,
    Actor,
    ActorScope,
    DataClass,
    Effect,
    Member,
    Period,
    Provision,
    parse_data_class,
)
from consent.project import project, projection_schema
from consent.purposes import PURPOSES
from consent.reasons import Reason, ReasonCode
from consent.subject import MAX_OVERRIDE, ConsentState, ConsentStatus, EmergencyOverride, judge_consent

__all__ = [
    "ALL_CLASSES",
    "ALWAYS",
    "ANYONE",
    "MAX_OVERRIDE",
    "PURPOSES",
    "AccessLevel",
    "Action",
    "Actor",
    "ActorScope",
    "Agreement",
    "AgreementId",
    "AgreementIndex",
    "AgreementState",
    "Article6",
    "Article9",
    "Catalog",
    "ConsentState",
    "ConsentStatus",
    "DataClass",
    "Decision",
    "DecisionRequest",
    "DpaCondition",
    "Effect",
    "EmergencyOverride",
    "GroupName",
    "Invalid",
    "LawfulBasis",
    "Member",
    "Period",
    "Provision",
    "Reason",
    "ReasonCode",
    "Statute",
    "TaggedContract",
    "decide",
    "judge_consent",
    "parse_data_class",
    "project",
    "projection_schema",
]
