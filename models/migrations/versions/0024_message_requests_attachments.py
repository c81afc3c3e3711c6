"""message requests (held first messages) and images / videos in direct messages

Revision ID: 0024
Revises: 0020
"""

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "message_attachments",
        sa.Column("message_id", sa.Uuid(), nullable=False),
        sa.Column("image_id", sa.Uuid(), nullable=True),
        sa.Column("video_id", sa.Uuid(), nullable=True),
        sa.CheckConstraint("(image_id IS NULL) <> (video_id IS NULL)", name=op.f("ck_message_attachments_one_media")),
        sa.ForeignKeyConstraint(
            ["message_id"], ["messages.id"], name=op.f("fk_message_attachments_message_id"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["image_id"], ["images.id"], name=op.f("fk_message_attachments_image_id"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["video_id"], ["videos.id"], name=op.f("fk_message_attachments_video_id"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("message_id", name=op.f("pk_message_attachments")),
    )
    op.create_index(op.f("ix_message_attachments_image_id"), "message_attachments", ["image_id"])
    op.create_index(op.f("ix_message_attachments_video_id"), "message_attachments", ["video_id"])
    op.create_table(
        "message_requests",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("sender_id", sa.Uuid(), nullable=False),
        sa.Column("recipient_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("message_count", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('pending', 'accepted', 'declined')", name=op.f("ck_message_requests_status")),
        sa.ForeignKeyConstraint(
            ["sender_id"], ["users.id"], name=op.f("fk_message_requests_sender_id"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["recipient_id"], ["users.id"], name=op.f("fk_message_requests_recipient_id"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message_requests")),
        sa.UniqueConstraint("sender_id", "recipient_id", name=op.f("uq_message_requests_sender_id_recipient_id")),
    )
    op.create_index("ix_message_requests_inbox", "message_requests", ["recipient_id", "status", "id"])
    op.create_index("ix_message_requests_opened", "message_requests", ["sender_id", "created_at"])
    op.create_table(
        "message_request_items",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("request_id", sa.Uuid(), nullable=False),
        sa.Column("sender_id", sa.Uuid(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=True),
        sa.Column("image_id", sa.Uuid(), nullable=True),
        sa.Column("video_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("image_id IS NULL OR video_id IS NULL", name=op.f("ck_message_request_items_one_media")),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["message_requests.id"],
            name=op.f("fk_message_request_items_request_id"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["sender_id"], ["users.id"], name=op.f("fk_message_request_items_sender_id"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["image_id"], ["images.id"], name=op.f("fk_message_request_items_image_id"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["video_id"], ["videos.id"], name=op.f("fk_message_request_items_video_id"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message_request_items")),
    )
    op.create_index(op.f("ix_message_request_items_request_id"), "message_request_items", ["request_id"])
    op.create_index(
        "uq_message_request_items_client",
        "message_request_items",
        ["sender_id", "client_id"],
        unique=True,
        postgresql_where=sa.text("client_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_table("message_request_items")
    op.drop_table("message_requests")
    op.drop_table("message_attachments")
