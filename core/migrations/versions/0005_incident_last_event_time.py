"""the time of the newest Bugzilla webhook event applied to an incident (incidents.last_event_time)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-15
"""

import sqlalchemy as sa
from alembic import op

from core.tables import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("incidents", sa.Column("last_event_time", UTCDateTime()))


def downgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        batch.drop_column("last_event_time")
