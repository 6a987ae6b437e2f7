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
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


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
    synced_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

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
    confidence: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    incident: Mapped[IncidentRow] = relationship(back_populates="predictions")
