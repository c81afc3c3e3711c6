"""outbox: attempts and set-aside rows, so one unpublishable row no longer blocks the rest

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A row the broker refused OUTBOX_MAX_ATTEMPTS times gets failed_at (infra/outbox_relay.py);
    # last_error says why. Existing rows are pending with no attempt.
    op.add_column("outbox", sa.Column("attempts", sa.Integer(), server_default="0", nullable=False))
    op.add_column("outbox", sa.Column("failed_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("outbox", sa.Column("last_error", sa.Text(), nullable=True))
    # The relay scans pending rows by id; set-aside rows are counted (/metrics) and retried by topic.
    op.create_index("ix_outbox_pending", "outbox", ["id"], postgresql_where=sa.text("failed_at IS NULL"))
    op.create_index("ix_outbox_set_aside", "outbox", ["topic"], postgresql_where=sa.text("failed_at IS NOT NULL"))


def downgrade() -> None:
    op.drop_index("ix_outbox_set_aside", table_name="outbox")
    op.drop_index("ix_outbox_pending", table_name="outbox")
    op.drop_column("outbox", "last_error")
    op.drop_column("outbox", "failed_at")
    op.drop_column("outbox", "attempts")
