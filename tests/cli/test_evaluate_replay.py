"""`incidents evaluate --replay`: the deployment replay of the store's own incidents."""

from __future__ import annotations

import json

from core.config import Settings
from tests.fixtures import SQLITE_ONLY


@SQLITE_ONLY
def test_evaluate_replay_of_the_store(incidents, store: str, settings: Settings) -> None:
    before = incidents.ok("models", "list").stdout
    result = incidents.ok("evaluate", "--replay", "--since", "2022-01-01", "--json")
    report = json.loads(result.stdout)
    assert [q["period"] for q in report["quarters"]] == ["2022Q1", "2022Q2", "2022Q3", "2022Q4"]
    assert set(report["overall"]) == {"product", "frozen", "baseline"}
    assert report["overall"]["product"]["n"] == 12  # the fixture's bugs filed in 2022
    assert "training the first model" in result.stderr
    # the replay's models live in a scratch folder, not in the registry
    assert incidents.ok("models", "list").stdout == before
    table = incidents.ok("evaluate", "--replay", "--since", "2022-07-01").stdout
    assert "2022Q3" in table and "2022Q1" not in table and "overall" in table


@SQLITE_ONLY
def test_evaluate_replay_bad_since(incidents, store: str) -> None:
    incidents.fails("evaluate", "--replay", "--since", "last year", says=("since",))


@SQLITE_ONLY
def test_evaluate_replay_empty_store(incidents, settings: Settings) -> None:
    incidents.fails("evaluate", "--replay", says=("no incident",))
