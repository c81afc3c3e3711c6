"""Seed a realistic dataset for benchmarks: `make seed` / `python -m jobs.seed_dataset [--users N ...]`.

Default size: 10,000 users, 100,000 posts, 1,000,000 reactions, a follow graph whose in-degree is
heavy-tailed (followees drawn by Zipf(1.1) popularity, out-degree log-normal, mean ~33), circles
(15% of users own one, 5-40 members), 2% of posts stories of the last 24 h, a visibility mix
(public 80%, followers 12%, circle 5%, subscribers 3%), and a trending ranking in Redis.

PostgreSQL-owned rows (users, posts, circles, members) go in by COPY; follow and reaction edges go
through the engagement store's own interface in large batches (apply_follows / apply_reactions),
so counters are exact and the same job fills ScyllaDB when SCYLLA_HOSTS is set. Seeded accounts
cannot log in (no password); benchmarks mint tokens with models.accounts.sessions.token_pair.

Database: DATABASE_URL, else the development stack's embedded PostgreSQL in VAR_DIR (as `make
admin`). The trending ranking needs REDIS_URL (skipped without it).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from uuid import UUID

import asyncpg
import redis.asyncio as aioredis

from infra import db
from infra.settings import Settings
from jobs.environment import run_job
from models.core.events import new_id, uuid7_at
from models.discovery import trending
from models.engagement import FollowChange, ReactionChange, make_store

REACTION_TYPES = ("like", "like", "like", "like", "love", "laugh", "wow", "sad", "angry")  # likes dominate
BATCH = 20_000


@dataclass
class Sizes:
    users: int = 10_000
    posts: int = 100_000
    reactions: int = 1_000_000
    seed: int = 1


@dataclass
class Seeded:
    users: list[UUID] = field(default_factory=list)
    follows: int = 0
    circles: int = 0
    members: int = 0
    posts: int = 0
    stories: int = 0
    reactions: int = 0
    max_in_degree: int = 0
    seconds: dict[str, float] = field(default_factory=dict)


def _zipf_cum(n: int, s: float) -> list[float]:
    acc, out = 0.0, []
    for k in range(1, n + 1):
        acc += 1.0 / k**s
        out.append(acc)
    return out


async def seed(settings: Settings, sizes: Sizes, say=print) -> Seeded:
    rnd = random.Random(sizes.seed)
    out = Seeded()
    now = time.time()
    t = time.monotonic()
    dsn = settings.database_url.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(dsn)
    try:
        # ---- users
        tag = f"{sizes.seed:x}{int(now) % 100000:x}"
        out.users = [uuid7_at(now - 90 * 86400 + i, rnd) for i in range(sizes.users)]
        created = datetime.now(UTC) - timedelta(days=90)
        await conn.copy_records_to_table(
            "users",
            columns=["id", "email", "username", "password_hash", "role", "created_at"],
            records=(
                (u, f"seed{tag}.{i}@example.com", f"s{tag}_{i}"[:30], "!seeded", "user", created)
                for i, u in enumerate(out.users)
            ),
        )
        out.seconds["users"] = time.monotonic() - t
        say(f"seed: {sizes.users:,} users in {out.seconds['users']:.1f}s")

        # ---- circles: 15% of users own one, members drawn uniformly
        t = time.monotonic()
        owners = rnd.sample(range(sizes.users), max(1, sizes.users * 15 // 100))
        circles, members = [], []
        for o in owners:
            cid = uuid7_at(now - 60 * 86400, rnd)
            circles.append((cid, out.users[o], "close friends", created))
            for m in set(rnd.sample(range(sizes.users), min(sizes.users - 1, rnd.randint(5, 40)))) - {o}:
                members.append((cid, out.users[m], uuid7_at(now - 50 * 86400, rnd), created))
        await conn.copy_records_to_table("circles", columns=["id", "owner_id", "name", "created_at"], records=circles)
        await conn.copy_records_to_table(
            "circle_members", columns=["circle_id", "user_id", "id", "created_at"], records=members
        )
        out.circles, out.members = len(circles), len(members)
        circle_of = {out.users[o]: c[0] for o, c in zip(owners, circles)}

        # ---- posts: authors by Zipf(0.8) activity, times over 30 days, 2% stories of the last 24 h
        activity = list(range(sizes.users))
        rnd.shuffle(activity)
        cum = _zipf_cum(sizes.users, 0.8)
        authors = [out.users[activity[i]] for i in (rnd.choices(range(sizes.users), cum_weights=cum, k=sizes.posts))]
        posts = []
        for i, author in enumerate(authors):
            story = rnd.random() < 0.02
            at = now - (rnd.random() * 86400 if story else rnd.random() * 30 * 86400)
            vis = rnd.choices(("public", "followers", "circle", "subscribers"), (80, 12, 5, 3))[0]
            cid = circle_of.get(author) if vis == "circle" else None
            if vis == "circle" and cid is None:
                vis = "public"
            ts = datetime.fromtimestamp(at, UTC)
            posts.append(
                (
                    uuid7_at(at, rnd),
                    author,
                    f"seeded post {i} #tag{i % 50}",
                    vis,
                    ts,
                    cid,
                    "story" if story else "post",
                    ts + timedelta(hours=24) if story else None,
                )
            )
            out.stories += story
        await conn.copy_records_to_table(
            "posts",
            columns=["id", "author_id", "caption", "visibility", "created_at", "circle_id", "kind", "expires_at"],
            records=posts,
        )
        await conn.execute("ANALYZE users; ANALYZE posts; ANALYZE circles; ANALYZE circle_members")
        out.posts = len(posts)
        out.seconds["posts"] = time.monotonic() - t
        say(
            f"seed: {out.posts:,} posts ({out.stories:,} stories), {out.circles:,} circles with "
            f"{out.members:,} members in {out.seconds['posts']:.1f}s"
        )
    finally:
        await conn.close()

    engine = db.init_engine(settings)
    store = make_store(settings, engine)
    await store.start()
    try:
        # ---- follows: out-degree log-normal (mean ~33), followees by Zipf(1.1) popularity
        t = time.monotonic()
        popular = list(range(sizes.users))
        rnd.shuffle(popular)
        cum = _zipf_cum(sizes.users, 1.1)
        changes, in_degree = [], Counter()
        for f in range(sizes.users):
            k = min(sizes.users - 1, max(1, int(rnd.lognormvariate(3.0, 1.0))))
            followees = {popular[i] for i in rnd.choices(range(sizes.users), cum_weights=cum, k=k)} - {f}
            for e in followees:
                changes.append(FollowChange(out.users[f], out.users[e], True, new_id()))
                in_degree[e] += 1
        for i in range(0, len(changes), BATCH):
            await store.apply_follows(sorted(changes[i : i + BATCH], key=lambda c: c.edge))
        out.follows, out.max_in_degree = len(changes), max(in_degree.values())
        out.seconds["follows"] = time.monotonic() - t
        say(
            f"seed: {out.follows:,} follows (max in-degree {out.max_in_degree:,}, median "
            f"{sorted(in_degree.values())[len(in_degree) // 2]}) in {out.seconds['follows']:.1f}s"
        )

        # ---- reactions: posts by Zipf(1.0) popularity, users uniform, one per (post, user, type)
        t = time.monotonic()
        order = list(range(len(posts)))
        rnd.shuffle(order)
        cum = _zipf_cum(len(posts), 1.0)
        seen: set[int] = set()
        per_post: Counter = Counter()
        batch: list[ReactionChange] = []
        n_types = len(set(REACTION_TYPES))
        types = sorted(set(REACTION_TYPES))
        while out.reactions < sizes.reactions:
            for p in rnd.choices(range(len(posts)), cum_weights=cum, k=min(BATCH, sizes.reactions - out.reactions)):
                post, u, rtype = order[p], rnd.randrange(sizes.users), rnd.choice(REACTION_TYPES)
                key = (post * sizes.users + u) * n_types + types.index(rtype)
                if key in seen:
                    continue
                seen.add(key)
                batch.append(ReactionChange(posts[post][0], out.users[u], rtype, True, new_id()))
                per_post[post] += 1
            await store.apply_reactions(batch)
            out.reactions += len(batch)
            batch = []
        out.seconds["reactions"] = time.monotonic() - t
        say(f"seed: {out.reactions:,} reactions in {out.seconds['reactions']:.1f}s")
    finally:
        await store.close()
        await db.dispose_engine()

    # ---- a trending ranking from the most reacted posts (what the trending agent would publish)
    if settings.redis_url:
        r = aioredis.from_url(settings.redis_url)
        try:
            cfg = trending.Config.from_settings(settings)
            snap = {
                str(posts[p][0]): [float(n), trending.hashtags(posts[p][2])]
                for p, n in per_post.most_common(cfg.max_posts)
            }
            await trending.publish(r, cfg, {0: snap}, 1, time.time())
        finally:
            await r.aclose()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m jobs.seed_dataset", description=__doc__.split("\n")[0])
    ap.add_argument("--users", type=int, default=Sizes.users)
    ap.add_argument("--posts", type=int, default=Sizes.posts)
    ap.add_argument("--reactions", type=int, default=Sizes.reactions)
    ap.add_argument("--seed", type=int, default=Sizes.seed)
    args = ap.parse_args(argv)
    if min(args.users, args.posts) < 2 or args.reactions < 0 or args.reactions > args.posts * args.users:
        print("seed: need >= 2 users and posts, and at most users x posts reactions", file=sys.stderr)
        return 2
    sizes = Sizes(args.users, args.posts, args.reactions, args.seed)
    return run_job("seed", lambda settings: seed(settings, sizes), lambda _: "done")


if __name__ == "__main__":
    sys.exit(main())
