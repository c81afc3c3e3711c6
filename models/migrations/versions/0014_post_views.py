"""posts: parsed hashtags and mentions, edited_at, grid pins; bookmarks (the grid reads ix_posts_author_created of 0010)

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Parsed once when the caption is written (models/content/publishing.py, editing.py).
    op.add_column("posts", sa.Column("hashtags", postgresql.ARRAY(sa.Text()), server_default="{}", nullable=False))
    op.add_column("posts", sa.Column("mentions", postgresql.ARRAY(sa.Uuid()), server_default="{}", nullable=False))
    op.add_column("posts", sa.Column("edited_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("posts", sa.Column("pinned_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "bookmarks",
        sa.Column("user_id", sa.Uuid(), sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("post_id", sa.Uuid(), sa.ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_bookmarks_user_created", "bookmarks", ["user_id", "created_at", "post_id"])


def downgrade() -> None:
    op.drop_index("ix_bookmarks_user_created", table_name="bookmarks")
    op.drop_table("bookmarks")
    for col in ("pinned_at", "edited_at", "mentions", "hashtags"):
        op.drop_column("posts", col)
