"""A classified bug is stored as the fields sent over its stored record, with the semantics a
Bugzilla sync of the merged REST shape would have (the rule the route used to apply by
building that shape): checked here against that round trip for every mix of fields."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from classifier import Taxonomy
from core.bugzilla import BugRecord
from core.db import session_scope
from core.store import record_of, stored_records, upsert_bugs
from core.tables import IncidentRow
from service.schemas import IncidentClassify

_REST_FIELDS = ("summary", "whiteboard", "creator", "creator_domain", "product", "component",
                "status", "resolution", "creation_time", "last_change_time", "cf_last_resolved")
OMITTED = object()


def via_rest(bug: IncidentClassify, taxonomy: Taxonomy, stored: BugRecord | None) -> BugRecord:
    """The record as a Bugzilla REST dict of the stored one, overlaid with the fields sent."""
    shape: dict[str, Any] = {}
    if stored is not None:
        shape = {name: getattr(stored, name) for name in _REST_FIELDS[:-1]}
        shape["cf_last_resolved"] = stored.resolved_at
    sent = bug.model_fields_set
    shape.update(bug.model_dump(include=set(_REST_FIELDS) & sent))
    shape["id"] = bug.id
    if "creator" in sent and "creator_domain" not in sent:
        shape["creator_domain"] = bug.reporter_domain()
    # The sync keeps the reporter's domain, not the address (core.bugzilla.sync).
    record = replace(BugRecord.from_rest(shape, None, taxonomy), creator=None)
    if {"description", "comments"} & sent:
        return replace(record, description=bug.description_text())
    return replace(record, description=stored.description if stored is not None else "")


def _stored(taxonomy: Taxonomy, **changes: Any) -> BugRecord:
    whiteboard = "[ca-compliance] [ocsp-failure] [odd-tag]"
    record = BugRecord(
        id=7, summary="Old CA: old summary", description="the stored description",
        whiteboard=whiteboard, tags=taxonomy.parse_whiteboard(whiteboard),
        creator="Reporter@Old.Example", creator_domain="old.example", product="CA Program",
        component="CA Certificate Compliance", status="NEW", resolution="",
        creation_time=datetime(2020, 1, 2, tzinfo=UTC),
        last_change_time=datetime(2020, 2, 3, tzinfo=UTC),
        resolved_at=datetime(2020, 3, 4, tzinfo=UTC))
    return replace(record, **changes)


def test_record_matches_the_rest_round_trip(taxonomy: Taxonomy):
    stored_variants = [None, _stored(taxonomy),
                       _stored(taxonomy, creator_domain=None, creator="rep@Fallback.Example"),
                       _stored(taxonomy, creator=None, creator_domain=None)]
    variants: dict[str, list[Any]] = {
        "creator": [OMITTED, None, "", "someone@Sent.Example", "no-at-sign"],
        "creator_domain": [OMITTED, None, "", "Sub.Domain.Example"],
        "whiteboard": [OMITTED, None, "", "[crl-failure] [ca-compliance]"],
        "text": [OMITTED, "description", "comments"],
        "status": [OMITTED, None, "RESOLVED"],
        "cf_last_resolved": [OMITTED, None, "2024-05-06T07:08:09+02:00"],
    }
    checked = 0
    for stored, combo in itertools.product(stored_variants, itertools.product(*variants.values())):
        body: dict[str, Any] = {"id": 7, "summary": "  New CA: sent summary  "}
        for name, value in zip(variants, combo, strict=True):
            if value is OMITTED:
                continue
            if name == "text":
                body.update({"description": "sent description"} if value == "description" else
                            {"comments": [{"count": 1, "text": "later"},
                                          {"count": 0, "text": "comment zero"}]})
            else:
                body[name] = value
        bug = IncidentClassify.model_validate(body)
        assert bug.record(taxonomy, stored) == via_rest(bug, taxonomy, stored), body
        checked += 1
    assert checked == 4 * 5 * 4 * 4 * 3 * 3 * 3


def test_record_without_a_whiteboard_keeps_the_stored_tags(taxonomy: Taxonomy):
    stored = _stored(taxonomy)
    record = IncidentClassify(id=7, summary="New CA: x").record(taxonomy, stored)
    assert (record.whiteboard, record.tags) == (stored.whiteboard, stored.tags)
    assert record.description == stored.description
    cleared = IncidentClassify(id=7, summary="New CA: x", whiteboard=None).record(taxonomy, stored)
    assert (cleared.whiteboard, cleared.tags.all) == ("", ())


def test_record_of_stores_the_row_again_unchanged(store: str):
    with session_scope(store) as session:
        ids = list(session.scalars(select(IncidentRow.id)))
        records = stored_records(session=session, ids=ids)
        assert sorted(records) == sorted(ids)
        counts = upsert_bugs(session=session, records=list(records.values()))
        assert sorted(counts.unchanged) == sorted(ids) and not counts.updated
        row = session.get(IncidentRow, ids[0])
        assert record_of(row=row) == records[ids[0]]
