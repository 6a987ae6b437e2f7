"""What routes depend on, as ``Annotated`` aliases, so a route's signature reads like a sentence.

A dependency that only reads the app's state is ``async``: FastAPI runs a plain ``def`` in a
worker thread, a hop that costs more than the lookup. Those that may read a file or load a model
(the active model, the taxonomy, the CA names) stay plain, off the event loop.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Query, Request
from sqlalchemy.orm import Session

from classifier import Taxonomy
from core.aggregate import Period
from core.ca_names import CANames, current_ca_names
from core.registry import LoadedModel, ModelRegistry

from .active_model import ActiveModel
from .batching import ClassifyBatcher
from .config import ServiceSettings
from .errors import ModelUnavailable
from .live_taxonomy import LiveTaxonomy
from .observability import Metrics
from .store import Store


async def get_settings(request: Request) -> ServiceSettings:
    return request.app.state.settings


async def get_live_taxonomy(request: Request) -> LiveTaxonomy:
    return request.app.state.taxonomy


def get_taxonomy(live: Annotated[LiveTaxonomy, Depends(get_live_taxonomy)]) -> Taxonomy:
    """The taxonomy this request uses from start to end (an edit reaches the next request)."""
    return live.current()


async def get_store(request: Request) -> Store:
    return request.app.state.store


def get_session(store: Annotated[Store, Depends(get_store)]) -> Iterator[Session]:
    """The request's one session, shared by a maintainer's auth (``get_maintainer``) and the
    route (FastAPI resolves a dependency once a request); a reader's token is checked on a
    session of its own, and /classify stores on its batcher's. It reaches the store at its
    first query, which migrates the store first; whoever writes commits (auth its token's use,
    a route its work), and what is left uncommitted when the request ends is rolled back."""
    with store.session() as session:
        yield session


def briefing_slot(request: Request) -> Iterator[None]:
    """A slot to count a briefing in (:class:`BriefingSlots`), held until the route returns: a
    route that counts one depends on it before it reads the store."""
    with request.app.state.briefing_slots.held():
        yield


#: A briefing slot held for the request (declared before the session's dependencies).
BriefingSlotDep = Annotated[None, Depends(briefing_slot)]


async def get_active_model(request: Request) -> ActiveModel:
    return request.app.state.active_model


async def get_registry(active: Annotated[ActiveModel, Depends(get_active_model)]) -> ModelRegistry:
    return active.registry


def get_model(active: Annotated[ActiveModel, Depends(get_active_model)]) -> LoadedModel:
    """The model this request uses from start to end, taken once (a promotion mid-request waits
    for the next request)."""
    loaded = active.current()
    if loaded is None:
        raise ModelUnavailable(f"{no_model(active)}; the service picks it up without a restart")
    return loaded


def no_model(active: ActiveModel) -> str:
    """Why no model answers, and what to do about it."""
    if active.unreadable and active.error:  # a models folder that is not one: training would not help
        return active.error
    return (f"{active.error or 'no model is loaded'}: train one with `incidents sync` and "
            "`incidents train` (the first version becomes active), or activate one with "
            "`incidents models promote VERSION`")


def get_optional_model(active: Annotated[ActiveModel, Depends(get_active_model)]
                       ) -> LoadedModel | None:
    """The model in service, or None: for routes that work without one (corrections)."""
    return active.current()


def get_active_version(active: Annotated[ActiveModel, Depends(get_active_model)]) -> str | None:
    """The version whose predictions count as the active model's: the one in service, else the
    one the registry names (when it could not be loaded)."""
    loaded = active.current()
    return loaded.version if loaded is not None else active.named()


async def get_metrics(request: Request) -> Metrics:
    return request.app.state.metrics


async def get_batcher(request: Request) -> ClassifyBatcher:
    return request.app.state.batcher


def get_ca_names(settings: Annotated[ServiceSettings, Depends(get_settings)]) -> CANames:
    """The CA names file as it is now (read again when a maintainer edits it)."""
    return current_ca_names(settings.ca_names_file)


BOUND_HELP = ("A day (`2023-01-01`, UTC) or a time (`2023-01-01T12:00:00Z`). A day as `end` "
              "includes the whole day.")


async def get_period(start: Annotated[str, Query(max_length=40, description=BOUND_HELP, examples=["2023-01-01"])],
               end: Annotated[str, Query(max_length=40, description=BOUND_HELP, examples=["2023-06-30"])]
               ) -> Period:
    """The period of ``start`` and ``end`` (both ends included); InvalidPeriod (a 422 naming the
    parameter, see errors.py) when one is not a time or start is after end."""
    return Period.parse(start, end)


SettingsDep = Annotated[ServiceSettings, Depends(get_settings)]
TaxonomyDep = Annotated[Taxonomy, Depends(get_taxonomy)]
LiveTaxonomyDep = Annotated[LiveTaxonomy, Depends(get_live_taxonomy)]
StoreDep = Annotated[Store, Depends(get_store)]
SessionDep = Annotated[Session, Depends(get_session)]
ActiveModelDep = Annotated[ActiveModel, Depends(get_active_model)]
RegistryDep = Annotated[ModelRegistry, Depends(get_registry)]
ModelDep = Annotated[LoadedModel, Depends(get_model)]
OptionalModelDep = Annotated[LoadedModel | None, Depends(get_optional_model)]
ActiveVersionDep = Annotated[str | None, Depends(get_active_version)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
BatcherDep = Annotated[ClassifyBatcher, Depends(get_batcher)]
CANamesDep = Annotated[CANames, Depends(get_ca_names)]
PeriodDep = Annotated[Period, Depends(get_period)]
