"""Import every ORM module so Base.metadata knows all tables (Alembic, tests)."""

from __future__ import annotations

import importlib
import pkgutil

import models


def load_all() -> None:
    for mod in pkgutil.walk_packages(models.__path__, "models."):
        if not mod.name.startswith("models.migrations"):
            importlib.import_module(mod.name)
