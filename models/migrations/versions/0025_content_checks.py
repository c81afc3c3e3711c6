"""content checks: the moderators' term list and automatic content flags

Revision ID: 0025
Revises: 0020
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0025"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "moderation_terms",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("term", sa.String(length=100), nullable=False),
        sa.Column("normalized", sa.String(length=100), nullable=False),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.Column("label", sa.String(length=32), nullable=False),
        sa.Column("action", sa.String(length=10), nullable=False),
        sa.Column("added_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("language IN ('ar', 'en')", name=op.f("ck_moderation_terms_language")),
        sa.CheckConstraint("action IN ('reject', 'review')", name=op.f("ck_moderation_terms_action")),
        sa.ForeignKeyConstraint(
            ["added_by"], ["users.id"], name=op.f("fk_moderation_terms_added_by"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_moderation_terms")),
        sa.UniqueConstraint("normalized", "language", name=op.f("uq_moderation_terms_normalized_language")),
    )
    op.create_table(
        "content_flags",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("target_type", sa.String(length=20), nullable=False),
        sa.Column("target_id", sa.Uuid(), nullable=False),
        sa.Column("author_id", sa.Uuid(), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("labels", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["author_id"], ["users.id"], name=op.f("fk_content_flags_author_id"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_content_flags")),
    )
    op.create_index("ix_content_flags_target", "content_flags", ["target_type", "target_id"])
    op.create_index(op.f("ix_content_flags_author_id"), "content_flags", ["author_id"])


def downgrade() -> None:
    op.drop_table("content_flags")
    op.drop_table("moderation_terms")
