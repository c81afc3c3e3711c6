"""group chats: conversations of kind 'group' (name, avatar, owner, invite code); members with a
role, joined/left times and a mute; replies and unsent messages. Direct conversations become the
two-member case of the same model: every existing member row is backfilled as a member.

Revision ID: 0023
Revises: 0020
"""

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0027"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("conversations", sa.Column("kind", sa.String(length=10), server_default="direct", nullable=False))
    op.add_column("conversations", sa.Column("name", sa.String(length=100), nullable=True))
    op.add_column("conversations", sa.Column("avatar_image_id", sa.Uuid(), nullable=True))
    op.add_column("conversations", sa.Column("owner_id", sa.Uuid(), nullable=True))
    op.add_column("conversations", sa.Column("invite_code", sa.String(length=32), nullable=True))
    op.alter_column("conversations", "user_lo", nullable=True)
    op.alter_column("conversations", "user_hi", nullable=True)
    op.create_check_constraint(op.f("ck_conversations_kind"), "conversations", "kind IN ('direct', 'group')")
    # a direct conversation has its pair (unique, as before); a group has neither member of a pair
    op.create_check_constraint(
        op.f("ck_conversations_pair_of_direct"),
        "conversations",
        "(kind = 'direct') = (user_lo IS NOT NULL AND user_hi IS NOT NULL)",
    )
    op.create_foreign_key(
        op.f("fk_conversations_avatar_image_id"),
        "conversations",
        "images",
        ["avatar_image_id"],
        ["id"],
        ondelete="SET NULL",
    )
    op.create_foreign_key(
        op.f("fk_conversations_owner_id"), "conversations", "users", ["owner_id"], ["id"], ondelete="SET NULL"
    )
    op.create_unique_constraint(op.f("uq_conversations_invite_code"), "conversations", ["invite_code"])

    op.add_column(
        "conversation_members", sa.Column("role", sa.String(length=10), server_default="member", nullable=False)
    )
    op.add_column("conversation_members", sa.Column("joined_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("conversation_members", sa.Column("left_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("conversation_members", sa.Column("muted_until", sa.DateTime(timezone=True), nullable=True))
    op.alter_column("conversation_members", "peer_id", nullable=True)
    op.execute(
        "UPDATE conversation_members m SET joined_at = c.created_at FROM conversations c WHERE c.id = m.conversation_id"
    )
    op.alter_column("conversation_members", "joined_at", nullable=False)
    op.create_check_constraint(
        op.f("ck_conversation_members_role"), "conversation_members", "role IN ('owner', 'admin', 'member')"
    )
    # a room's current members (sends fan out to them, the member cap counts them)
    op.create_index(
        "ix_conversation_members_current",
        "conversation_members",
        ["conversation_id", "user_id"],
        postgresql_where=sa.text("left_at IS NULL"),
    )

    op.add_column("messages", sa.Column("reply_to_id", sa.Uuid(), nullable=True))
    op.add_column("messages", sa.Column("unsent_at", sa.DateTime(timezone=True), nullable=True))
    op.create_foreign_key(
        op.f("fk_messages_reply_to_id"), "messages", "messages", ["reply_to_id"], ["id"], ondelete="SET NULL"
    )


def downgrade() -> None:
    op.drop_constraint(op.f("fk_messages_reply_to_id"), "messages", type_="foreignkey")
    op.drop_column("messages", "unsent_at")
    op.drop_column("messages", "reply_to_id")
    op.drop_index("ix_conversation_members_current", table_name="conversation_members")
    op.drop_constraint(op.f("ck_conversation_members_role"), "conversation_members", type_="check")
    op.execute("DELETE FROM conversations WHERE kind = 'group'")
    op.alter_column("conversation_members", "peer_id", nullable=False)
    for col in ("muted_until", "left_at", "joined_at", "role"):
        op.drop_column("conversation_members", col)
    op.drop_constraint(op.f("uq_conversations_invite_code"), "conversations", type_="unique")
    op.drop_constraint(op.f("fk_conversations_owner_id"), "conversations", type_="foreignkey")
    op.drop_constraint(op.f("fk_conversations_avatar_image_id"), "conversations", type_="foreignkey")
    op.drop_constraint(op.f("ck_conversations_pair_of_direct"), "conversations", type_="check")
    op.drop_constraint(op.f("ck_conversations_kind"), "conversations", type_="check")
    op.alter_column("conversations", "user_hi", nullable=False)
    op.alter_column("conversations", "user_lo", nullable=False)
    for col in ("invite_code", "owner_id", "avatar_image_id", "name", "kind"):
        op.drop_column("conversations", col)
