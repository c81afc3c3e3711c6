"""videos: uploads, transcodes, moderation cases

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "videos",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("progress", sa.SmallInteger(), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("received", sa.BigInteger(), nullable=False),
        sa.Column("upload_metadata", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("upload_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("original_key", sa.String(length=300), nullable=True),
        sa.Column("playlist_key", sa.String(length=300), nullable=True),
        sa.Column("thumbnail_key", sa.String(length=300), nullable=True),
        sa.Column("renditions", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("duration", sa.Float(), nullable=True),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("video_codec", sa.String(length=40), nullable=True),
        sa.Column("audio_codec", sa.String(length=40), nullable=True),
        sa.Column("container", sa.String(length=40), nullable=True),
        sa.Column("fps", sa.Float(), nullable=True),
        sa.Column("nsfw_score", sa.Float(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ready_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('uploading', 'processing', 'in_review', 'ready', 'rejected', 'failed')",
            name=op.f("ck_videos_status"),
        ),
        sa.ForeignKeyConstraint(["owner_id"], ["users.id"], name=op.f("fk_videos_owner_id"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_videos")),
    )
    # quotas: a user's uploads of the last day and bytes held
    op.create_index(op.f("ix_videos_owner_id_created_at"), "videos", ["owner_id", "created_at"])
    # the expiry sweep reads only unfinished uploads
    op.create_index(
        "ix_videos_uploading_expires", "videos", ["upload_expires_at"], postgresql_where=sa.text("status = 'uploading'")
    )
    op.create_table(
        "moderation_cases",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("video_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("max_frame_score", sa.Float(), nullable=False),
        sa.Column("frames", sa.Integer(), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["video_id"], ["videos.id"], name=op.f("fk_moderation_cases_video_id"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_moderation_cases")),
        sa.UniqueConstraint("video_id", "kind", name=op.f("uq_moderation_cases_video_id_kind")),
    )
    op.create_index(
        "ix_moderation_cases_open", "moderation_cases", ["opened_at"], postgresql_where=sa.text("status = 'open'")
    )
    op.add_column("posts", sa.Column("video_id", sa.Uuid(), nullable=True))
    op.create_foreign_key(op.f("fk_posts_video_id"), "posts", "videos", ["video_id"], ["id"], ondelete="SET NULL")
    # a video belongs to at most one post
    op.create_index(op.f("uq_posts_video_id"), "posts", ["video_id"], unique=True)


def downgrade() -> None:
    op.drop_index(op.f("uq_posts_video_id"), table_name="posts")
    op.drop_constraint(op.f("fk_posts_video_id"), "posts", type_="foreignkey")
    op.drop_column("posts", "video_id")
    op.drop_index("ix_moderation_cases_open", table_name="moderation_cases")
    op.drop_table("moderation_cases")
    op.drop_index("ix_videos_uploading_expires", table_name="videos")
    op.drop_index(op.f("ix_videos_owner_id_created_at"), table_name="videos")
    op.drop_table("videos")
