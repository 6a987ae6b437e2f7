"""The artefact format: a skops file and its sha256; loading refuses changed or untrusted files."""

from __future__ import annotations

import copy
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
import skops.io as sio

from classifier import (
    ArtefactTampered,
    IncidentTypeClassifier,
    KeywordTagger,
    ModelError,
    ModelNotFound,
    MostFrequentTag,
    TfidfLogisticBaseline,
    UntrustedArtefact,
    file_sha256,
    load_artefact,
    load_artefact_isolated,
    save_artefact,
)
from core.registry import ModelRegistry

LOADED: list[str] = []


class Payload:
    """A type no artefact of ours holds; loading it would run this class's code."""

    def __init__(self) -> None:
        self.note = "hello"

    def __setstate__(self, state: dict) -> None:
        LOADED.append("Payload.__setstate__ ran")
        self.__dict__.update(state)


def flip_byte(path: Path, offset: int = 100) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.fixture(scope="module")
def model(trained_models: Path) -> IncidentTypeClassifier:
    return ModelRegistry(trained_models).load().model


@pytest.fixture
def saved(tmp_path: Path, model: IncidentTypeClassifier) -> Path:
    path = tmp_path / "model.skops"
    save_artefact(model, path)
    return path


def test_save_artefact_writes_sha256(tmp_path: Path, model: IncidentTypeClassifier) -> None:
    path = tmp_path / "model.skops"
    sha = save_artefact(model, path)
    assert sha == file_sha256(path)
    assert (tmp_path / "model.skops.sha256").read_text(encoding="utf-8") == f"{sha}  model.skops\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.skops", "model.skops.sha256"]


def test_load_artefact_round_trip(saved: Path, model: IncidentTypeClassifier, fixture_data) -> None:
    X, _ = fixture_data
    loaded = load_artefact(saved, file_sha256(saved))
    assert isinstance(loaded, IncidentTypeClassifier)
    assert loaded is not model
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    np.testing.assert_array_equal(loaded.thresholds_, model.thresholds_)
    assert loaded.decide(X) == model.decide(X)
    assert loaded.get_params() == model.get_params()


@pytest.mark.parametrize("baseline", [MostFrequentTag, KeywordTagger, TfidfLogisticBaseline],
                         ids=lambda c: c.__name__)
def test_load_artefact_baseline_round_trip(tmp_path: Path, fixture_data, baseline) -> None:
    X, y = fixture_data
    est = baseline().fit(X, y)
    save_artefact(est, tmp_path / "baseline.skops")
    loaded = load_artefact(tmp_path / "baseline.skops")
    np.testing.assert_array_equal(loaded.predict_proba(X), est.predict_proba(X))


@pytest.mark.parametrize("offset", [0, 100, -1])
def test_load_artefact_flipped_byte(saved: Path, offset: int) -> None:
    flip_byte(saved, offset)
    with pytest.raises(ArtefactTampered, match="changed after it was written"):
        load_artefact(saved)


@pytest.mark.parametrize("keep", [0, 1, 0.5])
def test_load_artefact_truncated(saved: Path, keep: float) -> None:
    data = saved.read_bytes()
    saved.write_bytes(data[:int(len(data) * keep)] if keep < 1 else data[:-1])
    with pytest.raises(ArtefactTampered, match="changed after it was written"):
        load_artefact(saved)


def test_load_artefact_sha256_file_removed(saved: Path) -> None:
    (saved.parent / "model.skops.sha256").unlink()
    with pytest.raises(ArtefactTampered, match="sha256 file is missing"):
        load_artefact(saved)


def test_load_artefact_sha256_file_empty(saved: Path) -> None:
    (saved.parent / "model.skops.sha256").write_text("", encoding="utf-8")
    with pytest.raises(ArtefactTampered, match="sha256 file is missing or empty"):
        load_artefact(saved)


def test_load_artefact_expected_sha256_differs(saved: Path) -> None:
    with pytest.raises(ArtefactTampered, match="was expected"):
        load_artefact(saved, "0" * 64)


def test_load_artefact_not_skops(tmp_path: Path) -> None:
    path = tmp_path / "model.skops"
    path.write_bytes(b"import os; os.system('echo hi')")
    (tmp_path / "model.skops.sha256").write_text(f"{file_sha256(path)}  model.skops\n")
    with pytest.raises(ArtefactTampered, match="not a readable skops file"):
        load_artefact(path)


def test_load_artefact_missing(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFound, match="no artefact"):
        load_artefact(tmp_path / "model.skops")


def test_load_artefact_untrusted_class(tmp_path: Path) -> None:
    path = tmp_path / "model.skops"
    sio.dump(Payload(), path)
    (tmp_path / "model.skops.sha256").write_text(f"{file_sha256(path)}  model.skops\n")
    LOADED.clear()
    with pytest.raises(UntrustedArtefact) as info:
        load_artefact(path)
    assert f"{__name__}.Payload" in str(info.value)
    assert LOADED == []


@pytest.mark.parametrize(("function", "name"), [(os.system, f"{os.name}.system"),
                                                (eval, "builtins.eval")])
def test_load_artefact_untrusted_function(tmp_path: Path, function, name: str) -> None:
    path = tmp_path / "model.skops"
    save_artefact({"estimator": function}, path)
    with pytest.raises(UntrustedArtefact, match=name):
        load_artefact(path)


def test_save_artefact_leaves_out_prediction_cache(tmp_path: Path, model: IncidentTypeClassifier,
                                                   fixture_data) -> None:
    """What predictions build for speed is derived data: it is not saved, and saving does not
    drop it from the model in use."""
    X, _ = fixture_data
    used = copy.deepcopy(model)
    used.decide(X.iloc[:3])
    used.explain(X.iloc[:1], [list(used.classes_)])
    assert set(used.__dict__["_derived_cache"]) == {"stacked", "vocabulary", "coef", "feature_blocks",
                                                    "prior_shift", "known_words"}
    sha = save_artefact(used, tmp_path / "model.skops")
    assert "_derived_cache" in used.__dict__
    with zipfile.ZipFile(tmp_path / "model.skops") as archive:
        assert "_derived_cache" not in archive.read("schema.json").decode()
    loaded = load_artefact(tmp_path / "model.skops", sha)
    assert "_derived_cache" not in loaded.__dict__
    np.testing.assert_array_equal(loaded.predict_proba(X), used.predict_proba(X))


# -- loading in a child process (the service's model switches) ------------------------------------

def test_load_artefact_isolated_round_trip(saved: Path, model: IncidentTypeClassifier,
                                           fixture_data) -> None:
    """The model a loader process hands back predicts and explains as one loaded here."""
    X, _ = fixture_data
    here = load_artefact(saved)
    there = load_artefact_isolated(saved, file_sha256(saved))
    assert isinstance(there, IncidentTypeClassifier)
    np.testing.assert_array_equal(there.predict_proba(X), here.predict_proba(X))
    assert there.decide(X) == here.decide(X)
    assert there.explain(X.iloc[:3], [list(model.classes_)] * 3) == here.explain(
        X.iloc[:3], [list(model.classes_)] * 3)


def test_load_artefact_isolated_runs_nothing_from_the_working_directory(
        tmp_path: Path, saved: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`python -m` puts the working directory first on the path: a json.py there ran in the
    loader at every promotion (a security review), and what it printed was unpickled."""
    planted = tmp_path / "cwd"
    planted.mkdir()
    ran = tmp_path / "ran"
    (planted / "json.py").write_text(f"open({str(ran)!r}, 'w').write('ran')\n", encoding="utf-8")
    monkeypatch.chdir(planted)
    assert isinstance(load_artefact_isolated(saved, file_sha256(saved)), IncidentTypeClassifier)
    assert not ran.exists()


def test_load_artefact_isolated_refuses_what_load_artefact_refuses(tmp_path: Path,
                                                                   saved: Path) -> None:
    """Each refusal comes back as the same exception, with the loader's message."""
    flip_byte(saved)
    with pytest.raises(ArtefactTampered, match="changed after it was written"):
        load_artefact_isolated(saved)
    with pytest.raises(ModelNotFound, match="no artefact"):
        load_artefact_isolated(tmp_path / "absent.skops")
    untrusted = tmp_path / "untrusted" / "model.skops"
    untrusted.parent.mkdir()
    save_artefact({"estimator": eval}, untrusted)
    with pytest.raises(UntrustedArtefact, match="builtins.eval"):
        load_artefact_isolated(untrusted)


def test_load_artefact_isolated_loader_that_does_not_finish(saved: Path) -> None:
    with pytest.raises(ModelError, match="loader process failed"):
        load_artefact_isolated(saved, timeout=0.01)
