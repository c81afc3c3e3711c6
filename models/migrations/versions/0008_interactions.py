"""comments, feedback, views, shares

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Views and shares are events counted in the engagement store (edge per event id); only
    # comments and per-user feedback live here.
    op.create_table(
        "comments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("post_id", sa.Uuid(), nullable=False),
        sa.Column("author_id", sa.Uuid(), nullable=False),
        sa.Column("parent_id", sa.Uuid(), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("mentions", postgresql.ARRAY(sa.Uuid()), server_default="{}", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("edited_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["post_id"], ["posts.id"], name=op.f("fk_comments_post_id"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["author_id"], ["users.id"], name=op.f("fk_comments_author_id"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["parent_id"], ["comments.id"], name=op.f("fk_comments_parent_id"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_comments")),
    )
    # Keysets of the two lists: a post's top-level comments, a comment's replies (ids are UUIDv7).
    op.create_index(
        "ix_comments_post_top", "comments", ["post_id", "id"], postgresql_where=sa.text("parent_id IS NULL")
    )
    op.create_index("ix_comments_parent_id", "comments", ["parent_id", "id"])
    op.create_index("ix_comments_author_id", "comments", ["author_id"])
    op.create_table(
        "post_feedback",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("post_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_post_feedback_user_id"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["post_id"], ["posts.id"], name=op.f("fk_post_feedback_post_id"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id", "post_id", "kind", name=op.f("pk_post_feedback")),
        sa.CheckConstraint("kind IN ('not_interested', 'hide')", name=op.f("ck_post_feedback_kind")),
    )
    op.create_index("ix_post_feedback_post_id", "post_feedback", ["post_id"])


def downgrade() -> None:
    op.drop_index("ix_post_feedback_post_id", table_name="post_feedback")
    op.drop_table("post_feedback")
    op.drop_index("ix_comments_author_id", table_name="comments")
    op.drop_index("ix_comments_parent_id", table_name="comments")
    op.drop_index("ix_comments_post_top", table_name="comments")
    op.drop_table("comments")
