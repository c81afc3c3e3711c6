"""Recompute every reaction and follow counter from the edges: `make reconcile` / `python -m jobs.reconcile_counters`.

The agents keep counters exact by moving them only on real edge transitions; this repairs what
no event can (a CQL counter write lost between the edge write and the increment, or a hand-edit).
"""

from __future__ import annotations

import sys

from infra import db
from infra.settings import get_settings
from jobs.environment import run_job
from models.engagement import make_store


async def reconcile() -> int:
    settings = get_settings()
    store = make_store(settings, db.init_engine(settings))
    await store.start()
    try:
        return await store.reconcile() + await store.reconcile_follows()
    finally:
        await store.close()
        await db.dispose_engine()


def main() -> int:
    return run_job("reconcile", lambda _: reconcile(), lambda fixed: f"{fixed} counter(s) corrected")


if __name__ == "__main__":
    sys.exit(main())
