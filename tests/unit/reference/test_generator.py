"""The synthetic reference agencies: the same seed makes the same rows; the rows are plausible and obviously fake."""

from __future__ import annotations

import datetime as dt
import os
import stat
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from connectors.adapters.registry import read_adapters_file
from connectors.reference import council, police
from connectors.reference.people import AREAS, FAKE_MARK, LONDON_BOROUGHS, shared_count
from connectors.reference.seed import adapters_file, seed_database
from onedoor.cli import app
from onedoor.errors import ValidationFailed

AS_OF = dt.date(2026, 6, 1)


@pytest.mark.parametrize("system", [police, council])
def test_the_same_seed_makes_the_same_rows_and_another_seed_others(system: object) -> None:
    rows = system.rows  # type: ignore[attr-defined]
    assert rows(40, seed=7, as_of=AS_OF) == rows(40, seed=7, as_of=AS_OF)
    assert rows(40, seed=7, as_of=AS_OF) != rows(40, seed=8, as_of=AS_OF)


def test_police_rows_are_plausible() -> None:
    made = police.rows(120, seed=3, as_of=AS_OF)
    nominals = made["nominals"]
    assert len(nominals) == 120
    assert len({n["nominal_ref"] for n in nominals}) == 120
    for nominal in nominals:
        assert nominal["surname"].startswith(FAKE_MARK)
        assert 10 <= (AS_OF - nominal["date_of_birth"]).days // 365 <= 17
        assert nominal["home_area"] in AREAS
        assert nominal["postcode"] is None or nominal["postcode"].startswith("ZZ99 ")
        assert nominal["oic_phone"].startswith("01632 960")
        assert nominal["created_on"] <= AS_OF
    ids = {n["id"] for n in nominals}
    for occurrence in made["occurrences"]:
        assert occurrence["nominal_id"] in ids
        assert occurrence["occurred_on"] <= AS_OF
        assert occurrence["occurrence_type"] in police.OCCURRENCE_TYPES
        assert occurrence["status"] in {"OPEN", "FILED", "CLOSED"}
    assert {f["flag_code"] for f in made["intelligence_flags"]} <= set(police.FLAG_CODES)
    assert made["occurrences"], "some history to find"
    assert made["intelligence_flags"]


def test_council_rows_are_plausible() -> None:
    made = council.rows(120, seed=3, as_of=AS_OF)
    children = made["children"]
    assert all(c["local_authority"] in LONDON_BOROUGHS for c in children)
    assert all(c["team_email"].endswith("@example.org") for c in children)
    for plan in made["plans"]:
        assert plan["plan_type"] in council.PLAN_TYPES
        assert plan["start_date"] <= AS_OF
        assert plan["end_date"] is None or plan["start_date"] < plan["end_date"] <= AS_OF
    for episode in made["missing_episodes"]:
        returned = episode["returned_at"]
        assert returned is None or episode["started_at"] < returned
        assert not (returned is None and episode["return_interview_done"]), "no interview before the return"
    for nrm in made["nrm_referrals"]:
        assert nrm["outcome"] in council.NRM_OUTCOMES
        decided = nrm["decision_date"]
        assert (decided is None) == (nrm["outcome"] == "PENDING")
        assert decided is None or nrm["referred_on"] <= decided <= AS_OF


def test_the_two_systems_share_some_children_with_the_same_identity() -> None:
    people = {
        (n["forename"], n["surname"], n["date_of_birth"]) for n in police.rows(40, seed=2, as_of=AS_OF)["nominals"]
    }
    children = {
        (c["forename"], c["surname"], c["date_of_birth"]) for c in council.rows(80, seed=2, as_of=AS_OF)["children"]
    }
    assert len(people & children) == shared_count(40) == 10
    assert len(people | children) > 100, "the rest are each system's own"


def test_seeding_makes_the_schema_and_view_and_refuses_to_seed_twice(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'police.sqlite3'}"
    written = seed_database("police", url, count=15, seed=1, as_of=AS_OF)
    assert written["nominals"] == 15

    with pytest.raises(ValidationFailed) as refused:
        seed_database("police", url, count=15, seed=1, as_of=AS_OF)
    assert refused.value.code == "reference.not_empty"
    assert "--replace" in refused.value.message

    seed_database("police", url, count=5, seed=1, as_of=AS_OF, replace=True)
    engine = create_engine(url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM onedoor_status")).scalar_one() == 5
    engine.dispose()

    path = adapters_file("police", tmp_path, url=url)
    assert f'url: "{url}"' in path.read_text(encoding="utf-8")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_url_with_a_password_is_never_written_into_the_adapters_file(tmp_path: Path) -> None:
    secret_url = "postgresql+psycopg://police:synthetic-pa55word@db.test:5432/records"
    path = adapters_file("police", tmp_path, url=secret_url)
    written = path.read_text(encoding="utf-8")
    assert "synthetic-pa55word" not in written
    assert "url_env: ONEDOOR_REFERENCE_POLICE_DB_URL" in written
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    options = read_adapters_file(path).adapters[0].options
    assert options["url_env"] == "ONEDOOR_REFERENCE_POLICE_DB_URL"
    assert "url" not in options
    # A file left with a loose mode by an earlier version is tightened when written again.
    os.chmod(path, 0o644)
    adapters_file("police", tmp_path, url=secret_url, url_env="POLICE_DB_URL")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "url_env: POLICE_DB_URL" in path.read_text(encoding="utf-8")


def test_seed_takes_the_url_from_an_environment_variable(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'council.sqlite3'}"
    args = ["reference", "seed", "council", "--url-env", "COUNCIL_DB_URL", "--count", "3", "--mapping", str(tmp_path)]
    result = CliRunner().invoke(app, args, env={"COUNCIL_DB_URL": url})
    assert result.exit_code == 0, result.output
    written = (tmp_path / "council.adapters.yaml").read_text(encoding="utf-8")
    assert "url_env: COUNCIL_DB_URL" in written
    assert url not in written
    unset = CliRunner().invoke(app, args, env={"COUNCIL_DB_URL": ""})
    assert unset.exit_code == 1
    assert "reference.bad_url" in unset.output
    both = CliRunner().invoke(app, [*args, "--url", url], env={"COUNCIL_DB_URL": url})
    assert both.exit_code == 1
    assert "exactly one of --url and --url-env" in both.output


def test_an_unknown_system_is_named() -> None:
    with pytest.raises(ValidationFailed) as refused:
        seed_database("hospital", "sqlite://")
    assert refused.value.code == "reference.unknown_system"
    assert "police" in refused.value.message
