"""The model registry: numbered versions, an atomically switched ACTIVE, promotions, rollbacks."""

from __future__ import annotations

import errno
import json
import os
import stat
import threading
from pathlib import Path

import pytest

from classifier import (
    ActiveChanged,
    AlreadyActive,
    ArtefactTampered,
    Incident,
    ModelError,
    ModelNotFound,
    MostFrequentTag,
    file_sha256,
    incidents_frame,
)
from core.registry import ModelRegistry


@pytest.fixture(scope="module")
def model() -> MostFrequentTag:
    """A small fitted estimator: the registry stores any trusted artefact alike."""
    X = incidents_frame([Incident(summary="Acme: OCSP down"), Incident(summary="Acme: CRL late")])
    return MostFrequentTag().fit(X, [("ocsp-failure",), ("crl-failure", "ocsp-failure")])


def append_byte(path: Path) -> None:
    with open(path, "ab") as fh:
        fh.write(b"\0")


@pytest.fixture
def registry(tmp_path: Path) -> ModelRegistry:
    return ModelRegistry(tmp_path / "models")


def create(registry: ModelRegistry, model, n: int) -> list[str]:
    return [registry.create(model, {"created_at": f"2024-01-0{i + 1}T00:00:00+00:00", "note": i})
            for i in range(n)]


def test_create_version_numbered(registry: ModelRegistry, model) -> None:
    assert registry.versions() == []
    assert create(registry, model, 3) == ["v1", "v2", "v3"]
    assert registry.versions() == ["v1", "v2", "v3"]
    assert registry.active_version() is None


def test_create_version_card(registry: ModelRegistry, model) -> None:
    (version,) = create(registry, model, 1)
    folder = registry.root / version
    card = registry.card(version)
    assert card == json.loads((folder / "card.json").read_text(encoding="utf-8"))
    assert card["version"] == "v1"
    assert card["artefact"] == "model.skops"
    assert card["artefact_sha256"] == file_sha256(folder / "model.skops")
    assert (card["note"], card["created_at"]) == (0, "2024-01-01T00:00:00+00:00")
    assert sorted(p.name for p in registry.root.iterdir()) == ["v1"]  # no staging left behind
    assert sorted(p.name for p in folder.iterdir()) == ["card.json", "model.skops",
                                                        "model.skops.sha256"]


def test_create_version_after_highest(registry: ModelRegistry, model) -> None:
    for name in ("v2", "v10"):
        (registry.root / name).mkdir(parents=True)
        (registry.root / name / "card.json").write_text("{}", encoding="utf-8")
    # A leftover folder without a card is no version, but its name is taken.
    (registry.root / "v11").mkdir()
    (registry.root / "v11" / "model.skops").write_text("partial", encoding="utf-8")
    (registry.root / "latest").mkdir()
    assert registry.versions() == ["v2", "v10"]
    assert registry.create(model, {}) == "v12"


def test_load_version_no_active(registry: ModelRegistry, model) -> None:
    with pytest.raises(ModelNotFound, match="incidents train"):
        registry.load()
    create(registry, model, 1)
    with pytest.raises(ModelNotFound, match="no active model"):
        registry.load()


@pytest.mark.parametrize("version", ["v9", "latest", "../v1", "v1/../v1", ""])
def test_card_unknown_version(registry: ModelRegistry, model, version: str) -> None:
    create(registry, model, 1)
    with pytest.raises(ModelNotFound):
        registry.card(version)


def test_promote_version_switches_active(registry: ModelRegistry, model) -> None:
    create(registry, model, 2)
    assert registry.promote("v1") is None
    assert registry.promote("v2") == "v1"
    assert registry.active_version() == "v2"
    assert (registry.root / "ACTIVE").read_text(encoding="utf-8") == "v2\n"
    loaded = registry.load()
    assert (loaded.version, loaded.card["version"]) == ("v2", "v2")
    assert registry.load("v1").version == "v1"
    history = registry.history()
    assert [(h["kind"], h["active"], h["previous"]) for h in history] == [
        ("promote", "v1", None), ("promote", "v2", "v1")]
    assert not [p for p in registry.root.iterdir() if p.name.startswith(".")]


def test_promote_on_a_full_disk_leaves_nothing_aside(registry: ModelRegistry, model,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """A full disk left an empty `.ACTIVE.<random>` behind, and the CLI said only "[Errno 28]"."""
    from cli._shared import _os_error

    create(registry, model, 2)
    registry.promote("v1")

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("core.registry.os.fsync", full)
    with pytest.raises(OSError) as info:
        registry.promote("v2")
    assert _os_error(info.value) == f"cannot write in {registry.root}: No space left on device"
    assert registry.active_version() == "v1"
    assert not [p for p in registry.root.iterdir() if p.name.startswith(".")]


def test_promote_unknown_version(registry: ModelRegistry, model) -> None:
    create(registry, model, 1)
    registry.promote("v1")
    with pytest.raises(ModelNotFound, match="no model version 'v7'"):
        registry.promote("v7")
    assert registry.active_version() == "v1"
    assert len(registry.history()) == 1


def test_rollback_walks_back(registry: ModelRegistry, model) -> None:
    assert registry.rollback_target() is None
    for version in create(registry, model, 3):
        registry.promote(version)
    assert registry.rollback_target() == "v2"
    assert registry.rollback() == "v2"
    assert registry.active_version() == "v2"
    assert registry.rollback_target() == "v1"
    assert registry.rollback() == "v1"
    assert registry.active_version() == "v1"
    assert registry.rollback_target() is None
    with pytest.raises(ModelNotFound, match="v1 has no earlier active version"):
        registry.rollback()
    assert registry.active_version() == "v1"
    assert [h["kind"] for h in registry.history()] == ["promote"] * 3 + ["rollback"] * 2


def test_rollback_after_new_promotion(registry: ModelRegistry, model) -> None:
    for version in create(registry, model, 3):
        registry.promote(version)
    registry.rollback()  # v3 -> v2
    registry.promote("v3")
    assert registry.rollback() == "v2"
    assert registry.rollback() == "v1"


def test_promote_the_active_version_refused(registry: ModelRegistry, model) -> None:
    """Promoting the active version again would push it on the history twice, and the next
    rollback would then "return" to the version already active."""
    for version in create(registry, model, 2):
        registry.promote(version)
    with pytest.raises(AlreadyActive, match="^v2 is already the active version$"):
        registry.promote("v2")
    assert [h["active"] for h in registry.history()] == ["v1", "v2"]
    assert registry.rollback() == "v1"


def test_rollback_reads_its_target_under_the_lock(registry: ModelRegistry, model,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A promotion that lands while a rollback waits for the models folder's lock is the one
    rolled back from: the rollback neither skips a version nor leaves the history's top
    different from ACTIVE."""
    import core.registry

    for version in create(registry, model, 4)[:3]:
        registry.promote(version)
    real_flock = core.registry.fcntl.flock
    raced: list[str] = []

    def flock_after_a_promotion(fd: int, operation: int) -> None:
        if not raced:  # the rollback's turn: a retraining promotes v4 just before it
            raced.append("v4")
            registry.promote("v4", replacing="v3")
        real_flock(fd, operation)

    monkeypatch.setattr(core.registry.fcntl, "flock", flock_after_a_promotion)
    assert registry.rollback() == "v3"
    assert registry.active_version() == "v3"
    assert registry.history()[-1] | {"at": None} == {
        "at": None, "kind": "rollback", "active": "v3", "previous": "v4",
        "reason": "rollback from v4", "by": None}
    assert registry.rollback_target() == "v2"


def test_rollback_history_with_more_rollbacks_than_promotions(registry: ModelRegistry, model) -> None:
    """Older code could write, in a race, rollbacks with no promotion left to undo; such a
    history is read (those rollbacks skipped), not an IndexError for the page and prune."""
    create(registry, model, 3)
    registry.promote("v1")
    registry.promote("v2")
    registry.rollback()  # to v1: the history's promotions are all undone but one
    with open(registry.root / "history.jsonl", "a", encoding="utf-8") as fh:
        for _ in range(2):
            fh.write(json.dumps({"at": "2026-12-07T04:58:59+00:00", "kind": "rollback", "active": "v1",
                                 "previous": "v1", "reason": "rollback from v2", "by": "reviewer"}) + "\n")
    assert registry.rollback_target() is None
    assert registry.prunable(1) == ["v2"]  # v1 active, v3 the newest
    with pytest.raises(ModelNotFound, match="v1 has no earlier active version"):
        registry.rollback()
    registry.promote("v3")
    registry.promote("v2")
    assert registry.rollback() == "v3"
    assert registry.active_version() == "v3"


@pytest.mark.parametrize("version", ["", "v", "V1", "v1/..", " v1"])
def test_promote_not_a_version_name(registry: ModelRegistry, model, version: str) -> None:
    """An empty name once meant "the active one" to load, and ACTIVE was then written empty:
    the service left without a model, and the command said it had promoted."""
    for name in create(registry, model, 2):
        registry.promote(name)
    with pytest.raises(ModelNotFound, match=f"no model version {version!r}"):
        registry.promote(version)
    assert registry.active_version() == "v2"
    assert [h["active"] for h in registry.history()] == ["v1", "v2"]


@pytest.mark.parametrize("text", ["garbage", "[1, 2]", '{"metrics": ', "\udcff"])
def test_damaged_card_is_a_model_error(registry: ModelRegistry, model, text: str) -> None:
    create(registry, model, 1)
    (registry.root / "v1" / "card.json").write_bytes(text.encode("utf-8", "surrogateescape"))
    with pytest.raises(ModelError, match=r"^v1/card.json is not a readable card \("):
        registry.card("v1")
    with pytest.raises(ModelError):
        registry.promote("v1")
    assert registry.active_version() is None


@pytest.mark.parametrize("recorded", [None, "", 5])
def test_card_without_its_sha256_is_not_loaded(registry: ModelRegistry, model, recorded) -> None:
    """The sha256 file beside the artefact alone is not enough: the card's record is the one a
    copy of the folder cannot rewrite unseen (README, "Loading a model")."""
    create(registry, model, 1)
    path = registry.root / "v1" / "card.json"
    card = json.loads(path.read_text(encoding="utf-8"))
    path.write_text(json.dumps({**card, "artefact_sha256": recorded}), encoding="utf-8")
    with pytest.raises(ArtefactTampered, match="^v1/card.json records no sha256 of its artefact"):
        registry.promote("v1")
    assert registry.active_version() is None


def test_history_skips_a_torn_line_and_appends_after_it(registry: ModelRegistry, model) -> None:
    """An append cut short leaves half a line: it is skipped, and the next entry starts a line
    of its own rather than joining it (and being lost with it)."""
    for name in create(registry, model, 3)[:2]:
        registry.promote(name)
    with open(registry.root / "history.jsonl", "a", encoding="utf-8") as fh:
        fh.write('{"at": "2024-01-01", "kind": "prom')
    assert [h["active"] for h in registry.history()] == ["v1", "v2"]
    registry.promote("v3")
    assert [h["active"] for h in registry.history()] == ["v1", "v2", "v3"]
    assert registry.rollback() == "v2"
    (registry.root / "ACTIVE").write_bytes(b"\xff\xfe")
    with pytest.raises(ModelError, match="does not name a version"):
        registry.active_version()


def test_rollback_nothing_active(registry: ModelRegistry, tmp_path) -> None:
    with pytest.raises(ModelNotFound, match="no version is active: there is nothing to roll back"):
        registry.rollback()
    nowhere = ModelRegistry(tmp_path / "no" / "models")  # a mistyped folder is not made
    with pytest.raises(ModelNotFound, match="no version is active: there is nothing to roll back"):
        nowhere.rollback()
    assert not (tmp_path / "no").exists()


def test_load_version_tampered(registry: ModelRegistry, model) -> None:
    create(registry, model, 1)
    registry.promote("v1")
    append_byte(registry.root / "v1" / "model.skops")
    with pytest.raises(ArtefactTampered) as info:
        registry.load()
    message = str(info.value)
    assert "v1/model.skops" in message and "sha256" in message and "not loaded" in message


def test_load_version_tampered_with_new_sha256(registry: ModelRegistry, model) -> None:
    """Rewriting the sha256 file beside a changed artefact does not help: the card recorded it."""
    create(registry, model, 1)
    artefact = registry.root / "v1" / "model.skops"
    append_byte(artefact)
    (registry.root / "v1" / "model.skops.sha256").write_text(
        f"{file_sha256(artefact)}  model.skops\n", encoding="utf-8")
    with pytest.raises(ArtefactTampered, match="was expected"):
        registry.load("v1")


def test_promote_version_tampered(registry: ModelRegistry, model) -> None:
    create(registry, model, 2)
    registry.promote("v1")
    (registry.root / "v2" / "model.skops.sha256").unlink()
    with pytest.raises(ArtefactTampered):
        registry.promote("v2")
    assert registry.active_version() == "v1"
    assert [h["active"] for h in registry.history()] == ["v1"]


def test_prune_keeps_active_rollback_targets_and_newest(registry: ModelRegistry, model) -> None:
    create(registry, model, 6)
    registry.promote("v2")
    registry.promote("v4")  # active v4; a rollback returns to v2
    sizes = {v: registry.size(v) for v in registry.versions()}
    assert all(size > 0 for size in sizes.values())
    assert registry.prunable(2) == ["v1", "v3"]
    assert registry.versions() == ["v1", "v2", "v3", "v4", "v5", "v6"]  # listing deletes nothing
    assert registry.prune(2) == ["v1", "v3"]
    assert registry.versions() == ["v2", "v4", "v5", "v6"]
    assert sorted(p.name for p in registry.root.iterdir()) == [
        "ACTIVE", "history.jsonl", "v2", "v4", "v5", "v6"]  # nothing left aside
    assert registry.size("v1") == 0
    assert registry.active_version() == "v4"
    assert registry.prune(2) == []
    assert registry.rollback() == "v2"
    # v4 is no longer one a rollback returns to: with --keep 1 only v2 (active) and v6 stay.
    assert registry.prune(1) == ["v4", "v5"]
    assert registry.versions() == ["v2", "v6"]
    # New versions are numbered after the newest, which pruning never removes.
    assert registry.create(model, {"created_at": "2024-02-01T00:00:00+00:00"}) == "v7"


def test_prune_without_active_version(registry: ModelRegistry, model) -> None:
    create(registry, model, 3)
    assert registry.prune(1) == ["v1", "v2"]
    assert registry.versions() == ["v3"]


@pytest.mark.parametrize("keep", [0, -1])
def test_prune_keeps_at_least_one(registry: ModelRegistry, model, keep: int) -> None:
    create(registry, model, 2)
    with pytest.raises(ValueError, match="at least 1"):
        registry.prune(keep)
    assert registry.versions() == ["v1", "v2"]


def test_promote_version_replacing_the_active_one(registry: ModelRegistry, model) -> None:
    create(registry, model, 3)
    assert registry.promote("v1", replacing=None) is None
    with pytest.raises(ActiveChanged, match="^not promoting v3: it was to replace v2, but v1 "):
        registry.promote("v3", replacing="v2")
    assert registry.promote("v2", replacing="v1") == "v1"
    assert registry.active_version() == "v2"
    assert [h["active"] for h in registry.history()] == ["v1", "v2"]


@pytest.mark.parametrize("racers", [2, 6])
def test_promote_version_racing_promotions_one_wins(registry: ModelRegistry, model,
                                                    racers: int) -> None:
    """Promotions replacing the same version, started together from threads: one wins, the
    others are refused, and ACTIVE and the history agree."""
    create(registry, model, racers + 1)
    registry.promote("v1")
    start = threading.Barrier(racers)
    won: list[str] = []
    refused: list[str] = []

    def promote(version: str) -> None:
        start.wait()
        try:
            registry.promote(version, replacing="v1")
            won.append(version)
        except ActiveChanged:
            refused.append(version)

    threads = [threading.Thread(target=promote, args=(f"v{i + 2}",)) for i in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(won) == 1 and len(refused) == racers - 1
    assert registry.active_version() == won[0]
    assert [(h["active"], h["previous"]) for h in registry.history()] == [("v1", None), (won[0], "v1")]


def test_rollback_from_a_version_active_without_its_history_entry(registry: ModelRegistry,
                                                                   model) -> None:
    """v3's promotion line torn (or the promotion killed between its two writes): rolling back
    goes to v2, the version before it, not to v1 past it; the history records v3 first, so a
    second rollback goes on to v1."""
    create(registry, model, 3)
    registry.promote("v1")
    registry.promote("v2")
    registry.promote("v3")
    path = registry.root / "history.jsonl"
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:2]) + lines[2][:25])  # v3's line cut short
    assert registry.active_version() == "v3"
    assert registry.rollback_target() == "v2"
    assert registry.rollback() == "v2"
    assert [(h["kind"], h["active"], h["reason"]) for h in registry.history()[2:]] == [
        ("promote", "v3", "recorded: active without its history entry"),
        ("rollback", "v2", "rollback from v3")]
    assert registry.rollback_target() == "v1"
    assert registry.rollback() == "v1"
    with pytest.raises(ModelNotFound, match="v1 has no earlier active version"):
        registry.rollback()


def test_rollback_after_a_lost_history(registry: ModelRegistry, model) -> None:
    """The history gone and v2 active: nothing recorded before v2, so nothing to go back to
    (a clear refusal), and nothing is written."""
    create(registry, model, 2)
    registry.promote("v1")
    registry.promote("v2")
    (registry.root / "history.jsonl").unlink()
    assert registry.rollback_target() is None
    with pytest.raises(ModelNotFound, match="v2 has no earlier active version"):
        registry.rollback()
    assert registry.active_version() == "v2"
    assert not (registry.root / "history.jsonl").exists()


def test_rollback_does_not_record_a_version_that_is_not_there(registry: ModelRegistry, model) -> None:
    """ACTIVE edited to name a version with no folder: a rollback refuses, saying so, and writes
    nothing (it went back to v1, past v2, the history's last version); promoting v2 restores it
    without pushing it again, so a rollback then goes to v1, not from v2 to v2."""
    create(registry, model, 2)
    registry.promote("v1")
    registry.promote("v2")
    (registry.root / "ACTIVE").write_text("v7\n", encoding="utf-8")
    before = registry.history()
    assert registry.rollback_target() is None
    with pytest.raises(ModelNotFound, match="ACTIVE names 'v7', which is not a version here"):
        registry.rollback()
    assert registry.history() == before and registry.active_version() == "v7"
    assert registry.promote("v2") == "v7"
    assert [(h["kind"], h["active"], h["previous"]) for h in registry.history()[2:]] == [
        ("restore", "v2", "v7")]
    assert registry.rollback_target() == "v1"
    assert registry.rollback() == "v1"
    assert "v7" not in [h["active"] for h in registry.history()]


def test_promoting_over_a_version_active_without_its_history_entry(registry: ModelRegistry,
                                                                   model) -> None:
    """v3 active without its history line (a promotion killed between its two writes), then v4
    promoted: v3 is recorded first, so prune keeps it and a rollback returns to it (it went to
    v2, and prune would have removed v3)."""
    create(registry, model, 4)
    registry.promote("v1")
    registry.promote("v2")
    (registry.root / "ACTIVE").write_text("v3\n", encoding="utf-8")
    assert registry.promote("v4") == "v3"
    assert [(h["kind"], h["active"], h["previous"], h["reason"]) for h in registry.history()[2:]] == [
        ("promote", "v3", "v2", "recorded: active without its history entry"),
        ("promote", "v4", "v3", "promote")]
    assert registry.prunable(1) == []
    assert registry.rollback() == "v3"
    assert registry.rollback() == "v2"


def test_promoting_back_over_an_unrecorded_version_is_rolled_back_from(registry: ModelRegistry,
                                                                       model) -> None:
    """v2 active without its history line, then v1 (the history's last) promoted: v2 is recorded
    first, so a rollback goes to v2 ("rollback from v1"), not from v1 to v1."""
    create(registry, model, 2)
    registry.promote("v1")
    (registry.root / "ACTIVE").write_text("v2\n", encoding="utf-8")
    assert registry.promote("v1") == "v2"
    assert registry.rollback_target() == "v2"
    assert registry.rollback() == "v2"
    assert registry.history()[-1]["reason"] == "rollback from v1"

@pytest.mark.parametrize(("umask", "file_mode", "folder_mode"),
                         [(0o022, 0o644, 0o755), (0o077, 0o600, 0o700)], ids=["umask 022", "umask 077"])
def test_written_files_follow_the_umask(registry: ModelRegistry, model, umask: int,
                                        file_mode: int, folder_mode: int) -> None:
    """ACTIVE and the version folders take the umask's modes, as the artefact and the card do:
    they were 0600 and 0700 whatever the umask (tempfile's), so a service running as another
    user than the maintainer who trained or promoted could not read the model."""
    old = os.umask(umask)
    try:
        (version,) = create(registry, model, 1)
        registry.promote(version)
    finally:
        os.umask(old)
    folder = registry.root / version
    modes = {path.name: stat.S_IMODE(path.stat().st_mode)
             for path in (registry.root / "ACTIVE", registry.root / "history.jsonl", *folder.iterdir())}
    assert modes == dict.fromkeys(modes, file_mode), modes
    assert stat.S_IMODE(folder.stat().st_mode) == folder_mode
