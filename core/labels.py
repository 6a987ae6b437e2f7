"""Which label an incident counts with: a maintainer's correction, else Mozilla's Bugzilla type
tags, else a model's prediction (the active version's if it made one, else the latest stored).

The one rule the briefing (:mod:`core.aggregate`), the incident view and training data
(:func:`labelled_incidents`, which leaves predictions out: a model is never taught its own
answers) all use.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import NamedTuple

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from classifier import Incident

from .corrections import latest_correction_ids
from .store import row_incident
from .tables import CorrectionRow, IncidentRow, IncidentTagRow, PredictionRow


class LabelSource(StrEnum):
    """Where an incident's label comes from, strongest first."""

    CORRECTION = "correction"
    BUGZILLA = "bugzilla"
    MODEL = "model"
    NONE = "none"


@dataclass(frozen=True)
class Label:
    """The type tags an incident counts with, and where they come from."""

    source: LabelSource
    tags: tuple[str, ...] = ()
    model_version: str | None = None
    #: A predicted label its model flagged for a human's look (always False for other sources).
    needs_review: bool = False


def corrected_labels(*, session: Session, incident_ids: Select | Iterable[int],
                     as_of: datetime | None = None) -> dict[int, tuple[str, ...]]:
    """The type tags of each corrected incident among ``incident_ids`` (its latest correction;
    with ``as_of``, its latest stored by then).

    ``incident_ids`` is a list of ids or a ``select`` of them, so callers can pass a window's
    query without loading it. An incident corrected to no tag maps to ``()``.
    """
    ids = incident_ids if isinstance(incident_ids, Select) else list(incident_ids)
    rows = session.execute(select(CorrectionRow.incident_id, CorrectionRow.tags)
                           .where(CorrectionRow.id.in_(latest_correction_ids(as_of)),
                                  CorrectionRow.incident_id.in_(ids)))
    return {bug_id: tuple(tags) for bug_id, tags in rows}


def corrections_against_bugzilla(*, session: Session, incident_ids: Iterable[int],
                                 since: datetime | None,
                                 categories_of: Callable[[Iterable[str]], Iterable[str]]) -> list[int]:
    """Of ``incident_ids``, those whose latest correction (stored after ``since``, when given)
    puts them in other briefing rows (``categories_of`` a tag list) than Mozilla's own type tags
    in Bugzilla do, in id order. Incidents Mozilla has not typed are not among them: nothing
    independent says their correction is wrong."""
    ids = list(incident_ids)
    query = (select(CorrectionRow.incident_id, CorrectionRow.tags)
             .where(CorrectionRow.id.in_(latest_correction_ids()), CorrectionRow.incident_id.in_(ids)))
    if since is not None:
        query = query.where(CorrectionRow.created_at > since)
    corrected: dict[int, list[str]] = {i: list(tags) for i, tags in session.execute(query)}
    mozilla: dict[int, list[str]] = {}
    for incident_id, tag in session.execute(
            select(IncidentTagRow.incident_id, IncidentTagRow.tag)
            .where(IncidentTagRow.kind == "type", IncidentTagRow.incident_id.in_(list(corrected)))):
        mozilla.setdefault(incident_id, []).append(tag)
    return sorted(i for i, tags in corrected.items()
                  if i in mozilla and set(categories_of(tags)) != set(categories_of(mozilla[i])))


class ShownPrediction(NamedTuple):
    """The prediction an incident is shown with (see :func:`shown_predictions`)."""

    model_version: str
    tags: tuple[str, ...]
    needs_review: bool


def shown_predictions(*, session: Session, incident_ids: Select | Iterable[int],
                      active_version: str | None) -> dict[int, ShownPrediction]:
    """The prediction each incident among ``incident_ids`` is shown with: the active version's
    if it made one, else the latest stored (incidents never classified are left out)."""
    ids = incident_ids if isinstance(incident_ids, Select) else list(incident_ids)
    predicted: dict[int, ShownPrediction] = {}
    for incident_id, version, tags, needs_review in session.execute(
            select(PredictionRow.incident_id, PredictionRow.model_version, PredictionRow.tags,
                   PredictionRow.needs_review)
            .where(PredictionRow.incident_id.in_(ids))
            .order_by(PredictionRow.incident_id, PredictionRow.created_at, PredictionRow.id)):
        chosen = predicted.get(incident_id)
        if chosen is None or chosen.model_version != active_version:
            # Later rows win unless the active version's is held.
            predicted[incident_id] = ShownPrediction(version, tuple(tags), bool(needs_review))
    return predicted


def incident_labels(*, session: Session, incident_ids: Select | Iterable[int],
                    active_version: str | None, predictions: bool = True,
                    corrections_as_of: datetime | None = None,
                    tags_as_of: datetime | None = None) -> dict[int, Label]:
    """The label of each incident among ``incident_ids`` (a list, or a ``select`` of ids).

    Incidents with no label are left out. ``predictions=False`` keeps only what humans said
    (corrections and Bugzilla tags), as training data does; ``corrections_as_of`` counts only
    the corrections stored by then, ``tags_as_of`` only the Bugzilla tags of bugs whose first
    tags reached the store by then (``tags_known_at``; a later retagging is not seen).
    """
    ids = incident_ids if isinstance(incident_ids, Select) else list(incident_ids)
    labels: dict[int, Label] = {
        bug_id: Label(LabelSource.CORRECTION, tuple(tags))
        for bug_id, tags in corrected_labels(session=session, incident_ids=ids,
                                             as_of=corrections_as_of).items()
    }
    bugzilla: dict[int, list[str]] = {}
    typed = (select(IncidentTagRow.incident_id, IncidentTagRow.tag)
             .where(IncidentTagRow.incident_id.in_(ids), IncidentTagRow.kind == "type")
             .order_by(IncidentTagRow.incident_id, IncidentTagRow.tag))
    if tags_as_of is not None:
        typed = typed.join(IncidentRow, IncidentRow.id == IncidentTagRow.incident_id).where(
            or_(IncidentRow.tags_known_at.is_(None), IncidentRow.tags_known_at <= tags_as_of))
    for bug_id, tag in session.execute(typed):
        bugzilla.setdefault(bug_id, []).append(tag)
    for bug_id, tags in bugzilla.items():
        labels.setdefault(bug_id, Label(LabelSource.BUGZILLA, tuple(tags)))
    if not predictions:
        return labels
    for bug_id, row in shown_predictions(session=session, incident_ids=ids,
                                         active_version=active_version).items():
        labels.setdefault(bug_id, Label(LabelSource.MODEL, row.tags, row.model_version,
                                        needs_review=row.needs_review))
    return labels


@dataclass(frozen=True)
class LabelledIncident:
    incident: Incident
    tags: tuple[str, ...]
    creation_time: datetime | None


def labelled_incidents(*, session: Session, corrections_as_of: datetime | None = None,
                       tags_as_of: datetime | None = None) -> list[LabelledIncident]:
    """Incidents with at least one type tag, oldest first (ties by bug id).

    An incident's tags are those of its latest correction (stored by ``corrections_as_of``,
    when given), else its Bugzilla type tags (known by ``tags_as_of``, when given). A bug with
    no type tag is unlabelled, not a negative: Mozilla tagged older bugs unevenly. So an
    incident a maintainer corrected to no tag is left out too, rather than taught as a negative
    of every tag.
    """
    labels = incident_labels(session=session, incident_ids=select(IncidentRow.id),
                             active_version=None, predictions=False,
                             corrections_as_of=corrections_as_of, tags_as_of=tags_as_of)
    rows = session.scalars(select(IncidentRow).order_by(IncidentRow.creation_time, IncidentRow.id))
    return [LabelledIncident(row_incident(row), labels[row.id].tags, row.creation_time)
            for row in rows if row.id in labels and labels[row.id].tags]
