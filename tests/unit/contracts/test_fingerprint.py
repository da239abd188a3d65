"""Fingerprints are stable across formatting; the digest also sees tags, defaults and logical types."""

from __future__ import annotations

import hashlib
import json

from contracts.catalog import bundled
from contracts.fingerprint import canonical_form, contract_digest, fingerprint
from tests.unit.contracts.conftest import field, record

BASE = record(field("id", "string"), field("seen_at", {"type": "long", "logicalType": "timestamp-millis"}))


def test_a_pinned_schema_keeps_its_fingerprint() -> None:
    # If this changes, every registered fingerprint changes: a fastavro upgrade must not do that.
    assert canonical_form(BASE) == (
        '{"name":"test.contracts.Thing","type":"record","fields":'
        '[{"name":"id","type":"string"},{"name":"seen_at","type":"long"}]}'
    )
    assert fingerprint(BASE) == hashlib.sha256(canonical_form(BASE).encode()).hexdigest()
    assert fingerprint(BASE) == "a7441c05da4cd2a491b738cba3e93752ef9b14fb0a6070660c9c2774146a4941"


def test_formatting_key_order_and_docs_change_neither() -> None:
    reformatted = json.dumps(
        {
            "fields": [dict(reversed(list(f.items()))) | {"doc": "Reworded."} for f in BASE["fields"]],
            "namespace": "test.contracts",
            "name": "Thing",
            "type": "record",
            "doc": "Added a doc.",
        },
        indent=4,
    )

    assert fingerprint(reformatted) == fingerprint(BASE)
    assert contract_digest(reformatted) == contract_digest(BASE)


def test_a_full_name_equals_name_plus_namespace() -> None:
    full = {**BASE, "name": "test.contracts.Thing"}
    del full["namespace"]

    assert fingerprint(full) == fingerprint(BASE)
    assert contract_digest(full) == contract_digest(BASE)


def test_a_tag_change_keeps_the_fingerprint_but_changes_the_digest() -> None:
    retagged = record(field("id", "string", "identity"), BASE["fields"][1])

    assert fingerprint(retagged) == fingerprint(BASE)
    assert contract_digest(retagged) != contract_digest(BASE)


def test_defaults_and_logical_types_change_the_digest_only() -> None:
    defaulted = record(field("id", "string", default="unknown"), BASE["fields"][1])
    plain_long = record(BASE["fields"][0], field("seen_at", "long"))

    for variant in (defaulted, plain_long):
        assert fingerprint(variant) == fingerprint(BASE)
        assert contract_digest(variant) != contract_digest(BASE)


def test_a_type_change_changes_both() -> None:
    changed = record(field("id", "bytes"), BASE["fields"][1])

    assert fingerprint(changed) != fingerprint(BASE)
    assert contract_digest(changed) != contract_digest(BASE)


def test_bundled_fingerprints_are_sha256_hex_and_distinct() -> None:
    prints = [c.fingerprint for c in bundled().values()] + [c.digest for c in bundled().values()]

    assert all(len(p) == 64 and set(p) <= set("0123456789abcdef") for p in prints)
    assert len(set(prints)) == len(prints)
