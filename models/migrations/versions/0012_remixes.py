"""remixes: duets and stitches, and the per-post switch to allow them

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # One row per remix post (models/content/remixes.py); a source lists its remixes newest first by the
    # remix post's UUIDv7, all of them or one type.
    op.create_table(
        "remixes",
        sa.Column("post_id", sa.Uuid(), nullable=False),
        sa.Column("source_post_id", sa.Uuid(), nullable=False),
        sa.Column("type", sa.String(length=10), nullable=False),
        sa.Column("start_ms", sa.Integer(), nullable=False),
        sa.Column("end_ms", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("type IN ('duet', 'stitch')", name=op.f("ck_remixes_type")),
        sa.CheckConstraint("start_ms >= 0 AND end_ms > start_ms", name=op.f("ck_remixes_range")),
        sa.ForeignKeyConstraint(["post_id"], ["posts.id"], name=op.f("fk_remixes_post_id"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["source_post_id"], ["posts.id"], name=op.f("fk_remixes_source_post_id"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("post_id", name=op.f("pk_remixes")),
    )
    op.create_index("ix_remixes_source", "remixes", ["source_post_id", "post_id"])
    op.create_index("ix_remixes_source_type", "remixes", ["source_post_id", "type", "post_id"])
    # No row: both allowed.
    op.create_table(
        "remix_settings",
        sa.Column("post_id", sa.Uuid(), nullable=False),
        sa.Column("allow_duets", sa.Boolean(), nullable=False),
        sa.Column("allow_stitches", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["post_id"], ["posts.id"], name=op.f("fk_remix_settings_post_id"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("post_id", name=op.f("pk_remix_settings")),
    )


def downgrade() -> None:
    op.drop_table("remix_settings")
    op.drop_index("ix_remixes_source_type", table_name="remixes")
    op.drop_index("ix_remixes_source", table_name="remixes")
    op.drop_table("remixes")
