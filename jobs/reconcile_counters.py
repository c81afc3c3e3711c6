"""Recompute every reaction counter from the edges: `make reconcile` / `python -m jobs.reconcile_counters`.

The agents keep counters exact by moving them only on real edge transitions; this repairs what
no event can (a CQL counter write lost between the edge write and the increment, or a hand-edit).
"""
from __future__ import annotations

import asyncio
import time

from infra import db, logs
from infra.settings import get_settings
from models.engagement import make_store


async def reconcile() -> int:
    settings = get_settings()
    store = make_store(settings, db.init_engine(settings))
    await store.start()
    try:
        return await store.reconcile()
    finally:
        await store.close()
        await db.dispose_engine()


def main() -> None:
    logs.setup(get_settings().log_level, service="jobs")
    t0 = time.monotonic()
    fixed = asyncio.run(reconcile())
    print(f"reconcile: {fixed} counter(s) corrected in {time.monotonic() - t0:.2f}s")


if __name__ == "__main__":
    main()
