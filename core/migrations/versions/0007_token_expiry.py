"""an optional expiry for maintainers' API tokens (api_tokens.expires_at), and who revoked one
(api_tokens.revoked_by)

A token past its ``expires_at`` is refused like a revoked one; NULL (every token created before
this migration, and those created without ``--expires-in``/``--expires``) never expires. Tokens
revoked before this migration keep a NULL ``revoked_by``.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

from core.tables import UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("api_tokens", sa.Column("expires_at", UTCDateTime()))
    op.add_column("api_tokens", sa.Column("revoked_by", sa.String(255)))


def downgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_column("revoked_by")
        batch.drop_column("expires_at")
