"""PostgreSQL engagement store (the default). Tables are created by the Alembic migrations."""
from __future__ import annotations

from collections import defaultdict
from typing import Sequence
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncEngine

from models.engagement.base import REACTION_TYPES, ReactionChange

# Per batch, in one transaction: lock the edges' current states (FOR UPDATE waits for and then
# reads the latest committed version), upsert only edges whose stored event is older, and move
# counters by the real transitions. (A FOR UPDATE inside the upsert's own statement would skip
# the rows that statement modifies, so the lock is a statement of its own.)
_INPUT = """unnest($1::uuid[], $2::uuid[], $3::text[], $4::bool[], $5::uuid[])
    AS i(post_id, user_id, type, active, event_id)"""

_LOCK_EDGES = f"""
SELECT e.post_id, e.user_id, e.type, e.active
FROM reaction_edges e JOIN {_INPUT} USING (post_id, user_id, type)
ORDER BY e.post_id, e.user_id, e.type
FOR UPDATE OF e
"""

_UPSERT_EDGES = f"""
INSERT INTO reaction_edges AS e (post_id, user_id, type, active, last_event_id, updated_at)
SELECT post_id, user_id, type, active, event_id, now() FROM {_INPUT}
ON CONFLICT (post_id, user_id, type) DO UPDATE
    SET active = EXCLUDED.active, last_event_id = EXCLUDED.last_event_id, updated_at = now()
    WHERE e.last_event_id < EXCLUDED.last_event_id
RETURNING e.post_id, e.user_id, e.type, e.active
"""

_ADD_COUNTERS = """
INSERT INTO post_counters AS c (post_id, kind, count)
SELECT * FROM unnest($1::uuid[], $2::text[], $3::bigint[])
ON CONFLICT (post_id, kind) DO UPDATE SET count = c.count + EXCLUDED.count
"""

_COUNTERS = "SELECT post_id, kind, count FROM post_counters WHERE post_id = ANY($1::uuid[])"

_RECONCILE = """
WITH truth AS (
    SELECT post_id, type AS kind, count(*) FILTER (WHERE active) AS n
    FROM reaction_edges GROUP BY post_id, type
), target AS (
    SELECT coalesce(t.post_id, c.post_id) AS post_id, coalesce(t.kind, c.kind) AS kind,
           coalesce(t.n, 0) AS n, c.count AS have
    FROM truth t FULL JOIN (SELECT * FROM post_counters WHERE kind = ANY($1::text[])) c
        USING (post_id, kind)
)
INSERT INTO post_counters AS c (post_id, kind, count)
SELECT post_id, kind, n FROM target WHERE have IS DISTINCT FROM n
ON CONFLICT (post_id, kind) DO UPDATE SET count = EXCLUDED.count
RETURNING post_id
"""


class PgEngagementStore:
    def __init__(self, engine: AsyncEngine):
        self.engine = engine

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def _raw(self):
        conn = await self.engine.connect()
        raw = await conn.get_raw_connection()
        return conn, raw.driver_connection

    async def ping(self) -> None:
        conn, apg = await self._raw()
        try:
            await apg.fetchval("SELECT 1")
        finally:
            await conn.close()

    async def apply_reactions(self, changes: Sequence[ReactionChange]) -> dict[UUID, dict[str, int]]:
        if not changes:
            return {}
        cols = ([c.post_id for c in changes], [c.user_id for c in changes], [c.type for c in changes],
                [c.active for c in changes], [c.event_id for c in changes])
        conn, apg = await self._raw()
        try:
            async with apg.transaction():
                before = {(r[0], r[1], r[2]): r[3] for r in await apg.fetch(_LOCK_EDGES, *cols)}
                deltas: dict[tuple[UUID, str], int] = defaultdict(int)
                for post_id, user_id, kind, active in await apg.fetch(_UPSERT_EDGES, *cols):
                    was = before.get((post_id, user_id, kind), False)
                    if active != was:
                        deltas[(post_id, kind)] += 1 if active else -1
                deltas = {k: d for k, d in sorted(deltas.items()) if d}
                if not deltas:
                    return {}
                await apg.execute(_ADD_COUNTERS, [k[0] for k in deltas], [k[1] for k in deltas],
                                  list(deltas.values()))
                rows = await apg.fetch(_COUNTERS, list({k[0] for k in deltas}))
        finally:
            await conn.close()
        out: dict[UUID, dict[str, int]] = defaultdict(dict)
        for post_id, kind, count in rows:
            out[post_id][kind] = count
        return dict(out)

    async def get_counters(self, post_ids: Sequence[UUID]) -> dict[UUID, dict[str, int]]:
        conn, apg = await self._raw()
        try:
            rows = await apg.fetch(_COUNTERS, list(post_ids))
        finally:
            await conn.close()
        out: dict[UUID, dict[str, int]] = {p: {} for p in post_ids}
        for post_id, kind, count in rows:
            out[post_id][kind] = count
        return out

    async def reconcile(self) -> int:
        conn, apg = await self._raw()
        try:
            async with apg.transaction():
                # Writers wait while the truth is computed, so no delta slips between read and write.
                await apg.execute("LOCK TABLE reaction_edges IN SHARE MODE")
                fixed = await apg.fetch(_RECONCILE, list(REACTION_TYPES))
        finally:
            await conn.close()
        return len(fixed)
