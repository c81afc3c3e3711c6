"""Alembic migrations (env.py, versions/) and the table registry they autogenerate from."""
