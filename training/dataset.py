"""The labelled dataset: store incidents with their type tags, in time order."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session

from classifier import FEATURE_COLUMNS, FILED_COLUMN, incidents_frame
from core.corrections import corrections_summary, latest_corrections
from core.labels import labelled_incidents
from core.moments import as_utc
from core.tables import utcnow


@dataclass(frozen=True)
class Dataset:
    """Features ``X``, tags ``y`` and filing times of labelled incidents, oldest first."""

    ids: np.ndarray
    X: pd.DataFrame
    y: list[tuple[str, ...]]
    created: np.ndarray  # datetime64[s], UTC
    # The corrections behind the labels (count and sha256), for the model card.
    corrections: dict[str, Any] = field(default_factory=lambda: corrections_summary([]))
    # When the labels were read: a label stored after it is new to a model fitted on them,
    # however long the fit took (``labels_as_of``).
    as_of: datetime | None = None

    def __len__(self) -> int:
        return len(self.ids)

    def subset(self, mask: np.ndarray) -> Dataset:
        idx = np.flatnonzero(mask)
        return Dataset(self.ids[idx], self.X.iloc[idx].reset_index(drop=True),
                       [self.y[i] for i in idx], self.created[idx], as_of=self.as_of)

    def split(self, cutoff: datetime, end: datetime | None = None) -> tuple[Dataset, Dataset]:
        """Incidents filed before ``cutoff``, and those filed from ``cutoff`` (to ``end``)."""
        cut = np.datetime64(cutoff.astimezone(UTC).replace(tzinfo=None), "s")
        before = self.created < cut
        after = ~before
        if end is not None:
            after &= self.created < np.datetime64(end.astimezone(UTC).replace(tzinfo=None), "s")
        return self.subset(before), self.subset(after)

    def fingerprint(self) -> str:
        """sha256 of what training sees: ids, features and tags, in order."""
        digest = hashlib.sha256()
        features = self.X.loc[:, list(FEATURE_COLUMNS)]
        for i, row, tags in zip(self.ids, features.itertuples(index=False), self.y, strict=True):
            digest.update(json.dumps([int(i), list(row), list(tags)]).encode())
        return digest.hexdigest()

    def tag_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for tags in self.y:
            for t in tags:
                counts[t] = counts.get(t, 0) + 1
        return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def load_dataset(*, session: Session, corrections_as_of: datetime | None = None,
                 tags_as_of: datetime | None = None) -> Dataset:
    """Every incident in the store with at least one type tag (undated ones are left out).

    Tags are the latest correction's, else Bugzilla's (see ``labelled_incidents``); with
    ``corrections_as_of``, the latest correction stored by then, and with ``tags_as_of`` only
    the Bugzilla tags of bugs first tagged by then: the labels a model trained at that time
    learned (as far as the store can tell: a bug Mozilla retagged has today's tags).
    """
    as_of = corrections_as_of or utcnow()
    rows = [r for r in labelled_incidents(session=session, corrections_as_of=corrections_as_of,
                                          tags_as_of=tags_as_of)
            if r.creation_time is not None]
    created = np.array([r.creation_time.astimezone(UTC).replace(tzinfo=None) for r in rows
                        if r.creation_time is not None], dtype="datetime64[s]")
    return Dataset(
        ids=np.array([r.incident.id for r in rows], dtype=np.int64),
        # With when each was filed: the model reads the recent tag mix off it.
        X=incidents_frame(r.incident for r in rows).assign(**{FILED_COLUMN: pd.to_datetime(created, utc=True)}),
        y=[r.tags for r in rows],
        created=created,
        corrections=corrections_summary(latest_corrections(session=session, as_of=corrections_as_of)),
        as_of=as_of,
    )


def labels_as_of(card: dict[str, Any] | None) -> datetime | None:
    """When the labels the model of ``card`` learned were read (aware, UTC): its
    ``training_data.labels_as_of``, or, on a card written before that was recorded, its
    ``created_at`` (a label stored while such a version was fitted looks learned). None when
    neither can be read."""
    card = card or {}
    return (card_time((card.get("training_data") or {}).get("labels_as_of"))
            or card_time(card.get("created_at")))


def card_time(value: Any) -> datetime | None:
    """A time a model card records (ISO 8601), aware and in UTC; None when it is not one."""
    try:
        moment = datetime.fromisoformat(str(value))
    except (TypeError, ValueError):
        return None
    return as_utc(moment)
