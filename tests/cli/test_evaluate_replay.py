"""`incidents evaluate --replay`: the deployment replay of the store's own incidents; options
that do not go together."""

from __future__ import annotations

import json

import pytest

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


@pytest.mark.parametrize(("args", "says"), [
    (["--end", "2023-01-01"], "--end needs --cutoff"),
    (["--since", "2022-01-01"], "--since goes with --replay"),
    (["--replay", "--cutoff", "2022-01-01"], "--replay takes --since, not --cutoff or --end"),
    (["--replay", "--end", "2023-01-01"], "--replay takes --since, not --cutoff or --end"),
])
def test_evaluate_options_that_do_not_go_together(incidents, args: list[str], says: str) -> None:
    """Refused before anything is read or fitted: --end alone was read against the default
    cutoff, and the others were ignored."""
    result = incidents.fails("evaluate", *args, says=(says,))
    assert result.exit_code == 2
    assert "training" not in result.stderr
