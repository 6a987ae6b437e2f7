"""the process holding a job lock (job_locks.pid, job_locks.host_key)

With them a claimant on the same machine sees at once that a holder was killed, rather than
waiting for its claim to lapse.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("job_locks") as batch:
        batch.add_column(sa.Column("pid", sa.Integer()))
        batch.add_column(sa.Column("host_key", sa.String(255)))


def downgrade() -> None:
    with op.batch_alter_table("job_locks") as batch:
        batch.drop_column("host_key")
        batch.drop_column("pid")
