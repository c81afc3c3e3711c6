"""account sanctions: warnings, strikes, suspensions and bans (models/moderation/sanctions.py);
notifications.sanction (the rule and the reason of a sanction notice)

Revision ID: 0027
Revises: 0020
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0027"
down_revision = "0025"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "account_sanctions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("decision_id", sa.Uuid(), nullable=False),
        sa.Column("action", sa.String(length=10), nullable=False),
        sa.Column("rule", sa.String(length=100), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("automatic", sa.Boolean(), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reverted_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("action IN ('warn', 'strike', 'suspend', 'ban')", name=op.f("ck_account_sanctions_action")),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_account_sanctions_user_id"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account_sanctions")),
    )
    op.create_index("ix_account_sanctions_user_id", "account_sanctions", ["user_id", "action", "created_at"])
    op.create_index(op.f("ix_account_sanctions_decision_id"), "account_sanctions", ["decision_id"])
    # A sanction notice carries its rule and reason (models/messaging/notifications.py).
    op.add_column("notifications", sa.Column("sanction", postgresql.JSONB(), nullable=True))


def downgrade() -> None:
    op.drop_column("notifications", "sanction")
    op.drop_table("account_sanctions")
