"""Corrections: checked, stored with what the model said, superseded with history, used in training."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from classifier import InvalidIncident, Taxonomy
from core.config import Settings
from core.corrections import MAX_NOTE_CHARS, check_correction, correct_incident, corrections_of, list_corrections
from core.db import session_scope
from core.labels import corrected_labels
from core.registry import ModelRegistry
from core.store import save_prediction
from core.tables import CorrectionRow
from tests.fixtures import add_review_queue, count_rows, run
from training.dataset import load_dataset
from training.train import train_version

BUG = 1_500_001  # an ocsp-failure incident of the fixture snapshot


def test_add_correction_unknown_tag_or_bug(settings: Settings, store: str, taxonomy: Taxonomy) -> None:
    with session_scope(store) as session:
        with pytest.raises(InvalidIncident) as bad_tag:
            correct_incident(session=session, taxonomy=taxonomy, bug_id=BUG, tags=["no-such-tag"],
                           author="a")
        assert bad_tag.value.field == "tags"
        with pytest.raises(InvalidIncident) as bad_bug:
            correct_incident(session=session, taxonomy=taxonomy, bug_id=42, tags=[], author="a")
        assert bad_bug.value.field == "bug_id"
    assert count_rows(settings, CorrectionRow) == 0


def test_check_correction_reads_a_tag_as_the_whiteboard_writes_it(store: str, taxonomy: Taxonomy) -> None:
    """"[dv-misissuance]" was refused (422) though it is how the whiteboard writes the tag."""
    with session_scope(store) as session:
        checked = check_correction(session=session, taxonomy=taxonomy, bug_id=BUG,
                                   tags=["[dv-misissuance]", " [OCSP-Failure] "])
    assert checked.tags == ("dv-misissuance", "ocsp-failure")


@pytest.mark.parametrize(("note", "says"), [
    ("a\x00b", "note: must not contain NUL characters"),
    ("a\ud800b", "note: contains a character that is not valid Unicode (a lone surrogate, or "
                 "bytes that were not UTF-8)"),
    ("n" * (MAX_NOTE_CHARS + 1), f"note: at most {MAX_NOTE_CHARS} characters"),
])
def test_add_correction_bad_note(settings: Settings, store: str, taxonomy: Taxonomy, note: str,
                                 says: str) -> None:
    with session_scope(store) as session:
        with pytest.raises(InvalidIncident) as bad_note:
            correct_incident(session=session, taxonomy=taxonomy, bug_id=BUG, tags=[], note=note,
                             author="a")
    assert (bad_note.value.field, str(bad_note.value)) == ("note", says)
    assert count_rows(settings, CorrectionRow) == 0


def test_add_correction_records_model_prediction(settings: Settings, store: str, models_dir: Path,
                                                 taxonomy: Taxonomy) -> None:
    registry = ModelRegistry(models_dir)
    loaded = registry.load()
    with session_scope(store) as session:
        row = correct_incident(session=session, taxonomy=taxonomy, bug_id=BUG, tags=["crl-failure"],
                             author="a", loaded=loaded)
        assert row.model_version == loaded.version and row.model_tags  # asked now
        save_prediction(session=session, incident_id=BUG + 1, model_version=loaded.version,
                        tags=["ev-misissuance"], scores={"ev-misissuance": 0.9}, needs_review=False,
                        confidence=0.9)
        stored = correct_incident(session=session, taxonomy=taxonomy, bug_id=BUG + 1, tags=[],
                                author="a", loaded=loaded)
        assert stored.model_tags == ["ev-misissuance"]  # the stored prediction, not a new one


def test_correction_supersedes_and_keeps_history(settings: Settings, store: str,
                                                 correct: Callable[..., int]) -> None:
    correct(BUG, ["crl-failure"], note="first")
    correct(BUG, ["ev-misissuance", "ocsp-failure"], note="second", author="bob")
    with session_scope(store) as session:
        history = corrections_of(session=session, incident_id=BUG)
        assert [c.note for c in history] == ["first", "second"]
        assert corrected_labels(session=session, incident_ids=[BUG, BUG + 1]) == {
            BUG: ("ev-misissuance", "ocsp-failure")}
        rows, total = list_corrections(session=session, bug_id=BUG, limit=1)
        assert total == 2 and rows[0].note == "second" and rows[0].author == "bob"


def test_correction_changes_training_label(settings: Settings, store: str, taxonomy: Taxonomy,
                                           correct: Callable[..., int]) -> None:
    with session_scope(store) as session:
        before = load_dataset(session=session)
    assert before.corrections["count"] == 0
    assert before.y[list(before.ids).index(BUG)] == ("ocsp-failure",)
    correct(BUG, ["crl-failure"])
    correct(BUG + 1, [])  # no incident type: left out of training
    with session_scope(store) as session:
        after = load_dataset(session=session)
    assert after.y[list(after.ids).index(BUG)] == ("crl-failure",)
    assert BUG + 1 not in after.ids and len(after) == len(before) - 1
    assert after.corrections["count"] == 2
    assert after.corrections["sha256"] != before.corrections["sha256"]
    assert after.fingerprint() != before.fingerprint()
    registry = ModelRegistry(settings.models_dir)
    _, card = train_version(after, settings=settings, taxonomy=taxonomy, registry=registry)
    assert card["corrections"] == after.corrections


def test_corrections_import_all_or_nothing(settings: Settings, store: str, tmp_path: Path) -> None:
    lines = [json.dumps({"bug_id": BUG, "tags": ["crl-failure"], "note": "ok"}),
             json.dumps({"bug_id": BUG + 1, "tags": []}),
             json.dumps({"bug_id": BUG + 2, "tags": ["not-a-tag"]})]
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = run("corrections", "import", bad, "--author", "alice")
    assert result.exit_code == 1
    assert "line 3" in result.stderr and "tags" in result.stderr
    assert count_rows(settings, CorrectionRow) == 0

    good = tmp_path / "good.jsonl"
    good.write_text("\n".join(lines[:2]) + "\n\n", encoding="utf-8")
    result = run("corrections", "import", good, "--author", "alice")
    assert result.exit_code == 0, result.output
    assert "stored 2 corrections" in result.stdout
    with session_scope(store) as session:
        assert corrected_labels(session=session, incident_ids=[BUG, BUG + 1]) == {
            BUG: ("crl-failure",), BUG + 1: ()}
    listed = run("corrections", "list", "--bug", BUG)
    assert json.loads(listed.stdout.splitlines()[0])["author"] == "alice"


@pytest.mark.parametrize("line, says", [
    ("not json", "line 1: not JSON (Expecting value at column 1)"),
    ('{"bug_id": 1500001, "tags": [], "note": "cut', "line 1: not JSON (Unterminated string "
                                                   "starting at at column 41)"),
    ('{"tags": []}', "line 1: bug_id: missing"),
    ('{"bug_id": "1500001", "tags": []}', "line 1: bug_id"),
    # Beyond SQLite's 64 bits (an OverflowError traceback), and above the REST API's bound.
    ('{"bug_id": 99999999999999999999999, "tags": []}',
     "line 1: bug_id: expected a positive integer up to 2147483647 (a Bugzilla bug id), got 99999999999999999999999"),
    ('{"bug_id": 2147483648, "tags": []}', "line 1: bug_id: expected a positive integer up to 2147483647"),
    ('{"bug_id": 1500001, "tags": "crl-failure"}', "line 1: tags"),
    ('{"bug_id": 1500001, "tags": [], "note": "a\\u0000b"}', "line 1: note: must not contain NUL"),
    ('{"bug_id": 1500001, "tags": [], "note": "a\\ud800b"}', "line 1: note: contains a character "
                                                           "that is not valid Unicode"),
    # What json.loads refuses with a RecursionError and a ValueError (tracebacks before).
    pytest.param('{"bug_id": 1500001, "tags": []}\n' + "[" * 100_000 + "]" * 100_000,
                 "line 2: not JSON (nested too deeply to read)", id="nested-too-deeply"),
    pytest.param('{"bug_id": 1' + "0" * 5000 + ', "tags": []}',
                 "line 1: not JSON (a number with too many digits to read)", id="number-too-long"),
])
def test_corrections_import_bad_line_names_it(settings: Settings, store: str, tmp_path: Path,
                                              line: str, says: str) -> None:
    path = tmp_path / "c.jsonl"
    path.write_text(line + "\n", encoding="utf-8")
    result = run("corrections", "import", path, "--author", "alice")
    assert result.exit_code == 1 and says in result.stderr, result.stderr
    assert count_rows(settings, CorrectionRow) == 0


def test_corrections_import_names_every_bad_line(settings: Settings, store: str, tmp_path: Path) -> None:
    """One run names each bad line, up to ten, and counts the rest (it stopped at the first, so
    a file with three took three runs); nothing is stored, the good lines included."""
    good = '{"bug_id": 1500001, "tags": []}'
    lines = [good, '{"bug_id": 1500001, "tags": ["not-a-tag"]}', '{"bug_id": 999, "tags": []}', "oops",
             *['{"tags": []}'] * 10]
    path = tmp_path / "c.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = run("corrections", "import", path, "--author", "alice")
    assert result.exit_code == 1 and len(result.stderr.splitlines()) == 1, result.stderr
    said = result.stderr.removeprefix("error: ").strip()
    parts = said.split("; ")
    assert parts[0].startswith("line 2: tags: ") and parts[1].startswith("line 3: ")
    assert parts[2] == "line 4: not JSON (Expecting value at column 1)"
    assert parts[3:10] == [f"line {n}: bug_id: missing" for n in range(5, 12)]
    assert said.endswith("; and 3 more (13 bad lines; nothing stored)")
    assert count_rows(settings, CorrectionRow) == 0


def test_corrections_list_of_a_bug_not_in_the_store_says_so(incidents, store: str) -> None:
    """Nothing listed, and a note: a bug not in the store (a plain nothing before), not one
    stored and never corrected (nothing, and no note)."""
    unknown = incidents.ok("corrections", "list", "--bug", "12345")
    assert unknown.stdout == "" and unknown.stderr == "note: bug 12345 is not in the store\n"
    never = incidents.ok("corrections", "list", "--bug", str(BUG))
    assert never.stdout == "" and never.stderr == ""


@pytest.mark.parametrize("bug", ["99999999999999999999999", "2147483648", "0", "-1"])
def test_corrections_list_bug_outside_bug_ids(incidents, store: str, bug: str) -> None:
    """A bug no store holds: one line naming the option (it was an OverflowError traceback on
    SQLite, then a message naming bug_id)."""
    result = incidents.fails("corrections", "list", "--bug", bug,
                             says=(f"--bug: expected a positive integer up to 2147483647 (a Bugzilla "
                                   f"bug id), got {bug}",))
    assert result.stdout == "" and len(result.stderr.splitlines()) == 1
    with session_scope(store) as session, pytest.raises(InvalidIncident):
        list_corrections(session=session, bug_id=int(bug))


@pytest.mark.parametrize(("author", "says"), [
    ("", "--author: the name of a maintainer is needed"), ("   ", "--author: the name of a maintainer is needed"),
    ("a" * 256, "--author: at most 255 characters")])
def test_corrections_import_bad_author(incidents, settings: Settings, store: str, tmp_path: Path,
                                       author: str, says: str) -> None:
    """An author the store would keep empty, or one PostgreSQL refuses and SQLite keeps whole, is
    refused before anything is read; tokens are named by the same rule."""
    good = tmp_path / "good.jsonl"
    good.write_text(json.dumps({"bug_id": BUG, "tags": ["crl-failure"]}) + "\n", encoding="utf-8")
    incidents.fails("corrections", "import", good, "--author", author, says=(says,))
    incidents.fails("tokens", "create", author, says=(says.replace("--author", "name"),))
    # retrain's --requested-by too (PostgreSQL refused 300 characters naming no option).
    incidents.fails("retrain", "--requested-by", author,
                    says=(says.replace("--author", "--requested-by"),))
    assert count_rows(settings, CorrectionRow) == 0


def test_corrections_import_not_utf8(incidents, settings: Settings, store: str, tmp_path: Path) -> None:
    """Named in one line, as `classify` names a bugs file that is not UTF-8 (it was a
    UnicodeDecodeError traceback); nothing is stored, not even the good first line."""
    path = tmp_path / "c.jsonl"
    path.write_bytes(b'{"bug_id": 1500001, "tags": []}\n{"note": "\xff"}\n')
    result = incidents.fails("corrections", "import", path, "--author", "alice",
                             says=(f"{path}: not UTF-8 text (invalid start byte at byte 42)",))
    assert len(result.stderr.splitlines()) == 1 and result.stdout == ""
    assert count_rows(settings, CorrectionRow) == 0


@pytest.mark.parametrize(("name", "says"), [("missing.jsonl", "no such file"),
                                           (".", "is a directory, not a file")])
def test_corrections_import_file_not_there(incidents, settings: Settings, store: str,
                                           tmp_path: Path, name: str, says: str) -> None:
    """Named as `classify` names its bugs file (it was "[Errno 2] No such file ...")."""
    path = tmp_path / name
    incidents.fails("corrections", "import", path, "--author", "alice", says=(f"{path}: {says}",))


def test_corrections_import_line_separators_inside_a_note(incidents, settings: Settings,
                                                          store: str, tmp_path: Path) -> None:
    """U+2028 and U+2029 may stand unescaped in a JSON string: the file's lines are split at line
    feeds only (the line was cut in two there, 'not JSON'); CRLF files still read."""
    path = tmp_path / "c.jsonl"
    line = f'{{"bug_id": {BUG}, "tags": ["crl-failure"], "note": "first\u2028second\u2029third"}}'
    path.write_text(line + "\r\n\r\n", encoding="utf-8")
    incidents.ok("corrections", "import", path, "--author", "alice")
    with session_scope(store) as session:
        [stored] = corrections_of(session=session, incident_id=BUG)
    assert stored.note == "first\u2028second\u2029third"


def test_corrections_import_line_twice_stores_it_once(incidents, settings: Settings, store: str,
                                                       tmp_path: Path) -> None:
    """A line repeated in one file is skipped like one already in the store (it was stored
    twice); one that goes back to earlier tags after another line is a verdict of its own."""
    crl = json.dumps({"bug_id": BUG, "tags": ["crl-failure"], "note": "a"})
    ocsp = json.dumps({"bug_id": BUG, "tags": ["ocsp-failure"]})
    twice = tmp_path / "twice.jsonl"
    twice.write_text(f"{crl}\n{crl}\n", encoding="utf-8")
    result = incidents.ok("corrections", "import", twice, "--author", "alice")
    assert result.stdout == f"stored 1 corrections from {twice} by alice (1 already stored)\n"
    assert result.stderr == ""  # the same tags twice: nothing to say
    assert count_rows(settings, CorrectionRow) == 1

    back = tmp_path / "back.jsonl"
    back.write_text(f"{crl}\n{ocsp}\n{crl}\n{crl}\n", encoding="utf-8")
    result = incidents.ok("corrections", "import", back, "--author", "alice")
    assert result.stdout == f"stored 2 corrections from {back} by alice (2 already stored)\n"
    # Said, not refused: the last line counts, and a slip shows (a triager's review).
    assert result.stderr == (f"note: bug {BUG} is given different tags on several lines; the "
                             "last counts (crl-failure)\n")
    with session_scope(store) as session:
        assert [c.tags for c in corrections_of(session=session, incident_id=BUG)] == [
            ("crl-failure",), ("ocsp-failure",), ("crl-failure",)]


def test_correction_repeated_is_stored_once(settings: Settings, store: str, taxonomy: Taxonomy,
                                            correct: Callable[..., int]) -> None:
    """The correction that counts, sent again by its author (the same tags, aliases and order
    aside, and note, blanks aside), stores nothing and gives that one back (each was stored
    again); another author, another note or going back to earlier tags is a verdict of its own."""
    from core.corrections import record_correction

    first = correct(BUG, ["crl-failure", "ocsp-failure"], note="seen")
    assert correct(BUG, ["ocsp-failure", "crl-failure"], note=" seen ") == first
    with session_scope(store) as session:
        again = record_correction(session=session, taxonomy=taxonomy, bug_id=BUG,
                                  tags=["ocsp-failure", "crl-failure"], note="seen", author="tester")
        assert (again.row.id, again.stored) == (first, False)
    assert count_rows(settings, CorrectionRow) == 1

    other_note = correct(BUG, ["crl-failure", "ocsp-failure"], note="seen twice")
    other_author = correct(BUG, ["crl-failure", "ocsp-failure"], note="seen twice", author="bob")
    other_tags = correct(BUG, ["crl-failure"], author="bob")
    back = correct(BUG, ["crl-failure", "ocsp-failure"], note="seen twice", author="bob")
    assert len({first, other_note, other_author, other_tags, back}) == 5
    with session_scope(store) as session:
        stored = record_correction(session=session, taxonomy=taxonomy, bug_id=BUG, tags=[],
                                   author="bob")
        assert stored.stored and stored.row.tags == []
    assert count_rows(settings, CorrectionRow) == 6


def test_correction_repeated_at_once_is_stored_once(settings: Settings, store: str,
                                                    taxonomy: Taxonomy) -> None:
    """Two identical corrections in transactions at once store one: the second waits for the
    first's lock on the incident, then finds it stored (both were stored: a concurrency run left
    160 identical rows). The first is left uncommitted while the second runs."""
    seen: list[int] = []
    failed: list[BaseException] = []

    def second() -> None:
        try:
            with session_scope(store) as session:
                seen.append(correct_incident(session=session, taxonomy=taxonomy, bug_id=BUG,
                                             tags=["crl-failure"], note="n", author="alice").id)
        except BaseException as exc:  # noqa: BLE001 - said by the test's thread
            failed.append(exc)

    with session_scope(store) as session:
        first = correct_incident(session=session, taxonomy=taxonomy, bug_id=BUG,
                                 tags=["crl-failure"], note="n", author="alice").id
        thread = threading.Thread(target=second)
        thread.start()
        thread.join(timeout=1.0)
        assert thread.is_alive(), failed  # it waits for this transaction to end
    thread.join(timeout=60)
    assert not thread.is_alive() and not failed, failed
    assert seen == [first]
    assert count_rows(settings, CorrectionRow) == 1


def test_corrections_import_review_json_lines(incidents, settings: Settings, store: str,
                                              models_dir: Path, tmp_path: Path) -> None:
    """`incidents review --json` lines, their tags edited (or not), import as they are: the fields
    review writes beside bug_id and tags are ignored (it was "unknown field ca")."""
    add_review_queue(store, models_dir)
    rows = [json.loads(line) for line in incidents.ok("review", "--json").stdout.splitlines()]
    assert len(rows) == 4 and all(set(row) > {"bug_id", "tags", "ca", "summary"} for row in rows)
    rows[0]["tags"] = ["crl-failure"]
    rows[1]["tags"] = []
    path = tmp_path / "review.jsonl"
    # Written with a byte order mark, as Windows editors save UTF-8 (it was "line 1: not JSON").
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8-sig")
    assert incidents.ok("corrections", "import", path, "--author", "alice").stdout.startswith(
        "stored 4 corrections")
    with session_scope(store) as session:
        assert corrected_labels(session=session, incident_ids=[row["bug_id"] for row in rows]) == {
            row["bug_id"]: tuple(sorted(row["tags"])) for row in rows}


def test_corrections_import_names_every_unknown_field(incidents, settings: Settings, store: str,
                                                      tmp_path: Path) -> None:
    """All of a line's unknown fields in one message, sorted (it named the first only, so a
    line with seven took seven runs); the fields review --json writes are not among them."""
    path = tmp_path / "c.jsonl"
    path.write_text(json.dumps({"bug_id": BUG, "tags": [], "tagz": [], "summary": "x",
                                "author": "bob"}) + "\n", encoding="utf-8")
    result = incidents.fails("corrections", "import", path, "--author", "alice",
                             says=("error: line 1: unknown fields author, tagz\n",))
    assert len(result.stderr.splitlines()) == 1
    path.write_text(json.dumps({"bug_id": BUG, "tags": [], "tagz": []}) + "\n", encoding="utf-8")
    incidents.fails("corrections", "import", path, "--author", "alice",
                    says=("error: line 1: unknown field tagz\n",))
    assert count_rows(settings, CorrectionRow) == 0


def test_corrections_import_bad_file_before_loading_the_model(
        incidents, settings: Settings, store: str, models_dir: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A bad line is told without the active model being loaded (it was loaded first, some 6 s
    on the real one, to store the corrected incidents' predictions afterwards)."""
    def load(*args: object, **kwargs: object) -> None:
        raise AssertionError("the model was loaded before the lines were checked")

    monkeypatch.setattr(ModelRegistry, "load", load)
    path = tmp_path / "c.jsonl"
    path.write_text('{"bug_id": 1500001, "tags": ["no-such-tag"]}\n', encoding="utf-8")
    result = incidents.fails("corrections", "import", path, "--author", "alice", says=("line 1: tags",))
    assert len(result.stderr.splitlines()) == 1
    assert count_rows(settings, CorrectionRow) == 0
