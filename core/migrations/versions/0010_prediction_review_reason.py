"""why a prediction was sent to review (predictions.review_reason)

The review queue and the incident record say why a person should look (no type reached its
threshold, or the answer a low confidence comes from), not only that one should. Predictions
stored before this have none; the next relabel fills it for the active version's.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("predictions") as batch:
        batch.add_column(sa.Column("review_reason", sa.Text()))


def downgrade() -> None:
    with op.batch_alter_table("predictions") as batch:
        batch.drop_column("review_reason")
