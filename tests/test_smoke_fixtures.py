"""The shared fixtures themselves: a store on both back ends and a trained model."""

from core.db import session_scope
from core.registry import ModelRegistry
from training.dataset import load_dataset


def test_store_holds_fixture_bugs(store):
    with session_scope(store) as session:
        dataset = load_dataset(session=session)
    assert len(dataset) == 48
    assert {"ocsp-failure", "crl-failure", "ev-misissuance", "leaf-revocation-delay"} <= set(
        dataset.tag_counts())


def test_trained_model_is_active(models_dir):
    registry = ModelRegistry(models_dir)
    assert registry.active_version() == "v1"
    loaded = registry.load()
    assert set(loaded.model.classes_) >= {"ocsp-failure", "crl-failure"}
