"""The multi-year evaluation, the ablation and the label audit (`incidents evaluate`, `audit-labels`).

The fixture store holds 12 bugs a year from 2019 to 2022, so the default cutoffs give two
evaluated years (2021, 2022) and one skipped (2023: nothing filed after it).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from classifier import Taxonomy
from core.db import session_scope
from tests.fixtures import SQLITE_ONLY, make_bugs, write_snapshot
from training.ablation import ablations
from training.dataset import load_dataset
from training.evaluate import evaluate_years
from training.train import default_model

CONTENDERS = {"model", "tfidf+logreg", "keyword-rules", "most-frequent-tag"}


@SQLITE_ONLY
def test_evaluate_years_and_ablation_json(incidents, store: str) -> None:
    report = json.loads(incidents.ok("evaluate", "--json").stdout)
    assert report["main"]["cutoff"].startswith("2021-06-01")
    years = {r["cutoff"][:4]: r for r in report["years"]}
    assert list(years) == ["2021", "2022", "2023"]
    for year in ("2021", "2022"):
        r = years[year]
        assert r["end"].startswith(f"{int(year) + 1}-01-01")
        assert r["test_size"] == 12 and r["train_size"] == 12 * (int(year) - 2019)
        assert set(r["contenders"]) == CONTENDERS
        assert "review" in r["contenders"]["model"]
        assert "review" not in r["contenders"]["tfidf+logreg"]
        # the model's lead over each baseline on the same incidents, with its interval
        assert set(r["model_against"]) == CONTENDERS - {"model"}
        model = r["contenders"]["model"]["categories"]
        for name, against in r["model_against"].items():
            for key in ("micro_f1", "macro_f1"):
                lead = against[key]
                assert lead["difference"] == pytest.approx(
                    model[key] - r["contenders"][name]["categories"][key], abs=2e-4)
                assert lead["low"] <= lead["difference"] <= lead["high"]
    assert years["2023"]["skipped"] == "48 training and 0 test incidents"

    ablation = report["ablation"]
    assert list(ablation) == list(ablations(default_model_for_fixtures()))
    for rows in ablation.values():
        assert [r["cutoff"][:4] for r in rows] == ["2021", "2022"]
        for r in rows:
            assert 0.0 <= r["category_micro_f1"] <= 1.0 and 0.0 <= r["review_share"] <= 1.0
    # The ablation's full model is the same recipe on the same split as the yearly table.
    for r in ablation["full model"]:
        model = years[r["cutoff"][:4]]["contenders"]["model"]
        assert r["category_micro_f1"] == model["categories"]["micro_f1"]
        assert r["category_macro_f1"] == model["categories"]["macro_f1"]
        assert r["review_share"] == model["review"]["review_share"]


def default_model_for_fixtures():
    from core.config import get_settings

    settings = get_settings()
    return default_model(settings, Taxonomy.load(settings.taxonomy_file))


@SQLITE_ONLY
def test_evaluate_years_table_text(incidents, store: str) -> None:
    out = incidents.ok("evaluate", "--no-ablation").stdout
    assert "Briefing categories, train before each cutoff and test on the year after:" in out
    table = [line.split() for line in out.splitlines()
             if line[:4] in ("2021", "2022") and len(line.split()) >= 5]
    assert {(row[0], row[2]) for row in table} == {(y, c) for y in ("2021", "2022")
                                                    for c in CONTENDERS}
    model_rows = [row for row in table if row[2] == "model"]
    assert all(row[5].endswith("%") for row in model_rows)  # the model's share sent to review
    # each baseline's row ends with the model's micro-F1 lead over it and its interval
    assert all(len(row) == 7 for row in model_rows)
    baseline_rows = [row for row in table if row[2] != "model"]
    assert baseline_rows and all(len(row) == 10 and row[8].startswith("[") and row[9].endswith("]")
                                 for row in baseline_rows)
    assert "2023         skipped: 48 training and 0 test incidents" in out
    assert "Ablation" not in out


@SQLITE_ONLY
def test_evaluate_years_skips_a_year_too_small_to_fit(store: str, settings) -> None:
    with session_scope(store) as session:
        dataset = load_dataset(session=session)
    taxonomy = Taxonomy.load(settings.taxonomy_file)
    # Before mid-2019 there are 6 bugs, no tag with 5: the model cannot be fitted there.
    reports = evaluate_years(dataset, cutoffs=[datetime(2019, 7, 1, tzinfo=UTC),
                                               datetime(2021, 1, 1, tzinfo=UTC)],
                             taxonomy=taxonomy, model=default_model(settings, taxonomy))
    assert reports[0]["skipped"].startswith("6 training incidents: no tag has 5 or more")
    assert set(reports[1]["contenders"]) == CONTENDERS


# -- audit-labels -------------------------------------------------------------------------------
@pytest.fixture
def mislabelled(incidents, settings, tmp_path: Path) -> int:
    """The fixture snapshot with one OCSP outage tagged as a CRL failure; returns its bug id."""
    bugs, comments = make_bugs()
    bug = next(b for b in bugs["bugs"] if b["whiteboard"] == "[ca-compliance] [ocsp-failure]"
               and "OCSP" in b["summary"])
    bug["whiteboard"] = "[ca-compliance] [crl-failure]"
    incidents.ok("sync", "--snapshot", write_snapshot(tmp_path / "s", bugs, comments))
    return bug["id"]


@SQLITE_ONLY
def test_audit_labels_finds_the_mislabelled_bug(incidents, mislabelled: int) -> None:
    rows = json.loads(incidents.ok("audit-labels", "--top", "3", "--json").stdout)
    assert len(rows) == 3
    first = rows[0]
    assert first["id"] == mislabelled
    assert first["tags"] == ["crl-failure"]
    assert "crl-failure" in first["doubted"]
    assert "ocsp-failure" in first["suggested"]
    assert "ocsp" in first["because"]["ocsp-failure"]
    assert [r["disagreement"] for r in rows] == sorted((r["disagreement"] for r in rows),
                                                       reverse=True)


@SQLITE_ONLY
def test_audit_labels_text_and_nothing_changed(incidents, mislabelled: int, store_rows) -> None:
    before = store_rows()
    out = incidents.ok("audit-labels", "--top", "1").stdout
    assert "nothing is dropped" in out
    assert f"bug {mislabelled} (" in out
    assert "tagged   crl-failure" in out
    assert "suggests ocsp-failure" in out
    assert store_rows() == before


@SQLITE_ONLY
def test_audit_labels_empty_store(incidents) -> None:
    incidents.fails("audit-labels", says=("no labelled incidents", "incidents sync"))


@SQLITE_ONLY
def test_audit_labels_top_must_be_positive(incidents, store: str) -> None:
    result = incidents("audit-labels", "--top", "0")
    assert result.exit_code == 2
    assert "Invalid value for '--top'" in result.stderr


@SQLITE_ONLY
def test_audit_labels_proposals_import_as_corrections(incidents, mislabelled: int,
                                                      tmp_path: Path) -> None:
    """The proposals file is what `corrections import` takes; nothing changes until it is run."""
    path = tmp_path / "proposals.jsonl"
    result = incidents.ok("audit-labels", "--top", "3", "--proposals", path)
    assert f"corrections import {path} --author" in result.stderr
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert 1 <= len(lines) <= 3
    first = lines[0]
    assert first["bug_id"] == mislabelled
    assert first["tags"] == ["ocsp-failure"]
    assert first["note"].startswith("audit-labels, was crl-failure: doubts crl-failure")
    assert "suggests ocsp-failure" in first["note"] and "ocsp" in first["note"]
    assert incidents.ok("corrections", "list").stdout.strip() == ""

    path.write_text(json.dumps(first) + "\n", encoding="utf-8")  # the maintainer kept one line
    assert "stored 1 corrections" in incidents.ok("corrections", "import", path, "--author",
                                                  "alice").stdout
    (stored,) = [json.loads(line) for line in incidents.ok("corrections", "list").stdout.splitlines()]
    assert (stored["bug_id"], stored["tags"], stored["author"]) == (mislabelled, ["ocsp-failure"],
                                                                    "alice")


@SQLITE_ONLY
def test_audit_labels_proposals_bad_path(incidents, store: str, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Refused before the model is fitted (after it, the list was lost with the fits), naming
    the option; a folder where the file should be, too."""
    import training.audit

    monkeypatch.setattr(training.audit, "audit_labels", lambda *a, **k: pytest.fail("fitted"))
    missing = tmp_path / "no" / "such"
    result = incidents.fails("audit-labels", "--top", "1", "--proposals", missing / "dir.jsonl",
                             says=(f"error: --proposals: the folder {missing} does not exist",))
    assert result.exit_code == 2
    folder = incidents("audit-labels", "--proposals", tmp_path)
    assert folder.exit_code == 2 and "Invalid value for '--proposals'" in folder.output


@SQLITE_ONLY
def test_evaluate_years_reuses_the_same_split(store: str, settings, monkeypatch) -> None:
    """The open-ended split at a cutoff is the year's when nothing was filed a year later: its
    report is used again, not fitted twice; another cutoff's report is not."""
    import training.evaluate as evaluation

    with session_scope(store) as session:
        dataset = load_dataset(session=session)
    taxonomy = Taxonomy.load(settings.taxonomy_file)
    model = default_model(settings, taxonomy)
    cut_2022, cut_2021 = datetime(2022, 1, 1, tzinfo=UTC), datetime(2021, 1, 1, tzinfo=UTC)
    main = evaluation.evaluate(dataset, cutoff=cut_2022, end=None, taxonomy=taxonomy, model=model)
    assert main["test_size"] == 12  # the fixture's last bugs are filed in 2022
    fitted: list[datetime] = []
    real = evaluation.evaluate
    monkeypatch.setattr(evaluation, "evaluate",
                        lambda data, *, cutoff, **kw: fitted.append(cutoff) or real(data, cutoff=cutoff, **kw))
    years = evaluation.evaluate_years(dataset, cutoffs=[cut_2021, cut_2022], taxonomy=taxonomy,
                                      model=model, done=[main])
    assert fitted == [cut_2021]
    assert years[1] == {**main, "end": "2023-01-01T00:00:00+00:00"}
    assert years[0]["cutoff"].startswith("2021-01-01") and years[0]["test_size"] == 12
