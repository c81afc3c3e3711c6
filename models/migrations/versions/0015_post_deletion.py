"""post deletion: notifications found by post, so a deleted post's go in one indexed delete

Revision ID: 0015
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # post.deleted removes the post's notifications (models/messaging/notifications.forget_posts)
    op.create_index(
        "ix_notifications_post_id", "notifications", ["post_id"], postgresql_where=sa.text("post_id IS NOT NULL")
    )


def downgrade() -> None:
    op.drop_index("ix_notifications_post_id", table_name="notifications")
