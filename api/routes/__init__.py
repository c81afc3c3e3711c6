"""REST faces, one module per area; each module exports a Blueprint named `bp`.

Adding an area = one module here. `blueprints()` finds them all.
"""

from __future__ import annotations

import importlib
import pkgutil


def blueprints() -> list:
    return [
        importlib.import_module(f"{__name__}.{m.name}").bp
        for m in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name)
    ]
