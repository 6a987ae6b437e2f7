"""The shared fixtures themselves: a store on both back ends and a trained model."""

from classifier import FILED_COLUMN
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


def test_dataset_carries_filing_times(store):
    """Training reads when each incident was filed (the model's recent tag mix) from the frame."""
    with session_scope(store) as session:
        dataset = load_dataset(session=session)
    filed = dataset.X[FILED_COLUMN]
    assert str(filed.dt.tz) == "UTC"
    assert (filed.dt.tz_convert(None).to_numpy().astype("datetime64[s]") == dataset.created).all()
    assert filed.is_monotonic_increasing
    # A subset (the time splits of evaluation and of the gate) keeps them.
    later = dataset.subset(dataset.created >= dataset.created[len(dataset) // 2])
    assert (later.X[FILED_COLUMN].dt.tz_convert(None).to_numpy().astype("datetime64[s]")
            == later.created).all()


def test_trained_model_follows_the_recent_mix(models_dir):
    model = ModelRegistry(models_dir).load().model
    assert model.prior_shift_.shape == (len(model.estimators_),)
    assert model.prior_shift_.any()
