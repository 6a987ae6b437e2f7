"""liblinear fits run on one BLAS thread: OpenBLAS's threads spin for a core, and two processes
fitting at once on two cores took 14 times as long (see ``one_blas_thread``)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.pipeline import make_pipeline
from threadpoolctl import threadpool_info, threadpool_limits

from classifier._baselines import _fitted
from classifier._model import _fit_one


def _blas_threads() -> set[int]:
    return {i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"}


class _Recorder(ClassifierMixin, BaseEstimator):
    """Records how many BLAS threads it had while fitting."""

    def fit(self, X, y, sample_weight=None):
        self.blas_threads_ = _blas_threads()
        return self


@pytest.fixture
def two_blas_threads():
    with threadpool_limits(limits=2, user_api="blas"):
        if _blas_threads() != {2}:
            pytest.skip("BLAS cannot run on two threads here")
        yield


@pytest.mark.parametrize("weight", [None, np.ones(4)])
def test_fit_one_fits_on_one_blas_thread_and_gives_them_back(two_blas_threads, weight) -> None:
    fitted = _fit_one(_Recorder(), np.zeros((4, 2)), np.array([0, 1, 0, 1]), weight)
    assert fitted.blas_threads_ == {1}
    assert _blas_threads() == {2}


def test_baseline_pipeline_fits_on_one_blas_thread(two_blas_threads) -> None:
    pipeline = _fitted(make_pipeline(_Recorder()), np.zeros((4, 2)), np.array([0, 1, 0, 1]))
    assert pipeline[-1].blas_threads_ == {1}
    assert _blas_threads() == {2}
