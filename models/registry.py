"""Import every ORM module so Base.metadata knows all tables (Alembic, tests)."""
from models import audit, outbox, posts, sessions, users  # noqa: F401
from models.engagement import tables  # noqa: F401
