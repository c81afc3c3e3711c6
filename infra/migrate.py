"""Apply the Alembic migrations to DATABASE_URL: `python -m infra.migrate [revision]`."""

from __future__ import annotations

import sys
from pathlib import Path

from alembic import command
from alembic.config import Config

from infra.settings import get_settings

MIGRATIONS = Path(__file__).resolve().parent.parent / "models" / "migrations"


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", get_settings().sqlalchemy_url.replace("%", "%%"))
    return cfg


def upgrade(revision: str = "head") -> None:
    command.upgrade(alembic_config(), revision)


if __name__ == "__main__":
    upgrade(sys.argv[1] if len(sys.argv) > 1 else "head")
    print("database migrated")
