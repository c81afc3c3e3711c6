"""search: the post_search full-text index, pg_trgm and search_norm() for users' names

Revision ID: 0021
Revises: 0020
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

# models/core/text.normalize in SQL, for display names (indexed and queried through it alike):
# diacritics and tatweel out, alef forms -> ا, ى -> ي, ة -> ه, Arabic-Indic digits -> ASCII,
# lower-cased. tests/discovery/test_search.py checks it against the Python function.
SEARCH_NORM = r"""
CREATE OR REPLACE FUNCTION search_norm(t text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE RETURNS NULL ON NULL INPUT AS $$
SELECT lower(translate(
  regexp_replace(t, '[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06dc\u06df-\u06e8\u06ea-\u06ed\u0640]', '', 'g'),
  'أإآٱىة٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹', 'اااايه01234567890123456789'))
$$
"""


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.execute(SEARCH_NORM)
    op.create_table(
        "post_search",
        sa.Column("post_id", sa.Uuid(), nullable=False),
        sa.Column("doc", postgresql.TSVECTOR(), nullable=True),
        sa.Column("removed", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("indexed_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.ForeignKeyConstraint(["post_id"], ["posts.id"], name=op.f("fk_post_search_post_id"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("post_id", name=op.f("pk_post_search")),
    )
    op.create_index("ix_post_search_doc", "post_search", ["doc"], postgresql_using="gin")
    op.execute("CREATE INDEX ix_users_username_trgm ON users USING gin (lower(username) gin_trgm_ops)")
    op.execute(
        "CREATE INDEX ix_profiles_display_name_trgm ON profiles USING gin (search_norm(display_name) gin_trgm_ops)"
    )


def downgrade() -> None:
    op.drop_index("ix_profiles_display_name_trgm", table_name="profiles")
    op.drop_index("ix_users_username_trgm", table_name="users")
    op.drop_index("ix_post_search_doc", table_name="post_search")
    op.drop_table("post_search")
    op.execute("DROP FUNCTION IF EXISTS search_norm(text)")
