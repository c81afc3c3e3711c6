"""follows, blocks, mutes, circles, post visibility

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Engagement store (PostgreSQL implementation): follow edges and per-user counters. No foreign
    # keys: the same data lives in ScyllaDB when SCYLLA_HOSTS is set.
    op.create_table(
        "follow_edges",
        sa.Column("follower_id", sa.Uuid(), nullable=False),
        sa.Column("followee_id", sa.Uuid(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("last_event_id", sa.Uuid(), nullable=False),
        # id of the event that last made the edge active: the list order, unchanged by a repeated follow
        sa.Column("since", sa.Uuid(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("follower_id", "followee_id", name=op.f("pk_follow_edges")),
    )
    # keyset pagination of both lists, newest first
    op.create_index(
        "ix_follow_edges_followers",
        "follow_edges",
        ["followee_id", sa.text("since DESC"), sa.text("follower_id DESC")],
        postgresql_where=sa.text("active"),
    )
    op.create_index(
        "ix_follow_edges_following",
        "follow_edges",
        ["follower_id", sa.text("since DESC"), sa.text("followee_id DESC")],
        postgresql_where=sa.text("active"),
    )
    op.create_table(
        "user_counters",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "kind", name=op.f("pk_user_counters")),
    )

    for table, actor, target in (("blocks", "blocker_id", "blocked_id"), ("mutes", "muter_id", "muted_id")):
        op.create_table(
            table,
            sa.Column(actor, sa.Uuid(), nullable=False),
            sa.Column(target, sa.Uuid(), nullable=False),
            sa.Column("id", sa.Uuid(), nullable=False),  # UUIDv7: the list's keyset order
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.ForeignKeyConstraint([actor], ["users.id"], name=op.f(f"fk_{table}_{actor}"), ondelete="CASCADE"),
            sa.ForeignKeyConstraint([target], ["users.id"], name=op.f(f"fk_{table}_{target}"), ondelete="CASCADE"),
            sa.PrimaryKeyConstraint(actor, target, name=op.f(f"pk_{table}")),
        )
        op.create_index(op.f(f"ix_{table}_{target}"), table, [target])
        op.create_index(op.f(f"ix_{table}_{actor}_id"), table, [actor, "id"], unique=True)

    op.create_table(
        "circles",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["owner_id"], ["users.id"], name=op.f("fk_circles_owner_id"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_circles")),
    )
    op.create_index("uq_circles_owner_id_name_lower", "circles", ["owner_id", sa.text("lower(name)")], unique=True)
    op.create_table(
        "circle_members",
        sa.Column("circle_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["circle_id"], ["circles.id"], name=op.f("fk_circle_members_circle_id"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_circle_members_user_id"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("circle_id", "user_id", name=op.f("pk_circle_members")),
    )
    op.create_index(op.f("ix_circle_members_circle_id_id"), "circle_members", ["circle_id", "id"], unique=True)
    op.create_index(op.f("ix_circle_members_user_id"), "circle_members", ["user_id"])

    op.add_column("posts", sa.Column("circle_id", sa.Uuid(), nullable=True))
    op.create_foreign_key(op.f("fk_posts_circle_id"), "posts", "circles", ["circle_id"], ["id"], ondelete="SET NULL")
    op.create_index(op.f("ix_posts_circle_id"), "posts", ["circle_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_posts_circle_id"), table_name="posts")
    op.drop_constraint(op.f("fk_posts_circle_id"), "posts", type_="foreignkey")
    op.drop_column("posts", "circle_id")
    op.drop_index(op.f("ix_circle_members_user_id"), table_name="circle_members")
    op.drop_index(op.f("ix_circle_members_circle_id_id"), table_name="circle_members")
    op.drop_table("circle_members")
    op.drop_index("uq_circles_owner_id_name_lower", table_name="circles")
    op.drop_table("circles")
    for table, actor, target in (("mutes", "muter_id", "muted_id"), ("blocks", "blocker_id", "blocked_id")):
        op.drop_index(op.f(f"ix_{table}_{actor}_id"), table_name=table)
        op.drop_index(op.f(f"ix_{table}_{target}"), table_name=table)
        op.drop_table(table)
    op.drop_table("user_counters")
    op.drop_index("ix_follow_edges_following", table_name="follow_edges")
    op.drop_index("ix_follow_edges_followers", table_name="follow_edges")
    op.drop_table("follow_edges")
