"""moderation queue: one case per target, decisions, appeals, quarantined media; reports on
comments and messages; removed comments and messages

Revision ID: 0026
Revises: 0020
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0026"
down_revision = "0028"
branch_labels = None
depends_on = None

STATES = "('open', 'claimed', 'decided', 'appealed')"
ACTIONS = "('dismiss', 'remove', 'restore', 'warn', 'strike', 'suspend', 'ban', 'uphold', 'overturn')"


def upgrade() -> None:
    op.create_table(
        "moderation_queue",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("target_type", sa.String(length=10), nullable=False),
        sa.Column("target_id", sa.Uuid(), nullable=False),
        sa.Column("author_id", sa.Uuid(), nullable=True),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("severity", sa.Float(), nullable=False),
        sa.Column("reasons", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("report_count", sa.Integer(), nullable=False),
        sa.Column("flags", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("claimed_by", sa.Uuid(), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(f"state IN {STATES}", name=op.f("ck_moderation_queue_state")),
        sa.ForeignKeyConstraint(
            ["author_id"], ["users.id"], name=op.f("fk_moderation_queue_author_id"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["claimed_by"], ["users.id"], name=op.f("fk_moderation_queue_claimed_by"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_moderation_queue")),
        sa.UniqueConstraint("target_type", "target_id", name=op.f("uq_moderation_queue_target_type_target_id")),
    )
    # the queue's order (models/moderation/queue.list_queue), waiting cases only
    op.create_index(
        "ix_moderation_queue_waiting",
        "moderation_queue",
        [sa.text("severity DESC"), sa.text("report_count DESC"), "id"],
        postgresql_where=sa.text("state IN ('open', 'claimed', 'appealed')"),
    )
    op.create_table(
        "moderation_decisions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("target_type", sa.String(length=10), nullable=False),
        sa.Column("target_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("action", sa.String(length=10), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("rule", sa.String(length=64), nullable=True),
        sa.Column("duration_hours", sa.Integer(), nullable=True),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("appeal_of", sa.Uuid(), nullable=True),
        sa.Column("appeal_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("restore", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(f"action IN {ACTIONS}", name=op.f("ck_moderation_decisions_action")),
        sa.CheckConstraint(
            "status IN ('effective', 'overturned', 'upheld', 'reversed')", name=op.f("ck_moderation_decisions_status")
        ),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["moderation_queue.id"],
            name=op.f("fk_moderation_decisions_case_id"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_moderation_decisions_user_id"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["users.id"], name=op.f("fk_moderation_decisions_actor_id"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["appeal_of"], ["moderation_decisions.id"], name=op.f("fk_moderation_decisions_appeal_of")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_moderation_decisions")),
    )
    op.create_index(op.f("ix_moderation_decisions_case_id"), "moderation_decisions", ["case_id"])
    op.create_index(op.f("ix_moderation_decisions_user_id"), "moderation_decisions", ["user_id"])
    op.create_index("ix_moderation_decisions_target", "moderation_decisions", ["target_type", "target_id"])
    op.create_table(
        "moderation_appeals",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("decision_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("outcome", sa.String(length=10), nullable=True),
        sa.Column("answered_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["decision_id"],
            ["moderation_decisions.id"],
            name=op.f("fk_moderation_appeals_decision_id"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_moderation_appeals_user_id"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["answered_by"], ["users.id"], name=op.f("fk_moderation_appeals_answered_by"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_moderation_appeals")),
        sa.UniqueConstraint("decision_id", name=op.f("uq_moderation_appeals_decision_id")),
    )
    op.create_table(
        "moderation_quarantine",
        sa.Column("decision_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("media_id", sa.Uuid(), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("purge_after", sa.DateTime(timezone=True), nullable=False),
        sa.Column("purged_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("state IN ('held', 'released', 'purged')", name=op.f("ck_moderation_quarantine_state")),
        sa.ForeignKeyConstraint(
            ["decision_id"],
            ["moderation_decisions.id"],
            name=op.f("fk_moderation_quarantine_decision_id"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("decision_id", "kind", "media_id", name=op.f("pk_moderation_quarantine")),
    )
    op.create_index(
        "ix_moderation_quarantine_due",
        "moderation_quarantine",
        ["purge_after"],
        postgresql_where=sa.text("state = 'held'"),
    )
    # today's open reports and NSFW cases become cases of the queue (as raise_case would make them;
    # a report's trust weighting is not replayed: each counts 1, under "other")
    op.execute("""
        INSERT INTO moderation_queue (id, target_type, target_id, author_id, state, severity, reasons,
                                      report_count, flags, opened_at, updated_at)
        SELECT gen_random_uuid(), target_type, target_id, (array_agg(target_user_id))[1], 'open', count(*),
               ARRAY['other'], count(*), '[]'::jsonb, min(created_at), now()
        FROM reports WHERE status = 'open' GROUP BY target_type, target_id
    """)
    op.execute("""
        INSERT INTO moderation_queue (id, target_type, target_id, author_id, state, severity, reasons,
                                      report_count, flags, opened_at, updated_at)
        SELECT gen_random_uuid(), 'video', mc.video_id, v.owner_id, 'open', 4, ARRAY[]::text[], 0,
               jsonb_build_array(jsonb_build_object('source', 'nsfw', 'labels', jsonb_build_array('nsfw'),
                                                    'at', mc.opened_at)),
               mc.opened_at, now()
        FROM moderation_cases mc JOIN videos v ON v.id = mc.video_id
        WHERE mc.status = 'open' AND mc.kind = 'nsfw'
        ON CONFLICT (target_type, target_id) DO NOTHING
    """)
    # reports on anything (models/moderation/queue.report), with optional details
    op.add_column("reports", sa.Column("details", sa.String(length=1000), nullable=True))
    op.drop_constraint(op.f("ck_reports_target_type"), "reports", type_="check")
    op.create_check_constraint(
        op.f("ck_reports_target_type"), "reports", "target_type IN ('user', 'post', 'comment', 'message', 'live')"
    )
    # a moderator's `remove` (models/moderation/targets.py)
    op.add_column("comments", sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("messages", sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("messages", "removed_at")
    op.drop_column("comments", "removed_at")
    op.drop_constraint(op.f("ck_reports_target_type"), "reports", type_="check")
    op.create_check_constraint(op.f("ck_reports_target_type"), "reports", "target_type IN ('user', 'post')")
    op.drop_column("reports", "details")
    op.drop_index("ix_moderation_quarantine_due", table_name="moderation_quarantine")
    op.drop_table("moderation_quarantine")
    op.drop_table("moderation_appeals")
    op.drop_index("ix_moderation_decisions_target", table_name="moderation_decisions")
    op.drop_index(op.f("ix_moderation_decisions_user_id"), table_name="moderation_decisions")
    op.drop_index(op.f("ix_moderation_decisions_case_id"), table_name="moderation_decisions")
    op.drop_table("moderation_decisions")
    op.drop_index("ix_moderation_queue_waiting", table_name="moderation_queue")
    op.drop_table("moderation_queue")
