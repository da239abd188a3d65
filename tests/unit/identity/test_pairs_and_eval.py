"""The synthetic pairs, the evaluation and the ``onedoor identity`` commands."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from connectors.identity import MatchingKey
from connectors.identity.evaluate import evaluate
from connectors.identity.pairs import HEADER, generate_pairs, read_csv, write_csv
from onedoor.cli import app
from onedoor.errors import ValidationFailed

runner = CliRunner()


def test_pairs_are_reproducible_and_balanced() -> None:
    pairs = generate_pairs(400, seed=5)
    assert pairs == generate_pairs(400, seed=5)
    assert pairs != generate_pairs(400, seed=6)
    assert sum(p.same_person for p in pairs) == 200
    labels = {p.label for p in pairs if not p.same_person}
    assert {"sibling", "twin", "namesake"} <= labels


def test_csv_round_trip_has_the_issue_header(tmp_path: Path) -> None:
    out = io.StringIO()
    write_csv(generate_pairs(50, seed=1), out)
    assert out.getvalue().splitlines()[0] == ",".join(HEADER)
    path = tmp_path / "pairs.csv"
    path.write_text(out.getvalue(), encoding="utf-8")
    read = read_csv(path)
    assert [p.same_person for p in read] == [p.same_person for p in generate_pairs(50, seed=1)]


def test_quality_targets_hold_on_a_seed_not_tuned_on() -> None:
    scores = evaluate(generate_pairs(1000, seed=99), MatchingKey.generate())
    assert scores.precision >= 0.99
    assert scores.recall >= 0.95
    assert scores.tp + scores.fp + scores.fn + scores.tn == 1000


def test_eval_cli_prints_precision_and_recall(tmp_path: Path) -> None:
    path = tmp_path / "pairs.csv"
    made = runner.invoke(app, ["identity", "pairs", str(path), "--n", "300", "--seed", "3"])
    assert made.exit_code == 0, made.output
    text = runner.invoke(app, ["identity", "eval", str(path)])
    assert text.exit_code == 0, text.output
    assert "precision:" in text.output
    assert "recall:" in text.output
    as_json = runner.invoke(app, ["identity", "eval", str(path), "--json"])
    assert as_json.exit_code == 0
    scores = json.loads(as_json.output)
    assert scores["pairs"] == 300
    assert 0.9 <= scores["precision"] <= 1.0
    assert 0.9 <= scores["recall"] <= 1.0


GOOD = "Zara,Fakename,2010-01-02,NR2 4AB,Zara,Fakename,2010-01-02,,1"
BAD_FILES = [
    ("A missing column names the header line.", "given_name_a,family_name_a\n", "line 1"),
    ("A bad date names its line.", f"{GOOD}\nZara,Fakename,02-01-2010,,Zara,Fakename,2010-01-02,,1\n", "line 3"),
    ("A label other than 0/1 names its line.", f"{GOOD}\n{GOOD[:-1]}yes\n", "line 3"),
    ("A short row names its line.", "Zara,Fakename,2010-01-02,,1\n", "line 2"),
    ("An empty name names its line.", ",Fakename,2010-01-02,,Zara,Fakename,2010-01-02,,1\n", "line 2"),
]


@pytest.mark.parametrize(("sentence", "body", "where"), BAD_FILES, ids=[c[0] for c in BAD_FILES])
def test_bad_pairs_file_is_refused_naming_the_line_never_a_name(
    tmp_path: Path, sentence: str, body: str, where: str
) -> None:
    path = tmp_path / "pairs.csv"
    header = "" if body.startswith("given_name_a") else ",".join(HEADER) + "\n"
    path.write_text(header + body, encoding="utf-8")
    with pytest.raises(ValidationFailed) as caught:
        read_csv(path)
    assert caught.value.code == "identity.bad_pairs_file"
    result = runner.invoke(app, ["identity", "eval", str(path)])
    assert result.exit_code == 2, sentence
    assert where in result.output, (sentence, result.output)
    assert "Zara" not in result.output
    assert "Fakename" not in result.output


def test_missing_file_exits_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["identity", "eval", str(tmp_path / "absent.csv")])
    assert result.exit_code == 2
