"""ledger, tips, subscriptions, cashouts

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# Every transaction's entries sum to zero per currency, with at least two entries. Checked at
# commit (deferred), so the one function that writes may insert the transaction and its entries
# in any order; an unbalanced transaction cannot commit whoever writes it.
CHECK_BALANCED = """
CREATE FUNCTION wallet_check_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    tx uuid;
    n bigint;
    balanced boolean;
BEGIN
    IF TG_TABLE_NAME = 'wallet_entries' THEN
        tx := NEW.transaction_id;
    ELSE
        tx := NEW.id;
    END IF;
    SELECT coalesce(sum(c), 0), coalesce(bool_and(s = 0), true) INTO n, balanced
      FROM (SELECT count(*) AS c, sum(amount) AS s FROM wallet_entries
             WHERE transaction_id = tx GROUP BY currency) g;
    IF n < 2 THEN
        RAISE EXCEPTION 'wallet transaction % has % entries; at least 2 are required', tx, n
              USING ERRCODE = 'check_violation';
    END IF;
    IF NOT balanced THEN
        RAISE EXCEPTION 'wallet transaction % does not sum to zero', tx
              USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;
"""

# History is immutable: corrections are new transactions.
REFUSE_CHANGE = """
CREATE FUNCTION wallet_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the wallet ledger is append-only: % on % refused', TG_OP, TG_TABLE_NAME
          USING ERRCODE = 'insufficient_privilege';
END $$;
"""


def upgrade() -> None:
    # Accounts: user wallets (balance materialized, never negative) and system accounts
    # (platform fee, pending cashouts, provider clearing, adjustments) whose balance is the sum
    # of their entries: they are not row-locked, so they are no global serialization point.
    # No foreign key to users: the ledger outlives accounts (financial records are kept).
    op.create_table(
        "wallet_accounts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("balance", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wallet_accounts")),
        sa.UniqueConstraint("id", "currency", name=op.f("uq_wallet_accounts_id_currency")),
        sa.CheckConstraint("(kind = 'user') = (user_id IS NOT NULL)", name=op.f("ck_wallet_accounts_user_kind")),
        sa.CheckConstraint("(kind = 'user') = (balance IS NOT NULL)", name=op.f("ck_wallet_accounts_user_balance")),
        sa.CheckConstraint("balance >= 0", name=op.f("ck_wallet_accounts_balance_not_negative")),
    )
    op.create_index(
        "uq_wallet_accounts_user",
        "wallet_accounts",
        ["user_id", "currency"],
        unique=True,
        postgresql_where=sa.text("user_id IS NOT NULL"),
    )
    op.create_index(
        "uq_wallet_accounts_system",
        "wallet_accounts",
        ["kind", "currency"],
        unique=True,
        postgresql_where=sa.text("user_id IS NULL"),
    )

    op.create_table(
        "wallet_transactions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("idempotency_key", sa.String(length=255), nullable=True),
        sa.Column("request_hash", sa.String(length=64), nullable=True),
        sa.Column("external_ref", sa.String(length=200), nullable=True),
        sa.Column("metadata", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wallet_transactions")),
        sa.CheckConstraint(
            "idempotency_key IS NULL OR actor_id IS NOT NULL", name=op.f("ck_wallet_transactions_key_has_actor")
        ),
    )
    # The real guard of idempotency keys (one movement per user and key, also under concurrency)
    # and of provider callbacks / renewals (one movement per external reference).
    op.create_index(
        "uq_wallet_transactions_idempotency",
        "wallet_transactions",
        ["actor_id", "idempotency_key"],
        unique=True,
        postgresql_where=sa.text("idempotency_key IS NOT NULL"),
    )
    op.create_index(
        "uq_wallet_transactions_external_ref",
        "wallet_transactions",
        ["external_ref"],
        unique=True,
        postgresql_where=sa.text("external_ref IS NOT NULL"),
    )

    op.create_table(
        "wallet_entries",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("transaction_id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wallet_entries")),
        sa.ForeignKeyConstraint(
            ["transaction_id"], ["wallet_transactions.id"], name=op.f("fk_wallet_entries_transaction_id")
        ),
        # an entry's currency is its account's currency
        sa.ForeignKeyConstraint(
            ["account_id", "currency"],
            ["wallet_accounts.id", "wallet_accounts.currency"],
            name=op.f("fk_wallet_entries_account_id_currency"),
        ),
        sa.CheckConstraint("amount <> 0", name=op.f("ck_wallet_entries_amount_not_zero")),
    )
    op.create_index("ix_wallet_entries_account_id_id", "wallet_entries", ["account_id", "id"])
    op.create_index(op.f("ix_wallet_entries_transaction_id"), "wallet_entries", ["transaction_id"])

    op.execute(CHECK_BALANCED)
    op.execute(REFUSE_CHANGE)
    for table in ("wallet_entries", "wallet_transactions"):
        op.execute(
            f"CREATE CONSTRAINT TRIGGER {table}_balanced AFTER INSERT ON {table} "
            "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION wallet_check_balanced()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION wallet_refuse_change()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION wallet_refuse_change()"
        )

    op.create_table(
        "wallet_topups",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("provider", sa.String(length=20), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("idempotency_key", sa.String(length=255), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("provider_ref", sa.String(length=100), nullable=True),
        sa.Column("transaction_id", sa.Uuid(), nullable=True),
        sa.Column("details", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wallet_topups")),
        sa.UniqueConstraint("user_id", "idempotency_key", name=op.f("uq_wallet_topups_user_id_idempotency_key")),
        sa.CheckConstraint("amount > 0", name=op.f("ck_wallet_topups_amount_positive")),
    )

    op.create_table(
        "wallet_cashouts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("provider", sa.String(length=20), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("destination", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("hold_transaction_id", sa.Uuid(), nullable=False),
        sa.Column("settle_transaction_id", sa.Uuid(), nullable=True),
        sa.Column("provider_ref", sa.String(length=100), nullable=True),
        sa.Column("failure_reason", sa.String(length=300), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wallet_cashouts")),
        sa.UniqueConstraint("hold_transaction_id", name=op.f("uq_wallet_cashouts_hold_transaction_id")),
        sa.CheckConstraint("amount > 0", name=op.f("ck_wallet_cashouts_amount_positive")),
    )
    op.create_index("ix_wallet_cashouts_user_id_created_at", "wallet_cashouts", ["user_id", "created_at"])

    op.create_table(
        "subscription_plans",
        sa.Column("creator_id", sa.Uuid(), nullable=False),
        sa.Column("price", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("period_days", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["creator_id"], ["users.id"], name=op.f("fk_subscription_plans_creator_id"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("creator_id", name=op.f("pk_subscription_plans")),
        sa.CheckConstraint("price > 0", name=op.f("ck_subscription_plans_price_positive")),
        sa.CheckConstraint("period_days BETWEEN 1 AND 366", name=op.f("ck_subscription_plans_period")),
    )
    op.create_table(
        "subscriptions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("subscriber_id", sa.Uuid(), nullable=False),
        sa.Column("creator_id", sa.Uuid(), nullable=False),
        sa.Column("price", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("period_days", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("current_period_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("current_period_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cancel_at_period_end", sa.Boolean(), nullable=False),
        sa.Column("grace_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["subscriber_id"], ["users.id"], name=op.f("fk_subscriptions_subscriber_id"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["creator_id"], ["users.id"], name=op.f("fk_subscriptions_creator_id"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscriptions")),
        sa.UniqueConstraint("subscriber_id", "creator_id", name=op.f("uq_subscriptions_subscriber_id_creator_id")),
    )
    op.create_index(
        "ix_subscriptions_due",
        "subscriptions",
        ["current_period_end"],
        postgresql_where=sa.text("status IN ('active', 'grace')"),
    )
    op.create_index("ix_subscriptions_creator_id_status", "subscriptions", ["creator_id", "status"])

    # Creator metrics (streams/agents/creator_metrics.py): one fact per ledger transaction (its
    # primary key makes a redelivered event a no-op) and the daily rollup those facts feed.
    op.create_table(
        "creator_earnings",
        sa.Column("transaction_id", sa.Uuid(), nullable=False),
        sa.Column("creator_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("new_subscriber", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("transaction_id", name=op.f("pk_creator_earnings")),
    )
    op.create_table(
        "creator_metrics_daily",
        sa.Column("creator_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("earnings", sa.BigInteger(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("new_subscribers", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("creator_id", "day", "source", name=op.f("pk_creator_metrics_daily")),
    )


def downgrade() -> None:
    op.drop_table("creator_metrics_daily")
    op.drop_table("creator_earnings")
    op.drop_index("ix_subscriptions_creator_id_status", table_name="subscriptions")
    op.drop_index("ix_subscriptions_due", table_name="subscriptions")
    op.drop_table("subscriptions")
    op.drop_table("subscription_plans")
    op.drop_index("ix_wallet_cashouts_user_id_created_at", table_name="wallet_cashouts")
    op.drop_table("wallet_cashouts")
    op.drop_table("wallet_topups")
    op.drop_table("wallet_entries")  # DROP fires no row or truncate trigger
    op.drop_table("wallet_transactions")
    op.execute("DROP FUNCTION wallet_refuse_change()")
    op.execute("DROP FUNCTION wallet_check_balanced()")
    op.drop_table("wallet_accounts")
