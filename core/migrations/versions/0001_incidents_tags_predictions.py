"""incidents, their whiteboard tags, and predictions

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

from core.tables import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "incidents",
        sa.Column("id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("creator", sa.String(255)),
        sa.Column("creator_domain", sa.String(255)),
        sa.Column("ca_name", sa.String(255), nullable=False),
        sa.Column("product", sa.String(255)),
        sa.Column("component", sa.String(255)),
        sa.Column("status", sa.String(64)),
        sa.Column("resolution", sa.String(64)),
        sa.Column("whiteboard", sa.Text(), nullable=False),
        sa.Column("creation_time", UTCDateTime()),
        sa.Column("last_change_time", UTCDateTime()),
        sa.Column("resolved_at", UTCDateTime()),
        sa.Column("synced_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_incidents_ca_name", "incidents", ["ca_name"])
    op.create_index("ix_incidents_creation_time", "incidents", ["creation_time"])
    op.create_table(
        "incident_tags",
        sa.Column("incident_id", sa.BigInteger(),
                  sa.ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("tag", sa.String(128), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
    )
    op.create_table(
        "predictions",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("incident_id", sa.BigInteger(),
                  sa.ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False),
        sa.Column("model_version", sa.String(64), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("scores", sa.JSON(), nullable=False),
        sa.Column("needs_review", sa.Boolean(), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("incident_id", "model_version"),
    )
    op.create_index("ix_predictions_incident_id", "predictions", ["incident_id"])
    op.create_index("ix_predictions_model_version", "predictions", ["model_version"])


def downgrade() -> None:
    op.drop_table("predictions")
    op.drop_table("incident_tags")
    op.drop_table("incidents")
