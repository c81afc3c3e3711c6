"""roles, profiles, badges, trust score

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # users.role exists since 0001; now only the three roles, and staff found without a scan.
    op.create_check_constraint(op.f("ck_users_role"), "users", "role IN ('user', 'moderator', 'admin')")
    op.create_index("ix_users_role_staff", "users", ["role"], postgresql_where=sa.text("role <> 'user'"))
    op.create_table(
        "profiles",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("display_name", sa.String(length=50), nullable=True),
        sa.Column("bio", sa.String(length=300), nullable=True),
        sa.Column("avatar_media_id", sa.Uuid(), nullable=True),
        sa.Column("language", sa.String(length=35), nullable=True),
        sa.Column("region", sa.String(length=2), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_profiles_user_id"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_profiles")),
    )
    op.create_table(
        "user_badges",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("badge", sa.String(length=32), nullable=False),
        sa.Column("granted_by", sa.Uuid(), nullable=True),
        sa.Column("granted_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_user_badges_user_id"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["granted_by"], ["users.id"], name=op.f("fk_user_badges_granted_by"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("user_id", "badge", name=op.f("pk_user_badges")),
    )
    op.create_table(
        "reports",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("reporter_id", sa.Uuid(), nullable=False),
        sa.Column("target_type", sa.String(length=10), nullable=False),
        sa.Column("target_id", sa.Uuid(), nullable=False),
        sa.Column("target_user_id", sa.Uuid(), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_by", sa.Uuid(), nullable=True),
        sa.CheckConstraint("target_type IN ('user', 'post')", name=op.f("ck_reports_target_type")),
        sa.CheckConstraint("status IN ('open', 'upheld', 'dismissed')", name=op.f("ck_reports_status")),
        sa.ForeignKeyConstraint(["reporter_id"], ["users.id"], name=op.f("fk_reports_reporter_id"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["target_user_id"], ["users.id"], name=op.f("fk_reports_target_user_id"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["resolved_by"], ["users.id"], name=op.f("fk_reports_resolved_by"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reports")),
    )
    # One open report per reporter and target; a resolved one may be followed by a new one.
    op.create_index(
        "uq_reports_open_per_reporter",
        "reports",
        ["reporter_id", "target_type", "target_id"],
        unique=True,
        postgresql_where=sa.text("status = 'open'"),
    )
    op.create_index("ix_reports_open", "reports", ["id"], postgresql_where=sa.text("status = 'open'"))
    op.create_index(op.f("ix_reports_target_user_id_status"), "reports", ["target_user_id", "status"])
    op.create_table(
        "trust_scores",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("score", sa.SmallInteger(), nullable=False),
        sa.Column("components", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_trust_scores_user_id"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_trust_scores")),
    )
    # Engagement reciprocity reads a user's reactions by user (models/moderation/trust.py). Neither column
    # ever changes on an edge, so the counters agent's updates stay HOT; inserts pay one entry.
    op.create_index("ix_reaction_edges_user_id_post_id", "reaction_edges", ["user_id", "post_id"])


def downgrade() -> None:
    op.drop_index("ix_reaction_edges_user_id_post_id", table_name="reaction_edges")
    op.drop_table("trust_scores")
    op.drop_index(op.f("ix_reports_target_user_id_status"), table_name="reports")
    op.drop_index("ix_reports_open", table_name="reports")
    op.drop_index("uq_reports_open_per_reporter", table_name="reports")
    op.drop_table("reports")
    op.drop_table("user_badges")
    op.drop_table("profiles")
    op.drop_index("ix_users_role_staff", table_name="users")
    op.drop_constraint(op.f("ck_users_role"), "users", type_="check")
