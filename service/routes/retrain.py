"""POST /models/retrain (maintainers): train a challenger and promote it only if it is not worse."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, HTTPException

from classifier import NotEnoughData
from training.retrain import retrain

from ..auth import AUTH_ERRORS, MaintainerDep
from ..deps import ActiveModelDep, SettingsDep, TaxonomyDep
from ..schemas import Message, RetrainDecisionPublic, RetrainRequest

router = APIRouter(prefix="/models", tags=["models"])

#: One retraining at a time in this process (they write model versions and ACTIVE).
RETRAINING = threading.Lock()

Retrain = Callable[..., Any]


def get_retrain() -> Retrain:
    """``training.retrain.retrain``, the gated retraining the CLI's `incidents retrain` runs too
    (a dependency, so tests can swap it)."""
    return retrain


RetrainDep = Annotated[Retrain, Depends(get_retrain)]


@router.post("/retrain", response_model=RetrainDecisionPublic, responses={
    **AUTH_ERRORS,
    409: {"model": Message, "description": "A retraining is running, or the store holds too "
                                           "few labelled incidents."}})
def retrain_model(maintainer: MaintainerDep, settings: SettingsDep, taxonomy: TaxonomyDep,
                  active: ActiveModelDep, retrain: RetrainDep,
                  request: Annotated[RetrainRequest | None, Body()] = None,
                  ) -> RetrainDecisionPublic:
    """Train a challenger on everything the store holds (corrections outrank Bugzilla's tags),
    compare it with the active model on the newest incidents, and promote it only when its
    category micro- and macro-F1 are not worse (by INCIDENTS_RETRAIN_TOLERANCE); `force`
    promotes it regardless. Answers the decision, recorded with both sets of figures.

    Takes from seconds to a minute; the service answers with the promoted version as soon as
    this returns.
    """
    force = request.force if request is not None else False
    # A sync route runs in the threadpool, so a long training does not block the event loop.
    if not RETRAINING.acquire(blocking=False):
        raise HTTPException(409, "a retraining is already running; try again when it is done")
    try:
        decision = retrain(settings=settings, taxonomy=taxonomy, registry=active.registry,
                           force=force, requested_by=maintainer.name)
    except NotEnoughData as exc:
        raise HTTPException(409, str(exc)) from None
    finally:
        RETRAINING.release()
    active.refresh()
    return RetrainDecisionPublic.model_validate(decision.as_dict())
