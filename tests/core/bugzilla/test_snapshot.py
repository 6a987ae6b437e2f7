"""Reading snapshot files: checked whole before anything is used, errors name file and problem."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from classifier import InvalidSnapshot, Taxonomy
from core.bugzilla.snapshot import read_bugs, read_comments, read_snapshot, records_from_files
from tests.fixtures import make_bugs, write_snapshot


def test_read_snapshot_fixture(snapshot_dir: Path, taxonomy: Taxonomy) -> None:
    records = read_snapshot(snapshot_dir, taxonomy)
    assert len(records) == 48
    assert len({r.id for r in records}) == 48
    first = records[0]
    assert first.id == 1500001
    assert first.description.startswith("## Incident Report")
    assert first.tags.types == ("ocsp-failure",)
    assert first.tags.meta == ("ca-compliance", "verif?")
    assert first.product == "CA Program"
    assert first.last_comment_time == first.creation_time  # its one comment, comment 0


def test_read_snapshot_last_comment_time(tmp_path: Path, taxonomy: Taxonomy) -> None:
    bugs, comments = make_bugs(n_per_tag=1)
    comments["bugs"]["1500001"]["comments"].append(
        {"bug_id": 1500001, "count": 1, "text": "", "creation_time": "2024-02-03T04:05:06Z",
         "is_private": False})
    records = read_snapshot(write_snapshot(tmp_path / "s", bugs, comments), taxonomy)
    assert records[0].last_comment_time is not None
    assert records[0].last_comment_time.isoformat() == "2024-02-03T04:05:06+00:00"
    assert records[1].last_comment_time == records[1].creation_time


def test_read_snapshot_bug_without_comments(tmp_path: Path, taxonomy: Taxonomy) -> None:
    bugs, comments = make_bugs(n_per_tag=1)
    del comments["bugs"]["1500002"]
    records = read_snapshot(write_snapshot(tmp_path / "s", bugs, comments), taxonomy)
    assert [r.description == "" for r in records] == [False, True, False, False]


def test_records_from_files_without_comments(snapshot_dir: Path, taxonomy: Taxonomy) -> None:
    records = records_from_files(snapshot_dir / "bugs.json", None, taxonomy)
    assert len(records) == 48
    assert all(r.description == "" for r in records)


def test_read_bugs_and_comments(snapshot_dir: Path) -> None:
    bugs = read_bugs(snapshot_dir / "bugs.json")
    comments = read_comments(snapshot_dir / "comments.json")
    assert len(bugs) == 48
    assert set(comments) == {b["id"] for b in bugs}
    assert comments[1500001][0]["count"] == 0


def test_read_comments_bugzilla_extra_keys(tmp_path: Path) -> None:
    """Bugzilla's comment answer also has a top-level "comments" object; it is ignored."""
    path = tmp_path / "comments.json"
    path.write_text(json.dumps({"bugs": {"7": {"comments": []}}, "comments": {"1": {}}}))
    assert read_comments(path) == {7: []}


def test_read_snapshot_bad_file(bad_snapshot, taxonomy: Taxonomy) -> None:
    folder, path, problem = bad_snapshot
    with pytest.raises(InvalidSnapshot) as info:
        read_snapshot(folder, taxonomy)
    assert info.value.path == path
    assert str(info.value).startswith(f"{path}: ")
    assert problem in str(info.value)


def test_read_snapshot_no_folder(tmp_path: Path, taxonomy: Taxonomy) -> None:
    with pytest.raises(InvalidSnapshot, match="no such snapshot folder"):
        read_snapshot(tmp_path / "absent", taxonomy)


def test_read_bugs_directory(tmp_path: Path) -> None:
    (tmp_path / "bugs.json").mkdir()
    with pytest.raises(InvalidSnapshot, match="is a directory"):
        read_bugs(tmp_path / "bugs.json")
