"""images: uploads for avatars, covers and photo posts; a post's images; the profile's cover

Revision ID: 0020
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "images",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=False),
        sa.Column("purpose", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("source_format", sa.String(length=10), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("nsfw_score", sa.Float(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("status IN ('ready', 'in_review')", name=op.f("ck_images_status")),
        sa.CheckConstraint("purpose IN ('post', 'avatar', 'cover')", name=op.f("ck_images_purpose")),
        sa.ForeignKeyConstraint(["owner_id"], ["users.id"], name=op.f("fk_images_owner_id"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_images")),
    )
    op.create_index(op.f("ix_images_owner_id"), "images", ["owner_id"])
    op.create_table(
        "post_images",
        sa.Column("post_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("image_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(["post_id"], ["posts.id"], name=op.f("fk_post_images_post_id"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["image_id"], ["images.id"], name=op.f("fk_post_images_image_id"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("post_id", "position", name=op.f("pk_post_images")),
        sa.UniqueConstraint("image_id", name=op.f("uq_post_images_image_id")),
    )
    # avatar_media_id stays without a foreign key: rows from before images existed hold unchecked ids
    op.add_column("profiles", sa.Column("cover_media_id", sa.Uuid(), nullable=True))


def downgrade() -> None:
    op.drop_column("profiles", "cover_media_id")
    op.drop_table("post_images")
    op.drop_index(op.f("ix_images_owner_id"), table_name="images")
    op.drop_table("images")
