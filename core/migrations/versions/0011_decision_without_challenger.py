"""a retraining decision without a challenger (model_decisions.challenger nullable)

`retrain` with nothing new to learn (the active model has the challenger's recipe and learned
exactly the store's labelled incidents and tags) decides at once and fits nothing: its decision
names no challenger. Going down, such decisions name '' (the column cannot hold NULL there).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("model_decisions") as batch:
        batch.alter_column("challenger", existing_type=sa.String(64), nullable=True)


def downgrade() -> None:
    op.execute("UPDATE model_decisions SET challenger = '' WHERE challenger IS NULL")
    with op.batch_alter_table("model_decisions") as batch:
        batch.alter_column("challenger", existing_type=sa.String(64), nullable=False)
