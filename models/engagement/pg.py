"""PostgreSQL engagement store (the default). Tables are created by the Alembic migrations.

A batch of (already reduced) changes is applied in one transaction: an edge takes an event only
if its stored event is older, counters move by the edges' real transitions, and the full
counters of every post whose counters moved are returned. Rows are locked in edge order, then
counter order.

PostgreSQL 18+ does it in ONE statement (one round trip, no Python in between): the edge upsert
returns each changed edge's state before (`RETURNING old.active`: the latest committed version,
locked by ON CONFLICT) and after, and the counters move in the same statement; concurrent
writers of overlapping batches cannot deadlock. Older servers take five statements (below);
there concurrent writers can deadlock, PostgreSQL then aborts one transaction and the agent
retries its batch.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from contextlib import asynccontextmanager
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncEngine

from models.engagement import base
from models.engagement.base import FOLLOW_COUNTERS, REACTION_TYPES, FollowChange, FollowLink, ReactionChange

_INPUT = """unnest($1::uuid[], $2::uuid[], $3::text[], $4::bool[], $5::uuid[])
    AS i(post_id, user_id, type, active, event_id)"""

# ---- PostgreSQL 18+: one statement per batch.
# `moved` returns the new value of every counter it changed; the post's other counters were not
# changed by this statement, so its snapshot has their latest committed values.
_APPLY = f"""
WITH changed AS (
    INSERT INTO reaction_edges AS e (post_id, user_id, type, active, last_event_id, updated_at)
    SELECT post_id, user_id, type, active, event_id, now() FROM {_INPUT}
    ORDER BY post_id, user_id, type
    ON CONFLICT (post_id, user_id, type) DO UPDATE
        SET active = EXCLUDED.active, last_event_id = EXCLUDED.last_event_id, updated_at = now()
        WHERE e.last_event_id < EXCLUDED.last_event_id
    RETURNING new.post_id, new.type AS kind, new.active AS now, coalesce(old.active, false) AS was
), deltas AS (
    SELECT post_id, kind, sum(CASE WHEN now THEN 1 ELSE -1 END) AS delta
    FROM changed WHERE now <> was GROUP BY post_id, kind
), moved AS (
    INSERT INTO post_counters AS c (post_id, kind, count)
    SELECT post_id, kind, delta FROM deltas WHERE delta <> 0 ORDER BY post_id, kind
    ON CONFLICT (post_id, kind) DO UPDATE SET count = c.count + EXCLUDED.count
    RETURNING c.post_id, c.kind, c.count
)
SELECT post_id, kind, count FROM moved
UNION ALL
SELECT o.post_id, o.kind, o.count
FROM (SELECT DISTINCT post_id FROM moved) p
CROSS JOIN LATERAL (SELECT c.post_id, c.kind, c.count FROM post_counters c
                    WHERE c.post_id = p.post_id) o
WHERE NOT EXISTS (SELECT 1 FROM moved m WHERE m.post_id = o.post_id AND m.kind = o.kind)
"""

# ---- Before PostgreSQL 18: five statements in one transaction. Every input edge is first made
# to exist (a placeholder: inactive, nil event id, older than any event; ON CONFLICT DO NOTHING
# waits for a concurrent inserter), so FOR UPDATE then waits for and reads the latest committed
# state of each one: an edge inserted concurrently cannot be mistaken for a new one. A FOR UPDATE
# inside the upsert's own statement would skip the rows that statement modifies, so the lock is
# a statement of its own. The upsert then replaces every placeholder (its id is older than any
# event), so none survives the transaction. LATERAL makes the lock an index lookup per edge, in
# edge order: a join lets the planner hash the whole edge table on every batch.
_PLACEHOLD_EDGES = f"""
INSERT INTO reaction_edges (post_id, user_id, type, active, last_event_id, updated_at)
SELECT post_id, user_id, type, false, '00000000-0000-0000-0000-000000000000'::uuid, now()
FROM {_INPUT} ORDER BY post_id, user_id, type
ON CONFLICT (post_id, user_id, type) DO NOTHING
"""

_LOCK_EDGES = f"""
SELECT l.post_id, l.user_id, l.type, l.active
FROM (SELECT * FROM {_INPUT} ORDER BY post_id, user_id, type) i
CROSS JOIN LATERAL (SELECT e.post_id, e.user_id, e.type, e.active FROM reaction_edges e
                    WHERE e.post_id = i.post_id AND e.user_id = i.user_id AND e.type = i.type
                    FOR UPDATE) l
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

_COUNTERS_OF = """
SELECT o.post_id, o.kind, o.count FROM unnest($1::uuid[]) AS p(post_id)
CROSS JOIN LATERAL (SELECT c.post_id, c.kind, c.count FROM post_counters c
                    WHERE c.post_id = p.post_id) o
"""

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


# ---- Follows: the five-statement scheme above on every server version (follows are far rarer
# than reactions). `since` changes only when the edge flips to active, so a repeated follow keeps
# its place in the lists.
_FOLLOW_INPUT = """unnest($1::uuid[], $2::uuid[], $3::bool[], $4::uuid[])
    AS i(follower_id, followee_id, active, event_id)"""

_PLACEHOLD_FOLLOWS = f"""
INSERT INTO follow_edges (follower_id, followee_id, active, last_event_id, since, updated_at)
SELECT follower_id, followee_id, false, '00000000-0000-0000-0000-000000000000'::uuid,
       '00000000-0000-0000-0000-000000000000'::uuid, now()
FROM {_FOLLOW_INPUT} ORDER BY follower_id, followee_id
ON CONFLICT (follower_id, followee_id) DO NOTHING
"""

_LOCK_FOLLOWS = f"""
SELECT l.follower_id, l.followee_id, l.active
FROM (SELECT * FROM {_FOLLOW_INPUT} ORDER BY follower_id, followee_id) i
CROSS JOIN LATERAL (SELECT e.follower_id, e.followee_id, e.active FROM follow_edges e
                    WHERE e.follower_id = i.follower_id AND e.followee_id = i.followee_id
                    FOR UPDATE) l
"""

_UPSERT_FOLLOWS = f"""
INSERT INTO follow_edges AS e (follower_id, followee_id, active, last_event_id, since, updated_at)
SELECT follower_id, followee_id, active, event_id, event_id, now() FROM {_FOLLOW_INPUT}
ON CONFLICT (follower_id, followee_id) DO UPDATE
    SET active = EXCLUDED.active, last_event_id = EXCLUDED.last_event_id, updated_at = now(),
        since = CASE WHEN EXCLUDED.active AND NOT e.active THEN EXCLUDED.last_event_id ELSE e.since END
    WHERE e.last_event_id < EXCLUDED.last_event_id
RETURNING e.follower_id, e.followee_id, e.active
"""

_ADD_USER_COUNTERS = """
INSERT INTO user_counters AS c (user_id, kind, count)
SELECT * FROM unnest($1::uuid[], $2::text[], $3::bigint[])
ON CONFLICT (user_id, kind) DO UPDATE SET count = c.count + EXCLUDED.count
"""

_FOLLOW_COUNTS_OF = """
SELECT c.user_id, c.kind, c.count FROM user_counters c
WHERE c.user_id = ANY($1::uuid[]) AND c.kind = ANY($2::text[])
"""

# $1 user, $2 limit[, $3/$4 the keyset entry to start after]: an index range scan on the partial
# indexes ix_follow_edges_followers / _following.
_LIST = """
SELECT {other}, since FROM follow_edges
WHERE {me} = $1 AND active {after}
ORDER BY since DESC, {other} DESC LIMIT $2
"""
_LISTS = {
    (direction, paged): _LIST.format(
        me=me, other=other, after=f"AND (since, {other}) < ($3::uuid, $4::uuid)" if paged else ""
    )
    for direction, me, other in (
        ("followers", "followee_id", "follower_id"),
        ("following", "follower_id", "followee_id"),
    )
    for paged in (False, True)
}

_RECONCILE_FOLLOWS = """
WITH truth AS (
    SELECT followee_id AS user_id, 'followers'::text AS kind, count(*) FILTER (WHERE active) AS n
    FROM follow_edges GROUP BY followee_id
    UNION ALL
    SELECT follower_id, 'following', count(*) FILTER (WHERE active) FROM follow_edges GROUP BY follower_id
), target AS (
    SELECT coalesce(t.user_id, c.user_id) AS user_id, coalesce(t.kind, c.kind) AS kind,
           coalesce(t.n, 0) AS n, c.count AS have
    FROM truth t FULL JOIN (SELECT * FROM user_counters WHERE kind = ANY($1::text[])) c
        USING (user_id, kind)
)
INSERT INTO user_counters AS c (user_id, kind, count)
SELECT user_id, kind, n FROM target WHERE have IS DISTINCT FROM n
ON CONFLICT (user_id, kind) DO UPDATE SET count = EXCLUDED.count
RETURNING user_id
"""


def _follow_counts(rows, user_ids) -> dict[UUID, dict[str, int]]:
    out = {u: dict.fromkeys(FOLLOW_COUNTERS, 0) for u in user_ids}
    for user_id, kind, count in rows:
        out[user_id][kind] = int(count)
    return out


def _by_post(rows, out: dict[UUID, dict[str, int]]) -> dict[UUID, dict[str, int]]:
    for post_id, kind, count in rows:
        out.setdefault(post_id, {})[kind] = count
    return out


class PgEngagementStore(base.FollowLists):
    def __init__(self, engine: AsyncEngine):
        self.engine = engine
        self.single_statement: bool | None = None  # PostgreSQL 18+ (RETURNING old/new); set on first use

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass

    @asynccontextmanager
    async def _connection(self):
        """A pooled connection as the raw asyncpg connection (array parameters, one round trip)."""
        async with self.engine.connect() as conn:
            yield (await conn.get_raw_connection()).driver_connection

    async def ping(self) -> None:
        async with self._connection() as apg:
            await apg.fetchval("SELECT 1")

    async def apply_reactions(self, changes: Sequence[ReactionChange]) -> dict[UUID, dict[str, int]]:
        if not changes:
            return {}
        cols = (
            [c.post_id for c in changes],
            [c.user_id for c in changes],
            [c.type for c in changes],
            [c.active for c in changes],
            [c.event_id for c in changes],
        )
        async with self._connection() as apg:
            if self.single_statement is None:
                self.single_statement = apg.get_server_version().major >= 18
            if self.single_statement:
                rows = await apg.fetch(_APPLY, *cols)  # one statement: its own transaction
            else:
                rows = await self._apply_in_steps(apg, cols)
        return _by_post(rows, {})

    @staticmethod
    async def _apply_in_steps(apg, cols) -> list:
        async with apg.transaction():
            await apg.execute(_PLACEHOLD_EDGES, *cols)
            before = {(r[0], r[1], r[2]): r[3] for r in await apg.fetch(_LOCK_EDGES, *cols)}
            deltas: dict[tuple[UUID, str], int] = defaultdict(int)
            for post_id, user_id, kind, active in await apg.fetch(_UPSERT_EDGES, *cols):
                was = before.get((post_id, user_id, kind), False)
                if active != was:
                    deltas[(post_id, kind)] += 1 if active else -1
            deltas = {k: d for k, d in sorted(deltas.items()) if d}
            if not deltas:
                return []
            await apg.execute(_ADD_COUNTERS, [k[0] for k in deltas], [k[1] for k in deltas], list(deltas.values()))
            return await apg.fetch(_COUNTERS_OF, list({k[0] for k in deltas}))

    async def get_counters(self, post_ids: Sequence[UUID]) -> dict[UUID, dict[str, int]]:
        async with self._connection() as apg:
            rows = await apg.fetch(_COUNTERS_OF, list(post_ids))
        return _by_post(rows, {p: {} for p in post_ids})

    async def reconcile(self) -> int:
        async with self._connection() as apg, apg.transaction():
            # Writers wait while the truth is computed, so no delta slips between read and write.
            await apg.execute("LOCK TABLE reaction_edges IN SHARE MODE")
            return len(await apg.fetch(_RECONCILE, list(REACTION_TYPES)))

    # ---------------------------------------------------------------- follows

    async def apply_follows(self, changes: Sequence[FollowChange]) -> dict[UUID, dict[str, int]]:
        if not changes:
            return {}
        cols = (
            [c.follower_id for c in changes],
            [c.followee_id for c in changes],
            [c.active for c in changes],
            [c.event_id for c in changes],
        )
        async with self._connection() as apg, apg.transaction():
            await apg.execute(_PLACEHOLD_FOLLOWS, *cols)
            before = {(r[0], r[1]): r[2] for r in await apg.fetch(_LOCK_FOLLOWS, *cols)}
            deltas: dict[tuple[UUID, str], int] = defaultdict(int)
            for follower, followee, active in await apg.fetch(_UPSERT_FOLLOWS, *cols):
                if active != before.get((follower, followee), False):
                    step = 1 if active else -1
                    deltas[(followee, "followers")] += step
                    deltas[(follower, "following")] += step
            deltas = {k: d for k, d in sorted(deltas.items()) if d}
            if not deltas:
                return {}
            await apg.execute(_ADD_USER_COUNTERS, [k[0] for k in deltas], [k[1] for k in deltas], list(deltas.values()))
            users = sorted({k[0] for k in deltas})
            rows = await apg.fetch(_FOLLOW_COUNTS_OF, users, list(FOLLOW_COUNTERS))
        return _follow_counts(rows, users)

    async def get_follow_counts(self, user_ids: Sequence[UUID]) -> dict[UUID, dict[str, int]]:
        async with self._connection() as apg:
            rows = await apg.fetch(_FOLLOW_COUNTS_OF, list(user_ids), list(FOLLOW_COUNTERS))
        return _follow_counts(rows, user_ids)

    async def is_following(self, follower_id: UUID, followee_id: UUID) -> bool:
        async with self._connection() as apg:
            return bool(
                await apg.fetchval(
                    "SELECT active FROM follow_edges WHERE follower_id = $1 AND followee_id = $2",
                    follower_id,
                    followee_id,
                )
            )

    async def reactions_of(self, user_id: UUID, post_ids: Sequence[UUID]) -> dict[UUID, list[str]]:
        out: dict[UUID, list[str]] = {}
        if not post_ids:
            return out
        async with self._connection() as apg:
            rows = await apg.fetch(
                "SELECT post_id, type FROM reaction_edges WHERE post_id = ANY($1::uuid[]) AND user_id = $2 AND active"
                " ORDER BY post_id, type",
                list(post_ids),
                user_id,
            )
        for post_id, kind in rows:
            out.setdefault(post_id, []).append(kind)
        return out

    async def reactions_by_user(self, user_id: UUID) -> list[tuple[UUID, str]]:
        async with self._connection() as apg:
            rows = await apg.fetch(
                "SELECT post_id, type FROM reaction_edges WHERE user_id = $1 AND active ORDER BY post_id, type", user_id
            )
        return [(r[0], r[1]) for r in rows]

    async def following_among(self, follower_id: UUID, followee_ids: Sequence[UUID]) -> set[UUID]:
        if not followee_ids:
            return set()
        async with self._connection() as apg:
            rows = await apg.fetch(
                "SELECT followee_id FROM follow_edges WHERE follower_id = $1 AND followee_id = ANY($2::uuid[])"
                " AND active",
                follower_id,
                list(followee_ids),
            )
        return {r[0] for r in rows}

    async def _list(self, direction: str, user_id: UUID, after: FollowLink | None, limit: int) -> list[FollowLink]:
        args = (user_id, limit) + ((after.since, after.user_id) if after else ())
        async with self._connection() as apg:
            rows = await apg.fetch(_LISTS[(direction, after is not None)], *args)
        return [FollowLink(user_id=r[0], since=r[1]) for r in rows]

    async def reconcile_follows(self) -> int:
        async with self._connection() as apg, apg.transaction():
            await apg.execute("LOCK TABLE follow_edges IN SHARE MODE")
            return len(await apg.fetch(_RECONCILE_FOLLOWS, list(FOLLOW_COUNTERS)))
