"""`incidents classify FILE`: one JSON answer a line from the active model, blind to whiteboards."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from classifier import Taxonomy
from core.registry import ModelRegistry
from tests.fixtures import make_bugs, write_snapshot

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
FIELDS = {"id", "tags", "categories", "scores", "needs_review", "review_reason", "confidence",
          "model_version"}


@pytest.fixture
def new_bugs() -> tuple[dict, dict]:
    """Bugs filed after the training data, their texts drawn afresh (another seed)."""
    return make_bugs(n_per_tag=3, seed=11, start_year=2024)


def answers(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines()]


def test_classify_file_json_lines(incidents, models_dir: Path, tmp_path: Path, new_bugs,
                                  taxonomy: Taxonomy) -> None:
    folder = write_snapshot(tmp_path / "new", *new_bugs)
    result = incidents.ok("classify", folder / "bugs.json", "--comments", folder / "comments.json")
    out = answers(result.stdout)
    assert [a["id"] for a in out] == [b["id"] for b in new_bugs[0]["bugs"]]
    labels = ModelRegistry(models_dir).card("v1")["labels"]
    for answer in out:
        assert set(answer) == FIELDS
        assert answer["model_version"] == "v1"
        assert list(answer["scores"]) == labels
        assert all(0.0 <= s <= 1.0 for s in answer["scores"].values())
        assert set(answer["tags"]) <= set(labels)
        assert answer["categories"] == taxonomy.categories_of(answer["tags"])
        assert isinstance(answer["needs_review"], bool)
        assert (answer["review_reason"] is None) == (not answer["needs_review"])
    assert sum(a["tags"] == ["ocsp-failure"] for a in out) >= 2


def test_classify_file_explain(incidents, models_dir: Path, tmp_path: Path, new_bugs) -> None:
    folder = write_snapshot(tmp_path / "new", *new_bugs)
    result = incidents.ok("classify", folder / "bugs.json", "--comments", folder / "comments.json",
                          "--explain")
    out = answers(result.stdout)
    assert all(set(a) == FIELDS | {"explanation"} for a in out)
    assert all(set(a["explanation"]) == set(a["tags"]) for a in out)
    assert any(a["explanation"].get("ocsp-failure") for a in out)
    for answer in out:
        for words in answer["explanation"].values():
            assert all(set(w) == {"term", "weight"} for w in words)


def test_classify_file_without_comments(incidents, models_dir: Path, tmp_path: Path,
                                        new_bugs) -> None:
    folder = write_snapshot(tmp_path / "new", *new_bugs)
    with_comments = incidents.ok("classify", folder / "bugs.json", "--comments",
                                 folder / "comments.json")
    without = incidents.ok("classify", folder / "bugs.json")
    assert len(answers(without.stdout)) == 12
    assert without.stdout != with_comments.stdout


@pytest.mark.parametrize("whiteboard", ["", "[ca-compliance] [smime-misissuance] [policy-failure]",
                                        "[ocsp-failure] [crl-failure] [ev-misissuance]"])
def test_classify_file_whiteboard_changes_nothing(incidents, models_dir: Path, tmp_path: Path,
                                                  new_bugs, whiteboard: str) -> None:
    bugs, comments = new_bugs
    original = write_snapshot(tmp_path / "original", bugs, comments)
    changed = write_snapshot(tmp_path / "changed", {"bugs": [
        {**bug, "whiteboard": whiteboard} for bug in bugs["bugs"]]}, comments)
    outputs = [incidents.ok("classify", folder / "bugs.json", "--comments",
                            folder / "comments.json", "--explain").stdout
               for folder in (original, changed)]
    assert len(answers(outputs[0])) == 12
    assert outputs[1] == outputs[0]


def test_classify_no_active_model(incidents, snapshot_dir: Path, settings) -> None:
    incidents.fails("classify", snapshot_dir / "bugs.json",
                    says=("no active model", str(settings.models_dir), "incidents train"))


def test_classify_tampered_model(incidents, models_dir: Path, snapshot_dir: Path) -> None:
    artefact = models_dir / "v1" / "model.skops"
    data = bytearray(artefact.read_bytes())
    data[200] ^= 0xFF
    artefact.write_bytes(bytes(data))
    result = incidents.fails("classify", snapshot_dir / "bugs.json",
                             says=(str(artefact), "not loaded"))
    assert result.stdout == ""


@pytest.mark.parametrize(("content", "problem"), [
    ("{", "not valid JSON"),
    ('[{"id": 1, "summary": "Acme: x"}]', 'expected an object {"bugs": [...]}'),
    ('{"bugs": [{"id": 1}]}', "bugs[0] (id 1): summary"),
    pytest.param("[" * 100_000 + "]" * 100_000, "not valid JSON: nested too deeply to read",
                 id="nested-too-deeply"),  # a RecursionError traceback before
])
def test_classify_bad_file(incidents, models_dir: Path, tmp_path: Path, content: str,
                           problem: str) -> None:
    path = tmp_path / "bugs.json"
    path.write_text(content, encoding="utf-8")
    result = incidents.fails("classify", path, says=(str(path), problem))
    assert result.stdout == ""


def test_classify_comment_count_not_a_number(incidents, models_dir: Path, tmp_path: Path,
                                             new_bugs) -> None:
    """A count that is not a number among numbers: one line naming the bug and the comment (it
    was a TypeError traceback), nothing classified."""
    bugs, comments = new_bugs
    second = bugs["bugs"][1]["id"]
    comments["bugs"][str(second)]["comments"].insert(0, {"count": "a", "text": "x"})
    folder = write_snapshot(tmp_path / "new", bugs, comments)
    result = incidents.fails("classify", folder / "bugs.json", "--comments", folder / "comments.json",
                             says=(f"bugs[1] (id {second}): comments[0].count: expected an integer",))
    assert len(result.stderr.splitlines()) == 1
    assert result.stdout == ""


def test_classify_missing_file(incidents, models_dir: Path, tmp_path: Path) -> None:
    incidents.fails("classify", tmp_path / "absent.json",
                    says=(str(tmp_path / "absent.json"), "no such file"))


@pytest.mark.parametrize(("content", "problem"), [
    ("{", "not valid JSON"),
    ("", "not valid JSON"),
    ('{"items": []}', '"bugs"'),
])
def test_classify_bad_file_before_loading_the_model(incidents, models_dir: Path, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch, content: str,
                                                    problem: str) -> None:
    """A file that is not JSON, empty or of the wrong shape is told in its one line without the
    model being loaded (6 to 8 s and some 335 MB on the real one, before)."""
    def load(*args: object, **kwargs: object) -> None:
        raise AssertionError("the model was loaded before the file was checked")

    monkeypatch.setattr(ModelRegistry, "load", load)
    path = tmp_path / "bugs.json"
    path.write_text(content, encoding="utf-8")
    result = incidents.fails("classify", path, says=(str(path), problem))
    assert len(result.stderr.splitlines()) == 1
    assert result.stdout == ""


def test_classify_bad_file_without_a_model(incidents, settings, tmp_path: Path) -> None:
    """With no model at all, a bad file is still told as the file's problem."""
    path = tmp_path / "bugs.json"
    path.write_text("{", encoding="utf-8")
    result = incidents.fails("classify", path, says=(str(path), "not valid JSON"))
    assert "no active model" not in result.stderr
