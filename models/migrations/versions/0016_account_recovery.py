"""accounts: email verification; phones are claims until proven (a claim can be released)

Revision ID: 0016
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Set when the owner of the address follows a verification link (models/accounts/recovery.py).
    op.add_column("users", sa.Column("email_verified_at", sa.DateTime(timezone=True), nullable=True))
    # An account opened with a phone alone before phones had to be proven loses that number when
    # its real owner proves it (users.release_phone), and may then have neither an email nor a
    # phone: it stays (its passkeys, posts, wallet), reachable by nobody's password.
    op.drop_constraint(op.f("ck_users_email_or_phone"), "users", type_="check")


def downgrade() -> None:
    op.execute("UPDATE users SET phone = 'released:' || left(id::text, 7) WHERE email IS NULL AND phone IS NULL")
    op.create_check_constraint(op.f("ck_users_email_or_phone"), "users", "email IS NOT NULL OR phone IS NOT NULL")
    op.drop_column("users", "email_verified_at")
