"""Reference compatibility cases: one schema change per row, and a sentence saying why."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import pytest

from contracts.compatibility import CompatibilityMode, CompatibilityResult, Direction, check_compatibility
from tests.unit.contracts.conftest import field, record

M = CompatibilityMode
OPTIONAL_NOTE = field("note", ["null", "string"], default=None)
DEFAULTED_NOTE = field("note", "string", default="")
ID = field("id", "string")


def enum(*symbols: str, **extra: Any) -> dict[str, Any]:
    return {"type": "enum", "name": "Status", "symbols": list(symbols), **extra}


def with_(*fields: dict[str, Any], name: str = "Thing") -> dict[str, Any]:
    return record(ID, *fields, name=name)


def address(*fields: dict[str, Any]) -> dict[str, Any]:
    inner = {"type": "record", "name": "Address", "fields": [field("town", "string"), *fields]}
    return with_(field("address", ["null", inner], default=None))


@dataclass(frozen=True)
class Case:
    id: str
    mode: CompatibilityMode
    history: list[dict[str, Any]]
    """Earlier versions, version 1 first."""
    new: dict[str, Any]
    compatible: bool
    why: str
    path: str | None = None
    """For an incompatible case: a field path one of the problems must name."""
    against: int | None = None
    """For an incompatible case: the earlier version one of the problems must name."""


CASES = [
    Case(
        "add-field-with-default/backward", M.BACKWARD, [with_()], with_(OPTIONAL_NOTE), True,
        "Adding a field with a default is backward compatible: the new reader fills in the default "
        "for data written before the field existed.",
    ),
    Case(
        "add-required-field/backward", M.BACKWARD, [with_()], with_(field("note", "string")), False,
        "A new reader has nothing to put in a required field that old data never carried.",
        path="note", against=1,
    ),
    Case(
        "remove-field/backward", M.BACKWARD, [with_(field("note", "string"))], with_(), True,
        "A new reader skips a field that old writers wrote and it no longer declares.",
    ),
    Case(
        "remove-required-field/forward", M.FORWARD, [with_(field("note", "string"))], with_(), False,
        "An old reader still requires the field, has no default for it, and new data no longer carries it.",
        path="note", against=1,
    ),
    Case(
        "remove-defaulted-field/forward", M.FORWARD, [with_(OPTIONAL_NOTE)], with_(), True,
        "An old reader fills in its own default when new data lacks the field.",
    ),
    Case(
        "add-required-field/forward", M.FORWARD, [with_()], with_(field("note", "string")), True,
        "An old reader skips the field it does not know, so new required fields only break readers of old data.",
    ),
    Case(
        "add-field-with-default/full", M.FULL, [with_()], with_(OPTIONAL_NOTE), True,
        "With a default both directions work: new readers fill it in for old data, old readers skip it.",
    ),
    Case(
        "add-required-field/full", M.FULL, [with_()], with_(field("note", "string")), False,
        "FULL includes BACKWARD, and a new required field cannot be read out of old data.",
        path="note",
    ),
    Case(
        "remove-required-field/full", M.FULL, [with_(field("note", "string"))], with_(), False,
        "FULL includes FORWARD, and old readers still need the field that was removed.",
        path="note",
    ),
    Case(
        "int-to-long/backward", M.BACKWARD, [with_(field("count", "int"))], with_(field("count", "long")), True,
        "Avro promotes int to long, so a long reader reads old int data.",
    ),
    Case(
        "int-to-long/forward", M.FORWARD, [with_(field("count", "int"))], with_(field("count", "long")), False,
        "An old int reader cannot read a long: promotion only widens.",
        path="count",
    ),
    Case(
        "long-to-int/backward", M.BACKWARD, [with_(field("count", "long"))], with_(field("count", "int")), False,
        "A new int reader cannot narrow long data.",
        path="count",
    ),
    Case(
        "string-to-bytes/full", M.FULL, [with_(field("note", "string"))], with_(field("note", "bytes")), True,
        "Avro reads strings as bytes and bytes as strings, so the change works both ways.",
    ),
    Case(
        "add-enum-symbol/backward", M.BACKWARD,
        [with_(field("status", enum("A", "B")))], with_(field("status", enum("A", "B", "C"))), True,
        "A new reader knows every symbol old writers could have written.",
    ),
    Case(
        "add-enum-symbol/forward", M.FORWARD,
        [with_(field("status", enum("A", "B")))], with_(field("status", enum("A", "B", "C"))), False,
        "An old reader whose enum has no default cannot map a symbol it has never seen.",
        path="status",
    ),
    Case(
        "add-enum-symbol-with-enum-default/forward", M.FORWARD,
        [with_(field("status", enum("A", "OTHER", default="OTHER")))],
        with_(field("status", enum("A", "OTHER", "C", default="OTHER"))), True,
        "An old reader maps unknown symbols to its enum default; this is why open-ended contract enums have OTHER.",
    ),
    Case(
        "remove-enum-symbol/backward", M.BACKWARD,
        [with_(field("status", enum("A", "B")))], with_(field("status", enum("A"))), False,
        "Old data may hold the removed symbol, which the new reader does not know.",
        path="status",
    ),
    Case(
        "make-optional/backward", M.BACKWARD, [with_(field("note", "string"))], with_(OPTIONAL_NOTE), True,
        "A union reader resolves old string data to its string branch.",
    ),
    Case(
        "make-optional/full", M.FULL, [with_(field("note", "string"))], with_(OPTIONAL_NOTE), False,
        "Old readers with a plain string field cannot read the null new writers may write.",
        path="note",
    ),
    Case(
        "make-required/forward", M.FORWARD, [with_(OPTIONAL_NOTE)], with_(field("note", "string")), True,
        "An old reader's union has a string branch for whatever new writers write.",
    ),
    Case(
        "make-required/backward", M.BACKWARD, [with_(OPTIONAL_NOTE)], with_(field("note", "string")), False,
        "Old data may hold null, and the new reader's string field cannot take it.",
        path="note",
    ),
    Case(
        "rename-record/backward", M.BACKWARD, [with_()], with_(name="Renamed"), False,
        "Records resolve by name, so a renamed record (without an alias) is a different type.",
        path="",
    ),
    Case(
        "rename-field-with-alias/backward", M.BACKWARD,
        [with_(field("note", "string"))], with_(field("remark", "string", aliases=["note"])), True,
        "The reader's alias maps the field's old name in old data to its new name.",
    ),
    Case(
        "rename-field-with-alias/full", M.FULL,
        [with_(field("note", "string"))], with_(field("remark", "string", aliases=["note"])), False,
        "Aliases belong to the reader: an old reader looks for 'note' in new data and does not find it.",
        path="note",
    ),
    Case(
        "add-union-branch/backward", M.BACKWARD,
        [with_(OPTIONAL_NOTE)], with_(field("note", ["null", "string", "int"], default=None)), True,
        "A wider union reads everything the narrower one wrote.",
    ),
    Case(
        "add-union-branch/forward", M.FORWARD,
        [with_(OPTIONAL_NOTE)], with_(field("note", ["null", "string", "int"], default=None)), False,
        "Old readers have no branch for the int that new writers may write.",
        path="note",
    ),
    Case(
        "nested-required-field/backward", M.BACKWARD, [address()], address(field("postcode", "string")), False,
        "The check descends into optional records: old addresses have no postcode for the new required field.",
        path="address.postcode",
    ),
    Case(
        "nested-optional-field/full", M.FULL, [address()],
        address(field("postcode", ["null", "string"], default=None)), True,
        "An optional field with a default inside an optional record is compatible both ways.",
    ),
    Case(
        "array-items-promotion/backward", M.BACKWARD,
        [with_(field("counts", {"type": "array", "items": "int"}))],
        with_(field("counts", {"type": "array", "items": "long"})), True,
        "Array items resolve like fields, so int items promote to long.",
    ),
    Case(
        "map-values-change/backward", M.BACKWARD,
        [with_(field("labels", {"type": "map", "values": "string"}))],
        with_(field("labels", {"type": "map", "values": "int"})), False,
        "A map of strings cannot be read as a map of ints.",
        path="labels",
    ),
    Case(
        "fixed-size-change/backward", M.BACKWARD,
        [with_(field("key", {"type": "fixed", "name": "Key", "size": 16}))],
        with_(field("key", {"type": "fixed", "name": "Key", "size": 32})), False,
        "Fixed values carry no length on the wire, so a different size cannot be read.",
        path="key",
    ),
    Case(
        "none-allows-anything", M.NONE, [with_(field("count", "int"))], with_(field("count", "string")), True,
        "NONE checks nothing: only for a contract still being drafted, never for one in use.",
    ),
    Case(
        "first-version", M.FULL_TRANSITIVE, [], with_(field("note", "string")), True,
        "The first version has nothing to be compatible with.",
    ),
    Case(
        "doc-only-change", M.FULL_TRANSITIVE, [with_(OPTIONAL_NOTE)], with_({**OPTIONAL_NOTE, "doc": "Reworded."}),
        True,
        "Docs do not reach the wire or the resolution rules.",
    ),
    # Transitive vs not: version 3 is compatible with version 2 but not with version 1.
    Case(
        "backward/v3-reads-v2", M.BACKWARD, [with_(), with_(DEFAULTED_NOTE)], with_(field("note", "string")), True,
        "BACKWARD compares with the latest version only, and version 2 data always carries a note.",
    ),
    Case(
        "backward-transitive/v3-cannot-read-v1", M.BACKWARD_TRANSITIVE,
        [with_(), with_(DEFAULTED_NOTE)], with_(field("note", "string")), False,
        "Version 1 data has no note, and version 3 dropped the default that made such data readable.",
        path="note", against=1,
    ),
    Case(
        "forward/v2-reads-v3", M.FORWARD, [with_(field("note", "string")), with_(DEFAULTED_NOTE)], with_(), True,
        "FORWARD compares with the latest version only, and version 2 readers have a default for the note.",
    ),
    Case(
        "forward-transitive/v1-cannot-read-v3", M.FORWARD_TRANSITIVE,
        [with_(field("note", "string")), with_(DEFAULTED_NOTE)], with_(), False,
        "Version 1 readers still require the note and have no default for it.",
        path="note", against=1,
    ),
    Case(
        "full/v3-with-v2", M.FULL, [with_(field("note", "string")), with_(DEFAULTED_NOTE)], with_(), True,
        "Both directions hold against version 2, which has a default for the removed note.",
    ),
    Case(
        "full-transitive/v3-with-v1", M.FULL_TRANSITIVE,
        [with_(field("note", "string")), with_(DEFAULTED_NOTE)], with_(), False,
        "FULL_TRANSITIVE also asks whether version 1 readers can read version 3 data, and they cannot.",
        path="note", against=1,
    ),
]  # fmt: skip


def _check(case: Case) -> CompatibilityResult:
    history = [(number, schema) for number, schema in enumerate(case.history, start=1)]
    return check_compatibility(case.new, history, case.mode)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_reference_case(case: Case) -> None:
    result = _check(case)

    assert result.compatible is case.compatible, case.why
    assert result.mode is case.mode
    if case.compatible:
        assert result.problems == ()
        return
    assert result.problems, "an incompatible result must say why"
    for problem in result.problems:
        assert f"version {problem.version}" in problem.message
        assert problem.kind != "incompatible", "every problem should be located by the walk"
    if case.path is not None:
        assert case.path in {p.path for p in result.problems}
        if case.path:
            assert f"'{case.path}'" in " ".join(result.messages)
    if case.against is not None:
        assert case.against in {p.version for p in result.problems}


def test_the_table_covers_every_mode_and_both_outcomes() -> None:
    assert len(CASES) >= 20
    assert all(c.why.endswith(".") for c in CASES)
    assert {c.mode for c in CASES} == set(CompatibilityMode)
    for mode in (M.BACKWARD, M.FORWARD, M.FULL):
        assert {c.compatible for c in CASES if c.mode is mode} == {True, False}, mode
    # Each transitive mode has a case its non-transitive twin passes with the same schemas.
    for mode in (M.BACKWARD_TRANSITIVE, M.FORWARD_TRANSITIVE, M.FULL_TRANSITIVE):
        failing = [c for c in CASES if c.mode is mode and not c.compatible and c.history]
        twin = CompatibilityMode(mode.removesuffix("_TRANSITIVE"))
        assert any(_check(dataclasses.replace(c, mode=twin)).compatible for c in failing), mode


def test_transitive_modes_check_every_version_newest_first() -> None:
    history = [(1, with_()), (2, with_(OPTIONAL_NOTE)), (3, with_(OPTIONAL_NOTE))]

    assert check_compatibility(with_(OPTIONAL_NOTE), history, M.FULL_TRANSITIVE).checked_versions == (3, 2, 1)
    assert check_compatibility(with_(OPTIONAL_NOTE), history, M.FULL).checked_versions == (3,)
    assert check_compatibility(with_(OPTIONAL_NOTE), history, M.NONE).checked_versions == ()


def test_problem_sentences_name_field_direction_and_version() -> None:
    result = check_compatibility(with_(field("note", "string")), [(1, with_())], M.FULL)

    (problem,) = result.problems
    assert problem.direction is Direction.BACKWARD
    assert problem.message == (
        "The new schema cannot read data written by version 1: field 'note' has no default in the new schema, "
        "and version 1 does not write it."
    )
    assert str(problem) == problem.message


def test_forward_problems_are_told_from_the_old_readers_side() -> None:
    result = check_compatibility(
        with_(field("status", enum("A", "B", "C"))), [(4, with_(field("status", enum("A", "B"))))], M.FORWARD
    )

    (problem,) = result.problems
    assert problem.direction is Direction.FORWARD
    assert problem.message.startswith("Version 4 cannot read data written by the new schema: field 'status'")
    assert "C" in problem.message


def test_result_is_frozen() -> None:
    result = check_compatibility(with_(), [], M.FULL)

    with pytest.raises(dataclasses.FrozenInstanceError):
        result.compatible = False  # type: ignore[misc]
