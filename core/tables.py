"""The store's tables (SQLAlchemy 2.0 declarative); Alembic migrations create them."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from .moments import as_utc


class UTCDateTime(TypeDecorator):
    """A timestamp that is always timezone-aware UTC, also on SQLite (which keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the store keeps UTC timestamps only")
        return value.astimezone(UTC)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return as_utc(value)


def utcnow() -> datetime:
    return datetime.now(UTC)


#: Largest value of an ``Integer`` column, the ids of tokens, corrections and predictions among
#: them (PostgreSQL's integer is 32-bit; SQLite cannot even bind 2**63).
MAX_INTEGER = 2**31 - 1


class Base(DeclarativeBase):
    pass


class IncidentRow(Base):
    """One Bugzilla bug of the CA Certificate Compliance component."""

    __tablename__ = "incidents"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    summary: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text, default="")
    creator: Mapped[str | None] = mapped_column(String(255))
    creator_domain: Mapped[str | None] = mapped_column(String(255))
    ca_name: Mapped[str] = mapped_column(String(255), default="", index=True)
    product: Mapped[str | None] = mapped_column(String(255))
    component: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str | None] = mapped_column(String(64))
    resolution: Mapped[str | None] = mapped_column(String(64))
    # Kept so the store mirrors Bugzilla; never a feature (it holds the answer).
    whiteboard: Mapped[str] = mapped_column(Text, default="")
    creation_time: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    last_change_time: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The newest public comment's creation time: for a closed bug without ``resolved_at``, the
    # briefing takes it as the resolution time (Bugzilla closes a bug with a comment).
    last_comment_time: Mapped[datetime | None] = mapped_column(UTCDateTime)
    synced_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # When the store first held a type tag of it (set by ``upsert_bugs``; kept when the tags
    # later change or go): a prediction made before then is scored against the tags (live_scores).
    tags_known_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # ``event.time`` of the newest Bugzilla webhook event applied to it (``core.hooks``): an
    # older delivery arriving later is not applied.
    last_event_time: Mapped[datetime | None] = mapped_column(UTCDateTime)

    tags: Mapped[list[IncidentTagRow]] = relationship(
        back_populates="incident", cascade="all, delete-orphan", order_by="IncidentTagRow.tag")
    predictions: Mapped[list[PredictionRow]] = relationship(
        back_populates="incident", cascade="all, delete-orphan", order_by="PredictionRow.id")


class IncidentTagRow(Base):
    """A whiteboard tag of an incident, normalised: kind is ``type``, ``meta`` or ``unknown``."""

    __tablename__ = "incident_tags"

    incident_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True)
    tag: Mapped[str] = mapped_column(String(128), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))

    incident: Mapped[IncidentRow] = relationship(back_populates="tags")


class PredictionRow(Base):
    """What one model version said of one incident."""

    __tablename__ = "predictions"
    __table_args__ = (UniqueConstraint("incident_id", "model_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("incidents.id", ondelete="CASCADE"), index=True)
    model_version: Mapped[str] = mapped_column(String(64), index=True)
    tags: Mapped[list] = mapped_column(JSON)
    scores: Mapped[dict] = mapped_column(JSON)
    needs_review: Mapped[bool] = mapped_column(Boolean)
    # Why a person should look, in a sentence; None when not flagged (or stored before 0010).
    review_reason: Mapped[str | None] = mapped_column(Text)
    confidence: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    incident: Mapped[IncidentRow] = relationship(back_populates="predictions")


class SyncStateRow(Base):
    """Where the last successful sync from one Bugzilla left off.

    ``last_change_time`` is the newest ``last_change_time`` among the bugs that sync saw; the
    next sync asks only for bugs changed since then (less a small overlap).
    """

    __tablename__ = "sync_state"

    source: Mapped[str] = mapped_column(String(255), primary_key=True)
    last_change_time: Mapped[datetime | None] = mapped_column(UTCDateTime)
    synced_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ApiTokenRow(Base):
    """A maintainer's API token: only its sha256 is kept; the token itself is shown once."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(255), index=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: After this moment the token is refused like a revoked one; None never expires.
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_by: Mapped[str | None] = mapped_column(String(255))


class CorrectionRow(Base):
    """A maintainer's verdict on an incident's type tags, with what the model said then.

    Corrections are never updated or deleted: a later one supersedes an earlier one (the latest
    by ``id`` counts), and the history stays.
    """

    __tablename__ = "corrections"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("incidents.id", ondelete="CASCADE"), index=True)
    tags: Mapped[list] = mapped_column(JSON)
    note: Mapped[str] = mapped_column(Text, default="")
    author: Mapped[str] = mapped_column(String(255))
    token_id: Mapped[int | None] = mapped_column(ForeignKey("api_tokens.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    model_version: Mapped[str | None] = mapped_column(String(64))
    model_tags: Mapped[list | None] = mapped_column(JSON)
    model_scores: Mapped[dict | None] = mapped_column(JSON)


class ModelDecisionRow(Base):
    """One retraining decision: the challenger, the active model, both sets of figures, why.

    ``challenger`` is None when nothing was fitted: the active model had nothing new to learn."""

    __tablename__ = "model_decisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    challenger: Mapped[str | None] = mapped_column(String(64))
    active_before: Mapped[str | None] = mapped_column(String(64))
    promoted: Mapped[bool] = mapped_column(Boolean)
    forced: Mapped[bool] = mapped_column(Boolean, default=False)
    tolerance: Mapped[float] = mapped_column(Float)
    reason: Mapped[str] = mapped_column(Text)
    challenger_metrics: Mapped[dict] = mapped_column(JSON)
    active_metrics: Mapped[dict | None] = mapped_column(JSON)
    requested_by: Mapped[str | None] = mapped_column(String(255))


class RelabelRunRow(Base):
    """A nightly relabelling run; ``last_incident_id`` is its checkpoint for a resumed run."""

    __tablename__ = "relabel_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model_version: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(16))  # running | finished | abandoned
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    total: Mapped[int] = mapped_column(Integer, default=0)
    done: Mapped[int] = mapped_column(Integer, default=0)
    changed: Mapped[int] = mapped_column(Integer, default=0)
    last_incident_id: Mapped[int | None] = mapped_column(BigInteger)
    counts_before: Mapped[dict | None] = mapped_column(JSON)
    counts_after: Mapped[dict | None] = mapped_column(JSON)


class LiveScoreRow(Base):
    """A prediction made before Mozilla tagged the incident, beside the type tags that came.

    One row per incident and model version, written by ``upsert_bugs`` when the incident's
    first type tags arrive (see ``core.live``); never updated afterwards.
    """

    __tablename__ = "live_scores"
    __table_args__ = (UniqueConstraint("incident_id", "model_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("incidents.id", ondelete="CASCADE"), index=True)
    model_version: Mapped[str] = mapped_column(String(64), index=True)
    predicted_tags: Mapped[list] = mapped_column(JSON)
    true_tags: Mapped[list] = mapped_column(JSON)
    needs_review: Mapped[bool] = mapped_column(Boolean)
    predicted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    scored_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class NightlyRunRow(Base):
    """One run of ``incidents nightly``: sync, retraining decision, relabelling, and its end."""

    __tablename__ = "nightly_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16))  # running | finished | failed | interrupted
    source: Mapped[str] = mapped_column(String(16))  # bugzilla | snapshot
    sync_summary: Mapped[str | None] = mapped_column(Text)
    sync_counts: Mapped[dict | None] = mapped_column(JSON)
    new_labels: Mapped[int | None] = mapped_column(Integer)
    live_alarm: Mapped[str | None] = mapped_column(Text)
    retrained: Mapped[bool | None] = mapped_column(Boolean)
    retrain_reason: Mapped[str | None] = mapped_column(Text)
    retrain_decision_id: Mapped[int | None] = mapped_column(
        ForeignKey("model_decisions.id", ondelete="SET NULL"))
    relabel_run_id: Mapped[int | None] = mapped_column(
        ForeignKey("relabel_runs.id", ondelete="SET NULL"))
    relabel_changed: Mapped[int | None] = mapped_column(Integer)
    failed_step: Mapped[str | None] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(Text)


class JobLockRow(Base):
    """Who runs a kind of long job (``retrain``, ``sync``, ``relabel``) now, across processes.

    A row a running kind: claimed by inserting it (the primary key lets one insert win), kept by
    its holder moving ``expires_at`` forward, deleted when the job ends; a row whose
    ``expires_at`` has passed belongs to a holder that died and may be taken over, and so does
    one whose process (``pid``) is gone from the claimant's own machine (same ``host_key``).
    """

    __tablename__ = "job_locks"

    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner: Mapped[str] = mapped_column(String(64))  # a random id of this claim
    holder: Mapped[str] = mapped_column(String(255))  # who, in words: name, process, host
    job_id: Mapped[str | None] = mapped_column(String(64))  # its row in ``jobs``, when it has one
    acquired_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    pid: Mapped[int | None] = mapped_column(Integer)  # the holder's process ...
    host_key: Mapped[str | None] = mapped_column(String(255))  # ... in this kernel's pid namespace


class JobRow(Base):
    """A long job started from the service: its state, progress and result, for any worker."""

    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    state: Mapped[str] = mapped_column(String(16))  # queued | running | succeeded | failed
    requested_by: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    progress: Mapped[str | None] = mapped_column(Text)
    result: Mapped[dict | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    status_code: Mapped[int | None] = mapped_column(Integer)  # what the route would have answered
