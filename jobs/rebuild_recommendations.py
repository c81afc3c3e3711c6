"""Rebuild the recommendation index and every user's interest vector from the stores:
`python -m jobs.rebuild_recommendations [--restart] [--max-batches N] [--timeout S]`.

Only the stream worker opens Qdrant (local mode allows one process), so this job reads
PostgreSQL and sends its work through Kafka (`recs.rebuild`, one partition, in order): the
worker embeds the posts into `videos_<version>`, recomputes each user's vector into
`users_<version>` (and their candidate list), while the current collections keep serving and
live writes go to both; at the end it swaps the aliases and drops the old collections. The same
path runs in production. Resumable: a checkpoint in Redis advances after each batch the broker
acknowledged, so running it again continues the same version (`--restart` starts a new one).

Signals rebuilt: reactions (engagement edges), "not interested"/hide feedback, reports of posts,
onboarding interests. Views and shares are stored as counters, not per user: the worker merges
the rebuilt signals into each user's history instead of replacing it, so those survive.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from uuid import UUID

import orjson
from sqlalchemy import func, select, union
from tqdm import tqdm

from infra import logs
from infra.services import Services
from infra.settings import get_settings
from infra.vectors import new_version
from models.content.feedback import PostFeedback
from models.content.posts import Post
from models.core.events import Event, uuid7_at
from models.core.topics import RECS_REBUILD, validate_payload
from models.discovery.recommendations import BUILDING, FINISHED, TOPICS, WEIGHTS, Interests, topics_text
from models.engagement.tables import ReactionEdge
from models.moderation.reports import Report

CHECKPOINT = "recs:rebuild:checkpoint"
POST_BATCH = 128  # ~300 KB per message at most (captions are at most 2,200 characters)
USER_BATCH = 200  # users read per query
SIGNALS_PER_MESSAGE = 4000


class Rebuild:
    def __init__(self, svc: Services, args: argparse.Namespace):
        self.svc, self.args, self.redis = svc, args, svc.redis
        self.batches = 0
        self.state: dict = {}
        self.t0 = time.monotonic()

    async def save(self) -> None:
        await self.redis.set(CHECKPOINT, orjson.dumps(self.state))

    async def send(self, etype: str, payload: dict) -> None:
        payload = validate_payload(etype, {"version": self.state["version"], **payload})
        await self.svc.producer.send(RECS_REBUILD.name, self.state["version"], Event(etype, payload))

    def budget_left(self) -> bool:
        return self.args.max_batches is None or self.batches < self.args.max_batches

    async def run(self) -> int:
        raw = await self.redis.get(CHECKPOINT)
        if raw and not self.args.restart:
            self.state = orjson.loads(raw)
            print(f"rebuild: resuming version {self.state['version']} at {self.state['phase']}")
        else:
            self.state = {"version": new_version(), "phase": "posts", "cursor": None, "posts": 0, "users": 0}
            await self.save()
            print(f"rebuild: version {self.state['version']}")
        await self.send("recs.rebuild_started", {})
        # Live writes reach the new collections from here on; what came before is in the stores.
        await self.wait_for(lambda: self._building(), "the worker to start the rebuild")
        for phase in ("posts", "users"):
            if self.state["phase"] == phase and not await getattr(self, phase)():
                print(f"rebuild: stopped after {self.batches} batch(es); run again to resume")
                return 0
        if self.state["phase"] == "finish":
            await self.send("recs.rebuild_finished", {"posts": self.state["posts"], "users": self.state["users"]})
            self.state["phase"] = "wait"
            await self.save()
        done = await self.wait_for(self._finished, "the worker to finish (it embeds every post)")
        await self.redis.delete(CHECKPOINT)
        print(
            f"rebuild: done: version {self.state['version']} in {time.monotonic() - self.t0:.1f}s, "
            f"{self.state['posts']} posts and "
            f"{self.state['users']} users sent; worker: {done['videos']} has {done['videos_points']} "
            f"points, {done['users']} {done['users_points']}; replaced: {done['replaced'] or 'nothing'}"
        )
        return 0

    async def _building(self) -> bool:
        return await self.redis.get(BUILDING) == self.state["version"].encode() or await self._finished()

    async def _finished(self) -> dict | None:
        if not await self.redis.sismember(FINISHED, self.state["version"]):
            return None
        return {
            k.decode(): v.decode() for k, v in (await self.redis.hgetall(f"{FINISHED}:{self.state['version']}")).items()
        }

    async def wait_for(self, check, what: str):
        deadline = time.monotonic() + self.args.timeout
        while time.monotonic() < deadline:
            got = await check()
            if got:
                return got
            await asyncio.sleep(0.2)
        print(
            f"rebuild: timed out after {self.args.timeout:.0f}s waiting for {what}; run again to resume",
            file=sys.stderr,
        )
        raise SystemExit(1)

    async def posts(self) -> bool:
        st = self.state
        async with self.svc.sessions() as s:
            total = (await s.execute(select(func.count()).select_from(Post))).scalar_one()
        with tqdm(total=total, initial=min(st["posts"], total), unit="post", desc="posts") as bar:
            while self.budget_left():
                q = select(Post).order_by(Post.id).limit(POST_BATCH)
                if st["cursor"]:
                    q = q.where(Post.id > UUID(st["cursor"]))
                async with self.svc.sessions() as s:
                    rows = (await s.execute(q)).scalars().all()
                if not rows:
                    st.update(phase="users", cursor=None)
                    await self.save()
                    return True
                await self.send(
                    "recs.rebuild_posts",
                    {
                        "posts": [
                            {
                                "post_id": p.id,
                                "author_id": p.author_id,
                                "visibility": p.visibility,
                                "caption": p.caption,
                                "created_at": p.created_at,
                                "video_id": p.video_id,
                            }
                            for p in rows
                        ]
                    },
                )
                st.update(cursor=str(rows[-1].id), posts=st["posts"] + len(rows))
                await self.save()
                self.batches += 1
                bar.update(len(rows))
        return False

    async def users(self) -> bool:
        st = self.state
        ids = union(
            select(ReactionEdge.user_id),
            select(PostFeedback.user_id),
            select(Report.reporter_id).where(Report.target_type == "post"),
            select(Interests.user_id),
        ).subquery()
        async with self.svc.sessions() as s:
            total = (await s.execute(select(func.count()).select_from(ids))).scalar_one()
        with tqdm(total=total, initial=min(st["users"], total), unit="user", desc="users") as bar:
            while self.budget_left():
                q = select(ids.c[0]).order_by(ids.c[0]).limit(USER_BATCH)
                if st["cursor"]:
                    q = q.where(ids.c[0] > UUID(st["cursor"]))
                async with self.svc.sessions() as s:
                    batch = list((await s.execute(q)).scalars())
                if not batch:
                    st.update(phase="finish", cursor=None)
                    await self.save()
                    return True
                users = await self.signals(batch)
                message, size = [], 0
                for u in users:
                    message.append(u)
                    size += len(u["signals"])
                    if size >= SIGNALS_PER_MESSAGE:
                        await self.send("recs.rebuild_users", {"users": message})
                        message, size = [], 0
                if message:
                    await self.send("recs.rebuild_users", {"users": message})
                st.update(cursor=str(batch[-1]), users=st["users"] + len(batch))
                await self.save()
                self.batches += 1
                bar.update(len(batch))
        return False

    async def signals(self, user_ids: list[UUID]) -> list[dict]:
        """Each user's most recent RECS_HISTORY signals, as the live agents would have recorded them."""
        by_user: dict[UUID, list[dict]] = {u: [] for u in user_ids}
        async with self.svc.sessions() as s:
            for r in await s.execute(select(ReactionEdge).where(ReactionEdge.user_id.in_(user_ids))):
                e = r[0]
                if e.type in WEIGHTS:
                    by_user[e.user_id].append(
                        {
                            "key": str(e.post_id),
                            "kind": e.type,
                            "event_id": e.last_event_id,
                            "weight": WEIGHTS[e.type] if e.active else 0.0,
                        }
                    )
            for (f,) in await s.execute(select(PostFeedback).where(PostFeedback.user_id.in_(user_ids))):
                if f.kind in WEIGHTS:
                    by_user[f.user_id].append(
                        {
                            "key": str(f.post_id),
                            "kind": f.kind,
                            "event_id": uuid7_at(f.created_at.timestamp()),  # the same on every run
                            "weight": WEIGHTS[f.kind],
                        }
                    )
            for (r,) in await s.execute(
                select(Report).where(Report.reporter_id.in_(user_ids), Report.target_type == "post")
            ):
                by_user[r.reporter_id].append(
                    {"key": str(r.target_id), "kind": "report", "event_id": r.id, "weight": WEIGHTS["report"]}
                )
            for (i,) in await s.execute(select(Interests).where(Interests.user_id.in_(user_ids))):
                by_user[i.user_id].append(
                    {
                        "key": TOPICS,
                        "kind": "topics",
                        "event_id": i.event_id,
                        "weight": WEIGHTS["topics"] if i.topics else 0.0,
                        "text": topics_text(i.topics) if i.topics else "",
                    }
                )
        cap = self.svc.settings.recs_history
        out = []
        for u, sigs in by_user.items():
            sigs.sort(key=lambda x: (x["key"] == TOPICS, x["event_id"]), reverse=True)  # topics, then newest
            out.append({"user_id": u, "signals": sigs[:cap]})
        return out


async def main_async(args: argparse.Namespace) -> int:
    settings = get_settings()
    if settings.scylla_hosts:
        print(
            "rebuild: reaction edges are read from PostgreSQL; the CQL engagement store has no scan for them yet",
            file=sys.stderr,
        )
        return 2
    svc = await Services.start(settings, relay=False)
    try:
        deadline = time.monotonic() + 15
        while not svc.producer.ready and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        if not svc.producer.ready:
            print("rebuild: the event broker is not reachable", file=sys.stderr)
            return 1
        return await Rebuild(svc, args).run()
    finally:
        await svc.stop()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m jobs.rebuild_recommendations", description=__doc__.split("\n")[0])
    ap.add_argument("--restart", action="store_true", help="discard the checkpoint and start a new version")
    ap.add_argument("--max-batches", type=int, default=None, help="stop after N batches (resume later)")
    ap.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for the worker")
    args = ap.parse_args(argv)
    logs.setup(get_settings().log_level, service="jobs")
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
