"""stories, direct messages, notifications, feed support

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Stories: a post of kind "story" expires 24 h after it is made (models/content/posts.py).
    op.add_column("posts", sa.Column("kind", sa.String(length=10), server_default="post", nullable=False))
    op.add_column("posts", sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
    op.create_check_constraint(op.f("ck_posts_kind"), "posts", "kind IN ('post', 'story')")
    # Feed layers are keysets on (created_at, id) per author and per circle (models/discovery/feeds.py).
    op.create_index("ix_posts_author_created", "posts", ["author_id", sa.text("created_at DESC"), sa.text("id DESC")])
    op.create_index(
        "ix_posts_circle_created",
        "posts",
        ["circle_id", sa.text("created_at DESC"), sa.text("id DESC")],
        postgresql_where=sa.text("circle_id IS NOT NULL"),
    )

    op.create_table(
        "message_settings",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("dm_policy", sa.String(length=20), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "dm_policy IN ('everyone', 'followers', 'circles')", name=op.f("ck_message_settings_dm_policy")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_message_settings_user_id"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_message_settings")),
    )
    op.create_table(
        "conversations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_lo", sa.Uuid(), nullable=False),
        sa.Column("user_hi", sa.Uuid(), nullable=False),
        sa.Column("last_message_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("user_lo < user_hi", name=op.f("ck_conversations_pair_order")),
        sa.ForeignKeyConstraint(["user_lo"], ["users.id"], name=op.f("fk_conversations_user_lo"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_hi"], ["users.id"], name=op.f("fk_conversations_user_hi"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversations")),
        sa.UniqueConstraint("user_lo", "user_hi", name=op.f("uq_conversations_user_lo_user_hi")),
    )
    op.create_table(
        "conversation_members",
        sa.Column("conversation_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("peer_id", sa.Uuid(), nullable=False),
        sa.Column("last_message_id", sa.Uuid(), nullable=True),
        sa.Column("last_read_id", sa.Uuid(), nullable=True),
        sa.Column("unread", sa.Integer(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_conversation_members_conversation_id"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_conversation_members_user_id"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("conversation_id", "user_id", name=op.f("pk_conversation_members")),
    )
    # the conversation list: newest activity first, keyset on the last message id (UUIDv7)
    op.create_index(
        "ix_conversation_members_activity",
        "conversation_members",
        ["user_id", sa.text("last_message_id DESC")],
        postgresql_where=sa.text("last_message_id IS NOT NULL"),
    )
    op.create_table(
        "messages",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("conversation_id", sa.Uuid(), nullable=False),
        sa.Column("sender_id", sa.Uuid(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"], ["conversations.id"], name=op.f("fk_messages_conversation_id"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["sender_id"], ["users.id"], name=op.f("fk_messages_sender_id"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_messages")),
    )
    op.create_index("ix_messages_conversation_id_id", "messages", ["conversation_id", sa.text("id DESC")])
    # idempotent sends: one message per (sender, client id)
    op.create_index(
        "uq_messages_sender_id_client_id",
        "messages",
        ["sender_id", "client_id"],
        unique=True,
        postgresql_where=sa.text("client_id IS NOT NULL"),
    )

    op.create_table(
        "notifications",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("recipient_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("target_id", sa.Uuid(), nullable=False),
        sa.Column("post_id", sa.Uuid(), nullable=True),
        sa.Column("bucket", sa.BigInteger(), nullable=False),
        sa.Column("actor_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("event_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("actors", postgresql.ARRAY(sa.Uuid()), server_default="{}", nullable=False),
        sa.Column("sort_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["recipient_id"], ["users.id"], name=op.f("fk_notifications_recipient_id"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
        sa.UniqueConstraint(
            "recipient_id",
            "kind",
            "target_id",
            "bucket",
            name=op.f("uq_notifications_recipient_id_kind_target_id_bucket"),
        ),
    )
    op.create_index(
        "ix_notifications_recipient_sort",
        "notifications",
        ["recipient_id", sa.text("sort_id DESC"), sa.text("id DESC")],
    )
    op.create_index(
        "ix_notifications_unread", "notifications", ["recipient_id"], postgresql_where=sa.text("read_at IS NULL")
    )
    op.create_table(
        "notification_events",
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("recipient_id", sa.Uuid(), nullable=False),
        sa.Column("notification_id", sa.Uuid(), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["notification_id"],
            ["notifications.id"],
            name=op.f("fk_notification_events_notification_id"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("event_id", "recipient_id", name=op.f("pk_notification_events")),
    )
    op.create_index("ix_notification_events_notification_actor", "notification_events", ["notification_id", "actor_id"])


def downgrade() -> None:
    op.drop_table("notification_events")
    op.drop_table("notifications")
    op.drop_table("messages")
    op.drop_table("conversation_members")
    op.drop_table("conversations")
    op.drop_table("message_settings")
    op.drop_index("ix_posts_circle_created", table_name="posts")
    op.drop_index("ix_posts_author_created", table_name="posts")
    op.drop_constraint(op.f("ck_posts_kind"), "posts", type_="check")
    op.drop_column("posts", "expires_at")
    op.drop_column("posts", "kind")
