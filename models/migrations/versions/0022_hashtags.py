"""hashtags: the post <-> tag index, per-tag post counts, moderation-removed posts, tag activity
(trending tags); posts written before 0014 get their caption's hashtags; the index is filled
from the posts that exist

Revision ID: 0022
Revises: 0020
"""

import sqlalchemy as sa
from alembic import op

from models.core import text as words

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hashtag_posts",
        sa.Column("tag", sa.Text(), nullable=False),
        sa.Column("post_id", sa.Uuid(), nullable=False),
        sa.Column("author_id", sa.Uuid(), nullable=False),
        sa.Column("visibility", sa.String(length=20), nullable=False),
        sa.Column("score", sa.Float(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("tag", "post_id", name=op.f("pk_hashtag_posts")),
    )
    op.create_index("ix_hashtag_posts_top", "hashtag_posts", ["tag", "score", "post_id"])
    op.create_index("ix_hashtag_posts_post_id", "hashtag_posts", ["post_id"])
    op.create_table(
        "hashtags",
        sa.Column("tag", sa.Text(), nullable=False),
        sa.Column("post_count", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tag", name=op.f("pk_hashtags")),
    )
    op.create_index("ix_hashtags_prefix", "hashtags", ["tag"], postgresql_ops={"tag": "text_pattern_ops"})
    op.create_index("ix_hashtags_count", "hashtags", ["post_count", "tag"])
    op.create_table(
        "hashtag_removed_posts",
        sa.Column("post_id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("post_id", name=op.f("pk_hashtag_removed_posts")),
    )
    op.create_table(
        "hashtag_activity",
        sa.Column("tag", sa.Text(), nullable=False),
        sa.Column("bucket", sa.DateTime(timezone=True), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("tag", "bucket", "user_id", name=op.f("pk_hashtag_activity")),
    )
    op.create_index("ix_hashtag_activity_bucket", "hashtag_activity", ["bucket"])

    # Data: posts from before 0014 kept hashtags = '{}'; every stored list is made the one
    # publishing writes now (models/core/text.py), so the index below holds normalised tags only.
    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT id, caption, hashtags FROM posts WHERE caption LIKE '%#%'")).all()
    for post_id, caption, stored in rows:
        tags = words.hashtags(caption)
        if tags != list(stored or []):
            conn.execute(
                sa.text("UPDATE posts SET hashtags = :tags WHERE id = :id").bindparams(
                    sa.bindparam("tags", type_=sa.ARRAY(sa.Text()))
                ),
                {"tags": tags, "id": post_id},
            )
    op.execute(
        "INSERT INTO hashtag_posts (tag, post_id, author_id, visibility) "
        "SELECT DISTINCT t, p.id, p.author_id, p.visibility FROM posts p, unnest(p.hashtags) AS t "
        "WHERE p.kind = 'post'"
    )
    op.execute(
        "INSERT INTO hashtags (tag, post_count, updated_at) "
        "SELECT tag, count(*), now() FROM hashtag_posts WHERE visibility = 'public' GROUP BY tag"
    )


def downgrade() -> None:
    op.drop_table("hashtag_activity")
    op.drop_table("hashtag_removed_posts")
    op.drop_table("hashtags")
    op.drop_table("hashtag_posts")
