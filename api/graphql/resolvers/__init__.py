"""Ariadne resolvers, one module per area; each module exports `bindables`.

Resolvers parse, authorize, call the domain function and shape the answer. Nothing else.
"""

from __future__ import annotations

import importlib
import pkgutil


def all_bindables() -> list:
    found = []
    for mod in sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name != "common"):
        found.extend(importlib.import_module(f"{__name__}.{mod}").bindables)
    return found
