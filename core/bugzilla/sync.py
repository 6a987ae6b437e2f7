"""The incremental sync from Bugzilla's REST API into the store.

The sync asks ``GET /rest/bug`` for the bugs of *CA Program* / *CA Certificate Compliance*
page by page (``limit``/``offset``, in bug id order), fetches the comments of every new or
changed bug from ``GET /rest/bug/<id>/comment`` (comment 0, and the time of the last public one),
and commits each page before asking for the next, so a sync that stops keeps what it stored.
After a run that reached the last page it records the newest ``last_change_time`` it saw (table
``sync_state``); the next run asks only for bugs changed since then.

Privacy: Bugzilla returns the reporter's e-mail address as ``creator``. Only the part after the
``@`` is kept (``creator_domain``, a model feature); ``creator`` is stored empty, as it is for
bugs loaded from the snapshot.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from classifier import BugzillaUnavailable, InvalidIncident, Taxonomy

from ..config import Settings
from ..db import session_scope
from ..pause import pause_at
from ..store import SyncCounts, is_bug_id, upsert_bugs
from ..tables import IncidentRow, SyncStateRow, utcnow
from .client import COMPONENT, PRODUCT, BugzillaClient, bugzilla_time
from .records import BugRecord, checked_description, last_comment_time
from .snapshot import read_snapshot

log = logging.getLogger(__name__)

# The next run asks for bugs changed since the recorded time less this margin: a bug changed
# during a sync, after its page was read, can be older than the newest time that sync saw.
# Re-reading a bug that did not change costs no comment request and leaves it unchanged.
SYNC_OVERLAP = timedelta(hours=1)

@dataclass
class SyncReport:
    """What one sync from Bugzilla did.

    ``since`` is the ``last_change_time`` the sync asked from (None: every bug); ``skipped``
    are bugs Bugzilla returned that the store cannot take (logged, left out); ``state`` is the
    newest ``last_change_time`` recorded for the next run.
    """

    source: str
    since: datetime | None
    counts: SyncCounts = field(default_factory=SyncCounts)
    skipped: list[int | None] = field(default_factory=list)
    state: datetime | None = None
    pages: int = 0

    @property
    def stored(self) -> int:
        return len(self.counts.new) + len(self.counts.updated) + len(self.counts.unchanged)

    def summary(self) -> str:
        scope = f"changed since {bugzilla_time(self.since)}" if self.since else "all"
        text = f"synced {self.stored} bugs ({scope}) from {self.source}: {self.counts.summary()}"
        return text + (f", {len(self.skipped)} skipped" if self.skipped else "")

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "since": bugzilla_time(self.since) if self.since else None,
            "new": len(self.counts.new), "updated": len(self.counts.updated),
            "unchanged": len(self.counts.unchanged), "skipped": len(self.skipped),
            "state": bugzilla_time(self.state) if self.state else None,
        }


def read_sync_state(*, session: Session, source: str) -> datetime | None:
    """The newest ``last_change_time`` the last complete sync from ``source`` saw."""
    row = session.get(SyncStateRow, source)
    return row.last_change_time if row is not None else None


def write_sync_state(*, session: Session, source: str, last_change_time: datetime | None) -> None:
    row = session.get(SyncStateRow, source)
    if row is None:
        row = SyncStateRow(source=source)
        session.add(row)
    row.last_change_time = last_change_time
    row.synced_at = utcnow()


@dataclass(frozen=True)
class _Stored:
    """What the store holds of a bug that a page may leave as it is."""

    last_change_time: datetime | None
    description: str
    last_comment_time: datetime | None


def _stored_versions(*, session: Session, ids: list[int]) -> dict[int, _Stored]:
    rows = session.execute(select(IncidentRow.id, IncidentRow.last_change_time, IncidentRow.description,
                                  IncidentRow.last_comment_time).where(IncidentRow.id.in_(ids)))
    return {bug_id: _Stored(changed, description, commented)
            for bug_id, changed, description, commented in rows}


def _page_records(bugs: list[dict[str, Any]], *, client: BugzillaClient, taxonomy: Taxonomy,
                  url: str, seen: set[int], report: SyncReport) -> list[BugRecord]:
    """Records of one page; the comments (comment 0, the time of the last public one) are fetched
    only for bugs new or changed since stored."""
    ids = [b["id"] for b in bugs if is_bug_id(b.get("id"))]  # the others are left out below
    with session_scope(url) as session:
        stored = _stored_versions(session=session, ids=ids)
    records = []
    for bug in bugs:
        bug_id = bug.get("id")
        if isinstance(bug_id, int) and bug_id in seen:
            continue
        try:
            record = BugRecord.from_rest({**bug, "product": PRODUCT, "component": COMPONENT},
                                         None, taxonomy)
        except InvalidIncident as exc:
            log.warning("bug %r from %s left out: %s", bug_id, client.base_url, exc)
            report.skipped.append(bug_id if isinstance(bug_id, int) else None)
            continue
        known = stored.get(record.id)
        if known is not None and known.last_change_time is not None \
                and known.last_change_time == record.last_change_time:
            description, commented = known.description, known.last_comment_time
        else:
            comments = client.comments(record.id)
            try:
                commented = last_comment_time(comments)
                description = checked_description(comments)
            except InvalidIncident as exc:
                log.warning("bug %r from %s left out: %s", bug_id, client.base_url, exc)
                report.skipped.append(record.id)
                continue
        seen.add(record.id)
        records.append(replace(record, description=description, creator=None,
                               last_comment_time=commented))
    return records


def sync_snapshot(*, url: str, folder: Path, taxonomy: Taxonomy) -> tuple[str, SyncCounts]:
    """Load the snapshot in ``folder`` into the store at ``url``, in one transaction: what
    `incidents sync --snapshot` and the nightly run say of it, and the counts."""
    records = read_snapshot(folder, taxonomy)
    with session_scope(url) as session:
        counts = upsert_bugs(session=session, records=records)
        pause_at("sync:before-commit")
    return f"synced {len(records)} bugs from {folder}: {counts.summary()}", counts


def sync_from_bugzilla(*, settings: Settings, taxonomy: Taxonomy | None = None,
                       client: BugzillaClient | None = None, full: bool = False,
                       progress: Callable[[int], object] | None = None) -> SyncReport:
    """Bring the store up to date with Bugzilla; incremental after the first complete run.

    Each page is committed on its own. When a request keeps failing, raises
    :class:`BugzillaUnavailable` saying what was stored before it; the sync state is then left
    as it was, so the next run asks again for everything this one did. The store must be
    migrated (``core.db.upgrade``) first.

    Parameters
    ----------
    settings : where the store and Bugzilla are, page size, timeouts and retries.
    taxonomy : parses whiteboards (default: ``settings.taxonomy_file``).
    client : the Bugzilla client (default: one built from ``settings``, closed at the end).
    full : ask for every bug even when a previous sync was recorded.
    progress : called with the number of bugs each page processed (e.g. ``tqdm.update``).
    """
    taxonomy = taxonomy or Taxonomy.load(settings.taxonomy_file)
    url = settings.database_url
    source = settings.bugzilla_url
    own_client = client is None
    bugzilla = client or BugzillaClient.from_settings(settings)
    try:
        with session_scope(url) as session:
            previous = read_sync_state(session=session, source=source)
        since = previous - SYNC_OVERLAP if previous is not None and not full else None
        report = SyncReport(source=source, since=since, state=previous)
        newest = previous
        seen: set[int] = set()
        offset = 0
        log.info("sync from %s: %s", source,
                 f"bugs changed since {bugzilla_time(since)}" if since else "every bug")
        try:
            # Until an empty page: a server may cap `limit` below the page size asked for.
            while bugs := bugzilla.bug_page(offset=offset, limit=settings.bugzilla_page_size,
                                            changed_since=since):
                records = _page_records(bugs, client=bugzilla, taxonomy=taxonomy, url=url,
                                        seen=seen, report=report)
                with session_scope(url) as session:
                    counts = upsert_bugs(session=session, records=records)
                pause_at("sync:page-committed")
                for name in ("new", "updated", "unchanged"):
                    getattr(report.counts, name).extend(getattr(counts, name))
                changed = [r.last_change_time for r in records if r.last_change_time]
                if changed:
                    newest = max([newest, *changed] if newest else changed)
                report.pages += 1
                offset += len(bugs)
                log.info("page %d (offset %d): %s", report.pages, offset - len(bugs),
                         counts.summary())
                if progress is not None:
                    progress(len(bugs))
        except BugzillaUnavailable as exc:
            raise BugzillaUnavailable(
                f"{exc}. Stopped with {report.stored} bugs stored ({report.counts.summary()}); "
                "the sync state was not advanced, so the next sync asks again from where this "
                "one started", attempts=exc.attempts, status=exc.status) from exc
        with session_scope(url) as session:
            write_sync_state(session=session, source=source, last_change_time=newest)
        report.state = newest
        return report
    finally:
        if own_client:
            bugzilla.close()
