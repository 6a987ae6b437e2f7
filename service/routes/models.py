"""The /models routes: the model versions and their cards, and the gated retraining.

GET /models, /models/active, /models/{version} (readers): the versions on disk and their cards.
A version whose card cannot be read is listed as damaged, and its own route answers 409.
GET /models/decisions (readers): the recorded retraining decisions, newest first.
POST /models/retrain (maintainers): start training a challenger, promoted only if it is not
worse; answers 202 with the job (GET /jobs/{id}).
POST /models/{version}/promote, POST /models/rollback (maintainers): what `incidents models
promote` and `rollback` do (and the page's forms); the service follows at once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, HTTPException, Path, Query, Response

from classifier import ModelError, ModelNotFound, NotEnoughData, StoreUnavailable, Taxonomy
from core.decisions import decision_as_dict, list_decisions
from core.live import live_record, live_summary
from core.registry import ModelRegistry
from training.retrain import retrain

from ..auth import AUTH_ERRORS, READERS, MaintainerDep
from ..config import MAX_OFFSET, ServiceSettings
from ..deps import (
    ActiveModelDep,
    ModelDep,
    RegistryDep,
    SessionDep,
    SettingsDep,
    StoreDep,
    TaxonomyDep,
)
from ..errors import without_paths
from ..jobs import started
from ..schemas import (
    ActivationPublic,
    JobPublic,
    Message,
    ModelDecisionPublic,
    ModelDecisionsPublic,
    ModelPublic,
    ModelsPublic,
    RetrainDecisionPublic,
    RetrainRequest,
)
from ..store import Store

router = APIRouter(prefix="/models", tags=["models"])

Retrain = Callable[..., Any]


def get_retrain() -> Retrain:
    """``training.retrain.retrain``, the gated retraining the CLI's `incidents retrain` runs too
    (a dependency, so tests can swap it)."""
    return retrain


RetrainDep = Annotated[Retrain, Depends(get_retrain)]


def version_cards(registry: ModelRegistry) -> list[tuple[str, dict[str, Any] | None, str | None]]:
    """Every version, oldest first, with its card, or with None and why the card cannot be read
    (no path in it). A damaged card is listed, as `incidents models list` lists it: one bad file
    must not hide every version, nor the page that promotes another. A version pruned between
    the listing and the reading is left out."""
    found: list[tuple[str, dict[str, Any] | None, str | None]] = []
    for version in registry.versions():
        try:
            found.append((version, registry.card(version), None))
        except ModelNotFound:
            continue
        except ModelError as exc:
            found.append((version, None, without_paths(str(exc), registry.root)))
    return found


@router.post("/retrain", status_code=202, response_model=JobPublic, responses={
    **AUTH_ERRORS,
    409: {"model": Message, "description": "A retraining is running (the message names its job "
                                           "and who started it)."}})
def retrain_model(maintainer: MaintainerDep, settings: SettingsDep, taxonomy: TaxonomyDep,
                  active: ActiveModelDep, retrain: RetrainDep, response: Response,
                  request: Annotated[RetrainRequest | None, Body()] = None) -> JobPublic:
    """Start the gated retraining and answer at once (202) with its job; `GET /jobs/{id}` says
    how it goes and, once it succeeded, holds the decision in `result`.

    The retraining trains a challenger on everything the store holds (corrections outrank
    Bugzilla's tags), compares it with the active model on the newest incidents, and promotes
    it only when its category micro- and macro-F1 are not worse (by
    INCIDENTS_RETRAIN_TOLERANCE), and only if the version it replaces is still the active one;
    `force` promotes it regardless of its figures. The decision is recorded with both sets of
    figures. One retraining runs at a time, whoever started it (this service's workers or
    `incidents retrain`). Too few labelled incidents end the job failed with status_code 409.
    """
    force = request.force if request is not None else False

    def work(progress: Callable[[str], None]) -> dict[str, Any]:
        decision = retrain(settings=settings, taxonomy=taxonomy, registry=active.registry,
                           force=force, requested_by=maintainer.name, progress=progress)
        active.refresh()
        return RetrainDecisionPublic.model_validate(decision.as_dict()).model_dump(mode="json")

    return started(response, url=settings.database_url, kind="retrain",
                   requested_by=maintainer.name, work=work, failures={NotEnoughData: 409})


_SWITCH_ERRORS: dict[int | str, dict[str, Any]] = {
    **AUTH_ERRORS,
    409: {"model": Message, "description": "Nothing changed: the version cannot be used (its card "
                                           "or artefact damaged, or changed since it was written), "
                                           "or there is no earlier version to roll back to."},
}


@router.post("/{version}/promote", response_model=ActivationPublic, responses={
    **_SWITCH_ERRORS, 404: {"model": Message, "description": "No such version."}})
def promote_model(version: Annotated[str, Path(pattern=r"^v\d{1,9}$", examples=["v2"])],
                  maintainer: MaintainerDep, active: ActiveModelDep) -> ActivationPublic:
    """Make `version` the active one (it is loaded and checked first), as `incidents models
    promote` does; the history records it with the token's name, and a rollback returns to the
    version it replaced. Promoting the active version changes nothing."""
    previous = active.registry.promote(version, reason="promoted through the API", by=maintainer.name)
    active.refresh()
    return ActivationPublic(active_version=version, previous=previous, by=maintainer.name)


@router.post("/rollback", response_model=ActivationPublic, responses=_SWITCH_ERRORS)
def rollback_model(maintainer: MaintainerDep, active: ActiveModelDep) -> ActivationPublic:
    """Make the version active before the current one active again, as `incidents models
    rollback` does; 409 when there is none."""
    previous = active.named()
    try:
        version = active.registry.rollback(by=maintainer.name)
    except ModelNotFound as exc:  # nothing to roll back to: not a missing resource
        raise HTTPException(409, without_paths(str(exc), active.registry.root)) from None
    active.refresh()
    return ActivationPublic(active_version=version, previous=previous, by=maintainer.name)


@router.get("", response_model=ModelsPublic, dependencies=[READERS])
def read_models(registry: RegistryDep, active: ActiveModelDep) -> ModelsPublic:
    """Every version, oldest first, with its card; which one is active and which one serves. A
    version whose card cannot be read is listed with a null `card` and `damaged` saying why."""
    loaded = active.current()
    serving = loaded.version if loaded is not None else None
    named = active.named()
    data = [ModelPublic(version=v, active=v == named, serving=v == serving, card=card,
                        damaged=damaged) for v, card, damaged in version_cards(registry)]
    return ModelsPublic(data=data, count=len(data), active_version=named,
                        serving_version=serving)


@router.get("/active", response_model=ModelPublic, responses={503: {"model": Message}},
            dependencies=[READERS])
def read_active_model(model: ModelDep, active: ActiveModelDep, store: StoreDep,
                      settings: SettingsDep, taxonomy: TaxonomyDep) -> ModelPublic:
    """The version this service answers with, its card (503 when none is loaded) and its live
    record, as `GET /models/{version}` gives them."""
    return ModelPublic(version=model.version, active=model.version == active.named(),
                       serving=True, card=model.card,
                       live=_live(model.version, model.card, store, settings, taxonomy))


# Declared before /{version}, whose path would otherwise take "decisions" (and refuse it: 422).
@router.get("/decisions", response_model=ModelDecisionsPublic, dependencies=[READERS])
def read_decisions(session: SessionDep,
                   limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                   offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Decisions skipped.")] = 0
                   ) -> ModelDecisionsPublic:
    """The recorded retraining decisions, newest first, with how many there are in all: the
    challenger, the active version before and after, promoted or kept, forced or not, why, both
    sets of figures and the comparison window (holdout_size, 0 when nothing was compared)."""
    rows, count = list_decisions(session=session, limit=limit, offset=offset)
    return ModelDecisionsPublic(data=[ModelDecisionPublic.model_validate(decision_as_dict(row))
                                      for row in rows], count=count)


@router.get("/{version}", response_model=ModelPublic, responses={
    404: {"model": Message, "description": "No such version."},
    409: {"model": Message, "description": "The version is there but its card cannot be read "
                                           "(the message names the file and the problem)."}},
            dependencies=[READERS])
def read_model(version: Annotated[str, Path(pattern=r"^v\d{1,9}$", examples=["v1"])],
               registry: RegistryDep, active: ActiveModelDep, store: StoreDep,
               settings: SettingsDep, taxonomy: TaxonomyDep) -> ModelPublic:
    """One version's card, and its live record (`live`: its predictions of incidents Mozilla
    tagged later, scored; null when the store cannot be read). A version whose card cannot be
    read answers 409 naming the file and the problem: it is there (not a 404), but damaged."""
    card = registry.card(version)  # ModelError (a 409) when it is there but cannot be read
    loaded = active.loaded
    return ModelPublic(version=version, active=version == active.named(),
                       serving=loaded is not None and loaded.version == version, card=card,
                       live=_live(version, card, store, settings, taxonomy))


def _live(version: str, card: dict[str, Any], store: Store, settings: ServiceSettings,
          taxonomy: Taxonomy) -> dict[str, Any] | None:
    """A version's live record (its predictions of incidents Mozilla tagged later, scored);
    None when the store cannot be read: the card is still worth answering."""
    try:
        with store.session() as session:
            record = live_record(session=session, model_version=version, taxonomy=taxonomy,
                                 last_n=settings.live_window)
    except StoreUnavailable:
        return None
    return live_summary(record, card, margin=settings.live_margin)
