"""The service follows taxonomy.toml live: a maintainer's edit changes the briefing, a broken
edit is logged and the last good taxonomy stays."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from classifier import DEFAULT_TAXONOMY_FILE
from service.live_taxonomy import LiveTaxonomy
from tests.fixtures import refuse_reading

WINDOW_2019 = {"start": "2019-01-01", "end": "2019-12-31"}
EV_TABLE = '[tags.ev-misissuance]\ncategories = ["EV Misissuance"]'


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _write(path: Path, text: str, stamp: int) -> None:
    """Write ``text`` with a modification time of its own (two writes in one tick look alike)."""
    path.write_text(text, encoding="utf-8")
    os.utime(path, ns=(stamp * 10**9, stamp * 10**9))


@pytest.fixture
def taxonomy_file(tmp_path: Path) -> Path:
    path = tmp_path / "taxonomy.toml"
    _write(path, DEFAULT_TAXONOMY_FILE.read_text(encoding="utf-8"), 1)
    return path


def _ev_uncounted(path: Path, stamp: int) -> None:
    text = path.read_text(encoding="utf-8")
    assert EV_TABLE in text
    _write(path, text.replace(EV_TABLE, '[tags.ev-misissuance]\ncategories = []'), stamp)


def test_live_taxonomy_reloads_after_interval(taxonomy_file: Path) -> None:
    clock = Clock()
    live = LiveTaxonomy(taxonomy_file, check_interval=5.0, clock=clock)
    assert live.current().categories_of(["ev-misissuance"]) == ["EV Misissuance"]
    _ev_uncounted(taxonomy_file, 2)
    clock.now = 4.0
    assert live.current().categories_of(["ev-misissuance"]) == ["EV Misissuance"]
    clock.now = 5.0
    assert live.current().categories_of(["ev-misissuance"]) == []
    assert live.error is None


def test_live_taxonomy_keeps_last_good_on_broken_edit(taxonomy_file: Path, caplog) -> None:
    clock = Clock()
    live = LiveTaxonomy(taxonomy_file, check_interval=0.0, clock=clock)
    before = live.current()
    _write(taxonomy_file, "[categories\norder = ", 2)
    with caplog.at_level("ERROR", logger="service.taxonomy"):
        assert live.current() is before
    assert "not valid TOML" in live.error
    assert "keeping the one in service" in caplog.text
    _write(taxonomy_file, DEFAULT_TAXONOMY_FILE.read_text(encoding="utf-8"), 3)
    _ev_uncounted(taxonomy_file, 4)
    assert live.current().categories_of(["ev-misissuance"]) == []
    assert live.error is None


def test_live_taxonomy_keeps_last_good_on_unreadable_edit(taxonomy_file: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A file the service may not read (an I/O error, a chmod 000) is a broken edit too: it used
    to answer one 500 and then be ignored without a word in /ready."""
    live = LiveTaxonomy(taxonomy_file, check_interval=0.0, clock=Clock())
    before = live.current()
    _write(taxonomy_file, DEFAULT_TAXONOMY_FILE.read_text(encoding="utf-8") + "\n", 2)
    refuse_reading(monkeypatch, taxonomy_file, 5, "Input/output error")
    assert live.current() is before
    assert live.error == f"{taxonomy_file}: cannot be read: Input/output error"


def test_live_taxonomy_missing_file_at_start(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="no such taxonomy file"):
        LiveTaxonomy(tmp_path / "absent.toml")


def test_aggregate_follows_taxonomy_edit(make_client, models_dir, store, taxonomy_file: Path):
    client = make_client(taxonomy_file=taxonomy_file)  # model_check_interval is 0 in the tests
    rows = {r["category"]: r["incidents"]
            for r in client.get("/aggregate", params=WINDOW_2019).json()["rows"]}
    assert rows["EV Misissuance"] > 0
    assert client.get("/ready").json()["warnings"] == []

    _ev_uncounted(taxonomy_file, 2)
    after = client.get("/aggregate", params=WINDOW_2019).json()
    assert {r["category"]: r["incidents"] for r in after["rows"]}["EV Misissuance"] == 0

    _write(taxonomy_file, "not = [valid", 3)
    broken = client.get("/aggregate", params=WINDOW_2019)
    assert broken.status_code == 200
    assert {r["category"]: r["incidents"] for r in broken.json()["rows"]}["EV Misissuance"] == 0
    ready = client.get("/ready").json()
    assert ready["ready"] is True
    assert len(ready["warnings"]) == 1 and "not valid TOML" in ready["warnings"][0]


def test_ready_warns_when_the_model_gives_a_tag_the_taxonomy_dropped(make_client, models_dir, store,
                                                                     taxonomy_file: Path):
    """The model goes on giving a tag an edit took out: /classify stores it, a correction may not
    name it, and the briefing counts it nowhere. /ready said nothing."""
    client = make_client(taxonomy_file=taxonomy_file)
    assert client.get("/ready").json()["warnings"] == []
    text = taxonomy_file.read_text(encoding="utf-8")
    start = text.index("[tags.crl-failure]")
    _write(taxonomy_file, text[:start] + text[text.index("[tags.", start + 1):], 2)
    ready = client.get("/ready").json()
    assert ready["ready"] is True
    [warning] = ready["warnings"]
    assert warning.startswith("taxonomy: model v1 gives tags the taxonomy does not have (crl-failure)")
    assert "`incidents retrain`" in warning
