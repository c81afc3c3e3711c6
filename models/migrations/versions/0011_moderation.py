"""moderation cases: the moderator's decision

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Who closed a case and how (models/moderation/cases.py); the note is the moderator's, never audited.
    op.add_column("moderation_cases", sa.Column("decision", sa.String(length=10), nullable=True))
    op.add_column("moderation_cases", sa.Column("decided_by", sa.Uuid(), nullable=True))
    op.add_column("moderation_cases", sa.Column("note", sa.String(length=500), nullable=True))
    op.create_foreign_key(
        op.f("fk_moderation_cases_decided_by"), "moderation_cases", "users", ["decided_by"], ["id"], ondelete="SET NULL"
    )
    op.create_check_constraint(
        op.f("ck_moderation_cases_decision"), "moderation_cases", "decision IN ('approve', 'reject')"
    )
    # The closed list is a keyset on (closed_at, id), newest first; the open one uses
    # ix_moderation_cases_open (0006).
    op.create_index(
        "ix_moderation_cases_closed",
        "moderation_cases",
        [sa.text("closed_at DESC"), sa.text("id DESC")],
        postgresql_where=sa.text("status = 'closed'"),
    )


def downgrade() -> None:
    op.drop_index("ix_moderation_cases_closed", table_name="moderation_cases")
    op.drop_constraint(op.f("ck_moderation_cases_decision"), "moderation_cases", type_="check")
    op.drop_constraint(op.f("fk_moderation_cases_decided_by"), "moderation_cases", type_="foreignkey")
    op.drop_column("moderation_cases", "note")
    op.drop_column("moderation_cases", "decided_by")
    op.drop_column("moderation_cases", "decision")
