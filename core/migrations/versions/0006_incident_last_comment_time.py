"""the time of an incident's last public comment (incidents.last_comment_time)

Bugzilla closes a bug with a comment, so for a closed bug whose resolution time
(``cf_last_resolved``) is unknown, the last public comment stands in for it when the briefing
decides whether the bug was open in a window. Filled by the snapshot loader, the sync and the
webhook; rows stored before this migration keep NULL until their bug is loaded again.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-20
"""

import sqlalchemy as sa
from alembic import op

from core.tables import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("incidents", sa.Column("last_comment_time", UTCDateTime()))


def downgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        batch.drop_column("last_comment_time")
