"""the model's live record (live_scores, incidents.tags_known_at) and nightly runs

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

from core.tables import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("incidents", sa.Column("tags_known_at", UTCDateTime()))
    # Incidents tagged before this migration: when their tags first came is not known; the
    # time their row was last written is the nearest the store has.
    op.execute("UPDATE incidents SET tags_known_at = synced_at WHERE EXISTS (SELECT 1 FROM "
               "incident_tags WHERE incident_tags.incident_id = incidents.id "
               "AND incident_tags.kind = 'type')")
    op.create_table(
        "live_scores",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("incident_id", sa.BigInteger(),
                  sa.ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False),
        sa.Column("model_version", sa.String(64), nullable=False),
        sa.Column("predicted_tags", sa.JSON(), nullable=False),
        sa.Column("true_tags", sa.JSON(), nullable=False),
        sa.Column("needs_review", sa.Boolean(), nullable=False),
        sa.Column("predicted_at", UTCDateTime(), nullable=False),
        sa.Column("scored_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("incident_id", "model_version"),
    )
    op.create_index("ix_live_scores_incident_id", "live_scores", ["incident_id"])
    op.create_index("ix_live_scores_model_version", "live_scores", ["model_version"])
    op.create_index("ix_live_scores_scored_at", "live_scores", ["scored_at"])
    op.create_table(
        "nightly_runs",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime()),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("sync_summary", sa.Text()),
        sa.Column("sync_counts", sa.JSON()),
        sa.Column("new_labels", sa.Integer()),
        sa.Column("live_alarm", sa.Text()),
        sa.Column("retrained", sa.Boolean()),
        sa.Column("retrain_reason", sa.Text()),
        sa.Column("retrain_decision_id", sa.Integer(),
                  sa.ForeignKey("model_decisions.id", ondelete="SET NULL")),
        sa.Column("relabel_run_id", sa.Integer(),
                  sa.ForeignKey("relabel_runs.id", ondelete="SET NULL")),
        sa.Column("relabel_changed", sa.Integer()),
        sa.Column("failed_step", sa.String(16)),
        sa.Column("error", sa.Text()),
    )
    op.create_index("ix_nightly_runs_started_at", "nightly_runs", ["started_at"])


def downgrade() -> None:
    op.drop_table("nightly_runs")
    op.drop_table("live_scores")
    with op.batch_alter_table("incidents") as batch:
        batch.drop_column("tags_known_at")
