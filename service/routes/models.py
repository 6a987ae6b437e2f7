"""GET /models, /models/active, /models/{version}: the versions on disk and their cards."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from ..auth import READERS
from ..deps import ActiveModelDep, ModelDep, RegistryDep
from ..schemas import Message, ModelPublic, ModelsPublic

router = APIRouter(prefix="/models", tags=["models"], dependencies=[READERS])


@router.get("", response_model=ModelsPublic)
def read_models(registry: RegistryDep, active: ActiveModelDep) -> ModelsPublic:
    """Every version, oldest first, with its card; which one is active and which one serves."""
    loaded = active.current()
    serving = loaded.version if loaded is not None else None
    named = registry.active_version()
    data = [ModelPublic(version=v, active=v == named, serving=v == serving,
                        card=registry.card(v)) for v in registry.versions()]
    return ModelsPublic(data=data, count=len(data), active_version=named,
                        serving_version=serving)


@router.get("/active", response_model=ModelPublic, responses={503: {"model": Message}})
def read_active_model(model: ModelDep, registry: RegistryDep) -> ModelPublic:
    """The version this service answers with, and its card (503 when none is loaded)."""
    return ModelPublic(version=model.version, active=model.version == registry.active_version(),
                       serving=True, card=model.card)


@router.get("/{version}", response_model=ModelPublic, responses={404: {"model": Message}})
def read_model(version: Annotated[str, Path(pattern=r"^v\d{1,9}$", examples=["v1"])],
               registry: RegistryDep, active: ActiveModelDep) -> ModelPublic:
    """One version's card."""
    card = registry.card(version)
    loaded = active.loaded
    return ModelPublic(version=version, active=version == registry.active_version(),
                       serving=loaded is not None and loaded.version == version, card=card)
